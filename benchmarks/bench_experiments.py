"""Overhead of the experiment runner over a plain loop of ``channel_agents.run``.

The trivial scenario: configs/theory/double_marginalization.yaml (four members,
deterministic linear demand) for 20 periods, two arms (siloed, cooperative),
``REPLICATIONS`` replications: ``2 x REPLICATIONS`` runs three ways:

- ``loop``: the configs resolved once per arm, then ``channel_agents.run(cfg,
  seed=s, keep_series=False)`` for every seed and arm, the summaries kept in a
  list: the least a hand-written batch script does;
- ``loop_from_yaml``: the same with ``channel_agents.run(path, seed, overrides)``
  every time (what a naive script does: it re-reads the YAML file per run);
- ``runner``: ``run_experiment(spec, executor="serial")`` into an empty folder:
  plan and seeds, store keys, the Parquet store in chunks of 50 runs, then
  summary.csv, report.md, plot.png and provenance.json.

Reported: runs/s each way and the runner's overhead over ``loop``, for the
run phase (plan + runs + store writes) and end to end (with the analysis and
the output files, a fixed cost of about a second, mostly matplotlib, that a
longer experiment amortizes); and the runner's own time per run (run phase
minus the time spent inside the runs, which the store records), which does
not depend on how busy the machine is; and the CPU time (process time) of
the loop and of the whole serial runner, which a busy machine hardly
disturbs either (wall-clock figures on a shared machine are noisy: read the
CPU and own-time figures there). Target: run-phase overhead < 10 %.
For scale, the ``processes`` executor (2 workers) is timed too. The three
ways are interleaved, best of ``REPEATS`` each.

    .venv/bin/python -m benchmarks.bench_experiments [--replications N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "configs" / "theory" / "double_marginalization.yaml"
ARMS = ("siloed", "cooperative")
PERIODS = 20
REPLICATIONS = 100
REPEATS = 3
TARGET = 0.10


def write_spec(folder: Path, replications: int) -> Path:
    import yaml

    spec = {
        "name": "bench",
        "scenario": str(SCENARIO),
        "arms": list(ARMS),
        "replications": replications,
        "seed": 1,
        "periods": PERIODS,
        "warmup": 0,
        "metrics": ["consumer_surplus", "retail_price", "channel_profit"],
    }
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def seeds(replications: int) -> list[int]:
    from channel_agents.experiments.seeds import run_seeds

    return run_seeds(1, 1, replications)[0]


def plain_loop(replications: int) -> tuple[float, float]:
    import channel_agents
    from channel_agents.compare import arm_overrides
    from channel_agents.config import load_config

    start, cpu = time.perf_counter(), time.process_time()
    configs = {
        arm: load_config(SCENARIO, [f"periods={PERIODS}", "warmup=0", *arm_overrides(arm)])
        for arm in ARMS
    }
    kept: list[dict[str, Any]] = []
    for s in seeds(replications):
        for arm in ARMS:
            kept.append(channel_agents.run(configs[arm], seed=s, keep_series=False).summary)
    return time.perf_counter() - start, time.process_time() - cpu


def plain_loop_from_yaml(replications: int) -> tuple[float, float]:
    import channel_agents
    from channel_agents.compare import arm_overrides

    start, cpu = time.perf_counter(), time.process_time()
    kept: list[dict[str, Any]] = []
    for s in seeds(replications):
        for arm in ARMS:
            over = [f"periods={PERIODS}", "warmup=0", *arm_overrides(arm)]
            kept.append(channel_agents.run(SCENARIO, seed=s, overrides=over,
                                           keep_series=False).summary)  # fmt: skip
    return time.perf_counter() - start, time.process_time() - cpu


def runner(spec: Path, executor: str = "serial", workers: int = 1) -> dict[str, float]:
    from channel_agents.experiments import run_experiment

    out = spec.parent / f"out-{executor}"
    shutil.rmtree(out, ignore_errors=True)
    start, cpu = time.perf_counter(), time.process_time()
    outcome = run_experiment(spec, out=out, executor=executor, workers=workers)
    total, cpu = time.perf_counter() - start, time.process_time() - cpu
    t = outcome.timings
    import pandas as pd

    inside = float(pd.read_parquet(out / "runs")["seconds"].sum())
    return {
        "cpu_s": cpu,
        "inside_runs_s": inside,
        "total_s": total,
        "run_phase_s": t["plan"] + t["store_open"] + t["runs"],
        "runs_s": t["runs"],
        "analysis_s": t["analysis"],
        "outputs_s": t["outputs"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_experiments")
    parser.add_argument("--replications", type=int, default=REPLICATIONS)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON only")
    args = parser.parse_args(argv)
    os.environ.setdefault("MPLBACKEND", "Agg")
    n = 2 * args.replications
    with tempfile.TemporaryDirectory() as tmp:
        spec = write_spec(Path(tmp), args.replications)
        plain_loop(5)  # imports and caches warm
        loops, naives, serials = [], [], []
        for _ in range(REPEATS):  # interleaved, so a change in machine load hits all three
            loops.append(plain_loop(args.replications))
            serials.append(runner(spec))
            naives.append(plain_loop_from_yaml(args.replications))
        loop, naive = min(w for w, _ in loops), min(w for w, _ in naives)
        loop_cpu = min(c for _, c in loops)
        serial = min(serials, key=lambda r: r["run_phase_s"])
        procs = runner(spec, "processes", 2)
    figures = {
        "scenario": str(SCENARIO.relative_to(ROOT)),
        "periods": PERIODS,
        "runs": n,
        "loop_runs_per_s": n / loop,
        "loop_from_yaml_runs_per_s": n / naive,
        "runner_serial_runs_per_s_run_phase": n / serial["run_phase_s"],
        "runner_serial_runs_per_s_end_to_end": n / serial["total_s"],
        "overhead_run_phase": serial["run_phase_s"] / loop - 1,
        "overhead_end_to_end": serial["total_s"] / loop - 1,
        "loop_cpu_s": loop_cpu,
        "runner_serial_cpu_s_end_to_end": min(r["cpu_s"] for r in serials),
        "overhead_cpu_end_to_end": min(r["cpu_s"] for r in serials) / loop_cpu - 1,
        "runner_own_time_per_run_ms": 1000 * (serial["run_phase_s"] - serial["inside_runs_s"]) / n,
        "runner_own_overhead": serial["run_phase_s"] / serial["inside_runs_s"] - 1,
        "fixed_costs_s": {k: round(serial[k], 3) for k in ("analysis_s", "outputs_s")},
        "runner_processes_2_runs_per_s_end_to_end": n / procs["total_s"],
        "runner_processes_2_runs_per_s_run_phase": n / procs["run_phase_s"],
        "target_overhead": TARGET,
        "target_met": serial["run_phase_s"] / loop - 1 < TARGET,
        "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{n} runs of {figures['scenario']} ({PERIODS} periods), best of {REPEATS}:")
    print(f"  plain loop (configs resolved once) {figures['loop_runs_per_s']:8.1f} runs/s")
    print(
        f"  plain loop (YAML read every run)   {figures['loop_from_yaml_runs_per_s']:8.1f} runs/s"
    )
    print(f"  runner, serial, run phase          "
          f"{figures['runner_serial_runs_per_s_run_phase']:8.1f} runs/s  overhead "
          f"{figures['overhead_run_phase']:+.1%} (target < {TARGET:.0%}: "
          f"{'met' if figures['target_met'] else 'NOT met'})")  # fmt: skip
    print(f"  runner, serial, end to end         "
          f"{figures['runner_serial_runs_per_s_end_to_end']:8.1f} runs/s  overhead "
          f"{figures['overhead_end_to_end']:+.1%} (analysis {serial['analysis_s']:.2f} s, "
          f"outputs {serial['outputs_s']:.2f} s)")  # fmt: skip
    print(f"  CPU time (load-independent): loop {figures['loop_cpu_s']:.2f} s, runner end to end "
          f"{figures['runner_serial_cpu_s_end_to_end']:.2f} s: overhead "
          f"{figures['overhead_cpu_end_to_end']:+.1%}")  # fmt: skip
    print(f"  runner's own time (run phase minus time inside the runs): "
          f"{figures['runner_own_time_per_run_ms']:.2f} ms a run "
          f"({figures['runner_own_overhead']:+.1%})")  # fmt: skip
    print(
        f"  runner, processes x2, end to end   "
        f"{figures['runner_processes_2_runs_per_s_end_to_end']:8.1f} runs/s "
        f"(run phase {figures['runner_processes_2_runs_per_s_run_phase']:.1f} runs/s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
