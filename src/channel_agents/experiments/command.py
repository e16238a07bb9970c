"""``channel-agents experiment SPEC``: run an experiment file, resuming from its store.

Wire it into the main parser with ``add_parser(subparsers)``; the handler it
registers (``args.handler``) returns the exit code: 0 done, 1 the executor
broke (finished runs are kept), 2 bad input or the experiment is locked by a
live process (one line, nothing written), 130 interrupted (finished runs are
kept; start again to resume).

Standalone: ``python -m channel_agents.experiments SPEC [options]``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from typing import Any

from channel_agents.cli import _positive_int
from channel_agents.config import ConfigError
from channel_agents.experiments.executors import EXECUTORS


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``experiment`` arguments to ``parser``."""
    parser.add_argument("spec", metavar="SPEC", help="experiment YAML file (see experiments/)")
    parser.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="worker processes (default: the CPUs available; ignored by serial)",
    )
    parser.add_argument(
        "--executor",
        choices=EXECUTORS,
        default="processes",
        help="where runs execute: serial (this process), processes (default), or dask "
        "(optional extra: pip install channel-agents[dask])",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDR",
        help="with --executor dask: a running scheduler, e.g. tcp://10.0.0.5:8786 "
        "(default: a LocalCluster of --workers processes)",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="output folder: the run store and the results (default results/<experiment name>)",
    )
    parser.add_argument(
        "--fresh", action="store_true", help="discard the runs already in the store; start over"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=cmd_experiment)
    return parser


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``experiment SPEC [--workers N] [--executor serial|processes|dask]
    [--scheduler ADDR] [--out DIR] [--fresh] [--json]`` on a subparsers object; its
    ``handler`` default takes the parsed arguments and returns the exit code."""
    parser = subparsers.add_parser(
        "experiment",
        help="run an experiment file: arms x factors x replications, resumable, with CIs",
        description=(
            "Run an experiment (a YAML file in experiments/): every arm at every design "
            "point, replicated with common random numbers. Finished runs go to a Parquet "
            "store in the output folder, so an interrupted experiment resumes where it "
            "stopped; summary.csv, report.md, plot.png and provenance.json are written "
            "from the store."
        ),
    )
    return configure(parser)


class RichProgress:
    """A progress bar on stderr: runs done, cached, failed, elapsed, ETA."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("runs"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("cached {task.fields[cached]}"),
            TextColumn("failed {task.fields[failed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task: Any = None
        self._failed = 0

    def start(self, total: int, cached: int) -> None:
        self._bar.start()
        self._task = self._bar.add_task("runs", total=total, completed=cached, cached=cached,
                                        failed=0)  # fmt: skip

    def advance(self, ok: bool) -> None:
        self._failed += not ok
        self._bar.update(self._task, advance=1, failed=self._failed)

    def stop(self) -> None:
        self._bar.stop()


def _say(message: str) -> None:
    print(f"channel-agents: {message}", file=sys.stderr, flush=True)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    if value is not None and str(value) == "<NA>":
        return None
    return value


def cmd_experiment(args: argparse.Namespace) -> int:
    from channel_agents.experiments.runner import ExecutorFailed, run_experiment

    argv = [args.spec]
    for flag in ("workers", "executor", "scheduler", "out"):
        value = getattr(args, flag, None)
        if value is not None and not (flag == "executor" and value == "processes"):
            argv += [f"--{flag}", str(value)]
    argv += ["--fresh"] * bool(args.fresh) + ["--json"] * bool(args.json)
    progress = RichProgress() if (sys.stderr.isatty() and not args.json) else None
    try:
        outcome = run_experiment(
            args.spec,
            out=args.out,
            executor=args.executor,
            workers=args.workers,
            scheduler=args.scheduler,
            fresh=args.fresh,
            notify=_say,
            progress=progress,
            argv=argv,
        )
    except ConfigError as exc:
        print(f"channel-agents: error: {exc}", file=sys.stderr)
        return 2
    except ExecutorFailed as exc:
        print(f"channel-agents: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("channel-agents: interrupted; the finished runs are stored; run the same "
              "command again to resume", file=sys.stderr)  # fmt: skip
        return 130
    if args.json:
        doc = {
            "experiment": outcome.name,
            "out": str(outcome.out),
            "runs": {
                "total": outcome.total,
                "new": outcome.new,
                "cached": outcome.cached,
                "failed": outcome.failed,
                "failed_now": outcome.failed_now,
            },  # fmt: skip
            "nothing_to_run": outcome.nothing_to_run,
            "corrupt_parts": [name for name, _ in outcome.corrupt],
            "executor": outcome.executor,
            "workers": outcome.workers,
            "seconds": round(outcome.seconds, 3),
            "files": outcome.files,
            "summary": [
                {k: _clean(v) for k, v in row.items()}
                for row in outcome.analysis.summary.to_dict(orient="records")
            ],
        }
        print(json.dumps(doc, indent=2))
        return 0
    _print_table(outcome)
    if not outcome.nothing_to_run:
        _say(f"done: {outcome.new} new runs, {outcome.cached} from the store, "
             f"{outcome.failed} failed, in {outcome.seconds:.1f} s")  # fmt: skip
    files = ", ".join(f for k, f in outcome.files.items() if k != "runs")
    print(f"results in {outcome.out}: {files}")
    return 0


def _print_table(outcome: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    from channel_agents.experiments.analysis import plot_metric, results_table

    plan = outcome.plan
    metric = plot_metric(plan)
    header, rows = results_table(plan, outcome.analysis, metric)
    table = Table(title=f"{plan.name}: {metric} (mean ± 95 % half-width; paired differences)")
    n_left = len(plan.factors) or 1
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i < n_left else "right")
    for row in rows[:30]:
        table.add_row(*row)
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(table)
    if len(rows) > 30:
        print(f"({len(rows) - 30} more design points in summary.csv)")


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m channel_agents.experiments SPEC ...`` (the same as
    ``channel-agents experiment SPEC ...``)."""
    from channel_agents import __version__

    parser = argparse.ArgumentParser(
        prog="channel-agents experiment",
        description="Run an experiment file (see docs/experiments.md).",
    )
    parser.add_argument("--version", action="version", version=f"channel-agents {__version__}")
    configure(parser)
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
