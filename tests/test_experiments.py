"""Batch experiments: spec validation, seeds, executors, the resumable store, locks.

Tiny scenarios (the bullwhip chain for 30-50 periods) keep the whole file fast;
the subprocess tests run ``python -m channel_agents.experiments`` exactly as a
user runs ``channel-agents experiment``.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from channel_agents.config import ConfigError
from channel_agents.experiments import build_plan, load_spec, run_experiment
from channel_agents.experiments.command import add_parser
from channel_agents.experiments.command import main as cli_main
from channel_agents.experiments.seeds import run_seeds

ROOT = Path(__file__).resolve().parents[1]
BULLWHIP = ROOT / "configs" / "theory" / "bullwhip.yaml"
COMMIT = "0" * 40  # runs are keyed by commit: pin it, whatever is committed meanwhile


@pytest.fixture(autouse=True)
def _pinned_commit(monkeypatch):
    monkeypatch.setenv("CHANNEL_AGENTS_GIT_COMMIT", COMMIT)


def tiny_spec(tmp_path: Path, name: str = "tiny", **over) -> Path:
    """2 arms x 2 points x ``replications`` runs of the bullwhip chain, 30 periods."""
    spec = {
        "name": name,
        "scenario": str(BULLWHIP),
        "arms": ["siloed", "siloed+information=shared+replenishment=echelon"],
        "factors": {"window": {"path": "defaults.ordering.forecast_window", "values": [3, 5]}},
        "replications": 3,
        "seed": 42,
        "periods": 30,
        "warmup": 5,
        "metrics": ["bullwhip.factory", "bullwhip.retailer", "team_cost", "fill_rate"],
        "chunk_size": 2,
    }
    spec.update(over)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def env() -> dict[str, str]:
    return {**os.environ, "CHANNEL_AGENTS_GIT_COMMIT": COMMIT, "PYTHONUNBUFFERED": "1"}


def command(spec: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "channel_agents.experiments", str(spec), "--out", str(out),
            *extra]  # fmt: skip


def stored(out: Path) -> pd.DataFrame:
    """Every row of every part-file, duplicates included."""
    parts = sorted((out / "runs").glob("part-*.parquet"))
    if not parts:
        return pd.DataFrame(columns=["key"])
    return pd.concat([pq.read_table(p).to_pandas() for p in parts], ignore_index=True)


def run_serial(spec: Path, out: Path, **kw):
    messages: list[str] = []
    outcome = run_experiment(spec, out=out, executor="serial", notify=messages.append, **kw)
    return outcome, messages


# --------------------------------------------------------------------------- spec


def test_unknown_key_names_file_and_key_path(tmp_path):
    spec = tiny_spec(tmp_path, replicatons=3)
    with pytest.raises(ConfigError) as err:
        load_spec(spec)
    assert err.value.file == str(spec)
    assert err.value.path == "replicatons"
    assert "did you mean 'replications'" in str(err.value)

    spec = tiny_spec(tmp_path, factors={"window": {"path": "defaults.ordering.forecast_window",
                                                   "vales": [3]}})  # fmt: skip
    with pytest.raises(ConfigError) as err:
        load_spec(spec)
    assert err.value.path == "factors.window.vales"
    assert "allowed:" in str(err.value) and "values" in str(err.value)


def test_bad_design_lists_the_designs(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_spec(tiny_spec(tmp_path, design="grid"))
    assert err.value.path == "design"
    assert "full_factorial" in str(err.value) and "sobol" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_spec(tiny_spec(tmp_path, design="sobol", samples=6))
    assert err.value.path == "samples" and "power of two" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_spec(tiny_spec(tmp_path, design="latin_hypercube"))
    assert err.value.path == "samples"


def test_bad_factor_path_names_the_factor(tmp_path):
    bad = {"window": {"path": "defaults.ordering.forecast_windw", "values": [3, 5]}}
    with pytest.raises(ConfigError) as err:
        build_plan(load_spec(tiny_spec(tmp_path, factors=bad)))
    assert err.value.path == "factors.window.values[0]"
    assert str(tmp_path / "tiny.yaml") in str(err.value)
    assert "forecast_windw" in str(err.value)
    bad = {"window": {"path": "markets..demand", "values": [3]}}
    with pytest.raises(ConfigError) as err:
        load_spec(tiny_spec(tmp_path, factors=bad))
    assert err.value.path == "factors.window.path"
    bad = {"window": {"path": "markets.nowhere.demand.mean", "range": [90, 110], "levels": 2}}
    with pytest.raises(ConfigError) as err:
        build_plan(load_spec(tiny_spec(tmp_path, factors=bad)))
    assert err.value.path == "factors.window.range" and "nowhere" in str(err.value)


def test_bad_arm_and_metric(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_spec(tiny_spec(tmp_path, arms=["siloed", "siloed+pricing=telepathy"]))
    assert err.value.path == "arms[1]"
    with pytest.raises(ConfigError) as err:
        build_plan(load_spec(tiny_spec(tmp_path, metrics=["bullwhip.factroy"])))
    assert err.value.path == "metrics[0]" and "bullwhip.factory" in str(err.value)


def test_bad_spec_on_the_command_line_exits_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    code = cli_main([str(tiny_spec(tmp_path, design="grid")), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "design" in err and "tiny.yaml" in err
    assert "Traceback" not in err
    assert not out.exists()


# --------------------------------------------------------------------------- seeds


def test_seeds_are_identical_across_arms_and_python_ints(tmp_path):
    plan = build_plan(load_spec(tiny_spec(tmp_path, replications=4)))
    by_run: dict[tuple[int, int], set[int]] = {}
    for t in plan.tasks:
        assert type(t.seed) is int and 0 <= t.seed < 2**63
        by_run.setdefault((t.point, t.replication), set()).add(t.seed)
    assert all(len(s) == 1 for s in by_run.values())  # common random numbers
    seeds = [next(iter(s)) for s in by_run.values()]
    assert len(set(seeds)) == len(seeds)  # distinct across points and replications
    assert plan.seeds == run_seeds(42, 2, 4)
    assert run_seeds(42, 2, 6)[1][:4] == plan.seeds[1]  # more replications keep the first


# --------------------------------------------------------------------------- executors


def test_every_executor_gives_a_byte_identical_summary(tmp_path):
    spec = tiny_spec(tmp_path)
    outputs = {}
    for executor, workers in (("serial", 1), ("processes", 1), ("processes", 2), ("dask", 2)):
        out = tmp_path / f"{executor}{workers}"
        outcome = run_experiment(spec, out=out, executor=executor, workers=workers)
        assert outcome.new == outcome.total == 12 and outcome.failed == 0
        outputs[(executor, workers)] = (out / "summary.csv").read_bytes()
        runs = stored(out)
        assert len(runs) == 12 and runs["key"].is_unique
        for name in ("report.md", "plot.png", "provenance.json"):
            assert (out / name).stat().st_size > 0
    first = outputs[("serial", 1)]
    assert all(v == first for v in outputs.values())
    summary = pd.read_csv(tmp_path / "serial1" / "summary.csv")
    assert "seconds" not in summary.columns and "worker" not in summary.columns
    assert set(summary["kind"]) == {"arm", "diff"}


def test_dask_missing_names_the_extra(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else real(name)
    )
    with pytest.raises(ConfigError) as err:
        run_experiment(tiny_spec(tmp_path), out=tmp_path / "out", executor="dask")
    assert "pip install channel-agents[dask]" in str(err.value)
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- store


def test_killed_run_resumes_without_redoing_or_duplicating(tmp_path):
    from channel_agents.experiments.store import pid_alive

    spec = tiny_spec(tmp_path, replications=10, periods=50)
    reference, _ = run_serial(spec, tmp_path / "reference")
    out = tmp_path / "killed"
    log = tmp_path / "killed.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(command(spec, out, "--workers", "2"), env=env(), stdout=fh,
                                stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not list((out / "runs").glob("part-*.parquet")):
            assert proc.poll() is None, f"ended before it could be killed: {log.read_text()}"
            assert time.monotonic() < deadline
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    before = stored(out)
    assert 0 < len(before) < reference.total
    assert (out / ".lock").exists()  # left behind by the killed process: stale
    workers = {int(w.rsplit(":", 1)[1]) for w in before["worker"]}
    deadline = time.monotonic() + 10
    while any(pid_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(pid_alive(pid) for pid in workers), "worker processes outlived the kill"
    outcome, messages = run_serial(spec, out)
    assert any("stale lock" in m for m in messages)
    assert outcome.new == reference.total - len(before)
    assert outcome.cached == len(before)
    after = stored(out)
    assert len(after) == reference.total and after["key"].is_unique
    assert set(after["key"]) == {t.key for t in build_plan(load_spec(spec)).tasks}
    assert (out / "summary.csv").read_bytes() == (
        tmp_path / "reference" / "summary.csv"
    ).read_bytes()
    assert not (out / ".lock").exists()


def test_several_kills_in_a_row(tmp_path):
    spec = tiny_spec(tmp_path, replications=12, periods=50)
    run_serial(spec, tmp_path / "reference")
    out = tmp_path / "killed"
    rng = random.Random(7)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(command(spec, out, "--executor", "serial"), env=env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            start = len(list((out / "runs").glob("part-*.parquet")))
            deadline = time.monotonic() + 60
            while len(list((out / "runs").glob("part-*.parquet"))) <= start:
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.15))  # a random point: maybe mid-write
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                kills += 1
        finally:
            proc.wait()
        runs = stored(out)
        assert runs["key"].is_unique  # a kill never leaves a duplicate or a partial row
    assert kills >= 2
    outcome, _ = run_serial(spec, out)
    runs = stored(out)
    assert len(runs) == outcome.total == 48 and runs["key"].is_unique
    assert outcome.new == 48 - outcome.cached
    assert (out / "summary.csv").read_bytes() == (
        tmp_path / "reference" / "summary.csv"
    ).read_bytes()


def test_corrupt_part_is_reported_moved_aside_and_redone(tmp_path):
    spec = tiny_spec(tmp_path)
    out = tmp_path / "out"
    first, _ = run_serial(spec, out)
    summary = (out / "summary.csv").read_bytes()
    part = sorted((out / "runs").glob("part-*.parquet"))[1]
    lost = len(pq.read_table(part))
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])  # truncated, as by a full disk
    outcome, messages = run_serial(spec, out)
    assert [name for name, _ in outcome.corrupt] == [part.name]
    assert any("corrupt" in m and part.name in m for m in messages)
    assert (out / "runs" / "corrupt" / part.name).exists() and not part.exists()
    assert outcome.new == lost and outcome.cached == first.total - lost
    assert stored(out)["key"].is_unique and len(stored(out)) == first.total
    assert (out / "summary.csv").read_bytes() == summary


def test_stale_lock_is_taken_over(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (out / ".lock").write_text(f"{dead.pid}\n")
    outcome, messages = run_serial(tiny_spec(tmp_path), out)
    assert outcome.new == 12
    assert any(f"stale lock of process {dead.pid}" in m for m in messages)
    assert not (out / ".lock").exists()


def test_live_lock_blocks_a_second_process(tmp_path):
    spec = tiny_spec(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (out / ".lock").write_text(f"{holder.pid}\n")
        proc = subprocess.run(command(spec, out, "--executor", "serial"), env=env(),
                              capture_output=True, text=True, timeout=120)  # fmt: skip
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "already running" in proc.stderr
    assert str(holder.pid) in proc.stderr and "Traceback" not in proc.stderr
    assert not (out / "runs").exists() and not (out / "summary.csv").exists()
    assert (out / ".lock").read_text() == f"{holder.pid}\n"  # not touched
    outcome, _ = run_serial(spec, out)  # the holder is gone now: the lock is stale
    assert outcome.new == 12


def test_second_start_of_a_finished_experiment_runs_nothing(tmp_path, capsys):
    spec = tiny_spec(tmp_path)
    out = tmp_path / "out"
    assert cli_main([str(spec), "--out", str(out), "--executor", "serial"]) == 0
    summary = (out / "summary.csv").read_bytes()
    capsys.readouterr()
    assert cli_main([str(spec), "--out", str(out), "--executor", "serial"]) == 0
    err = capsys.readouterr().err
    assert "all 12 runs already in the store" in err
    assert len(stored(out)) == 12
    assert (out / "summary.csv").read_bytes() == summary
    assert cli_main([str(spec), "--out", str(out), "--executor", "serial", "--fresh"]) == 0
    assert "all 12 runs" not in capsys.readouterr().err and len(stored(out)) == 12


def test_failing_run_is_recorded_and_the_others_finish(tmp_path, monkeypatch):
    import channel_agents.api as api

    spec = tiny_spec(tmp_path)
    plan = build_plan(load_spec(spec))
    bad_seed = plan.seeds[1][2]
    real = api.run

    def flaky(config, seed=None, *args, **kwargs):
        if seed == bad_seed and getattr(config, "periods", 0) > 1:
            raise RuntimeError("demand feed went away")
        return real(config, seed, *args, **kwargs)

    monkeypatch.setattr(api, "run", flaky)
    out = tmp_path / "out"
    outcome, _ = run_serial(spec, out)
    assert outcome.new == 12 and outcome.failed == 2  # both arms share the seed
    runs = stored(out)
    failed = runs[runs["status"] == "error"]
    assert len(failed) == 2 and set(failed["point"]) == {1} and set(failed["replication"]) == {2}
    assert failed["error"].str.contains("RuntimeError: demand feed went away").all()
    assert (runs["status"] == "ok").sum() == 10
    s = pd.read_csv(out / "summary.csv")
    arm_rows = s[(s["kind"] == "arm") & (s["metric"] == "team_cost")]
    assert list(arm_rows["n"]) == [3, 3, 2, 2] and list(arm_rows["failed"]) == [0, 0, 1, 1]
    assert "demand feed went away" in (out / "report.md").read_text()
    again, _ = run_serial(spec, out)  # recorded failures are results: not rerun
    assert again.new == 0


# --------------------------------------------------------------------------- designs


def test_latin_hypercube_and_sobol_designs(tmp_path):
    lhs = tiny_spec(tmp_path, name="lhs", design="latin_hypercube", samples=5, replications=1,
                    factors={"window": {"path": "defaults.ordering.forecast_window",
                                        "range": [2, 9], "integer": True},
                             "sd": {"path": "markets.consumers.demand.sd", "range": [5, 15]}},
                    arms=["siloed"])  # fmt: skip
    plan = build_plan(load_spec(lhs))
    assert len(plan.points) == 5
    assert all(isinstance(p["window"], int) and 2 <= p["window"] <= 9 for p in plan.points)
    assert all(5 <= p["sd"] <= 15 for p in plan.points)
    sob = tiny_spec(tmp_path, name="sob", design="sobol", samples=4, replications=1,
                    factors={"sd": {"path": "markets.consumers.demand.sd", "range": [5, 15]},
                             "window": {"path": "defaults.ordering.forecast_window",
                                        "values": [3, 5, 8]}},
                    periods=20)  # fmt: skip
    out = tmp_path / "sob"
    outcome, _ = run_serial(sob, out)
    assert outcome.total == 4 * (2 + 2) * 2
    sobol = pd.read_csv(out / "sobol.csv")
    assert set(sobol["factor"]) == {"sd", "window"}
    assert {"S1", "ST", "S1_conf", "ST_conf"} <= set(sobol.columns)
    assert "Sobol" in (out / "report.md").read_text()


def test_precision_keep_series_and_provenance(tmp_path):
    import json

    spec = tiny_spec(tmp_path, keep_series=True, precision={"bullwhip.factory": "10%"})
    out = tmp_path / "out"
    outcome, _ = run_serial(spec, out)
    s = pd.read_csv(out / "summary.csv")
    need = s[s["metric"] == "bullwhip.factory"]["replications_needed"]
    assert need.notna().all() and (need >= 2).all()
    assert s[s["metric"] != "bullwhip.factory"]["replications_needed"].isna().all()
    plan = outcome.plan
    for t in plan.tasks:
        series = pd.read_parquet(out / "series" / f"{t.key}.parquet")
        assert len(series) and set(series["key"]) == {t.key}
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["git_commit"] == COMMIT
    assert prov["seeds"]["by_point_and_replication"] == plan.seeds
    assert prov["executor"] == "serial" and prov["sessions"][-1]["runs_new"] == 12
    assert prov["packages"]["channel_agents.__version__"]


def test_add_parser_registers_the_command(tmp_path):
    parser = argparse.ArgumentParser(prog="channel-agents")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    args = parser.parse_args(
        [
            "experiment",
            "x.yaml",
            "--workers",
            "3",
            "--executor",
            "dask",
            "--scheduler",
            "tcp://h:8786",
            "--out",
            "o",
            "--fresh",
            "--json",
        ]  # fmt: skip
    )
    assert (args.spec, args.workers, args.executor, args.scheduler) == (
        "x.yaml", 3, "dask", "tcp://h:8786")  # fmt: skip
    assert args.out == "o" and args.fresh and args.json and callable(args.handler)


def test_ready_specs_plan(tmp_path):
    names = sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml"))
    assert {"siloed_vs_cooperative", "contracts", "bargaining_power", "information_sharing",
            "lever_attribution"} <= set(names)  # fmt: skip
    for name in names:
        plan = build_plan(load_spec(ROOT / "experiments" / f"{name}.yaml"))
        assert plan.tasks and len({t.key for t in plan.tasks}) == len(plan.tasks)
