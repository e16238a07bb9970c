"""Consumer markets (expected and sampled) and the ledger (terms, interest, credit)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import channel_agents as ca


def one_retailer(demand, *, price, mode="expected", consumers=1000, periods=50, stock=1e6, **edge):
    """A retailer with ample stock, buying from a source at cost 5, selling at ``price``."""
    return {
        "name": "one_retailer",
        "periods": periods,
        "defaults": {"ordering": {"policy": "pass_through"}, "unmet_demand": "lost"},
        "members": {
            "source": {"role": "source", "unit_cost": 5},
            "retailer": {
                "role": "retailer",
                "stock": stock,
                "pricing": {"policy": "fixed", "price": price},
            },
        },
        "edges": [{"from": "source", "to": "retailer", **edge}],
        "markets": [
            {
                "name": "town",
                "retailers": ["retailer"],
                "mode": mode,
                "consumers": consumers,
                "demand": demand,
            }
        ],
    }


@settings(max_examples=40, deadline=None)
@given(a=st.floats(1, 500), b=st.floats(0.1, 10), frac=st.floats(0, 1.2))
def test_expected_linear_demand_buys_exactly_a_minus_bp_with_triangle_surplus(a, b, frac):
    p = frac * a / b
    s = ca.run(one_retailer({"kind": "linear", "a": a, "b": b}, price=p), periods=5).summary
    q = max(a - b * p, 0.0)
    assert s["units_sold"] == pytest.approx(q, rel=1e-12, abs=1e-9)
    assert s["consumer_surplus"] == pytest.approx(q * q / (2 * b), rel=1e-12, abs=1e-9)
    if q > 1e-9:
        assert s["retail_price"] == pytest.approx(p)


@settings(max_examples=20, deadline=None)
@given(k=st.floats(10, 1e5), e=st.floats(1.1, 5), p=st.floats(0.5, 50))
def test_isoelastic_demand_and_surplus_follow_the_closed_form(k, e, p):
    cfg = one_retailer({"kind": "isoelastic", "scale": k, "elasticity": e}, price=p, stock=1e10)
    s = ca.run(cfg, periods=3).summary
    assert s["units_sold"] == pytest.approx(k * p**-e, rel=1e-12)
    assert s["consumer_surplus"] == pytest.approx(k * p ** (1 - e) / (e - 1), rel=1e-12)


@pytest.mark.parametrize("consumers", [200, 5000, 50000])
def test_sampled_consumers_converge_to_expected_demand_within_sampling_error(consumers):
    a, b, p, periods = 100.0, 2.0, 20.0, 400
    cfg = one_retailer(
        {"kind": "linear", "a": a, "b": b},
        price=p,
        mode="sampled",
        consumers=consumers,
        periods=periods,
    )
    s = ca.run(cfg, seed=3).summary
    share = 1 - p * b / a  # probability that one consumer's WTP is above p
    se_q = a * math.sqrt(share * (1 - share) / (consumers * periods))
    assert abs(s["units_sold"] - (a - b * p)) < 4.5 * se_q
    # surplus per buyer is uniform on [0, a/b - p]: sd (a/b - p)/sqrt(12)
    expected_cs = (a - b * p) ** 2 / (2 * b)
    se_cs = expected_cs * 3 * math.sqrt(1 / (share * consumers * periods))
    assert abs(s["consumer_surplus"] - expected_cs) < 4.5 * se_cs


def test_sampled_error_shrinks_as_the_population_grows():
    def error(n):
        cfg = one_retailer(
            {"kind": "linear", "a": 100, "b": 2}, price=20, mode="sampled", consumers=n, periods=200
        )
        runs = [ca.run(cfg, seed=s).summary["units_sold"] for s in range(6)]
        return float(np.sqrt(np.mean((np.array(runs) - 60.0) ** 2)))

    assert error(100_000) < error(100) / 5


def test_common_random_numbers_same_seed_same_end_demand_across_settings():
    base = one_retailer({"kind": "normal", "mean": 50, "sd": 10}, price=10, periods=30)
    a = ca.run(base, seed=11).market_series["demand"].to_numpy()
    b = ca.run(
        base, seed=11, overrides=["defaults.holding_cost=3", "members.retailer.pricing.price=99"]
    )
    assert np.array_equal(a, b.market_series["demand"].to_numpy())
    c = ca.run(base, seed=12).market_series["demand"].to_numpy()
    assert not np.array_equal(a, c)


def two_tier(terms, *, cash=0.0, rate=0.0, periods=40):
    cfg = {
        "name": "two_tier",
        "periods": periods,
        "defaults": {"ordering": {"policy": "pass_through"}, "cash": cash, "cost_of_capital": rate},
        "members": {
            "source": {"role": "source", "unit_cost": 4},
            "wholesaler": {"role": "wholesaler", "stock": 100},
            "retailer": {"role": "retailer", "stock": 100, "pricing": {"policy": "fixed", "price": 15}},
        },
        "edges": [
            {"from": "source", "to": "wholesaler", "initial_flow": 10},
            {"from": "wholesaler", "to": "retailer", "lead_time": 2, "initial_flow": 10,
             "contract": {"type": "wholesale", "wholesale_price": 9, "payment_terms": terms}},
        ],
        "markets": [{"name": "town", "retailers": ["retailer"], "demand": {"kind": "constant", "value": 10}}],
    }  # fmt: skip
    return cfg


def test_payment_terms_change_the_cash_path_but_not_the_profit():
    short = ca.run(two_tier(0))
    long = ca.run(two_tier(6))
    assert short.summary["profit"] == pytest.approx(long.summary["profit"])
    # the retailer pays 6 periods later: it holds 6 periods of purchases (6 x 10 x 9) more cash
    cash = {}
    for name, r in (("short", short), ("long", long)):
        cash[name] = r.series[r.series.member == "retailer"].set_index("period")["cash"]
    assert (cash["long"] - cash["short"]).iloc[-1] == pytest.approx(6 * 10 * 9)
    # hand-checked profits: retailer (15 - 9) x 10, wholesaler (9 - 4) x 10
    assert short.summary["profit"]["retailer"] == pytest.approx(60.0)
    assert short.summary["profit"]["wholesaler"] == pytest.approx(50.0)


def test_cost_of_capital_makes_longer_terms_costly_to_the_seller():
    # the wholesaler starts with no cash: waiting for payment means borrowing
    prompt = ca.run(two_tier(0, rate=0.01)).summary["profit"]["wholesaler"]
    late = ca.run(two_tier(8, rate=0.01)).summary["profit"]["wholesaler"]
    assert late < prompt


def test_credit_limit_caps_orders_at_what_the_member_can_pay():
    # no consumer demand, so no income: with a limit of 90 at price 9 the
    # retailer can ever buy 10 units, however much it asks for
    cfg = two_tier(0, periods=10)
    cfg["markets"][0]["demand"] = {"kind": "constant", "value": 0}
    cfg["edges"][1]["initial_flow"] = 0  # nothing owed at start
    cfg["defaults"]["ordering"] = {"policy": "fixed", "quantity": 50}
    cfg["members"]["retailer"]["credit_limit"] = 90.0
    s = ca.run(cfg)
    retailer = s.series[s.series.member == "retailer"]
    assert retailer["orders"].sum() == pytest.approx(10.0)
    assert retailer["cash"].min() == pytest.approx(-90.0)
    del cfg["members"]["retailer"]["credit_limit"]
    free = ca.run(cfg)
    assert free.series[free.series.member == "retailer"]["orders"].sum() == pytest.approx(500)


def test_exogenous_demand_is_split_equally_among_a_markets_retailers():
    cfg = one_retailer({"kind": "constant", "value": 30}, price=10, periods=5)
    cfg["members"]["retailer_b"] = {"role": "retailer", "stock": 1e6}
    cfg["edges"].append({"from": "source", "to": "retailer_b"})
    cfg["markets"][0]["retailers"] = ["retailer", "retailer_b"]
    s = ca.run(cfg)
    units = s.series.groupby("member")["shipped"].mean()
    assert units["retailer"] == pytest.approx(15) and units["retailer_b"] == pytest.approx(15)


def test_price_responsive_consumers_buy_from_the_cheapest_retailer():
    cfg = one_retailer({"kind": "linear", "a": 100, "b": 2}, price=20, periods=5)
    cfg["members"]["retailer_b"] = {
        "role": "retailer",
        "stock": 1e6,
        "pricing": {"policy": "fixed", "price": 15},
    }
    cfg["edges"].append({"from": "source", "to": "retailer_b"})
    cfg["markets"][0]["retailers"] = ["retailer", "retailer_b"]
    s = ca.run(cfg).summary
    assert s["units_sold"] == pytest.approx(100 - 2 * 15)
    assert s["price"]["retailer_b"] == pytest.approx(15)
    assert s["price"]["retailer"] is None  # sold nothing


def test_stockouts_lower_the_fill_rate_and_lost_sales_are_not_backlogged():
    cfg = one_retailer({"kind": "constant", "value": 10}, price=10, periods=10, stock=0)
    cfg["defaults"]["ordering"] = {"policy": "fixed", "quantity": 6}
    cfg["edges"][0]["initial_flow"] = 6
    s = ca.run(cfg).summary
    assert s["fill_rate"] == pytest.approx(0.6)
    assert s["units_sold"] == pytest.approx(6)
