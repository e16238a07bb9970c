"""Prices, contracts and market clearing against the closed forms (theory.py), for any
parameters in the model's domain: the simulation is tested against theory, not itself."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import channel_agents as ca
from channel_agents import theory

TIERS = {
    1: ["retailer"],
    2: ["manufacturer", "retailer"],
    3: ["manufacturer", "wholesaler", "retailer"],
    4: ["manufacturer", "wholesaler", "distributor", "retailer"],
}


def chain(n, *, a, b, c, strategy="siloed", demand=None, periods=20):
    """A serial chain of n tiers (the top one buys at c from a source), no costs."""
    names = TIERS[n]
    members = {"source": {"role": "source", "unit_cost": c}}
    for name in names:
        members[name] = {"role": name, "stock": 1e7}
    order = ["source", *names]
    return {
        "name": f"chain_{n}",
        "periods": periods,
        "warmup": 8,
        "strategy": strategy,
        "defaults": {"ordering": {"policy": "pass_through"}, "unmet_demand": "lost"},
        "members": members,
        "edges": [{"from": s, "to": t} for s, t in zip(order, order[1:], strict=False)],
        "markets": [{"name": "m", "retailers": ["retailer"], "demand": demand or {"kind": "linear", "a": a, "b": b}}],
    }  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), a=st.floats(20, 500), b=st.floats(0.2, 8), frac=st.floats(0.0, 0.8))
def test_siloed_chain_of_any_length_marks_up_as_backward_induction_predicts(n, a, b, frac):
    c = frac * a / b
    s = ca.run(chain(n, a=a, b=b, c=c)).summary
    t = theory.double_marginalization_linear(a, b, c, n)
    assert s["units_sold"] == pytest.approx(t["quantity"], rel=1e-6)
    assert s["retail_price"] == pytest.approx(t["retail_price"], rel=1e-6)
    assert s["consumer_surplus"] == pytest.approx(t["consumer_surplus"], rel=1e-6)
    assert s["channel_profit"] == pytest.approx(t["channel_profit"], rel=1e-6)
    names = TIERS[n][::-1]  # retailer first, as theory lists profits
    for name, profit in zip(names, t["profits"], strict=True):
        assert s["profit"][name] == pytest.approx(profit, rel=1e-6, abs=1e-9)


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 4), a=st.floats(20, 500), b=st.floats(0.2, 8), frac=st.floats(0.0, 0.8))
def test_cooperative_gives_the_integrated_row_for_any_chain_length(n, a, b, frac):
    c = frac * a / b
    s = ca.run(chain(n, a=a, b=b, c=c, strategy="cooperative")).summary
    t = theory.double_marginalization_linear(a, b, c, 1)
    assert s["units_sold"] == pytest.approx(t["quantity"], rel=1e-6)
    assert s["consumer_surplus"] == pytest.approx(t["consumer_surplus"], rel=1e-6)
    assert s["channel_profit"] == pytest.approx(t["channel_profit"], rel=1e-6)


@settings(max_examples=10, deadline=None)
@given(n=st.integers(1, 4), k=st.floats(1e3, 1e5), e=st.floats(1.3, 4), c=st.floats(0.5, 5))
def test_isoelastic_chain_marks_up_by_e_over_e_minus_one_at_every_tier(n, k, e, c):
    s = ca.run(
        chain(n, a=0, b=1, c=c, demand={"kind": "isoelastic", "scale": k, "elasticity": e})
    ).summary
    t = theory.double_marginalization_isoelastic(k, e, c, n)
    assert s["retail_price"] == pytest.approx(t["retail_price"], rel=1e-6)
    assert s["units_sold"] == pytest.approx(t["quantity"], rel=1e-5)
    assert s["consumer_surplus"] == pytest.approx(t["consumer_surplus"], rel=1e-5)


def cournot(n, a, b, c):
    cfg = ca.config.load_config("configs/theory/retail_competition.yaml", [f"n_retailers={n}"])
    data = cfg.model_dump(by_alias=True, exclude_none=True)
    data["members"]["source"]["unit_cost"] = c
    data["markets"][0]["demand"] = {"kind": "linear", "a": a, "b": b}
    return data


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 6), a=st.floats(20, 400), b=st.floats(0.3, 5), frac=st.floats(0, 0.7))
def test_cournot_retailers_match_the_closed_form_for_any_number(n, a, b, frac):
    c = frac * a / b
    s = ca.run(cournot(n, a, b, c)).summary
    t = theory.cournot_retailers(a, b, c, n)
    assert s["price"]["manufacturer"] == pytest.approx(t["wholesale_price"], rel=1e-6)
    assert s["units_sold"] == pytest.approx(t["total_quantity"], rel=1e-6)
    assert s["profit"]["retailer_1"] == pytest.approx(t["retailer_profit"], rel=1e-5)
    assert s["consumer_surplus"] == pytest.approx(t["consumer_surplus"], rel=1e-6)


NV = "configs/theory/newsvendor_contracts.yaml"


@settings(max_examples=12, deadline=None)
@given(phi=st.floats(0.1, 0.95), mean=st.floats(50, 200), cv=st.floats(0.05, 0.35))
def test_revenue_sharing_at_w_equal_phi_c_orders_the_integrated_quantity(phi, mean, cv):
    sd = cv * mean
    s = ca.run(NV, periods=10, overrides=[
        f"edges.1.contract={{type: revenue_sharing, revenue_share: {phi}, wholesale_price: {phi * 4}}}",
        f"markets.season.demand={{kind: normal, mean: {mean}, sd: {sd}}}",
    ]).summary  # fmt: skip
    integrated = theory.newsvendor_integrated(mean, sd, 10, 4, 1)
    assert s["units_ordered"] == pytest.approx(integrated["quantity"], rel=1e-6)


@settings(max_examples=12, deadline=None)
@given(share=st.floats(0.1, 0.95), mean=st.floats(50, 200), cv=st.floats(0.05, 0.35))
def test_buyback_on_the_coordinating_line_orders_the_integrated_quantity(share, mean, cv):
    sd = cv * mean
    w, refund = 10 - share * (10 - 4), 10 - share * (10 - 1)
    s = ca.run(NV, periods=10, overrides=[
        f"edges.1.contract={{type: buyback, wholesale_price: {w}, buyback_price: {refund}}}",
        f"markets.season.demand={{kind: normal, mean: {mean}, sd: {sd}}}",
    ]).summary  # fmt: skip
    integrated = theory.newsvendor_integrated(mean, sd, 10, 4, 1)
    assert s["units_ordered"] == pytest.approx(integrated["quantity"], rel=1e-6)


def test_siloed_supplier_sets_the_supplier_optimal_wholesale_price():
    s = ca.run(NV, periods=10, overrides=["edges.1.contract.wholesale_price=null"]).summary
    t = theory.newsvendor_supplier_optimal_wholesale(100, 30, 10, 4, 1)
    assert s["price"]["manufacturer"] == pytest.approx(t["wholesale_price"], rel=1e-5)
    assert s["units_ordered"] == pytest.approx(t["quantity"], rel=1e-5)
    assert s["profit"]["manufacturer"] == pytest.approx(t["supplier_profit"], rel=1e-5)


def test_newsvendor_expected_profits_converge_with_many_seasons():
    s = ca.run(NV, periods=100_000).summary
    t = theory.newsvendor_wholesale(100, 30, 10, 7, 4, 1)
    assert s["profit"]["retailer"] == pytest.approx(t["retailer_profit"], rel=0.02)
    assert s["profit"]["manufacturer"] == pytest.approx(t["supplier_profit"], rel=1e-9)
    assert s["fill_rate"] < 1.0  # seasons with demand above the order sell out


def test_quantity_discount_coordinates_and_splits_profit_by_the_share():
    cfg = chain(2, a=100, b=2, c=10, periods=40)
    cfg["edges"][1]["contract"] = {"type": "quantity_discount", "retailer_share": 0.5}
    cfg["warmup"] = 20
    s = ca.run(cfg).summary
    t = theory.quantity_discount_linear(100, 2, 10, 0.5)
    assert s["units_sold"] == pytest.approx(t["quantity"], rel=1e-6)
    assert s["price"]["manufacturer"] == pytest.approx(t["wholesale_price"], rel=1e-6)
    assert s["profit"]["retailer"] == pytest.approx(t["retailer_profit"], rel=1e-6)
    assert s["profit"]["manufacturer"] == pytest.approx(t["manufacturer_profit"], rel=1e-6)


@settings(max_examples=10, deadline=None)
@given(fee=st.floats(0, 800))
def test_two_part_tariff_at_marginal_cost_coordinates_whatever_the_fee(fee):
    cfg = chain(2, a=100, b=2, c=10)
    cfg["edges"][1]["contract"] = {
        "type": "two_part_tariff",
        "wholesale_price": 10,
        "fixed_fee": fee,
    }
    s = ca.run(cfg).summary
    t = theory.two_part_tariff_linear(100, 2, 10, fee)
    assert s["retail_price"] == pytest.approx(t["retail_price"], rel=1e-6)
    assert s["consumer_surplus"] == pytest.approx(t["consumer_surplus"], rel=1e-6)
    assert s["profit"]["retailer"] == pytest.approx(t["retailer_profit"], rel=1e-6, abs=1e-6)
    assert s["profit"]["manufacturer"] == pytest.approx(
        t["manufacturer_profit"], rel=1e-6, abs=1e-6
    )


@settings(max_examples=5, deadline=None)
@given(a=st.floats(50, 300), b=st.floats(0.5, 4), frac=st.floats(0.1, 0.6))
def test_adaptive_pricing_learns_the_stackelberg_price_from_its_own_sales(a, b, frac):
    c = frac * a / b
    cfg = chain(1, a=a, b=b, c=c, periods=300)
    cfg["members"]["retailer"]["demand_knowledge"] = "estimated"
    series = ca.run(cfg).series
    price = (series["sales_value"] / series["shipped"]).to_numpy()
    best = (a / b + c) / 2  # the monopoly price for q = a - b p at unit cost c
    # the last probing cycles (+2 %, 0, -2 %) average to the learned price
    assert np.mean(price[-30:]) == pytest.approx(best, rel=2e-3)


def test_quantity_discount_needs_price_responsive_demand_below():
    cfg = chain(2, a=100, b=2, c=10)
    cfg["markets"][0]["demand"] = {"kind": "constant", "value": 5}
    cfg["edges"][1]["contract"] = {"type": "quantity_discount", "retailer_share": 0.5}
    with pytest.raises(ca.config.ConfigError, match="quantity_discount"):
        ca.run(cfg)
