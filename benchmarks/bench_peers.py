"""channel-agents against two peer simulators, in one process on one core.

Needs the ``bench`` extra (``pip install -e ".[bench]"``: stockpyl, SupplyNetPy);
a comparison whose package is missing is skipped with a message.

(a) stockpyl (``stockpyl.sim.simulation``) on a 4-stage serial base-stock
    system against channel-agents on the same chain. Matched: 4 stages below
    an unlimited source; every stage's replenishment takes 2 periods (stockpyl
    ``order_lead_time=1`` + ``shipment_lead_time=1``; channel-agents
    ``order_delay=1`` + ``lead_time=1`` on every edge); i.i.d. normal end
    demand, mean 10, sd 2, clipped at zero in channel-agents (stockpyl's
    normal demand is not clipped; at 5 sd the difference is immaterial);
    backorders; an installation base-stock policy with the same level S = 40
    at every stage (stockpyl ``policy_type="BS"``; channel-agents ``s_S``
    with S = 40 and s = S - 1e-9, i.e. order up to S every period). Differs:
    channel-agents also runs its market (prices and consumer demand), payments
    and ledger, per-member cost accounting and keeps the full per-period series;
    stockpyl records its per-node state variables. Both run with no progress
    bar and no consistency checks (stockpyl ``consistency_checks="N"``).
(b) SupplyNetPy (discrete-event, SimPy) on a 50-node layered network against
    channel-agents' ``layered_network(2, 8, 40)``, 500 periods each. The
    SupplyNetPy network copies the channel-agents edges: one infinite supplier
    feeding 2 top-tier distributors, 8 warehouses and 40 retailers (SupplyNetPy
    manufacturers need raw-material bills, so the top tier are distributors),
    each reviewing its inventory position once a period with an (s, S) policy,
    link lead time 1, one customer order a period at every retailer of
    max(0, round(N(10, 2))) units; logging off. channel-agents uses the
    networks benchmark's order-up-to rule (forecast window 4) with series kept.
    Node-periods count the 50 stocking nodes (not the supplier/source).

    .venv/bin/python -m benchmarks.bench_peers
"""

from __future__ import annotations

import gc
import importlib.util
import os
import random
import sys
import time
from typing import Any

SERIAL_STAGES = 4
SERIAL_MEAN, SERIAL_SD = 10.0, 2.0
SERIAL_BASE_STOCK = 40.0
SERIAL_PERIODS = 100_000  # channel-agents; stockpyl gets what fits its time budget
STOCKPYL_BUDGET_S = 30.0
NETWORK_TIERS = (2, 8, 40)  # manufacturers/distributors, wholesalers/warehouses, retailers
NETWORK_PERIODS = 500
MISSING = (
    "{pkg} is not installed: skipping {what} (install the bench extra: pip install -e '.[bench]')"
)


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# --------------------------------------------------------------------------- (a) serial


def channel_serial(periods: int) -> dict[str, Any]:
    from channel_agents.config import load_config
    from channel_agents.model import ChannelModel
    from channel_agents.network import serial_chain

    scenario = serial_chain(SERIAL_STAGES, order_delay=1, lead_time=1)
    scenario["periods"] = periods
    scenario["markets"][0]["demand"] = {"kind": "normal", "mean": SERIAL_MEAN, "sd": SERIAL_SD}
    S = SERIAL_BASE_STOCK
    scenario["defaults"] = {"ordering": {"policy": "s_S", "s": S - 1e-9, "S": S}}
    cfg = load_config(scenario)
    model = ChannelModel(cfg, keep_series=True)
    gc.collect()
    start = time.perf_counter()
    model.run()
    seconds = time.perf_counter() - start
    return {"periods": model.period, "run_s": seconds, "periods_per_s": model.period / seconds}


def stockpyl_network() -> Any:
    from stockpyl.supply_chain_network import serial_system

    return serial_system(
        num_nodes=SERIAL_STAGES,
        local_holding_cost=0.5,
        stockout_cost=1.0,
        shipment_lead_time=1,
        order_lead_time=1,
        demand_type="N",
        mean=SERIAL_MEAN,
        standard_deviation=SERIAL_SD,
        policy_type="BS",
        base_stock_level=SERIAL_BASE_STOCK,
    )


def stockpyl_serial(periods: int) -> dict[str, Any]:
    from stockpyl.sim import simulation

    network = stockpyl_network()
    gc.collect()
    start = time.perf_counter()
    simulation(network, periods, rand_seed=0, progress_bar=False, consistency_checks="N")
    seconds = time.perf_counter() - start
    return {"periods": periods, "run_s": seconds, "periods_per_s": periods / seconds}


def compare_serial() -> dict[str, Any] | None:
    if not _installed("stockpyl"):
        print(MISSING.format(pkg="stockpyl", what="the serial-system comparison"))
        return None
    pilot = stockpyl_serial(1_000)
    periods = int(min(SERIAL_PERIODS, STOCKPYL_BUDGET_S * pilot["periods_per_s"]) // 1000 * 1000)
    peer = stockpyl_serial(max(periods, 1_000))
    ours = channel_serial(SERIAL_PERIODS)
    return {
        "stockpyl": peer,
        "channel_agents": ours,
        "ratio": ours["periods_per_s"] / peer["periods_per_s"],
    }


# --------------------------------------------------------------------------- (b) network


def network_scenario() -> dict[str, Any]:
    from channel_agents.network import layered_network

    scenario = layered_network(*NETWORK_TIERS)
    scenario["periods"] = NETWORK_PERIODS
    scenario["defaults"] = {"ordering": {"policy": "order_up_to", "forecast_window": 4}}
    return scenario


def channel_network() -> dict[str, Any]:
    from channel_agents.config import load_config
    from channel_agents.model import ChannelModel

    model = ChannelModel(load_config(network_scenario()), keep_series=True)
    gc.collect()
    start = time.perf_counter()
    model.run()
    seconds = time.perf_counter() - start
    nodes = int((~model.topology.is_source).sum())
    return {
        "nodes": nodes,
        "periods": model.period,
        "run_s": seconds,
        "node_periods_per_s": nodes * model.period / seconds,
    }


def supplynetpy_network() -> dict[str, Any]:
    import SupplyNetPy.Components as scm

    scenario = network_scenario()
    rng = random.Random(0)
    scm.set_seed(0)
    roles = {"manufacturer": "distributor", "wholesaler": "warehouse", "retailer": "retailer"}
    levels = {"manufacturer": (60, 120), "wholesaler": (60, 120), "retailer": (30, 60)}
    nodes: list[dict[str, Any]] = [
        {"ID": "source", "name": "source", "node_type": "infinite_supplier"}
    ]
    for name, member in scenario["members"].items():
        if member["role"] == "source":
            continue
        s, S = levels[member["role"]]
        nodes.append(
            {
                "ID": name,
                "name": name,
                "node_type": roles[member["role"]],
                "capacity": 10_000,
                "initial_level": S,
                "inventory_holding_cost": 0.5,
                "replenishment_policy": scm.SSReplenishment,
                "policy_param": {"s": s, "S": S, "period": 1},
                "product_buy_price": 10,
                "product_sell_price": 12,
            }
        )
    links = [
        {"ID": f"L{i}", "source": e["from"], "sink": e["to"], "cost": 0, "lead_time": lambda: 1}
        for i, e in enumerate(scenario["edges"])
    ]

    def quantity() -> int:
        return max(0, round(rng.gauss(10, 2)))

    demands = [
        {
            "ID": f"d_{r}",
            "name": f"d_{r}",
            "order_arrival_model": lambda: 1,
            "order_quantity_model": quantity,
            "demand_node": r,
        }
        for mk in scenario["markets"]
        for r in mk["retailers"]
    ]
    net = scm.create_sc_net(nodes=nodes, links=links, demands=demands)
    gc.collect()
    start = time.perf_counter()
    scm.simulate_sc_net(net, sim_time=NETWORK_PERIODS, logging=False)
    seconds = time.perf_counter() - start
    n = len(nodes) - 1
    return {
        "nodes": n,
        "periods": NETWORK_PERIODS,
        "run_s": seconds,
        "node_periods_per_s": n * NETWORK_PERIODS / seconds,
    }


def compare_network() -> dict[str, Any] | None:
    if not _installed("SupplyNetPy"):
        print(
            MISSING.format(pkg="SupplyNetPy (supplynetpy)", what="the layered-network comparison")
        )
        return None
    import logging

    logging.disable(logging.CRITICAL)  # SupplyNetPy's global logger, off for the timing
    try:
        peer = supplynetpy_network()
    finally:
        logging.disable(logging.NOTSET)
    ours = channel_network()
    return {
        "supplynetpy": peer,
        "channel_agents": ours,
        "ratio": ours["node_periods_per_s"] / peer["node_periods_per_s"],
    }


# --------------------------------------------------------------------------- main


def main() -> int:
    from benchmarks.__main__ import pin_one_core

    pin_one_core()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    serial = compare_serial()
    if serial is not None:
        p, o = serial["stockpyl"], serial["channel_agents"]
        print(
            f"(a) 4-stage serial base stock: stockpyl {p['periods_per_s']:,.0f} periods/s "
            f"({p['periods']:,} periods, {p['run_s']:.1f} s); channel-agents "
            f"{o['periods_per_s']:,.0f} periods/s ({o['periods']:,} periods, {o['run_s']:.1f} s); "
            f"ratio {serial['ratio']:.1f}x (target >= 30x: {'met' if serial['ratio'] >= 30 else 'not met'})"
        )
    network = compare_network()
    if network is not None:
        p, o = network["supplynetpy"], network["channel_agents"]
        print(
            f"(b) {p['nodes']}-node layered network, {NETWORK_PERIODS} periods: SupplyNetPy "
            f"{p['node_periods_per_s']:,.0f} node-periods/s ({p['run_s']:.2f} s); channel-agents "
            f"{o['node_periods_per_s']:,.0f} node-periods/s ({o['nodes']} members, {o['run_s']:.3f} s); "
            f"ratio {network['ratio']:.1f}x (target >= 10x: {'met' if network['ratio'] >= 10 else 'not met'})"
        )
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
