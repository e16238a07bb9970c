"""Cost of products: one period of a channel with 1, 2, 5 and 10 products.

The scenario is generated here: one source; one brand (a manufacturer) per
product, each making only its own product; ``RETAILERS`` retailers that buy
every product from every brand; one logit market over every (retailer,
product) option, of size 100 x products (so each product sells about as much
whatever the count). Products differ in brand value (0 ... 2) so the pricing
game is not symmetric. Order-up-to ordering (the networks benchmark's rule),
series kept, siloed strategy: each retailer prices its category in Nash
equilibrium with the other, each brand sets its wholesale price in Nash
equilibrium with the other brands (competition.py).

Build (config + model, including the brands' first equilibrium) and run are
timed apart; the run is 365 periods, best of three (a first build and run
taking more than 5 s together is not repeated). Figures: periods/s and
microseconds per period per product; the last column is the exponent of the
per-period cost's growth against the product count (1.0 = linear).

    .venv/bin/python -m benchmarks.bench_products
    .venv/bin/python -m benchmarks.bench_products --periods 100 --products 1,2,5

The last line printed is the results as one JSON object. For the suite,
``products_per_period(quick)`` returns the same dictionary.
"""

from __future__ import annotations

import argparse
import gc
import json
import time
from typing import Any

PRODUCT_COUNTS = (1, 2, 5, 10)
PERIODS = 365
RETAILERS = 2
LONG_RUN_S = 5.0  # a first build and run longer than this together is not repeated
ORDERING = {"policy": "order_up_to", "forecast_window": 4}


def scenario(products: int, periods: int = PERIODS, retailers: int = RETAILERS) -> dict[str, Any]:
    """A scenario mapping: ``products`` brands, ``retailers`` common retailers, one logit
    market over every (retailer, product) option."""
    names = [f"p{i}" for i in range(products)]
    members: dict[str, Any] = {"source": {"role": "source", "unit_cost": 2.0}}
    edges: list[dict[str, Any]] = []
    for i in range(products):
        maker = f"maker_{i}"
        members[maker] = {"role": "manufacturer", "stock": 100.0}
        edges.append({"from": "source", "to": maker, "initial_flow": 50.0})
    shops = [f"shop_{r}" for r in range(retailers)]
    for shop in shops:
        members[shop] = {"role": "retailer", "stock": 100.0}
        for i in range(products):
            edges.append({"from": f"maker_{i}", "to": shop, "initial_flow": 50.0 / retailers})
    spread = 2.0 / max(products - 1, 1)
    return {
        "name": f"bench_products_{products}",
        "periods": periods,
        "products": [
            {"name": n, "brand": f"maker_{i}", "unit_cost": 1.0} for i, n in enumerate(names)
        ],
        "defaults": {"ordering": dict(ORDERING), "holding_cost": 0.05, "unmet_demand": "lost"},
        "members": members,
        "edges": edges,
        "markets": [
            {
                "name": "town",
                "retailers": shops,
                "products": names,
                "demand": {
                    "kind": "logit",
                    "size": 100.0 * products,
                    "value": 12.0,
                    "price_sensitivity": 0.4,
                    "brand_value": {n: spread * i for i, n in enumerate(names)},
                },
            }
        ],
    }


def measure(products: int, periods: int = PERIODS) -> dict[str, Any]:
    """Build and run the scenario with ``products`` products: best of three, seconds."""
    from channel_agents.config import load_config
    from channel_agents.model import ChannelModel

    best_build = best_run = float("inf")
    info: dict[str, Any] = {}
    for repeat in range(3):
        gc.collect()
        t0 = time.perf_counter()
        cfg = load_config(scenario(products, periods))
        model = ChannelModel(cfg, keep_series=True)
        t1 = time.perf_counter()
        model.run()
        t2 = time.perf_counter()
        best_build, best_run = min(best_build, t1 - t0), min(best_run, t2 - t1)
        info.update(
            channel_members=int((~model.topology.is_source).sum()),
            edges=model.topology.n_edges,
            options=int(model.markets.n_pairs),
            periods=model.period,
            repeats=repeat + 1,
            units_sold=float(model.summary()["units_sold"]),
        )
        if repeat == 0 and t2 - t0 > LONG_RUN_S:
            break
    n = info["periods"]
    return {
        "products": products,
        "retailers": RETAILERS,
        **info,
        "build_s": best_build,
        "run_s": best_run,
        "periods_per_s": n / best_run,
        "us_per_period": 1e6 * best_run / n,
        "us_per_period_per_product": 1e6 * best_run / n / products,
    }


def growth(rows: list[dict[str, Any]]) -> None:
    """Add each row's per-period cost growth exponent against the first row
    (log cost ratio / log product ratio: 1 = linear, below 1 = better than linear)."""
    import math

    base = rows[0]
    for r in rows:
        if r["products"] == base["products"]:
            r["growth_exponent"] = None
            continue
        ratio = r["us_per_period"] / base["us_per_period"]
        r["growth_exponent"] = math.log(ratio) / math.log(r["products"] / base["products"])


def run_cases(counts: tuple[int, ...], periods: int) -> dict[str, Any]:
    """Every product count: build and run figures, keyed by the count."""
    rows = [measure(p, periods) for p in counts]
    growth(rows)
    return {
        "periods": periods,
        "retailers": RETAILERS,
        "cases": {str(r["products"]): r for r in rows},
    }


def products_per_period(quick: bool = False) -> dict[str, Any]:
    """The benchmark for the suite (``python -m benchmarks``): 1, 2, 5 and 10 products,
    365 periods (36 with ``quick``)."""
    return run_cases(PRODUCT_COUNTS, max(1, PERIODS // 10) if quick else PERIODS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", type=int, default=PERIODS)
    parser.add_argument(
        "--products", default=",".join(map(str, PRODUCT_COUNTS)), help="comma-separated counts"
    )
    args = parser.parse_args(argv)
    counts = tuple(int(x) for x in args.products.split(","))
    results = run_cases(counts, args.periods)
    print(
        f"{'products':>8} {'options':>7} {'build s':>8} {'run s':>7} {'periods/s':>10} "
        f"{'us/period':>10} {'us/period/product':>18} {'growth':>7}"
    )
    for r in results["cases"].values():
        g = "-" if r["growth_exponent"] is None else f"{r['growth_exponent']:.2f}"
        print(
            f"{r['products']:>8} {r['options']:>7} {r['build_s']:>8.3f} {r['run_s']:>7.3f} "
            f"{r['periods_per_s']:>10,.0f} {r['us_per_period']:>10,.0f} "
            f"{r['us_per_period_per_product']:>18,.0f} {g:>7}"
        )
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
