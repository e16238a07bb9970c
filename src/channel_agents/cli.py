"""The ``channel-agents`` command line.

Bad input (a config, a flag) exits with code 2 and one message naming the
file, the key path, what is wrong and what is allowed; nothing is written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from channel_agents import __version__
from channel_agents.config import ConfigError, load_config


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one line, exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = _nonneg_int(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must be >= 1, got 0")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="channel-agents",
        description=(
            "Simulate downstream supply channels: members negotiate, price, order and "
            "promote; consumers respond; compare siloed and cooperative strategies."
        ),
    )
    parser.add_argument("--version", action="version", version=f"channel-agents {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    run = sub.add_parser(
        "run",
        help="run one scenario and print its summary",
        description="Run one scenario (a YAML file) and print its summary.",
    )
    run.add_argument("config", metavar="CONFIG", help="scenario YAML file")
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="PATH=VALUE",
        help="override a config value (dotted path, YAML value; repeatable), "
        "e.g. --set 'defaults.ordering={policy: pass_through}'",
    )
    run.add_argument("--seed", type=_nonneg_int, help="random seed (default: the config's seed)")
    run.add_argument("--periods", type=_positive_int, help="periods after warm-up")
    run.add_argument("--warmup", type=_nonneg_int, help="warm-up periods left out of the summary")
    run.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    run.add_argument(
        "--out",
        metavar="DIR",
        help="write summary.json, series.parquet and markets.parquet into DIR",
    )
    run.add_argument(
        "--check",
        action="store_true",
        help="check conservation of goods and money every period; stop at the first violation",
    )
    run.set_defaults(handler=cmd_run)
    return parser


def _fail(message: str) -> int:
    print(f"channel-agents: error: {message}", file=sys.stderr)
    return 2


def cmd_run(args: argparse.Namespace) -> int:
    from channel_agents.invariants import InvariantError
    from channel_agents.model import ChannelModel

    overrides = list(args.overrides)
    if args.periods is not None:
        overrides.append(f"periods={args.periods}")
    if args.warmup is not None:
        overrides.append(f"warmup={args.warmup}")
    out = Path(args.out) if args.out else None
    if out is not None and out.exists() and not out.is_dir():
        return _fail(f"--out {args.out}: exists and is not a directory")
    cfg = load_config(args.config, overrides)
    keep_series = out is not None
    model = ChannelModel(cfg, rng=args.seed, keep_series=keep_series, check=args.check)
    try:
        _run_with_progress(model)
    except InvariantError as exc:
        print(f"channel-agents: invariant violated: {exc}", file=sys.stderr)
        return 1
    summary = model.summary()
    text = json.dumps(summary, indent=2, sort_keys=False)
    if out is not None:
        _write_outputs(out, text, model)
    if args.json:
        print(text)
    else:
        print_summary(summary, cfg.name)
    return 0


def _run_with_progress(model: Any) -> None:
    total = model.warmup + model.periods
    if total < 200_000 or not sys.stderr.isatty():
        model.run()
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("simulating", total=total)
        chunk = max(total // 200, 1)

        def advance(period: int, _total: int) -> None:
            if period % chunk == 0 or period == total:
                bar.update(task, completed=period)

        model.run(progress=advance)


def _write_outputs(out: Path, summary_text: str, model: Any) -> None:
    """Write everything to a temporary folder first, then move it in place."""
    import shutil
    import tempfile

    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".partial-") as tmp:
        t = Path(tmp)
        (t / "summary.json").write_text(summary_text + "\n", encoding="utf-8")
        model.series().to_parquet(t / "series.parquet", compression="zstd", index=False)
        model.market_series().to_parquet(t / "markets.parquet", compression="zstd", index=False)
        for f in t.iterdir():
            shutil.move(str(f), out / f.name)


def print_summary(summary: dict[str, Any], name: str) -> None:
    """A readable table of the summary."""
    from rich.console import Console
    from rich.table import Table

    def fmt(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, float):
            return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
        return str(v)

    console = Console()
    top = Table(title=f"{name}: {summary['periods']} periods after {summary['warmup']} warm-up")
    top.add_column("metric")
    top.add_column("value", justify="right")
    for key in ("consumer_surplus", "units_sold", "retail_price", "fill_rate", "channel_profit",
                "units_ordered", "team_cost"):  # fmt: skip
        top.add_row(key, fmt(summary[key]))
    console.print(top)
    members = list(summary["profit"])
    table = Table(title="by member")
    table.add_column("member")
    for col in ("profit", "price", "cost", "bullwhip"):
        table.add_column(col, justify="right")
    for m in members:
        table.add_row(m, *(fmt(summary[c][m]) for c in ("profit", "price", "cost", "bullwhip")))
    console.print(table)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except ConfigError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        print("channel-agents: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
