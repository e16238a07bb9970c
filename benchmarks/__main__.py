"""The benchmark suite: ``python -m benchmarks`` (``make bench``).

Prints a table of throughput and memory figures next to the performance
targets and writes the same figures as one JSON document to
``benchmarks/results.json``.

Options: ``--json`` prints only the JSON document; ``--quick`` runs 10x fewer
periods; ``--only NAME[,NAME]`` runs a subset (names below).

Benchmarks (the JSON keys):

- ``beer_game``: configs/beer_game.yaml for 100,000 periods, series kept: periods/s.
- ``bare_loop``: the same rules (theory card 4) as a plain-Python loop of floats
  and lists: periods/s and its ratio to ``beer_game`` (the price of the
  general, vectorized model on a 4-member chain).
- ``three_tier_10k``: configs/three_tier.yaml with 5,000 sampled consumers in
  each of its two markets, 20,000 periods: periods/s.
- ``networks``: ``layered_network`` scenarios of about 10, 100, 1,000 and
  10,000 channel members (manufacturers : wholesalers : retailers about
  1 : 4 : 20), order-up-to ordering, 365 periods, series kept: build and run
  time, node-periods/s (channel members x periods / run seconds) and the
  tracemalloc peak (measured in a separate run, as tracing slows allocation).
- ``million_consumers``: 100 retailers, each alone in a market of 10,000
  sampled consumers (linear demand a = 100, b = 2, fixed retail price 20),
  20 periods: consumer-periods/s.
- ``logit_consumers``, ``negotiations``, ``bullwhip_400k``, ``seat_env``: from
  bench_consumers.py, bench_negotiation.py, the bullwhip card and bench_envs.py.
- ``products``: bench_products.py, one brand per product through two common
  retailers to one logit market, 1, 2, 5 and 10 products, 365 periods: µs per
  period and its ratio 10 products / 1 product (<= 10 is no worse than linear).

Everything runs in this process on one core (pinned where the OS allows,
BLAS/OpenMP threads set to 1 before numpy loads). Runs shorter than
``LONG_RUN_S`` are repeated three times and the best time is kept.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CONFIGS = ROOT / "configs"
RESULTS = HERE / "results.json"

REPEATS = 3  # best of three for short runs
LONG_RUN_S = 5.0  # a first run longer than this is not repeated
MB = 1e6  # memory in megabytes (10^6 bytes); 1 GB = 1,000 MB
ORDERING = {"policy": "order_up_to", "forecast_window": 4}

# Full-run sizes; --quick divides every period count by 10.
BEER_GAME_PERIODS = 100_000
THREE_TIER_PERIODS = 20_000
NETWORK_SIZES = (10, 100, 1_000, 10_000)
NETWORK_PERIODS = 365
# The 10,000-member case fits the ~5-minute budget at full length; set a smaller
# number here (it is then reported in the output) if a slower machine needs it.
NETWORK_PERIODS_OVERRIDE: dict[int, int] = {}
MILLION_RETAILERS = 100
MILLION_CONSUMERS_PER_MARKET = 10_000
MILLION_PERIODS = 20

THREAD_VARS = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "NUMEXPR_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
)


def pin_one_core() -> int | None:
    """One BLAS/OpenMP thread and (on Linux) one CPU; call before numpy is imported."""
    for var in THREAD_VARS:
        os.environ[var] = "1"
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return cpu
    return None


# --------------------------------------------------------------------------- timing


def best_of(run_once: Callable[[], dict[str, float]]) -> tuple[dict[str, float], int]:
    """Run ``run_once`` (it returns seconds per phase) up to three times: best per phase.

    A first run longer than ``LONG_RUN_S`` seconds in total is not repeated.
    """
    best: dict[str, float] = {}
    repeats = 0
    for _ in range(REPEATS):
        gc.collect()
        phases = run_once()
        repeats += 1
        for k, v in phases.items():
            best[k] = min(best.get(k, float("inf")), v)
        if repeats == 1 and sum(phases.values()) > LONG_RUN_S:
            break
    return best, repeats


def scaled(periods: int, quick: bool) -> int:
    return max(1, periods // 10) if quick else periods


# --------------------------------------------------------------------------- beer game


def bench_beer_game(quick: bool) -> dict[str, Any]:
    from channel_agents.config import load_config
    from channel_agents.model import ChannelModel

    periods = scaled(BEER_GAME_PERIODS, quick)
    cfg = load_config(CONFIGS / "beer_game.yaml", [f"periods={periods}"])
    steps = {}

    def once() -> dict[str, float]:
        model = ChannelModel(cfg, keep_series=True)
        start = time.perf_counter()
        model.run()
        seconds = time.perf_counter() - start
        steps["n"] = model.period
        return {"run_s": seconds}

    best, repeats = best_of(once)
    return {
        "config": "configs/beer_game.yaml",
        "periods": steps["n"],
        "keep_series": True,
        "run_s": best["run_s"],
        "periods_per_s": steps["n"] / best["run_s"],
        "repeats": repeats,
    }


def bare_beer_game(
    periods: int,
    theta: float = 0.36,
    alpha_s: float = 0.26,
    beta: float = 0.34,
    s_prime: float = 17.0,
) -> float:
    """Theory card 4 in plain Python floats and lists; returns the team cost.

    Stages 0..3: retailer, wholesaler, distributor, factory. Orders take 2
    weeks to reach the supplier (the factory's production request 1 week),
    goods 2 weeks to arrive (production 2 weeks); 12 cases in stock and 4 in
    every pipeline slot at the start; end demand 4 a week, 8 from week 5.
    """
    n = 4
    stock = [12.0] * n
    backlog = [0.0] * n  # owed by stage i to its buyer (the retailer's: to consumers)
    expected = [4.0] * n
    orders = [[4.0, 4.0], [4.0, 4.0], [4.0, 4.0], [4.0]]  # placed by stage i, in transit
    goods = [[4.0, 4.0] for _ in range(n)]  # in transit to stage i
    cost = 0.0
    for t in range(1, periods + 1):
        for i in range(n):  # (1) shipments arrive
            stock[i] += goods[i].pop(0)
        # (2) orders arrive; the factory's production request starts production
        incoming = [4.0 if t < 5 else 8.0] + [orders[i].pop(0) for i in range(n - 1)]
        goods[3].append(orders[3].pop(0))
        for i in range(n):  # (3) ship; (4) cost on post-shipment stock and backlog
            owed = backlog[i] + incoming[i]
            ship = stock[i] if stock[i] < owed else owed
            stock[i] -= ship
            backlog[i] = owed - ship
            if i:
                goods[i - 1].append(ship)
            cost += 0.5 * stock[i] + backlog[i]
        for i in range(n):  # (5) Sterman's anchoring and adjustment
            expected[i] = theta * incoming[i] + (1.0 - theta) * expected[i]
            owed_to_i = backlog[i + 1] if i < n - 1 else 0.0
            supply_line = sum(orders[i]) + owed_to_i + sum(goods[i])
            q = expected[i] + alpha_s * (s_prime - stock[i] + backlog[i] - beta * supply_line)
            orders[i].append(q if q > 0.0 else 0.0)
    return cost


def bench_bare_loop(quick: bool) -> dict[str, Any]:
    from channel_agents.model import ChannelModel

    # the bare loop must play the same game as the model: compare the 36-week cost
    model = ChannelModel(CONFIGS / "beer_game.yaml", keep_series=False)
    model.run()
    model_cost = float(model.summary()["team_cost"])
    bare_cost = bare_beer_game(36)
    if abs(bare_cost - model_cost) > 1e-6 * max(1.0, abs(model_cost)):
        raise RuntimeError(f"bare loop cost {bare_cost} != model cost {model_cost} (36 weeks)")
    periods = scaled(BEER_GAME_PERIODS, quick)

    def once() -> dict[str, float]:
        start = time.perf_counter()
        bare_beer_game(periods)
        return {"run_s": time.perf_counter() - start}

    best, repeats = best_of(once)
    return {
        "periods": periods,
        "run_s": best["run_s"],
        "periods_per_s": periods / best["run_s"],
        "repeats": repeats,
        "team_cost_36_weeks": round(bare_cost, 4),
        "model_team_cost_36_weeks": round(model_cost, 4),
        "ratio_to_beer_game": None,  # filled in when beer_game ran too
    }


# --------------------------------------------------------------------------- three tier


def bench_three_tier(quick: bool) -> dict[str, Any]:
    from channel_agents.config import load_config
    from channel_agents.model import ChannelModel

    periods = scaled(THREE_TIER_PERIODS, quick)
    cfg = load_config(
        CONFIGS / "three_tier.yaml",
        [f"periods={periods}", "markets.north.consumers=5000", "markets.south.consumers=5000"],
    )
    consumers = sum(m.consumers for m in cfg.markets)
    steps = {}

    def once() -> dict[str, float]:
        model = ChannelModel(cfg, keep_series=True)
        start = time.perf_counter()
        model.run()
        seconds = time.perf_counter() - start
        steps["n"] = model.period
        return {"run_s": seconds}

    best, repeats = best_of(once)
    return {
        "config": "configs/three_tier.yaml",
        "consumers": consumers,
        "periods": steps["n"],  # includes the scenario's warm-up periods
        "warmup": cfg.warmup,
        "keep_series": True,
        "run_s": best["run_s"],
        "periods_per_s": steps["n"] / best["run_s"],
        "consumer_periods_per_s": consumers * steps["n"] / best["run_s"],
        "repeats": repeats,
    }


# --------------------------------------------------------------------------- networks


def tier_counts(members: int) -> tuple[int, int, int]:
    """(manufacturers, wholesalers, retailers) in about 1 : 4 : 20, summing to ``members``."""
    manufacturers = max(1, round(members / 25))
    wholesalers = max(1, round(members * 4 / 25))
    return manufacturers, wholesalers, members - manufacturers - wholesalers


def network_scenario(members: int, periods: int) -> dict[str, Any]:
    from channel_agents.network import layered_network

    scenario = layered_network(*tier_counts(members))
    scenario["periods"] = periods
    scenario["defaults"] = {"ordering": dict(ORDERING)}
    return scenario


def bench_network(members: int, quick: bool) -> dict[str, Any]:
    from channel_agents.config import load_config
    from channel_agents.model import ChannelModel

    full = NETWORK_PERIODS_OVERRIDE.get(members, NETWORK_PERIODS)
    periods = scaled(full, quick)
    m, w, r = tier_counts(members)
    info: dict[str, Any] = {}

    def once() -> dict[str, float]:
        t0 = time.perf_counter()
        scenario = network_scenario(members, periods)
        t1 = time.perf_counter()
        cfg = load_config(scenario)
        t2 = time.perf_counter()
        model = ChannelModel(cfg, keep_series=True)
        t3 = time.perf_counter()
        model.run()
        t4 = time.perf_counter()
        info.update(
            channel_members=int((~model.topology.is_source).sum()),
            edges=model.topology.n_edges,
            markets=len(cfg.markets),
            periods=model.period,
        )
        return {
            "generate_s": t1 - t0,
            "config_s": t2 - t1,
            "model_s": t3 - t2,
            "run_s": t4 - t3,
        }

    best, repeats = best_of(once)
    # memory in a separate, untimed run: tracing slows every allocation
    gc.collect()
    tracemalloc.start()
    try:
        model = ChannelModel(load_config(network_scenario(members, periods)), keep_series=True)
        model.run()
        peak_run = tracemalloc.get_traced_memory()[1]
        frame = model.series()
        peak_frame = tracemalloc.get_traced_memory()[1]
        rows = len(frame)
        del frame, model
    finally:
        tracemalloc.stop()
    node_periods = info["channel_members"] * info["periods"]
    out = {
        "manufacturers": m,
        "wholesalers": w,
        "retailers": r,
        **info,
        "keep_series": True,
        "generate_s": best["generate_s"],
        "config_s": best["config_s"],
        "model_s": best["model_s"],
        "build_s": best["config_s"] + best["model_s"],
        "run_s": best["run_s"],
        "node_periods_per_s": node_periods / best["run_s"],
        "peak_mb": peak_run / MB,
        "peak_with_series_frame_mb": peak_frame / MB,
        "series_rows": rows,
        "repeats": repeats,
    }
    if full != NETWORK_PERIODS:
        out["note"] = f"periods reduced from {NETWORK_PERIODS} to {full} to fit the time budget"
    return out


def bench_networks(quick: bool, progress: Callable[[str], None]) -> dict[str, Any]:
    out = {}
    for members in NETWORK_SIZES:
        progress(f"networks: {members:,} members")
        out[str(members)] = bench_network(members, quick)
    return out


# --------------------------------------------------------------------------- consumers


def million_scenario(periods: int) -> dict[str, Any]:
    from channel_agents.network import distribution_tree

    wholesalers = 4
    scenario = distribution_tree(
        (wholesalers, MILLION_RETAILERS // wholesalers), demand={"kind": "linear", "a": 100, "b": 2}
    )
    scenario["periods"] = periods
    scenario["defaults"] = {"ordering": dict(ORDERING)}
    for market in scenario["markets"]:
        market["mode"] = "sampled"
        market["consumers"] = MILLION_CONSUMERS_PER_MARKET
    for member in scenario["members"].values():
        if member["role"] == "retailer":
            member["pricing"] = {"policy": "fixed", "price": 20}
    return scenario


def bench_million(quick: bool) -> dict[str, Any]:
    from channel_agents.config import load_config
    from channel_agents.model import ChannelModel

    periods = scaled(MILLION_PERIODS, quick)
    info: dict[str, Any] = {}

    def once() -> dict[str, float]:
        t0 = time.perf_counter()
        cfg = load_config(million_scenario(periods))
        model = ChannelModel(cfg, keep_series=True)
        t1 = time.perf_counter()
        model.run()
        t2 = time.perf_counter()
        info.update(
            consumers=sum(m.consumers for m in cfg.markets),
            markets=len(cfg.markets),
            retailers=sum(r == "retailer" for r in model.topology.roles),
            periods=model.period,
        )
        return {"build_s": t1 - t0, "run_s": t2 - t1}

    best, repeats = best_of(once)
    return {
        **info,
        "demand": "linear a=100 b=2, sampled; retail price fixed at 20",
        "keep_series": True,
        "build_s": best["build_s"],
        "run_s": best["run_s"],
        "consumer_periods_per_s": info["consumers"] * info["periods"] / best["run_s"],
        "repeats": repeats,
    }


# --------------------------------------------------------------------------- targets


def get(results: dict[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


TARGETS = (
    # (key, description, short form, path to the figure, threshold, at least?, unit)
    (
        "beer_game_speed",
        "beer game >= 20,000 periods/s",
        ">= 20,000",
        ("beer_game", "periods_per_s"),
        20_000,
        True,
        "periods/s",
    ),
    (
        "network_1000_speed",
        "1,000-member network >= 500,000 node-periods/s",
        ">= 500,000",
        ("networks", "1000", "node_periods_per_s"),
        500_000,
        True,
        "node-periods/s",
    ),
    (
        "million_consumers_speed",
        "1,000,000 consumers >= 20 million consumer-periods/s",
        ">= 20,000,000",
        ("million_consumers", "consumer_periods_per_s"),
        20_000_000,
        True,
        "consumer-periods/s",
    ),
    (
        "negotiation_speed",
        "alternating offers (20 rounds) >= 10,000 negotiations/s",
        ">= 10,000",
        ("negotiations", "per_s"),
        10_000,
        True,
        "negotiations/s",
    ),
    (
        "logit_consumers_speed",
        "1,000,000 consumers, logit over 3 retailers >= 4 million consumer-periods/s",
        ">= 4,000,000",
        ("logit_consumers", "consumer_periods_per_s"),
        4_000_000,
        True,
        "consumer-periods/s",
    ),
    (
        "products_linear",
        "with 10 products a period costs no more than 10x one product's (no worse than linear)",
        "<= 10",
        ("products", "cost_ratio_10_vs_1"),
        10,
        False,
        "x",
    ),
    (
        "bullwhip_400k_time",
        "400,000 periods of the 4-stage bullwhip chain in under a minute",
        "< 60 s",
        ("bullwhip_400k", "seconds"),
        60,
        False,
        "s",
    ),
    (
        "network_1000_memory",
        "1,000-member 365-period run with series < 1 GB",
        "< 1,000 MB",
        ("networks", "1000", "peak_mb"),
        1_000,
        False,
        "MB",
    ),
)


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, text, short, path, threshold, at_least, unit in TARGETS:
        value = get(results, *path)
        if value is None:
            continue
        met = value >= threshold if at_least else value < threshold
        out.append(
            {
                "target": key,
                "description": text,
                "short": short,
                "figure": ".".join(path),
                "measured": value,
                "threshold": threshold,
                "unit": unit,
                "met": bool(met),
            }
        )
    return out


# --------------------------------------------------------------------------- output


def meta(quick: bool, cpu: int | None) -> dict[str, Any]:
    import mesa
    import numpy
    import scipy

    model_name = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model_name = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mode": "quick (10x fewer periods)" if quick else "full",
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "mesa": mesa.__version__,
        "platform": platform.platform(),
        "cpu": model_name,
        "pinned_cpu": cpu,
        "threads": 1,
        "timing": f"best of {REPEATS} for runs under {LONG_RUN_S:g} s, else one run",
        "memory": "tracemalloc peak over build + run, in MB (10^6 bytes), separate run",
    }


def _num(x: float, digits: int = 0) -> str:
    return f"{x:,.{digits}f}"


def _secs(x: float) -> str:
    return f"{x:.3f} s" if x < 10 else f"{x:.1f} s"


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, str, str, str, str]]:
    """(benchmark, case, figure, measured, target, status) rows for the table."""
    status = {t["figure"]: t for t in results.get("targets", [])}
    rows: list[tuple[str, str, str, str, str, str]] = []

    def add(bench: str, case: str, figure: str, value: str, path: str = "") -> None:
        t = status.get(path)
        target, state = (t["short"], "met" if t["met"] else "not met") if t else ("", "")
        rows.append((bench, case, figure, value, target, state))

    if (r := results.get("beer_game")) is not None:
        add(
            "beer_game",
            f"{r['periods']:,} periods",
            "periods/s",
            _num(r["periods_per_s"]),
            "beer_game.periods_per_s",
        )
        add("", "series kept", "run time", _secs(r["run_s"]))
    if (r := results.get("bare_loop")) is not None:
        add("bare_loop", f"{r['periods']:,} periods", "periods/s", _num(r["periods_per_s"]))
        if r.get("ratio_to_beer_game") is not None:
            add("", "", "bare / beer_game", f"{r['ratio_to_beer_game']:.1f}x")
        add("", "", "36-week team cost", f"{r['team_cost_36_weeks']:.2f} (= model)")
    if (r := results.get("three_tier_10k")) is not None:
        add(
            "three_tier_10k", f"{r['consumers']:,} consumers", "periods/s", _num(r["periods_per_s"])
        )
        add(
            "", f"{r['periods']:,} periods", "consumer-periods/s", _num(r["consumer_periods_per_s"])
        )
        add("", f"(incl. {r['warmup']} warm-up)", "run time", _secs(r["run_s"]))
    for size, r in (results.get("networks") or {}).items():
        base = f"networks.{size}"
        add(
            "networks",
            f"{r['channel_members']:,} members",
            "build: config + model",
            f"{r['config_s']:.3f} + {r['model_s']:.3f} s",
        )
        add(
            "",
            f"{r['manufacturers']}/{r['wholesalers']}/{r['retailers']} m/w/r",
            "run time",
            _secs(r["run_s"]),
        )
        add(
            "",
            f"{r['edges']:,} edges",
            "node-periods/s",
            _num(r["node_periods_per_s"]),
            f"{base}.node_periods_per_s",
        )
        add(
            "",
            f"{r['periods']} periods",
            "peak memory (build+run)",
            f"{r['peak_mb']:,.1f} MB",
            f"{base}.peak_mb",
        )
        add("", "", "peak incl. series() frame", f"{r['peak_with_series_frame_mb']:,.1f} MB")
        if r.get("note"):
            add("", "", "note", r["note"])
    if (r := results.get("million_consumers")) is not None:
        add(
            "million_consumers",
            f"{r['consumers']:,} consumers",
            "consumer-periods/s",
            _num(r["consumer_periods_per_s"]),
            "million_consumers.consumer_periods_per_s",
        )
        add("", f"{r['markets']} markets/retailers", "build time", _secs(r["build_s"]))
        add("", f"{r['periods']} periods", "run time", _secs(r["run_s"]))
    if (r := results.get("logit_consumers")) is not None:
        add(
            "logit_consumers",
            "logit over 3 retailers",
            "consumer-periods/s",
            _num(r["consumer_periods_per_s"]),
            "logit_consumers.consumer_periods_per_s",
        )
    if (r := results.get("negotiations")) is not None:
        add(
            "negotiations",
            "alternating offers, 20 rounds",
            "negotiations/s",
            _num(r["per_s"]),
            "negotiations.per_s",
        )
    if (r := results.get("bullwhip_400k")) is not None:
        add(
            "bullwhip_400k",
            f"{r['periods']:,} periods, 4 stages",
            "run time",
            _secs(r["seconds"]),
            "bullwhip_400k.seconds",
        )
    if (r := results.get("seat_env")) is not None:
        add("seat_env", "beer game retailer seat", "steps/s", _num(r["steps_per_s"]))
    if (r := results.get("products")) is not None:
        for i, (count, case) in enumerate(r["cases"].items()):
            add(
                "products" if i == 0 else "",
                f"{count} products, logit over {case['options']} options",
                "µs per period",
                f"{case['us_per_period']:,.0f} (build {_secs(case['build_s'])})",
            )
        add(
            "", "10 vs 1 product", "per-period cost ratio", f"{r['cost_ratio_10_vs_1']:.2f}",
            "products.cost_ratio_10_vs_1",
        )  # fmt: skip
    return rows  # fmt: skip


def print_table(results: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    m = results["meta"]
    table = Table(
        title=f"channel-agents benchmarks: {m['mode']}",
        caption_justify="left",
        caption=(
            f"Python {m['python']}, numpy {m['numpy']}, Mesa {m['mesa']}; {m['cpu']}; one core. "
            f"{m['timing']}. Memory: {m['memory']}."
        ),
    )
    for name, justify in (
        ("Benchmark", "left"),
        ("Case", "left"),
        ("Figure", "left"),
        ("Measured", "right"),
        ("Target", "left"),
        ("Status", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for bench, case, figure, value, target, state in table_rows(results):
        if bench and table.row_count:
            table.add_section()
        colour = {"met": "green", "not met": "bold red"}.get(state, "")
        table.add_row(bench, case, figure, value, target, f"[{colour}]{state}[/]" if colour else "")
    console = Console()
    if not console.is_terminal:  # piped or redirected: do not squeeze into 80 columns
        console = Console(width=120)
    console.print(table)
    met = [t for t in results["targets"] if t["met"]]
    console.print(
        f"targets met: {len(met)} of {len(results['targets'])}"
        + (
            " (quick mode: periods 10x shorter than the targets assume)"
            if "quick" in m["mode"]
            else ""
        )
    )
    console.print(
        f"total {results['meta']['wall_s']:.1f} s; figures written to {RESULTS.relative_to(ROOT)}"
    )


# --------------------------------------------------------------------------- main

NAMES = (
    "beer_game",
    "bare_loop",
    "three_tier_10k",
    "networks",
    "million_consumers",
    "logit_consumers",
    "negotiations",
    "bullwhip_400k",
    "seat_env",
    "products",
)


def bench_extras(name: str, quick: bool) -> dict[str, Any]:
    """The benchmarks kept in their own scripts, run here for the one table."""
    if name == "negotiations":
        from benchmarks.bench_negotiation import negotiations_per_second

        return {"per_s": negotiations_per_second(2_000 if quick else 20_000), "rounds": 20}
    if name == "logit_consumers":
        from benchmarks.bench_consumers import consumer_periods_per_second

        return consumer_periods_per_second("logit", periods=2 if quick else 20)
    if name == "seat_env":
        from benchmarks.bench_envs import seat_env_steps_per_second

        return {"steps_per_s": seat_env_steps_per_second(2_000 if quick else 20_000)}
    if name == "products":
        from benchmarks.bench_products import products_per_period

        out = products_per_period(quick)
        cases = out["cases"]
        out["cost_ratio_10_vs_1"] = cases["10"]["us_per_period"] / cases["1"]["us_per_period"]
        return out
    if name == "bullwhip_400k":
        from channel_agents.config import load_config
        from channel_agents.model import ChannelModel

        periods = scaled(400_000, quick)
        model = ChannelModel(
            load_config(CONFIGS / "theory" / "bullwhip.yaml", [f"periods={periods}"]),
            keep_series=False,
        )
        start = time.perf_counter()
        model.run()
        return {"periods": periods, "seconds": time.perf_counter() - start}
    raise KeyError(name)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="channel-agents performance benchmarks"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON document")
    parser.add_argument("--quick", action="store_true", help="run 10x fewer periods")
    parser.add_argument(
        "--only", metavar="NAME[,NAME]", help=f"run a subset of: {', '.join(NAMES)}"
    )
    args = parser.parse_args(argv)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in NAMES]
        if unknown or not names:
            parser.error(
                f"--only: unknown {', '.join(unknown) or '(empty)'}; choose from {', '.join(NAMES)}"
            )
        args.names = [n for n in NAMES if n in names]
    else:
        args.names = list(NAMES)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cpu = pin_one_core()

    def progress(msg: str) -> None:
        if not args.json:
            print(f"  running {msg} ...", file=sys.stderr, flush=True)

    runners: dict[str, Callable[[], dict[str, Any]]] = {
        "beer_game": lambda: bench_beer_game(args.quick),
        "bare_loop": lambda: bench_bare_loop(args.quick),
        "three_tier_10k": lambda: bench_three_tier(args.quick),
        "networks": lambda: bench_networks(args.quick, progress),
        "million_consumers": lambda: bench_million(args.quick),
        **{
            name: (lambda n=name: bench_extras(n, args.quick))
            for name in ("logit_consumers", "negotiations", "bullwhip_400k", "seat_env", "products")
        },
    }
    start = time.perf_counter()
    results: dict[str, Any] = {"meta": meta(args.quick, cpu)}
    for name in args.names:
        if name != "networks":
            progress(name)
        results[name] = runners[name]()
    if "bare_loop" in results and "beer_game" in results:
        bare, model = results["bare_loop"], results["beer_game"]
        results["bare_loop"]["ratio_to_beer_game"] = bare["periods_per_s"] / model["periods_per_s"]
    results["targets"] = evaluate_targets(results)
    results["meta"]["wall_s"] = time.perf_counter() - start
    text = json.dumps(results, indent=2)
    RESULTS.write_text(text + "\n", encoding="utf-8")
    if args.json:
        print(text)
    else:
        print_table(results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
