"""Plan an experiment, run what the store lacks, write the outputs.

``build_plan(spec)`` resolves everything before a single run starts: the base
scenario with the spec's ``set`` overrides, every arm, every design point, the
seeds and the store key of every run. Any problem is a ConfigError (exit 2)
and nothing is written.

``run_experiment(...)`` then takes the folder's lock, opens the store (moving
corrupt part-files aside), runs the missing runs on an executor, commits
finished runs to the store in chunks (atomically), and writes summary.csv,
report.md, plot.png and provenance.json from the store.

>>> from channel_agents.experiments.runner import build_plan
>>> from channel_agents.experiments.spec import load_spec
>>> plan = build_plan(load_spec("experiments/lever_attribution.yaml"))
>>> len(plan.arms) >= 3, plan.tasks[0].seed == plan.tasks[1].seed
(True, True)
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from channel_agents.config import (
    ConfigError,
    ScenarioConfig,
    _resolve_extends,
    apply_set,
    validate_config,
)
from channel_agents.experiments.seeds import run_seeds
from channel_agents.experiments.spec import (
    RESERVED_COLUMNS,
    ExperimentSpec,
    Factor,
    design_points,
    factors,
    load_spec,
    precision_target,
)
from channel_agents.experiments.store import (
    ExperimentLock,
    RunStore,
    atomic_write_parquet,
    git_commit,
    run_key,
    scenario_json,
)

FLUSH_SECONDS = 15.0  # commit finished runs at least this often
# the run store's own columns: the reserved names up to and including "worker"
META_COLUMNS = list(RESERVED_COLUMNS[: RESERVED_COLUMNS.index("worker") + 1])
SKIP_SUMMARY_KEYS = ("periods", "warmup", "seed", "config", "by_product")  # not per member
OUTPUT_FILES = ("summary.csv", "sobol.csv", "report.md", "plot.png", "provenance.json")


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class RunTask:
    """One simulation: a scenario (validated, after every override), an arm label, a seed."""

    key: str
    point: int
    replication: int
    arm: str
    seed: int
    config: ScenarioConfig
    metrics: tuple[str, ...]
    series_path: str | None = None


def metric_value(summary: dict[str, Any], metric: str) -> float | None:
    """A flattened metric (``consumer_surplus``, ``profit.retailer``,
    ``by_product.alpha.share``) of a run summary."""
    value: Any = summary
    for part in metric.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return float(value)
    return float(value) if isinstance(value, int | float) else None


def flatten_keys(summary: dict[str, Any]) -> list[str]:
    """Every metric name of a summary, as compare.flatten names them, including those
    whose value is undefined (null) in this summary."""
    from channel_agents.compare import summary_leaves

    return [
        k
        for k, v in summary_leaves(summary)
        if (isinstance(v, int | float) or v is None) and not isinstance(v, dict)
    ]


def execute(task: RunTask) -> dict[str, Any]:
    """Run one task (in a worker). A run that raises is returned with its error text."""
    import traceback

    from channel_agents import api

    start = time.perf_counter()
    worker = f"{socket.gethostname()}:{os.getpid()}"
    try:
        result = api.run(task.config, seed=task.seed, keep_series=task.series_path is not None)
        values = {m: metric_value(result.summary, m) for m in task.metrics}
        if task.series_path is not None:
            import pyarrow as pa

            series = result.series.copy()
            series.insert(0, "key", task.key)
            atomic_write_parquet(
                Path(task.series_path), pa.Table.from_pandas(series, preserve_index=False)
            )
        status, error = "ok", None
    except Exception as exc:  # recorded; the experiment goes on
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
        status, error = "error", f"{type(exc).__name__}: {exc}{where}"
        values = dict.fromkeys(task.metrics)
    return {
        "key": task.key,
        "status": status,
        "error": error,
        "seconds": time.perf_counter() - start,
        "worker": worker,
        "values": values,
    }


# --------------------------------------------------------------------------- plan


@dataclass
class Plan:
    """Everything an experiment will run, resolved and checked."""

    spec: ExperimentSpec
    scenario_file: str  # as shown in messages (relative where possible)
    factors: list[Factor]
    points: list[dict[str, Any]]  # factor name -> value
    arms: list[str]
    arm_overrides: dict[str, list[str]]
    seeds: list[list[int]]  # [point][replication], shared by every arm
    metrics: list[str]
    tasks: list[RunTask]  # ordered by point, replication, arm
    version: str
    commit: str
    base_overrides: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.spec.experiment_name

    @property
    def columns(self) -> list[str]:
        return META_COLUMNS + [f.name for f in self.factors] + self.metrics

    def factor_columns(self, point: int) -> dict[str, Any]:
        values = self.points[point]
        return {f.name: f.column(values[f.name]) for f in self.factors}

    def row(self, task: RunTask, result: dict[str, Any]) -> dict[str, Any]:
        row: dict[str, Any] = {
            "key": task.key,
            "experiment": self.name,
            "point": task.point,
            "replication": task.replication,
            "arm": task.arm,
            "seed": task.seed,
            "status": result["status"],
            "error": result["error"],
            "seconds": float(result["seconds"]),
            "worker": result["worker"],
        }
        row.update(self.factor_columns(task.point))
        for m in self.metrics:
            v = result["values"].get(m)
            row[m] = float("nan") if v is None else float(v)
        return row


def _shown(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def build_plan(spec: ExperimentSpec, *, probe: bool = True) -> Plan:
    """Resolve a spec into tasks; every problem is a ConfigError naming the spec file
    and the key path (and the scenario file, when the problem is in the scenario)."""
    import channel_agents
    from channel_agents.compare import arm_overrides

    file = spec.file
    scenario_abs = spec.scenario_path
    shown = _shown(scenario_abs)

    def scenario_error(exc: ConfigError, where: str, what: str) -> ConfigError:
        inner = ": ".join(p for p in (exc.path,) if p)
        detail = f"{what}: {inner + ': ' if inner else ''}{exc.detail}"
        return ConfigError(detail, file=f"{file} (scenario {shown})", path=where)

    try:
        raw = _resolve_extends(scenario_abs, shown, ())
    except ConfigError as exc:
        raise scenario_error(exc, "scenario", "cannot read the scenario") from None
    base = list(spec.overrides)
    if spec.periods is not None:
        base.append(f"periods={spec.periods}")
    if spec.warmup is not None:
        base.append(f"warmup={spec.warmup}")
    data = raw
    for i, assignment in enumerate(base):
        where = f"set[{i}]" if i < len(spec.overrides) else assignment.split("=")[0]
        try:
            data = apply_set(data, assignment)
        except ConfigError as exc:
            raise scenario_error(exc, where, f"cannot apply {assignment!r}") from None

    cache: dict[tuple[str, ...], ScenarioConfig] = {}

    def resolve(start: dict[str, Any], assignments: list[str]) -> ScenarioConfig:
        d = start
        for a in assignments:
            d = apply_set(d, a)
        return validate_config(d, file=str(scenario_abs))

    per_arm: dict[str, list[str]] = {}
    arm_data: dict[str, dict[str, Any]] = {}
    for i, arm in enumerate(spec.arms):
        per_arm[arm] = arm_overrides(arm)
        try:
            arm_data[arm] = d = apply_set(data, per_arm[arm][0])
            for a in per_arm[arm][1:]:
                arm_data[arm] = d = apply_set(d, a)
            validate_config(d, file=str(scenario_abs))
        except ConfigError as exc:
            raise scenario_error(
                exc, f"arms[{i}]", f"arm {arm!r} makes the scenario invalid"
            ) from None

    fs = factors(spec)
    first = arm_data[spec.arms[0]]
    for f in fs:  # each value alone, so an error names the value that causes it
        where = f"factors.{f.name}" if "." not in f.name else f"factors[{f.name}]"
        if f.lo is None:
            checks = [(f"{where}.values[{j}]", v) for j, v in enumerate(f.values)]
        else:
            checks = [(f"{where}.range", f.at(0.0)), (f"{where}.range", f.at(1.0))]
        for key_path, value in checks:
            try:
                resolve(first, f.assignments(value))
            except ConfigError as exc:
                setting = ", ".join(f.assignments(value))
                raise scenario_error(exc, key_path, f"setting {setting} fails") from None

    points = design_points(spec)
    configs: dict[tuple[int, str], ScenarioConfig] = {}
    for p, values in enumerate(points):
        assignments = [a for f in fs for a in f.assignments(values[f.name])]
        for arm in spec.arms:
            ck = (arm, *assignments)
            if ck not in cache:
                try:
                    cache[ck] = resolve(arm_data[arm], assignments)
                except ConfigError as exc:
                    desc = ", ".join(f"{f.name}={f.column(values[f.name])}" for f in fs)
                    raise scenario_error(
                        exc, "factors", f"design point {p} ({desc}) under arm {arm!r} fails"
                    ) from None
            configs[p, arm] = cache[ck]

    metrics = _metrics(spec, configs[0, spec.arms[0]], probe)
    factor_names = {f.name for f in fs}
    for m in metrics:
        if m in factor_names or m in RESERVED_COLUMNS:
            raise ConfigError(
                f"metric {m!r} has the name of a factor or a store column", file=file,
                path="metrics",
            )  # fmt: skip
    for metric, target in spec.precision.items():
        precision_target(target, file, f"precision.{metric}")
        if metric not in metrics:
            raise ConfigError(
                f"{metric!r} is not a kept metric; kept: {', '.join(metrics)}",
                file=file,
                path=f"precision.{metric}",
            )
    if spec.plot.metric not in metrics and spec.raw.get("plot", {}).get("metric"):
        raise ConfigError(f"{spec.plot.metric!r} is not a kept metric", file=file,
                          path="plot.metric")  # fmt: skip

    version = channel_agents.__version__
    commit = git_commit()
    seeds = run_seeds(spec.seed, len(points), spec.replications)
    scen_json = {key: scenario_json(cfg) for key, cfg in configs.items()}
    tasks = []
    for p in range(len(points)):
        for r, seed in enumerate(seeds[p]):
            for arm in spec.arms:
                key = run_key(scen_json[p, arm], arm, seed, version, commit)
                tasks.append(RunTask(key, p, r, arm, seed, configs[p, arm], tuple(metrics)))
    keys = [t.key for t in tasks]
    if len(set(keys)) != len(keys):  # two runs that are the same run: a spec mistake
        raise ConfigError(
            "two runs of this experiment are identical (same scenario, arm and seed); "
            "check the factors for values that resolve to the same scenario",
            file=file,
            path="factors",
        )
    return Plan(spec, shown, fs, points, list(spec.arms), per_arm, seeds, metrics, tasks,
                version, commit, base)  # fmt: skip


def _metrics(spec: ExperimentSpec, cfg: ScenarioConfig, probe: bool) -> list[str]:
    """The metrics to keep, checked against what a run of this scenario reports."""
    if not probe:
        return list(spec.metrics or ["consumer_surplus"])
    from channel_agents import api

    try:  # one period tells which keys a summary of this scenario has
        summary = api.run(
            cfg.model_copy(update={"periods": 1, "warmup": 0}), seed=0, keep_series=False
        ).summary
    except Exception:  # noqa: BLE001 - a failing scenario fails in its runs, recorded there
        return list(spec.metrics or ["consumer_surplus"])
    members = [n for n, m in cfg.members.items() if m.role != "source"]
    available = flatten_keys(summary)
    for key, value in summary.items():  # per-member keys that are null as a whole
        if value is None and key not in SKIP_SUMMARY_KEYS:
            available.extend(f"{key}.{m}" for m in members)
    if spec.metrics is None:
        return [k for k in flatten_keys(summary) if summary.get(k, 0) is not None]
    import difflib

    for i, m in enumerate(spec.metrics):
        if m not in available:
            hint = difflib.get_close_matches(m, available, n=1)
            raise ConfigError(
                f"unknown metric {m!r}" + (f" (did you mean {hint[0]!r}?)" if hint else "")
                + f"; this scenario reports: {', '.join(available)}",
                file=spec.file,
                path=f"metrics[{i}]",
            )  # fmt: skip
    return list(spec.metrics)


# --------------------------------------------------------------------------- running


class Progress(Protocol):
    def start(self, total: int, cached: int) -> None: ...
    def advance(self, ok: bool) -> None: ...
    def stop(self) -> None: ...


class _NoProgress:
    def start(self, total: int, cached: int) -> None:
        pass

    def advance(self, ok: bool) -> None:
        pass

    def stop(self) -> None:
        pass


class ExecutorFailed(RuntimeError):
    """The executor broke (a worker process died): the finished runs are stored."""


@dataclass
class Outcome:
    """What an invocation did."""

    name: str
    out: Path
    total: int
    new: int = 0
    cached: int = 0
    failed: int = 0  # runs of this experiment recorded as failed (all sessions)
    failed_now: int = 0
    corrupt: list[tuple[str, str]] = field(default_factory=list)
    executor: str = ""
    workers: int = 1
    started: str = ""
    ended: str = ""
    seconds: float = 0.0
    files: dict[str, str] = field(default_factory=dict)
    analysis: Any = None
    plan: Any = None
    nothing_to_run: bool = False
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def check_executor(name: str, scheduler: str | None) -> None:
    """Fail before anything is written when the executor cannot be used."""
    import importlib.util

    from channel_agents.experiments.executors import DASK_MISSING, EXECUTORS

    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}; choose from {', '.join(EXECUTORS)}",
                          path="--executor")  # fmt: skip
    if scheduler and name != "dask":
        raise ConfigError("needs --executor dask", path="--scheduler")
    if name == "dask" and importlib.util.find_spec("distributed") is None:
        raise ConfigError(DASK_MISSING, path="--executor dask")


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (scancel, kill) stops the experiment like Ctrl-C: finished runs are kept."""

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_experiment(
    spec: ExperimentSpec | str | Path,
    *,
    out: str | Path | None = None,
    executor: str = "processes",
    workers: int | None = None,
    scheduler: str | None = None,
    fresh: bool = False,
    notify: Callable[[str], None] | None = None,
    progress: Progress | None = None,
    argv: list[str] | None = None,
) -> Outcome:
    """Run an experiment (resuming from its store) and write its outputs."""
    from channel_agents.experiments import analysis
    from channel_agents.experiments.executors import default_workers, make_executor

    say = notify or (lambda msg: None)
    bar = progress or _NoProgress()
    if not isinstance(spec, ExperimentSpec):
        spec = load_spec(spec)
    check_executor(executor, scheduler)
    t_plan = time.perf_counter()
    plan = build_plan(spec)
    t_plan = time.perf_counter() - t_plan
    out_dir = Path(out) if out is not None else Path("results") / plan.name
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"{out_dir} exists and is not a directory", path="--out")
    n_workers = 1 if executor == "serial" else (workers or default_workers())
    started, t0 = _now(), time.perf_counter()
    existed = out_dir.exists()
    lock = ExperimentLock(out_dir)
    note = lock.acquire()
    try:
        if note:
            say(note)
        if fresh:
            _wipe(out_dir)
        t_open = time.perf_counter()
        store = RunStore(out_dir)
        scan = store.open()
        t_open = time.perf_counter() - t_open
        for name, error in scan.corrupt:
            say(f"{out_dir / 'runs' / name} is corrupt ({error}); moved to "
                f"{store.corrupt_dir}; its runs will be redone")  # fmt: skip
        if plan.spec.keep_series:
            store.series_dir.mkdir(parents=True, exist_ok=True)
        done = _reusable(store, plan)
        todo = []
        for t in plan.tasks:
            series = str(store.series_dir / f"{t.key}.parquet") if spec.keep_series else None
            if t.key in done and (series is None or Path(series).exists()):
                continue
            todo.append(t if series is None else _with_series(t, series))
        total = len(plan.tasks)
        outcome = Outcome(plan.name, out_dir, total, cached=total - len(todo), started=started)
        outcome.plan = plan
        outcome.corrupt = scan.corrupt
        outcome.timings = {"plan": t_plan, "store_open": t_open, "runs": 0.0}
        if not todo:
            outcome.nothing_to_run = True
            outcome.executor, outcome.workers = "none", 0
            say(f"all {total} runs already in the store; nothing to run "
                f"(--fresh starts over)")  # fmt: skip
        else:
            shape = (f"{len(plan.points)} point{'s' if len(plan.points) != 1 else ''} x "
                     f"{spec.replications} replication{'s' if spec.replications != 1 else ''} x "
                     f"{len(plan.arms)} arm{'s' if len(plan.arms) != 1 else ''}")  # fmt: skip
            try:
                ex = make_executor(executor, n_workers, scheduler)
            except ConfigError:
                lock.release()
                if not existed:  # nothing was written: leave no empty folder behind
                    with contextlib.suppress(OSError):
                        out_dir.rmdir()
                raise
            outcome.executor, outcome.workers = ex.name, ex.workers
            say(f"{plan.name}: {total} runs ({shape}); {outcome.cached} in the store, "
                f"{len(todo)} to run on {ex.describe()}")  # fmt: skip
            t_run = time.perf_counter()
            with _sigterm_as_interrupt(), ex:
                _run(plan, store, ex, todo, bar, outcome)
            outcome.timings["runs"] = time.perf_counter() - t_run
        t_analysis = time.perf_counter()
        frame = store.frame(t.key for t in plan.tasks)
        outcome.failed = int((frame["status"] != "ok").sum()) if len(frame) else 0
        result = analysis.analyze(plan, frame)
        outcome.analysis = result
        outcome.timings["analysis"] = time.perf_counter() - t_analysis
        outcome.ended = _now()
        t_out = time.perf_counter()
        outcome.files = analysis.write_outputs(plan, result, out_dir, outcome, argv=argv)
        outcome.timings["outputs"] = time.perf_counter() - t_out
        outcome.seconds = time.perf_counter() - t0
        return outcome
    finally:
        lock.release()


def _reusable(store: RunStore, plan: Plan) -> set[str]:
    """Keys in the store whose part-file holds every metric this plan keeps."""
    need = set(plan.metrics)
    keys: set[str] = set()
    for frame in store._frames:
        if need <= set(frame.columns):
            keys.update(frame["key"])
    return keys


def _with_series(task: RunTask, path: str) -> RunTask:
    from dataclasses import replace

    return replace(task, series_path=path)


def _run(plan: Plan, store: RunStore, ex: Any, todo: list[RunTask], bar: Any, outcome: Outcome):
    by_key = {t.key: t for t in todo}
    chunk = plan.spec.chunk_size
    buffer: list[dict[str, Any]] = []
    last = time.monotonic()
    bar.start(outcome.total, outcome.cached)
    try:
        for result in ex.map(execute, todo):
            row = plan.row(by_key[result["key"]], result)
            buffer.append(row)
            ok = result["status"] == "ok"
            outcome.new += 1
            outcome.failed_now += not ok
            bar.advance(ok)
            if len(buffer) >= chunk or time.monotonic() - last >= FLUSH_SECONDS:
                store.write(buffer, plan.columns)
                buffer, last = [], time.monotonic()
    except (KeyboardInterrupt, ConfigError):
        raise
    except Exception as exc:
        raise ExecutorFailed(
            f"the {ex.name} executor failed ({type(exc).__name__}: {exc}); the "
            f"{outcome.new} runs finished so far are stored; start again to run the rest"
        ) from exc
    finally:
        bar.stop()
        store.write(buffer, plan.columns)  # finished runs are never lost


def _wipe(out: Path) -> None:
    """``--fresh``: remove the store and the outputs (never other files)."""
    for sub in ("runs", "series"):
        if (out / sub).is_dir():
            shutil.rmtree(out / sub)
    for name in OUTPUT_FILES:
        with contextlib.suppress(FileNotFoundError):
            (out / name).unlink()


def scenario_sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def resolved_seeds(plan: Plan) -> list[list[int]]:
    return plan.seeds


def plan_summary(plan: Plan) -> dict[str, Any]:
    """The plan in JSON terms (for provenance and ``--json``)."""
    return {
        "experiment": plan.name,
        "spec_file": plan.spec.file,
        "scenario": plan.scenario_file,
        "arms": {arm: plan.arm_overrides[arm] for arm in plan.arms},
        "set": plan.base_overrides,
        "design": plan.spec.design,
        "factors": {
            f.name: {"paths": list(f.paths), "values": [f.column(v) for v in f.values]}
            if f.lo is None
            else {"paths": list(f.paths), "range": [f.lo, f.hi], "integer": f.integer}
            for f in plan.factors
        },
        "points": len(plan.points),
        "replications": plan.spec.replications,
        "runs": len(plan.tasks),
        "metrics": plan.metrics,
        "master_seed": plan.spec.seed,
    }


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, default=_json_default)


def load_runs(spec: ExperimentSpec | str | Path, out: str | Path | None = None) -> Any:
    """The runs of an experiment from its store, as a pandas DataFrame: only the runs
    of the spec as it is now (a store may also hold runs of an earlier version of the
    spec, reused where they match), one row each, sorted by point, replication, arm."""
    if not isinstance(spec, ExperimentSpec):
        spec = load_spec(spec)
    plan = build_plan(spec)
    out_dir = Path(out) if out is not None else Path("results") / plan.name
    store = RunStore(out_dir)
    if not store.root.is_dir():
        raise ConfigError(f"no run store in {out_dir}", path="--out")
    # read without moving anything: a running experiment may hold the lock
    import pandas as pd
    import pyarrow.parquet as pq

    frames = []
    for part in store.parts():
        try:
            frames.append(pq.read_table(part).to_pandas())
        except Exception:  # noqa: BLE001 - a corrupt part is dealt with by the next run
            continue
    keys = {t.key for t in plan.tasks}
    if not frames:
        return pd.DataFrame(columns=plan.columns)
    runs = pd.concat(frames, ignore_index=True)
    runs = runs[runs["key"].isin(keys)].drop_duplicates("key")
    order = {a: i for i, a in enumerate(plan.arms)}
    runs = runs.assign(_arm=runs["arm"].map(order))
    return (
        runs.sort_values(["point", "replication", "_arm"])
        .drop(columns="_arm")
        .reset_index(drop=True)
    )
