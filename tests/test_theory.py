"""The closed forms in channel_agents.theory reproduce the theory cards and hold in general.

Card tables are pinned to their printed precision: a number printed with 6
significant digits is a rounded value (it must agree to half a unit in its last
place); a shorter number is exact (it must agree to 1e-9 relative). Card 4 (beer
game) is a simulation benchmark and is tested elsewhere.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, optimize
from scipy.stats import norm

from channel_agents import theory as th

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------


def _significant_digits(printed: str) -> int:
    digits = printed.lstrip("-").replace(".", "").lstrip("0")
    return len(digits)


def assert_card(actual: float | None, printed: str) -> None:
    """Assert that ``actual`` agrees with a number as printed on a card."""
    assert actual is not None
    value = float(printed)
    if _significant_digits(printed) >= 6:
        decimals = len(printed.split(".")[1]) if "." in printed else 0
        tol = 0.5 * 10.0**-decimals * (1 + 1e-9)
        assert abs(actual - value) <= tol, f"{actual} does not print as {printed}"
    else:
        assert actual == pytest.approx(value, rel=1e-9, abs=1e-12), f"{actual} != {printed}"


def _market(draw_b: float, draw_c: float, draw_big_a: float) -> tuple[float, float, float]:
    return draw_big_a + draw_b * draw_c, draw_b, draw_c


linear_markets = st.builds(
    _market,
    st.floats(0.1, 10.0),
    st.floats(0.0, 50.0),
    st.floats(1.0, 1000.0),
)
tiers = st.integers(1, 8)
shares = st.floats(0.05, 1.0)


def _nelder_mead_max(f, start, restarts: int = 3, bounds=None) -> tuple[np.ndarray, float]:
    """Maximize f by Nelder-Mead, restarted from its own answer (escapes early collapse)."""
    x = np.asarray(start, dtype=float)
    opts = {"xatol": 1e-10, "fatol": 1e-13, "maxiter": 20000, "maxfev": 40000}
    for _ in range(restarts):
        x = optimize.minimize(
            lambda z: -f(z), x, method="Nelder-Mead", bounds=bounds, options=opts
        ).x
    return x, float(f(x))


def _argmax_scalar(f, lo: float, hi: float) -> float:
    res = optimize.minimize_scalar(
        lambda x: -f(x), bounds=(lo, hi), method="bounded", options={"xatol": 1e-11}
    )
    return float(res.x)


# ---------------------------------------------------------------------------
# Card 1: double marginalization
# ---------------------------------------------------------------------------

CARD1 = [
    (1, "40", ["30"], ["800"], "800", "400"),
    (2, "20", ["40", "30"], ["200", "400"], "600", "100"),
    (3, "10", ["45", "40", "30"], ["50", "100", "200"], "350", "25"),
    (4, "5", ["47.5", "45", "40", "30"], ["12.5", "25", "50", "100"], "187.5", "6.25"),
]


@pytest.mark.parametrize(("n", "q", "prices", "profits", "channel", "cs"), CARD1)
def test_linear_double_marginalization_reproduces_card_1_table(n, q, prices, profits, channel, cs):
    res = th.double_marginalization_linear(100, 2, 10, n)
    assert_card(res["quantity"], q)
    assert len(res["prices"]) == len(res["profits"]) == n
    for got, printed in zip(res["prices"], prices, strict=True):
        assert_card(got, printed)
    for got, printed in zip(res["profits"], profits, strict=True):
        assert_card(got, printed)
    assert_card(res["channel_profit"], channel)
    assert_card(res["consumer_surplus"], cs)
    assert_card(res["retail_price"], prices[0])


def test_linear_double_marginalization_card_ratios_are_1_3_4_7_16_15_64():
    base = th.double_marginalization_linear(100, 2, 10, 1)
    ratios = [
        th.double_marginalization_linear(100, 2, 10, n)["channel_profit"] / base["channel_profit"]
        for n in range(1, 5)
    ]
    cs_ratios = [
        th.double_marginalization_linear(100, 2, 10, n)["consumer_surplus"]
        / base["consumer_surplus"]
        for n in range(1, 5)
    ]
    assert ratios == pytest.approx([1, 3 / 4, 7 / 16, 15 / 64], rel=1e-12)
    assert cs_ratios == pytest.approx([1, 1 / 4, 1 / 16, 1 / 64], rel=1e-12)


@given(linear_markets, tiers)
def test_linear_channel_profit_ratio_is_4_times_2_pow_minus_n_times_1_minus_2_pow_minus_n(
    market, n
):
    a, b, c = market
    ratio = (
        th.double_marginalization_linear(a, b, c, n)["channel_profit"]
        / th.double_marginalization_linear(a, b, c, 1)["channel_profit"]
    )
    assert ratio == pytest.approx(4 * 2.0**-n * (1 - 2.0**-n), rel=1e-9)


@given(linear_markets, tiers)
def test_linear_consumer_surplus_ratio_is_4_pow_minus_n_minus_1(market, n):
    a, b, c = market
    ratio = (
        th.double_marginalization_linear(a, b, c, n)["consumer_surplus"]
        / th.double_marginalization_linear(a, b, c, 1)["consumer_surplus"]
    )
    assert ratio == pytest.approx(4.0 ** -(n - 1), rel=1e-9)


@given(linear_markets, tiers)
def test_linear_chain_is_consistent_margins_times_quantity_and_manufacturer_charges_monopoly_price(
    market, n
):
    a, b, c = market
    res = th.double_marginalization_linear(a, b, c, n)
    q, prices = res["quantity"], res["prices"]
    upstream = [*prices[1:], c]
    for k, (price, cost, profit) in enumerate(zip(prices, upstream, res["profits"], strict=True)):
        assert profit == pytest.approx((price - cost) * q, rel=1e-9, abs=1e-9)
        assert profit == pytest.approx(2**k * q * q / b, rel=1e-9, abs=1e-9)
    assert q == pytest.approx(a - b * prices[0], rel=1e-9, abs=1e-9)
    assert prices[-1] == pytest.approx((a + b * c) / (2 * b), rel=1e-12)
    assert res["channel_profit"] == pytest.approx(sum(res["profits"]), rel=1e-12)


@pytest.mark.parametrize(("a", "b", "c"), [(100, 2, 10), (37, 0.7, 3.5)])
def test_linear_chain_prices_are_the_numerical_backward_induction_equilibrium(a, b, c):
    def q_of(p1: float) -> float:
        return a - b * p1

    def retailer(p2: float) -> float:
        return _argmax_scalar(lambda p1: (p1 - p2) * q_of(p1), p2, a / b)

    def wholesaler(p3: float) -> float:
        return _argmax_scalar(lambda p2: (p2 - p3) * q_of(retailer(p2)), p3, a / b)

    # two tiers
    w2 = _argmax_scalar(lambda p2: (p2 - c) * q_of(retailer(p2)), c, a / b)
    expected2 = th.double_marginalization_linear(a, b, c, 2)["prices"]
    assert [retailer(w2), w2] == pytest.approx(expected2, rel=1e-6)
    # three tiers
    p3 = _argmax_scalar(lambda p3: (p3 - c) * q_of(retailer(wholesaler(p3))), c, a / b)
    p2 = wholesaler(p3)
    expected3 = th.double_marginalization_linear(a, b, c, 3)["prices"]
    assert [retailer(p2), p2, p3] == pytest.approx(expected3, rel=1e-5)


def test_isoelastic_double_marginalization_reproduces_card_1_case():
    one = th.double_marginalization_isoelastic(1e4, 2, 1, 1)
    assert_card(one["retail_price"], "2")
    assert_card(one["quantity"], "2500")
    assert_card(one["consumer_surplus"], "5000")
    three = th.double_marginalization_isoelastic(1e4, 2, 1, 3)
    assert_card(three["retail_price"], "8")
    assert_card(three["quantity"], "156.25")
    # card lists profits manufacturer first; the API lists them retailer first
    for got, printed in zip(three["profits"][::-1], ["156.25", "312.5", "625"], strict=True):
        assert_card(got, printed)
    assert three["prices"] == pytest.approx([8, 4, 2], rel=1e-12)


@given(
    st.floats(1.0, 1e6),
    st.floats(1.1, 6.0),
    st.floats(0.1, 20.0),
    st.integers(1, 6),
)
def test_isoelastic_chain_marks_up_by_e_over_e_minus_1_and_matches_ratio_formulas(K, e, c, n):
    m = e / (e - 1)
    res = th.double_marginalization_isoelastic(K, e, c, n)
    base = th.double_marginalization_isoelastic(K, e, c, 1)
    prices = [*res["prices"], c]
    for k in range(n):
        assert prices[k] / prices[k + 1] == pytest.approx(m, rel=1e-12)
    assert res["retail_price"] == pytest.approx(m**n * c, rel=1e-12)
    assert res["quantity"] == pytest.approx(K * res["retail_price"] ** -e, rel=1e-12)
    for k in range(n):
        assert res["profits"][k] == pytest.approx(
            (prices[k] - prices[k + 1]) * res["quantity"], rel=1e-9
        )
    ratio = res["channel_profit"] / base["channel_profit"]
    assert ratio == pytest.approx((m**n - 1) / (m - 1) * m ** (-(n - 1) * e), rel=1e-9)
    cs_ratio = res["consumer_surplus"] / base["consumer_surplus"]
    assert cs_ratio == pytest.approx(m ** (-(n - 1) * (e - 1)), rel=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.floats(1.2, 5.0), st.floats(0.5, 10.0))
def test_isoelastic_seller_best_markup_is_e_over_e_minus_1_numerically(e, w):
    best = _argmax_scalar(lambda p: (p - w) * p**-e, w, 50 * w * e / (e - 1))
    assert best == pytest.approx(e / (e - 1) * w, rel=1e-6)


# ---------------------------------------------------------------------------
# Card 2: coordinating contracts
# ---------------------------------------------------------------------------

NV = {"mean": 100, "sd": 30, "p": 10, "c": 4, "v": 1}


def test_integrated_newsvendor_reproduces_card_2():
    res = th.newsvendor_integrated(**NV)
    assert_card(res["quantity"], "112.922")
    assert_card(res["channel_profit"], "501.828")


def test_wholesale_newsvendor_at_w_7_reproduces_card_2():
    res = th.newsvendor_wholesale(100, 30, 10, 7, 4, 1)
    assert_card(res["quantity"], "87.0782")
    assert_card(res["retailer_profit"], "201.828")
    assert_card(res["supplier_profit"], "261.235")
    assert_card(res["efficiency"], "0.922752")


def test_supplier_optimal_wholesale_reproduces_card_2():
    res = th.newsvendor_supplier_optimal_wholesale(**NV)
    assert_card(res["wholesale_price"], "8.68868")
    assert_card(res["quantity"], "68.3487")
    assert_card(res["retailer_profit"], "69.3927")
    assert_card(res["supplier_profit"], "320.465")
    assert_card(res["efficiency"], "0.776875")


def test_revenue_sharing_with_phi_0_6_reproduces_card_2():
    res = th.newsvendor_revenue_sharing(**NV, phi=0.6)
    assert_card(res["wholesale_price"], "2.4")
    assert_card(res["quantity"], "112.922")
    assert_card(res["retailer_profit"], "301.097")
    assert_card(res["supplier_profit"], "200.731")
    assert_card(res["efficiency"], "1")


def test_buyback_with_share_0_6_reproduces_card_2():
    res = th.newsvendor_buyback(**NV, share=0.6)
    assert_card(res["wholesale_price"], "6.4")
    assert_card(res["buyback_price"], "4.6")
    assert_card(res["quantity"], "112.922")
    assert_card(res["retailer_profit"], "301.097")
    assert_card(res["supplier_profit"], "200.731")
    assert_card(res["efficiency"], "1")


# Coefficient of variation <= 0.35: the normal model's domain (negligible negative demand).
newsvendors = st.builds(
    lambda mean, cv, p, c_frac, v_frac: (mean, cv * mean, p, v_frac * c_frac * p, c_frac * p),
    st.floats(20.0, 500.0),
    st.floats(0.02, 0.35),
    st.floats(1.0, 50.0),
    st.floats(0.1, 0.85),
    st.floats(0.0, 0.9),
).map(lambda t: {"mean": t[0], "sd": t[1], "p": t[2], "c": t[4], "v": t[3]})


@settings(max_examples=20, deadline=None)
@given(st.floats(-60.0, 260.0), st.floats(20.0, 200.0), st.floats(1.0, 60.0))
def test_expected_sales_is_the_untruncated_normal_min_of_order_and_demand(q, mean, sd):
    direct, _ = integrate.quad(
        lambda d: min(q, d) * norm.pdf(d, mean, sd), mean - 12 * sd, mean + 12 * sd, points=[q]
    )
    assert th.normal_expected_sales(q, mean, sd) == pytest.approx(direct, rel=1e-7, abs=1e-7)


@given(newsvendors, shares)
def test_revenue_sharing_at_w_phi_c_orders_integrated_quantity_and_splits_phi_to_1_minus_phi(
    nv, phi
):
    integrated = th.newsvendor_integrated(**nv)
    res = th.newsvendor_revenue_sharing(**nv, phi=phi)
    assert res["wholesale_price"] == pytest.approx(phi * nv["c"], rel=1e-12)
    assert res["quantity"] == pytest.approx(integrated["quantity"], rel=1e-9)
    assert res["efficiency"] == pytest.approx(1, rel=1e-9)
    total = integrated["channel_profit"]
    assert res["retailer_profit"] == pytest.approx(phi * total, rel=1e-7, abs=1e-9)
    assert res["supplier_profit"] == pytest.approx((1 - phi) * total, rel=1e-7, abs=1e-7)


@given(newsvendors, shares)
def test_buyback_at_card_prices_orders_integrated_quantity_and_gives_retailer_share_L(nv, share):
    integrated = th.newsvendor_integrated(**nv)
    res = th.newsvendor_buyback(**nv, share=share)
    p, c, v = nv["p"], nv["c"], nv["v"]
    assert res["wholesale_price"] == pytest.approx(p - share * (p - c), rel=1e-12)
    assert res["buyback_price"] == pytest.approx(p - share * (p - v), rel=1e-12, abs=1e-12)
    assert res["quantity"] == pytest.approx(integrated["quantity"], rel=1e-9)
    total = integrated["channel_profit"]
    assert res["retailer_profit"] == pytest.approx(share * total, rel=1e-7, abs=1e-9)
    assert res["supplier_profit"] == pytest.approx((1 - share) * total, rel=1e-7, abs=1e-7)


@settings(max_examples=40, deadline=None)
@given(newsvendors, st.floats(0.05, 0.95))
def test_wholesale_price_above_cost_orders_less_than_integrated_and_loses_efficiency(nv, frac):
    w = nv["c"] + frac * (nv["p"] - nv["c"])
    res = th.newsvendor_wholesale(nv["mean"], nv["sd"], nv["p"], w, nv["c"], nv["v"])
    assert res["quantity"] < th.newsvendor_integrated(**nv)["quantity"]
    assert res["efficiency"] < 1
    assert res["retailer_profit"] + res["supplier_profit"] == pytest.approx(
        res["channel_profit"], rel=1e-12
    )


@settings(max_examples=25, deadline=None)
@given(newsvendors)
def test_retailer_order_maximizes_its_expected_profit_under_each_contract(nv):
    mean, sd, p, c, v = nv["mean"], nv["sd"], nv["p"], nv["c"], nv["v"]

    def sales(q: float) -> float:
        return th.normal_expected_sales(q, mean, sd)

    lo, hi = mean - 8 * sd, mean + 8 * sd
    w = (c + p) / 2
    ws = th.newsvendor_wholesale(mean, sd, p, w, c, v)
    best = _argmax_scalar(lambda q: p * sales(q) + v * (q - sales(q)) - w * q, lo, hi)
    assert best == pytest.approx(ws["quantity"], abs=1e-4 * sd)
    bb = th.newsvendor_buyback(mean, sd, p, c, v, share=0.5)
    b, wb = bb["buyback_price"], bb["wholesale_price"]
    best = _argmax_scalar(lambda q: p * sales(q) + b * (q - sales(q)) - wb * q, lo, hi)
    assert best == pytest.approx(bb["quantity"], abs=1e-4 * sd)
    rs = th.newsvendor_revenue_sharing(mean, sd, p, c, v, phi=0.3)
    best = _argmax_scalar(
        lambda q: 0.3 * (p * sales(q) + v * (q - sales(q))) - rs["wholesale_price"] * q, lo, hi
    )
    assert best == pytest.approx(rs["quantity"], abs=1e-4 * sd)


@settings(max_examples=20, deadline=None)
@given(newsvendors)
def test_supplier_optimal_wholesale_beats_every_other_wholesale_price(nv):
    mean, sd, p, c, v = nv["mean"], nv["sd"], nv["p"], nv["c"], nv["v"]
    res = th.newsvendor_supplier_optimal_wholesale(**nv)

    def supplier(w):
        return (w - c) * (mean + sd * norm.ppf((p - w) / (p - v)))

    grid = np.linspace(c, p, 2001)[1:-1]
    assert res["supplier_profit"] >= np.max(supplier(grid)) - 1e-9
    brute = _argmax_scalar(supplier, c, p - 1e-9 * (p - v))
    assert supplier(brute) == pytest.approx(res["supplier_profit"], rel=1e-9, abs=1e-9)
    assert res["wholesale_price"] == pytest.approx(brute, rel=1e-4)


@pytest.mark.parametrize("fee", [0, 300, 800])
def test_two_part_tariff_reproduces_card_2_deterministic_row(fee):
    res = th.two_part_tariff_linear(100, 2, 10, fee)
    assert_card(res["retail_price"], "30")
    assert_card(res["quantity"], "40")
    assert_card(res["consumer_surplus"], "400")
    assert_card(res["wholesale_price"], "10")
    assert res["retailer_profit"] == pytest.approx(800 - fee)
    assert res["manufacturer_profit"] == pytest.approx(fee)


def test_two_part_tariff_rejects_a_fee_the_retailer_would_refuse():
    with pytest.raises(ValueError):
        th.two_part_tariff_linear(100, 2, 10, 801)


def test_quantity_discount_reproduces_card_2_deterministic_row():
    res = th.quantity_discount_linear(100, 2, 10, 0.5)
    assert_card(res["quantity"], "40")
    assert_card(res["retail_price"], "30")
    assert_card(res["wholesale_price"], "20")
    assert_card(res["retailer_profit"], "400")
    assert_card(res["manufacturer_profit"], "400")
    assert_card(res["consumer_surplus"], "400")


@given(linear_markets, shares)
def test_quantity_discount_makes_retailer_profit_L_times_channel_at_every_volume(market, share):
    a, b, c = market
    res = th.quantity_discount_linear(a, b, c, share)
    big_a = a - b * c
    qs = np.linspace(0, big_a, 1001)
    w = np.maximum(c, (1 - share) * (a - qs) / b + share * c)
    retailer = ((a - qs) / b - w) * qs
    channel = ((a - qs) / b - c) * qs
    assert np.allclose(retailer, share * channel, rtol=1e-9, atol=1e-9 * big_a**2 / b)
    assert qs[np.argmax(retailer)] == pytest.approx(res["quantity"], abs=big_a / 1000)
    assert res["quantity"] == pytest.approx(big_a / 2, rel=1e-12)
    assert res["wholesale_price"] >= c
    assert res["retailer_profit"] == pytest.approx(share * res["channel_profit"], rel=1e-9)


# ---------------------------------------------------------------------------
# Card 3: bullwhip
# ---------------------------------------------------------------------------

CARD3 = [
    (1, "2.12", "2.12"),
    (2, "5.1216", "3.88"),
    (3, "13.5171", "6.28"),
    (4, "37.7030", "9.32"),
]


@pytest.mark.parametrize(("stage", "siloed", "cooperative"), CARD3)
def test_bullwhip_reproduces_card_3_table(stage, siloed, cooperative):
    assert_card(th.bullwhip_siloed([2, 2, 2, 2], 5)[stage - 1], siloed)
    assert_card(th.bullwhip_cooperative([2, 2, 2, 2], 5)[stage - 1], cooperative)


lead_time_lists = st.lists(st.integers(0, 6), min_size=1, max_size=5)
windows = st.integers(1, 12)


@given(lead_time_lists, windows)
def test_siloed_stage_1_equals_1_plus_2L_over_p_plus_2L2_over_p2(lts, p):
    lt = lts[0]
    assert th.bullwhip_siloed(lts, p)[0] == pytest.approx(1 + 2 * lt / p + 2 * lt**2 / p**2)
    assert th.bullwhip_cooperative(lts, p)[0] == pytest.approx(th.bullwhip_siloed(lts, p)[0])


@given(lead_time_lists, windows)
def test_cooperative_ratio_is_1_plus_2S_over_p_plus_2S2_over_p2_with_cumulative_lead_time(lts, p):
    got = th.bullwhip_cooperative(lts, p)
    for k, ratio in enumerate(got):
        s = sum(lts[: k + 1])
        assert ratio == pytest.approx(1 + 2 * s / p + 2 * s**2 / p**2, rel=1e-12)


@given(lead_time_lists, windows)
def test_siloed_ratio_is_at_least_chen_lower_bound_and_cooperative_ratio(lts, p):
    siloed = th.bullwhip_siloed(lts, p)
    bound = th.bullwhip_chen_lower_bound(lts, p)
    coop = th.bullwhip_cooperative(lts, p)
    for s, lb, co in zip(siloed, bound, coop, strict=True):
        assert s >= lb * (1 - 1e-12)
        assert s >= co * (1 - 1e-12)
    for earlier, later in zip(siloed, siloed[1:], strict=False):
        assert later >= earlier * (1 - 1e-12)


def _order_up_to_response(signal: np.ndarray, lead_time: float, p: int) -> np.ndarray:
    """Apply y_t = L * mean(x_{t-p..t-1}), q_t = y_t - y_{t-1} + x_{t-1} to a signal."""
    x = np.concatenate([np.zeros(p + 1), signal])
    y = np.array([lead_time * x[t - p : t].mean() for t in range(p, len(x))])
    q = y[1:] - y[:-1] + x[p : len(x) - 1]
    return q


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=1, max_size=4), st.integers(1, 6))
def test_bullwhip_ratios_equal_the_squared_impulse_response_of_the_order_up_to_rule(lts, p):
    horizon = (len(lts) + 1) * (p + 1) + 2
    impulse = np.zeros(horizon)
    impulse[0] = 1.0
    siloed, coop = [], []
    signal = impulse
    for k, lt in enumerate(lts):
        signal = _order_up_to_response(signal, lt, p)  # forecasts the orders it receives
        siloed.append(float(np.sum(signal**2)))
        echelon = _order_up_to_response(impulse, sum(lts[: k + 1]), p)  # end demand
        coop.append(float(np.sum(echelon**2)))
    assert th.bullwhip_siloed(lts, p) == pytest.approx(siloed, rel=1e-9)
    assert th.bullwhip_cooperative(lts, p) == pytest.approx(coop, rel=1e-9)


# ---------------------------------------------------------------------------
# Card 5: cooperative advertising
# ---------------------------------------------------------------------------

CARD5_KEYS = [
    "retail_price",
    "wholesale_price",
    "coop_share",
    "advertising_retailer",
    "advertising_manufacturer",
    "demand",
    "manufacturer_profit",
    "retailer_profit",
    "consumer_surplus",
]
CARD5 = {
    "coop": ["7.66450", "5.32900", "0.480625", "27.5738", "15.1122", "21.3430"]
    + ["42.6860", "35.5254", "24.9233"],
    "no_coop": ["7.33333", "4.66667", "0", "12.6420", "12.6420", "18.9630"]
    + ["37.9259", "37.9259", "25.2840"],
}


def test_cooperative_advertising_joint_optimum_reproduces_card_5():
    res = th.coop_advertising(10, 1, 2, 1, 1, "cooperative")
    assert_card(res["retail_price"], "6")
    assert_card(res["advertising_retailer"], "64")
    assert_card(res["advertising_manufacturer"], "64")
    assert_card(res["demand"], "64")
    assert_card(res["channel_profit"], "128")
    assert_card(res["consumer_surplus"], "128")
    assert res["wholesale_price"] is None
    assert res["coop_share"] is None


@pytest.mark.parametrize("arm", ["coop", "no_coop"])
def test_stackelberg_advertising_reproduces_card_5(arm):
    res = th.coop_advertising(10, 1, 2, 1, 1, arm)
    for key, printed in zip(CARD5_KEYS, CARD5[arm], strict=True):
        assert_card(res[key], printed)
    assert res["channel_profit"] == pytest.approx(
        res["manufacturer_profit"] + res["retailer_profit"], rel=1e-12
    )


def test_coop_advertising_rejects_unknown_arm():
    with pytest.raises(ValueError):
        th.coop_advertising(10, 1, 2, 1, 1, "siloed")


ad_markets = st.tuples(
    st.floats(0.5, 3.0),  # b
    st.floats(0.0, 5.0),  # c
    st.floats(2.0, 20.0),  # A
    st.floats(0.2, 2.0),  # k_r
    st.floats(0.2, 2.0),  # k_m
).map(lambda t: (t[2] + t[0] * t[1], t[0], t[1], t[3], t[4]))


def _ad_demand(a, b, p, k_r, k_m, root_r, root_m):
    """Demand with advertising spends root_r^2, root_m^2 (signs dropped: spend is >= 0)."""
    return (a - b * p) * (k_r * abs(root_r) + k_m * abs(root_m))


@settings(max_examples=10, deadline=None)
@given(ad_markets)
def test_cooperative_advertising_row_equals_brute_force_joint_optimum(market):
    a, b, c, k_r, k_m = market

    def channel(x):
        p, root_r, root_m = x
        return (p - c) * _ad_demand(a, b, p, k_r, k_m, root_r, root_m) - root_r**2 - root_m**2

    (p, root_r, root_m), best = _nelder_mead_max(channel, [c + 0.3 * (a / b - c), 1.0, 1.0])
    closed = th.coop_advertising(a, b, c, k_r, k_m, "cooperative")
    assert best <= closed["channel_profit"] * (1 + 1e-9)
    assert closed["channel_profit"] == pytest.approx(best, rel=1e-7)
    assert closed["retail_price"] == pytest.approx(p, rel=1e-4)
    assert closed["advertising_retailer"] == pytest.approx(root_r**2, rel=1e-4)
    assert closed["advertising_manufacturer"] == pytest.approx(root_m**2, rel=1e-4)
    q = a - b * p
    g = k_r * abs(root_r) + k_m * abs(root_m)
    assert closed["demand"] == pytest.approx(q * g, rel=1e-4)
    assert closed["consumer_surplus"] == pytest.approx(g * q * q / (2 * b), rel=1e-4)


@settings(max_examples=10, deadline=None)
@given(ad_markets, st.sampled_from(["coop", "no_coop"]))
def test_stackelberg_advertising_is_a_numerical_subgame_perfect_equilibrium(market, arm):
    a, b, c, k_r, k_m = market
    res = th.coop_advertising(a, b, c, k_r, k_m, arm)
    w, t = res["wholesale_price"], res["coop_share"]
    root_m = math.sqrt(res["advertising_manufacturer"])

    # 1) the retailer's (p, m_r) is a numerical best response to (w, m_m, t)
    def retailer(x):
        p, root_r = x
        return (p - w) * _ad_demand(a, b, p, k_r, k_m, root_r, root_m) - (1 - t) * root_r**2

    (p_br, root_r_br), best = _nelder_mead_max(retailer, [(w + a / b) / 2 * 1.05, 1.0])
    assert best <= res["retailer_profit"] * (1 + 1e-9)
    assert res["retailer_profit"] == pytest.approx(best, rel=1e-7)
    assert res["retail_price"] == pytest.approx(p_br, rel=1e-5)
    assert res["advertising_retailer"] == pytest.approx(root_r_br**2, rel=1e-4)

    # 2) the manufacturer's (w, m_m, t) maximizes its profit given that response
    def manufacturer(x):
        w_, root_m_ = x[0], x[1]
        t_ = x[2]
        p_ = (a + b * w_) / (2 * b)
        root_r_ = k_r * (p_ - w_) * (a - b * p_) / (2 * (1 - t_))
        d = _ad_demand(a, b, p_, k_r, k_m, root_r_, root_m_)
        return (w_ - c) * d - t_ * root_r_**2 - root_m_**2

    bounds = [(c, a / b), (0, None), (0, 0.99 if arm == "coop" else 0)]
    # an independent start, and (for flat, tiny-profit cases where the simplex can stall)
    # a start at the closed form: neither may find a better point than the closed form
    candidates = [
        _nelder_mead_max(manufacturer, start, bounds=bounds)
        for start in (
            [c + 0.4 * (a / b - c), 1.0, 0.3 if arm == "coop" else 0],
            [w, root_m, t],
        )
    ]
    (w_lead, _, t_lead), best = max(candidates, key=lambda found: found[1])
    assert best <= res["manufacturer_profit"] * (1 + 1e-9)
    assert res["manufacturer_profit"] == pytest.approx(best, rel=1e-7)
    assert res["wholesale_price"] == pytest.approx(w_lead, rel=1e-4)
    if arm == "coop":
        assert res["coop_share"] == pytest.approx(t_lead, abs=1e-4)


@given(ad_markets)
def test_coop_raises_manufacturer_profit_and_wholesale_price_but_only_joint_choice_helps_consumers(
    market,
):
    a, b, c, k_r, k_m = market
    coop = th.coop_advertising(a, b, c, k_r, k_m, "coop")
    no_coop = th.coop_advertising(a, b, c, k_r, k_m, "no_coop")
    joint = th.coop_advertising(a, b, c, k_r, k_m, "cooperative")
    assert coop["manufacturer_profit"] > no_coop["manufacturer_profit"]
    assert coop["wholesale_price"] > no_coop["wholesale_price"]
    assert 0 < coop["coop_share"] < 1
    assert joint["consumer_surplus"] > max(coop["consumer_surplus"], no_coop["consumer_surplus"])
    assert joint["channel_profit"] > max(coop["channel_profit"], no_coop["channel_profit"])


@pytest.mark.parametrize(
    ("k_r", "k_m", "arm", "share_of_a"),
    [
        (1.0, 0.0, "coop", 2 / 3),  # 18 y^2 - 36 y + 16 = 0
        (1.0, 0.0, "no_coop", 3 / 4),  # y (3 - 4 y) = 0
        (0.0, 1.0, "coop", 1 / 2),  # national advertising only: plain monopoly w
        (0.0, 1.0, "no_coop", 1 / 2),
    ],
)
def test_advertising_with_one_channel_switched_off_gives_hand_derived_wholesale_price(
    k_r, k_m, arm, share_of_a
):
    a, b, c = 10, 1, 2
    res = th.coop_advertising(a, b, c, k_r, k_m, arm)
    assert res["wholesale_price"] == pytest.approx((a - share_of_a * (a - b * c)) / b, rel=1e-9)
    if k_r == 0:
        assert res["advertising_retailer"] == 0
        assert res["coop_share"] == 0


# ---------------------------------------------------------------------------
# Card 6: competing retailers
# ---------------------------------------------------------------------------

CARD6 = [
    (1, "20", "40", "200", "400", "100"),
    (2, "26.6667", "36.6667", "88.8889", "533.333", "177.778"),
    (5, "33.3333", "33.3333", "22.2222", "666.667", "277.778"),
]


@pytest.mark.parametrize(("n", "q", "p", "each", "manufacturer", "cs"), CARD6)
def test_cournot_retailers_reproduce_card_6_table(n, q, p, each, manufacturer, cs):
    res = th.cournot_retailers(100, 2, 10, n)
    assert_card(res["wholesale_price"], "30")
    assert_card(res["total_quantity"], q)
    assert_card(res["retail_price"], p)
    assert_card(res["retailer_profit"], each)
    assert_card(res["manufacturer_profit"], manufacturer)
    assert_card(res["consumer_surplus"], cs)


@given(linear_markets, st.integers(1, 10))
def test_cournot_wholesale_price_ignores_n_and_cs_ratio_is_n_over_n_plus_1_squared(market, n):
    a, b, c = market
    res = th.cournot_retailers(a, b, c, n)
    big_a = a - b * c
    assert res["wholesale_price"] == pytest.approx((a + b * c) / (2 * b), rel=1e-12)
    integrated_cs = (big_a / 2) ** 2 / (2 * b)
    assert res["consumer_surplus"] / integrated_cs == pytest.approx((n / (n + 1)) ** 2, rel=1e-9)
    assert res["retailer_profit"] == pytest.approx(big_a**2 / (4 * b * (n + 1) ** 2), rel=1e-9)
    if n == 1:
        dm = th.double_marginalization_linear(a, b, c, 2)
        assert res["retail_price"] == pytest.approx(dm["retail_price"], rel=1e-12)
        assert res["manufacturer_profit"] == pytest.approx(dm["profits"][1], rel=1e-9)


@settings(max_examples=20, deadline=None)
@given(linear_markets, st.integers(1, 6))
def test_cournot_quantities_are_numerical_best_responses_and_w_maximizes_manufacturer_profit(
    market, n
):
    a, b, c = market
    res = th.cournot_retailers(a, b, c, n)
    w, q_each = res["wholesale_price"], res["total_quantity"] / n
    others = (n - 1) * q_each
    best = _argmax_scalar(lambda q: ((a - q - others) / b - w) * q, 0, a)
    assert best == pytest.approx(q_each, rel=1e-6, abs=1e-8 * a)

    def manufacturer(w_: float) -> float:
        return (w_ - c) * n * max(a - b * w_, 0.0) / (n + 1)  # symmetric Cournot total

    assert _argmax_scalar(manufacturer, c, a / b) == pytest.approx(w, rel=1e-6)


@given(linear_markets, st.integers(2, 10))
def test_bertrand_retailers_price_at_w_and_coordinate_the_channel(market, n):
    a, b, c = market
    res = th.bertrand_retailers(a, b, c, n)
    integrated = th.double_marginalization_linear(a, b, c, 1)
    assert res["retail_price"] == pytest.approx(res["wholesale_price"], rel=1e-12)
    assert res["manufacturer_profit"] == pytest.approx(integrated["channel_profit"], rel=1e-9)
    assert res["consumer_surplus"] == pytest.approx(integrated["consumer_surplus"], rel=1e-9)


# ---------------------------------------------------------------------------
# Card 7: bargaining
# ---------------------------------------------------------------------------

CARD7 = [
    ("take_it_or_leave_it", ["60", "80", "20", "800", "400", "200"]),
    ("nash", ["40", "70", "30", "600", "900", "450"]),
    ("kalai_smorodinsky", ["36", "68", "32", "512", "1024", "512"]),
]
CARD7_KEYS = [
    "wholesale_price",
    "retail_price",
    "quantity",
    "manufacturer_profit",
    "retailer_profit",
    "consumer_surplus",
]


@pytest.mark.parametrize(("protocol", "row"), CARD7)
def test_wholesale_bargaining_reproduces_card_7_table(protocol, row):
    res = th.bargaining_wholesale(100, 1, 20, protocol)
    for key, printed in zip(CARD7_KEYS, row, strict=True):
        assert_card(res[key], printed)


def test_two_part_tariff_nash_split_reproduces_card_7_table():
    res = th.bargaining_two_part_tariff(100, 1, 20)
    for key, printed in zip(CARD7_KEYS, ["20", "60", "40", "800", "800", "800"], strict=True):
        assert_card(res[key], printed)


def test_bargaining_rejects_unknown_protocol():
    with pytest.raises(ValueError):
        th.bargaining_wholesale(100, 1, 20, "auction")


def _bargaining_payoffs(a, b, c, w):
    q = (a - b * w) / 2
    return (w - c) * q, q * q / b


@settings(max_examples=40, deadline=None)
@given(linear_markets, st.floats(0.05, 0.95))
def test_asymmetric_nash_wholesale_price_is_c_plus_alpha_A_over_2b(market, alpha):
    a, b, c = market
    big_a = a - b * c

    def log_nash_product(w: float) -> float:
        pm, pr = _bargaining_payoffs(a, b, c, w)
        return alpha * math.log(pm) + (1 - alpha) * math.log(pr)

    lo, hi = c + 1e-9 * big_a / b, a / b - 1e-9 * big_a / b
    brute = _argmax_scalar(log_nash_product, lo, hi)
    res = th.bargaining_wholesale(a, b, c, "nash", power=alpha)
    assert res["wholesale_price"] == pytest.approx(c + alpha * big_a / (2 * b), rel=1e-12)
    assert res["wholesale_price"] == pytest.approx(brute, rel=1e-6)


@settings(max_examples=40, deadline=None)
@given(linear_markets)
def test_kalai_smorodinsky_is_the_frontier_point_with_equal_utopia_shares(market):
    a, b, c = market
    big_a = a - b * c
    w_monopoly = _argmax_scalar(lambda w: _bargaining_payoffs(a, b, c, w)[0], c, a / b)
    utopia_m = _bargaining_payoffs(a, b, c, w_monopoly)[0]
    utopia_r = max(_bargaining_payoffs(a, b, c, w)[1] for w in np.linspace(c, a / b, 101))

    def gap(w: float) -> float:
        pm, pr = _bargaining_payoffs(a, b, c, w)
        return pm / utopia_m - pr / utopia_r

    brute = optimize.brentq(gap, c, w_monopoly, xtol=1e-13)
    res = th.bargaining_wholesale(a, b, c, "kalai_smorodinsky")
    assert res["wholesale_price"] == pytest.approx(c + big_a / (5 * b), rel=1e-12)
    assert res["wholesale_price"] == pytest.approx(brute, rel=1e-6)
    assert c <= res["wholesale_price"] <= (a + b * c) / (2 * b)


@given(linear_markets, st.floats(0.0, 1.0))
def test_two_part_tariff_bargaining_moves_profit_but_not_consumer_value(market, power):
    a, b, c = market
    res = th.bargaining_two_part_tariff(a, b, c, power)
    integrated = th.double_marginalization_linear(a, b, c, 1)
    total = integrated["channel_profit"]
    assert res["manufacturer_profit"] == pytest.approx(power * total, rel=1e-9, abs=1e-9)
    assert res["retailer_profit"] == pytest.approx((1 - power) * total, rel=1e-9, abs=1e-9)
    assert res["consumer_surplus"] == pytest.approx(integrated["consumer_surplus"], rel=1e-12)
    nash = [th.bargaining_wholesale(a, b, c, "nash", s)["consumer_surplus"] for s in (0.2, 0.8)]
    assert nash[0] > nash[1]


def test_take_it_or_leave_it_is_the_two_tier_double_marginalization_outcome():
    tioli = th.bargaining_wholesale(37, 0.7, 3.5, "take_it_or_leave_it")
    dm = th.double_marginalization_linear(37, 0.7, 3.5, 2)
    assert tioli["wholesale_price"] == pytest.approx(dm["prices"][1])
    assert tioli["retail_price"] == pytest.approx(dm["prices"][0])
    assert tioli["manufacturer_profit"] == pytest.approx(dm["profits"][1])


def test_rubinstein_share_matches_card_7_formula():
    assert th.rubinstein_share(0.9, 0.8) == pytest.approx((1 - 0.8) / (1 - 0.72), rel=1e-12)
    assert th.rubinstein_share(0.9, 0.9) == pytest.approx(1 / 1.9, rel=1e-12)


@given(st.floats(0.0, 0.999), st.floats(0.0, 0.999))
def test_rubinstein_share_makes_the_retailer_indifferent_to_rejecting(d_m, d_r):
    x = th.rubinstein_share(d_m, d_r)  # manufacturer's share when it proposes
    y = th.rubinstein_share(d_r, d_m)  # retailer's share when it proposes
    assert 1 - x == pytest.approx(d_r * y, rel=1e-9, abs=1e-12)
    assert 1 - y == pytest.approx(d_m * x, rel=1e-9, abs=1e-12)
    assert 0 <= x <= 1


# ---------------------------------------------------------------------------
# Domain checks
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda: th.double_marginalization_linear(10, 2, 10, 2),  # a - b c < 0
        lambda: th.double_marginalization_linear(100, 2, 10, 0),
        lambda: th.double_marginalization_isoelastic(1e4, 1.0, 1, 2),
        lambda: th.newsvendor_integrated(100, 30, 10, 11, 1),
        lambda: th.newsvendor_wholesale(100, 30, 10, 0.5, 4, 1),
        lambda: th.newsvendor_revenue_sharing(100, 30, 10, 4, 1, 0),
        lambda: th.bullwhip_siloed([2, 2], 0),
        lambda: th.cournot_retailers(100, 2, 10, 0),
        lambda: th.bertrand_retailers(100, 2, 10, 1),
    ],
)
def test_functions_reject_parameters_outside_the_model_domain(call):
    with pytest.raises(ValueError):
        call()
