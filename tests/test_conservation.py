"""Goods and money are never created or lost inside the channel, in random scenarios.

The model's invariant checks (``check=True``) run every period; these tests
also check the identities themselves from the raw state, independently.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from channel_agents.config import load_config
from channel_agents.invariants import InvariantError, Invariants
from channel_agents.model import ChannelModel
from channel_agents.network import distribution_tree, layered_network

DEMANDS = [
    {"kind": "normal", "mean": 20, "sd": 8},
    {"kind": "poisson", "mean": 15},
    {"kind": "ar1", "mean": 12, "phi": 0.7, "sd": 5},
    {"kind": "step", "before": 5, "after": 40, "at": 6},
    {"kind": "linear", "a": 60, "b": 2},
]


@st.composite
def scenarios(draw):
    shape = draw(st.sampled_from(["layered", "tree"]))
    demand = draw(st.sampled_from(DEMANDS))
    if shape == "layered":
        cfg = layered_network(
            draw(st.integers(1, 3)),
            draw(st.integers(1, 4)),
            draw(st.integers(1, 6)),
            markets=draw(st.integers(1, 3)),
            seed=draw(st.integers(0, 100)),
            demand=demand,
        )
    else:
        cfg = distribution_tree((draw(st.integers(1, 3)), draw(st.integers(1, 3))), demand=demand)
    if demand["kind"] == "linear" and draw(st.booleans()):
        for m in cfg["markets"]:
            m["mode"] = "sampled"
            m["consumers"] = draw(st.integers(10, 500))
    policy = draw(
        st.sampled_from(
            [
                {"policy": "order_up_to", "forecast_window": 3, "safety_factor": 1.0},
                {"policy": "sterman", "theta": 0.4, "alpha_s": 0.3, "beta": 0.5, "s_prime": 30},
                {"policy": "pass_through"},
                {"policy": "s_S", "s": 10, "S": 60},
            ]
        )
    )
    cfg["defaults"] = {
        "ordering": policy,
        "holding_cost": draw(st.floats(0, 2)),
        "backlog_cost": draw(st.floats(0, 3)),
        "unmet_demand": draw(st.sampled_from(["backlog", "lost"])),
        "allocation": draw(st.sampled_from(["proportional", "fifo", "priority"])),
        "allow_returns": draw(st.booleans()),
        "cash": draw(st.floats(-100, 1000)),
        "cost_of_capital": draw(st.floats(0, 0.05)),
    }
    if draw(st.booleans()):
        cfg["defaults"]["credit_limit"] = draw(st.floats(0, 2000))
    for i, e in enumerate(cfg["edges"]):
        e["order_delay"] = draw(st.integers(1, 4))
        e["lead_time"] = draw(st.integers(1, 4))
        e["initial_flow"] = draw(st.floats(0, 20))
        e["transport_cost"] = draw(st.floats(0, 1))
        e["priority"] = i % 3
        if draw(st.booleans()):
            e["capacity"] = draw(st.floats(0, 50))
        if cfg["members"][e["from"]]["role"] != "source" and draw(st.booleans()):
            e["contract"] = {
                "type": "wholesale",
                "wholesale_price": draw(st.floats(0, 40)),
                "payment_terms": draw(st.integers(0, 5)),
            }
    for m in cfg["members"].values():
        if m["role"] != "source":
            m["stock"] = draw(st.floats(0, 100))
        if m["role"] == "retailer":
            m["pricing"] = {"policy": "fixed", "price": draw(st.floats(0, 30))}
    cfg["periods"] = draw(st.integers(5, 40))
    cfg["seed"] = draw(st.integers(0, 2**31))
    return cfg


@settings(max_examples=60, deadline=None)
@given(scenarios())
def test_goods_and_money_are_conserved_every_period(mapping):
    model = ChannelModel(load_config(mapping), check=True)
    lg, led = model.logistics, model.ledger
    channel = ~model.topology.is_source
    start_goods = lg.stock.sum() + lg.goods_in_transit.sum()
    start_cash = led.cash[channel].sum()
    from_source = model.topology.is_source[model.topology.seller]
    for _ in range(model.periods):
        model.step()  # the model's own checks run here too
        # independent restatement of the identities from the raw arrays
        assert (lg.stock >= -1e-9).all()
        in_channel = lg.stock.sum() + lg.goods_in_transit.sum()
        bought = lg.shipped_total[from_source].sum() - lg.returned_total[from_source].sum()
        assert np.isclose(in_channel, start_goods + bought - model.consumer_units_total, atol=1e-6)
        pending = sum(lg.orders_in_transit[s].sum() for s in range(lg.h_orders))
        assert np.isclose(pending, lg.orders_pending.sum(), atol=1e-6)
        outstanding = led.due.sum()
        assert np.isclose(led.issued_total, led.paid_total + outstanding, atol=1e-6)
        cash_change = led.cash[channel].sum() - start_cash
        outside = led.outside_paid[channel].sum() - led.outside_received[channel].sum()
        assert np.isclose(
            cash_change, led.consumer_spend_total - outside, atol=1e-6 * max(1, abs(cash_change))
        )


def test_a_violation_is_reported_with_the_period_and_quantity():
    model = ChannelModel("configs/beer_game.yaml", check=True)
    model.step()
    model.logistics.stock[1, 0] += 5.0  # goods from nowhere
    inv = Invariants.__new__(Invariants)
    inv.__dict__.update(model.invariants.__dict__)
    try:
        inv.check()
    except InvariantError as exc:
        assert "period 1" in str(exc) and "channel goods" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("created goods went unnoticed")


def test_check_flag_reports_a_violation_and_exits_1(monkeypatch, capsys):
    from channel_agents import cli
    from channel_agents.logistics import Logistics

    real = Logistics.dispatch

    def leaky(self, t, shipped):  # loses a tenth of every shipment
        real(self, t, shipped * 0.9)

    monkeypatch.setattr(Logistics, "dispatch", leaky)
    code = cli.main(["run", "configs/beer_game.yaml", "--check"])
    assert code == 1
    assert "invariant violated" in capsys.readouterr().err
