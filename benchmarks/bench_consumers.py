"""Throughput of sampled consumer populations (targets on one core: 20 million
consumer-periods/s for cheapest choice, 4 million for logit over 3 retailers).

- ``cheapest``: 100 retailers, each alone in a market of 10,000 sampled consumers
  (1,000,000 in all), one segment with uniform WTP on [0, 50], cheapest choice;
- ``logit``: the same 100 retailers reached by 334 markets of 2,994 sampled
  consumers (999,996 in all), each market reaching 3 neighbouring retailers
  (retailers r, r + 1, r + 2), logit choice with loyalty and Gumbel noise.

Retail prices are fixed (20, or 19 to 21 across retailers), stock is ample and
orders pass through, so the run time is the consumers' (the rest of the period
loop is the same as without them). Consumer-periods/s = consumers x periods /
run seconds (build excluded), best of three runs; the CPU-time figure is the
same with the process's CPU seconds (what one core delivers when the machine is
shared).

    .venv/bin/python -m benchmarks.bench_consumers            # both, 20 periods
    .venv/bin/python -m benchmarks.bench_consumers --periods 5
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

RETAILERS = 100
CHEAPEST_MARKETS = 100
CHEAPEST_CONSUMERS = 10_000  # per market
LOGIT_MARKETS = 334
LOGIT_CONSUMERS = 2_994  # per market
REACH = 3  # retailers a logit market reaches
PERIODS = 20
TARGETS = {"cheapest": 20e6, "logit": 4e6}


def scenario(choice: str, periods: int = PERIODS) -> dict[str, Any]:
    """A scenario mapping: RETAILERS retailers buying from a source, sampled markets."""
    members: dict[str, Any] = {"source": {"role": "source", "unit_cost": 5}}
    edges = []
    for r in range(RETAILERS):
        name = f"retailer_{r}"
        price = 20.0 if choice == "cheapest" else 19.0 + 2.0 * r / (RETAILERS - 1)
        members[name] = {
            "role": "retailer",
            "stock": 1e9,
            "pricing": {"policy": "fixed", "price": price},
        }
        edges.append({"from": "source", "to": name})
    segment = {"name": "all", "size": 100.0, "wtp": {"dist": "uniform", "low": 0, "high": 50}}
    markets = []
    if choice == "cheapest":
        for k in range(CHEAPEST_MARKETS):
            markets.append({
                "name": f"m{k}", "retailers": [f"retailer_{k}"], "mode": "sampled",
                "consumers": CHEAPEST_CONSUMERS,
                "demand": {"kind": "population", "choice": "cheapest", "segments": [segment]},
            })  # fmt: skip
    else:
        logit_segment = {**segment, "price_sensitivity": 0.5, "loyalty": 1.0}
        for k in range(LOGIT_MARKETS):
            reach = [f"retailer_{(k + j) % RETAILERS}" for j in range(REACH)]
            markets.append({
                "name": f"m{k}", "retailers": reach, "mode": "sampled",
                "consumers": LOGIT_CONSUMERS,
                "demand": {"kind": "population", "choice": "logit", "segments": [logit_segment]},
            })  # fmt: skip
    return {
        "name": f"bench_consumers_{choice}",
        "periods": periods,
        "defaults": {"ordering": {"policy": "pass_through"}},
        "members": members,
        "edges": edges,
        "markets": markets,
    }


def consumer_periods_per_second(choice: str, periods: int = PERIODS) -> dict[str, Any]:
    """Best of three runs of the ``choice`` scenario: consumer-periods per second."""
    from channel_agents.config import load_config
    from channel_agents.model import ChannelModel

    cfg = load_config(scenario(choice, periods))
    consumers = sum(m.consumers for m in cfg.markets)
    best, best_cpu = float("inf"), float("inf")
    for _ in range(3):
        gc.collect()
        model = ChannelModel(cfg, keep_series=False)
        start, start_cpu = time.perf_counter(), time.process_time()
        model.run()
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    return {
        "choice": choice,
        "consumers": consumers,
        "markets": len(cfg.markets),
        "retailers": RETAILERS,
        "periods": periods,
        "run_s": best,
        "cpu_s": best_cpu,
        "consumer_periods_per_s": consumers * periods / best,
        "consumer_periods_per_cpu_s": consumers * periods / best_cpu,
        "target": TARGETS[choice],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", type=int, default=PERIODS)
    parser.add_argument("--only", choices=("cheapest", "logit"))
    args = parser.parse_args()
    for choice in ("cheapest", "logit"):
        if args.only and choice != args.only:
            continue
        r = consumer_periods_per_second(choice, args.periods)
        verdict = "meets" if r["consumer_periods_per_s"] >= r["target"] else "MISSES"
        print(
            f"{choice:8s} {r['consumers']:,} consumers in {r['markets']} markets, "
            f"{r['retailers']} retailers, {r['periods']} periods: {r['run_s']:.3f} s "
            f"({r['cpu_s']:.3f} s CPU), {r['consumer_periods_per_s'] / 1e6:.1f} million "
            f"consumer-periods/s ({r['consumer_periods_per_cpu_s'] / 1e6:.1f} million per "
            f"CPU second; {verdict} the target of {r['target'] / 1e6:.0f} million)"
        )


if __name__ == "__main__":
    main()
