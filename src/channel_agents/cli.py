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
        config = next((a for a in _ARGV if a.endswith((".yaml", ".yml"))), None)
        where = f"{config}: " if config else ""
        self.exit(2, f"{self.prog}: error: {where}{message} (see {self.prog} --help)\n")


_ARGV: list[str] = []  # the arguments being parsed, so usage errors can name the config


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
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

    cmp_ = sub.add_parser(
        "compare",
        help="siloed vs cooperative (or any arms), paired replications with 95 %% CIs",
        description=(
            "Run a scenario under two (or more) strategies with common random numbers and "
            "print, per metric, each arm's mean, the paired difference (last arm - first), "
            "its 95 % confidence interval and the relative change."
        ),
    )
    cmp_.add_argument("config", metavar="CONFIG", help="scenario YAML file")
    cmp_.add_argument(
        "--replications", type=_positive_int, default=20, help="paired replications (default 20)"
    )
    cmp_.add_argument("--seed", type=_nonneg_int, default=0, help="master seed (default 0)")
    cmp_.add_argument(
        "--arms",
        default="siloed,cooperative",
        help="comma-separated arms: presets, optionally with levers, e.g. "
        "'siloed,siloed+information=shared' (default siloed,cooperative)",
    )
    cmp_.add_argument(
        "--levers",
        action="store_true",
        help="attribute the consumer-surplus gain to each lever switched alone",
    )
    cmp_.add_argument("--set", dest="overrides", action="append", default=[], metavar="PATH=VALUE")
    cmp_.add_argument("--periods", type=_positive_int, help="periods after warm-up")
    cmp_.add_argument("--json", action="store_true", help="print one JSON object")
    cmp_.add_argument("--plot", metavar="FILE.png", help="draw the comparison to a PNG file")
    cmp_.set_defaults(handler=cmd_compare)

    from channel_agents.experiments.command import add_parser as add_experiment_parser

    add_experiment_parser(sub)

    val = sub.add_parser(
        "validate",
        help="run every theory card through the simulation",
        description=(
            "Run every theory card (configs/theory/, the beer game) through the simulation and "
            "print expected beside obtained. Exit 1 if any value misses its tolerance "
            "(0.1 % deterministic, 1 % stochastic)."
        ),
    )
    val.add_argument("--card", type=_positive_int, action="append", help="only these card numbers")
    val.add_argument("--json", action="store_true", help="print the outcomes as JSON")
    val.set_defaults(handler=cmd_validate)

    from channel_agents.viz.command import add_parser as add_viz_parser

    add_viz_parser(sub)
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


def cmd_compare(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from channel_agents.compare import HEADLINE, compare, lever_attribution, plot_comparison

    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    if len(arms) < 2:
        return _fail("--arms: name at least two arms, e.g. siloed,cooperative")
    if args.plot and not args.plot.lower().endswith(".png"):
        return _fail(f"--plot {args.plot}: the file name must end in .png")
    quiet = args.json or not sys.stderr.isatty()
    with Progress(transient=True, disable=quiet) as bar:
        task = bar.add_task("replications", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        if args.levers:
            table = lever_attribution(
                args.config, replications=args.replications, seed=args.seed,
                overrides=args.overrides, periods=args.periods, progress=progress,
            )  # fmt: skip
        else:
            result = compare(
                args.config, arms, replications=args.replications, seed=args.seed,
                overrides=args.overrides, periods=args.periods, progress=progress,
            )  # fmt: skip
    if args.levers:
        if args.json:
            print(json.dumps({"replications": args.replications, "levers": table}, indent=2))
            return 0
        t = Table(
            title=f"consumer-surplus gain of each lever alone ({args.replications} replications)"
        )
        for col in ("lever", "gain", "95 % CI"):
            t.add_column(col, justify="left" if col == "lever" else "right")
        for lever, row in table.items():
            lo, hi = row["ci95"]
            t.add_row(lever, f"{row['consumer_surplus_gain']:+.4g}", f"[{lo:+.4g}, {hi:+.4g}]")
        Console().print(t)
        return 0
    if args.plot:
        plot_comparison(result, args.plot)
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return 0
    metrics = result.metrics
    a, b = arms[0], arms[-1]
    t = Table(title=f"{a} vs {b}: {args.replications} paired replications (common random numbers)")
    t.add_column("metric")
    for arm in arms:
        t.add_column(arm, justify="right")
    for col in ("diff", "95 % CI", "relative"):
        t.add_column(col, justify="right")
    order = [m for m in HEADLINE if m in metrics] + sorted(m for m in metrics if m not in HEADLINE)
    for m in order:
        row = metrics[m]
        lo, hi = row["ci95"]
        rel = "-" if row["relative"] is None else f"{row['relative']:+.1%}"
        t.add_row(m, *(f"{row[arm]:.4g}" for arm in arms), f"{row['diff']:+.4g}",
                  f"[{lo:+.4g}, {hi:+.4g}]", rel)  # fmt: skip
    Console().print(t)
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from channel_agents.validation import checks, run_check

    every = list(checks())
    cards = sorted({c.card for c in every})
    unknown = sorted(set(args.card or ()) - set(cards))
    if unknown:
        return _fail(
            f"--card {unknown[0]}: no such theory card; cards: {', '.join(map(str, cards))}"
        )
    todo = [c for c in every if not args.card or c.card in args.card]
    outcomes = []
    with Progress(transient=True, disable=args.json or not sys.stderr.isatty()) as bar:
        task = bar.add_task("validating", total=len(todo))
        for check in todo:
            outcomes.append(run_check(check))
            bar.advance(task)
    failed = [o for o in outcomes if not o.passed]
    if args.json:
        print(json.dumps([
            {"card": o.check.card, "case": o.check.label, "tolerance": o.check.tolerance,
             "expected": o.check.expected, "obtained": o.obtained, "passed": o.passed}
            for o in outcomes
        ], indent=2))  # fmt: skip
    else:
        table = Table(title="theory cards: expected vs simulated")
        for col in ("card", "case", "value", "expected", "simulated", "error", ""):
            table.add_column(
                col, justify="right" if col in ("expected", "simulated", "error") else "left"
            )
        for o in outcomes:
            misses = set(o.misses())
            for key, want in o.check.expected.items():
                got = o.obtained.get(key)
                err = abs(got - want) / max(abs(want), 1e-9) if got is not None else float("inf")
                mark = "[red]MISS[/red]" if key in misses else "[green]ok[/green]"
                table.add_row(str(o.check.card), o.check.label, key, f"{want:.6g}",
                              "-" if got is None else f"{got:.6g}", f"{err:.2e}", mark)  # fmt: skip
        Console().print(table)
        print(f"{len(outcomes) - len(failed)} of {len(outcomes)} cases within tolerance")
    return 1 if failed else 0


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
            return f"{v:.6g}" if abs(v) < 1e6 else f"{v:,.0f}"
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
    products = summary.get("by_product") or {}
    if len(products) > 1:  # several products: one row each
        fields = ("units_sold", "share", "retail_price", "consumer_surplus", "quality")
        per = Table(title="by product (summary key by_product)")
        per.add_column("product")
        for col in ("units", "share", "price", "surplus", "quality"):
            per.add_column(col, justify="right")
        per.add_column("brand")
        per.add_column("supplier")
        for name, p in products.items():
            per.add_row(
                name,
                *(fmt(p[c]) for c in fields),
                *(p[c] or "-" for c in ("brand", "supplier")),
            )
        console.print(per)
    segments = summary.get("consumer_surplus_by_segment")
    if segments:  # population markets
        value = Table(title="consumers")
        value.add_column("metric")
        value.add_column("value", justify="right")
        for key in ("consumer_surplus_per_consumer", "share_served", "stockout_exposure"):
            value.add_row(key, fmt(summary[key]))
        for name, surplus in segments.items():
            value.add_row(f"consumer_surplus {name}", fmt(surplus))
        console.print(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    _ARGV[:] = list(sys.argv[1:] if argv is None else argv)
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
