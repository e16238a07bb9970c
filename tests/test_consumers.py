"""Consumer populations: segments, retail choice, stockouts and goodwill, pantries and
price promotions, trade deals and forward buying, consumer value metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import channel_agents as ca
from channel_agents.cli import main
from channel_agents.config import ConfigError, load_config
from channel_agents.model import ChannelModel

SCENARIO = "configs/promotion_forward_buying.yaml"


def segment(name="all", size=100.0, low=0.0, high=50.0, **keys):
    return {
        "name": name,
        "size": size,
        "wtp": {"dist": "uniform", "low": low, "high": high},
        **keys,
    }


def market(
    segments, *, retailers=("retailer",), prices=(20.0,), stock=(1e9,), mode="expected",
    consumers=1000, periods=5, ordering=None, **demand,
):  # fmt: skip
    """Retailers buying from a source at 5, each at a fixed price, one population market."""
    members = {"source": {"role": "source", "unit_cost": 5}}
    for name, price, units in zip(retailers, prices, stock, strict=True):
        members[name] = {
            "role": "retailer",
            "stock": units,
            "pricing": {"policy": "fixed", "price": price},
        }
    return {
        "name": "population",
        "periods": periods,
        "defaults": {"ordering": ordering or {"policy": "fixed", "quantity": 0}},
        "members": members,
        "edges": [{"from": "source", "to": r} for r in retailers],
        "markets": [
            {
                "name": "town",
                "retailers": list(retailers),
                "mode": mode,
                "consumers": consumers,
                "demand": {"kind": "population", "segments": segments, **demand},
            }
        ],  # fmt: skip
    }


def sold_by(result, member):
    s = result.series
    return s[s.member == member]["shipped"].to_numpy()


# --------------------------------------------------------------------------- closed forms


@settings(max_examples=30, deadline=None)
@given(a=st.floats(1, 500), b=st.floats(0.1, 10), frac=st.floats(0, 1.2))
def test_expected_uniform_segment_buys_a_minus_bp_with_triangle_surplus(a, b, frac):
    p = frac * a / b
    cfg = market([segment(size=a, high=a / b)], prices=(p,))
    s = ca.run(cfg).summary
    q = max(a - b * p, 0.0)
    assert s["units_sold"] == pytest.approx(q, rel=1e-12, abs=1e-9)
    assert s["consumer_surplus"] == pytest.approx(q * q / (2 * b), rel=1e-12, abs=1e-9)
    assert s["consumer_surplus_by_segment"]["town.all"] == pytest.approx(s["consumer_surplus"])
    assert s["consumer_surplus_per_consumer"] == pytest.approx(q * q / (2 * b) / a, abs=1e-9)
    if q > 1e-9:
        assert s["share_served"] == pytest.approx(1.0)
        assert s["stockout_exposure"] == 0.0


def test_expected_normal_and_lognormal_segments_buy_their_survival_share():
    # P(WTP >= p) from the distribution: 1 - Phi((p - mean)/sd); log-normal the same on logs
    normal = {"name": "n", "size": 80, "wtp": {"dist": "normal", "mean": 25, "sd": 8}}
    lognormal = {"name": "l", "size": 50, "wtp": {"dist": "lognormal", "mu": 3.0, "sigma": 0.5}}
    s = ca.run(market([normal, lognormal], prices=(20.0,))).summary
    phi = 0.5 * (1 + math.erf(-(20 - 25) / 8 / math.sqrt(2)))
    log_share = 0.5 * (1 + math.erf(-(math.log(20) - 3.0) / 0.5 / math.sqrt(2)))
    assert s["units_sold"] == pytest.approx(80 * phi + 50 * log_share, rel=1e-10)


def test_empirical_wtp_is_its_list_of_values():
    wtp = {"dist": "empirical", "values": [5, 15, 25, 35]}
    cfg = market([{"name": "e", "size": 40, "wtp": wtp}], prices=(20.0,))
    s = ca.run(cfg).summary
    assert s["units_sold"] == pytest.approx(20.0)  # half the values are at or above 20
    assert s["consumer_surplus"] == pytest.approx(10 * (5 + 15))


@pytest.mark.parametrize("consumers", [400, 4000, 40000])
def test_sampled_population_converges_to_expected_within_sampling_error(consumers):
    a, b, p, periods = 100.0, 2.0, 20.0, 200
    seg = [segment(size=a, high=a / b)]
    cfg = market(seg, prices=(p,), mode="sampled", consumers=consumers, periods=periods)
    s = ca.run(cfg, seed=5).summary
    share = 1 - p * b / a
    se_q = a * math.sqrt(share * (1 - share) / (consumers * periods))
    assert abs(s["units_sold"] - (a - b * p)) < 4.5 * se_q
    expected_cs = (a - b * p) ** 2 / (2 * b)
    se_cs = expected_cs * 3 * math.sqrt(1 / (share * consumers * periods))
    assert abs(s["consumer_surplus"] - expected_cs) < 4.5 * se_cs


def logit_shares(v, beta, prices, bonus):
    w = [math.exp(beta * (v - p) + k) for p, k in zip(prices, bonus, strict=True)]
    return [x / (1 + sum(w)) for x in w]


@settings(max_examples=15, deadline=None)
@given(
    v=st.floats(5, 40), beta=st.floats(0.05, 2),
    prices=st.lists(st.floats(5, 40), min_size=3, max_size=3),
    bonus=st.lists(st.floats(-2, 2), min_size=3, max_size=3),
)  # fmt: skip
def test_logit_expected_shares_match_the_closed_form_for_a_fixed_wtp(v, beta, prices, bonus):
    names = ("a", "b", "c")
    seg = {
        "name": "all", "size": 100, "wtp": {"dist": "empirical", "values": [v]},
        "price_sensitivity": beta, "preference": dict(zip(names, bonus, strict=True)),
    }  # fmt: skip
    cfg = market([seg], retailers=names, prices=tuple(prices), stock=(1e9,) * 3, choice="logit")
    r = ca.run(cfg, periods=2)
    for name, share in zip(names, logit_shares(v, beta, prices, bonus), strict=True):
        assert sold_by(r, name) == pytest.approx([100 * share] * 2, rel=1e-9, abs=1e-12)
    shares = logit_shares(v, beta, prices, bonus)
    logsum = math.log(
        1 + sum(math.exp(beta * (v - p) + k) for p, k in zip(prices, bonus, strict=True))
    )
    assert r.summary["consumer_surplus"] == pytest.approx(100 * logsum / beta, rel=1e-9)
    assert r.summary["units_sold"] == pytest.approx(100 * sum(shares), rel=1e-9)


def test_sampled_logit_shares_converge_to_the_closed_form():
    v, beta, prices = 20.0, 0.5, (18.0, 20.0, 23.0)
    seg = {"name": "all", "size": 100, "wtp": {"dist": "empirical", "values": [v]},
           "price_sensitivity": beta}  # fmt: skip
    cfg = market([seg], retailers=("a", "b", "c"), prices=prices, stock=(1e9,) * 3,
                 choice="logit", mode="sampled", consumers=20000, periods=50)  # fmt: skip
    r = ca.run(cfg, seed=2)
    n = 20000 * 50
    for name, share in zip("abc", logit_shares(v, beta, prices, (0, 0, 0)), strict=True):
        se = 100 * math.sqrt(share * (1 - share) / n)
        assert abs(sold_by(r, name).mean() - 100 * share) < 4.5 * se


def test_loyal_logit_consumers_return_to_the_retailer_they_bought_from():
    seg = {"name": "all", "size": 100, "wtp": {"dist": "empirical", "values": [20]},
           "loyalty": 2.0, "preference": {"a": 1.0}}  # fmt: skip
    cfg = market([seg], retailers=("a", "b"), prices=(20.0, 20.0), stock=(1e9, 1e9),
                 choice="logit", periods=2)  # fmt: skip
    r = ca.run(cfg)
    # period 1: nobody has bought yet; shares e^1 : e^0 : 1 (outside)
    first = [math.e / (math.e + 2), 1 / (math.e + 2)]
    assert sold_by(r, "a")[0] == pytest.approx(100 * first[0])
    # period 2: each group gets its loyalty bonus at its own retailer
    loyal_a = math.e**3 / (math.e**3 + 2)
    loyal_b = math.e / (math.e + math.e**2 + 1)
    none = 1 - sum(first)
    a2 = 100 * (first[0] * loyal_a + first[1] * loyal_b + none * first[0])
    assert sold_by(r, "a")[1] == pytest.approx(a2)


# --------------------------------------------------------------------------- stockouts


@pytest.mark.parametrize("mode", ["expected", "sampled"])
def test_a_stockout_sends_switching_consumers_to_the_other_retailer_and_loses_the_rest(mode):
    # WTP uniform on [0, 20], 100 consumers; a charges 10 and holds 30 units, b charges 12.
    # 50 consumers (WTP >= 10) go to a, which serves 30 of them; of the 20 left, those
    # with WTP >= 12 (0.8 of them) buy at b if they switch, and nobody does if lost.
    seg = [segment(high=20.0)]
    kw = {"retailers": ("a", "b"), "prices": (10.0, 12.0), "stock": (30.0, 1e9), "periods": 1,
          "mode": mode, "consumers": 200_000}  # fmt: skip
    switch = ca.run(market(seg, on_stockout="switch", **kw), seed=1)
    lost = ca.run(market(seg, on_stockout="lost", **kw), seed=1)
    tol = 0 if mode == "expected" else 0.5
    assert sold_by(switch, "a")[0] == pytest.approx(30.0)
    assert sold_by(lost, "a")[0] == pytest.approx(30.0)
    assert sold_by(switch, "b")[0] == pytest.approx(16.0, abs=tol)
    assert sold_by(lost, "b")[0] == 0.0
    assert switch.summary["stockout_exposure"] == pytest.approx(1.0)
    assert switch.summary["share_served"] == pytest.approx(46 / 50, abs=tol / 50)
    assert lost.summary["share_served"] == pytest.approx(30 / 50, abs=tol / 50)


def test_goodwill_drops_after_a_stockout_and_recovers_when_stock_is_back():
    # a starts with 10 units for 50 buyers and its order arrives in period 3
    cfg = market([segment(high=20.0)], retailers=("a",), prices=(10.0,), stock=(10.0,),
                 periods=12, ordering={"policy": "fixed", "quantity": 1000},
                 goodwill_loss=0.5, goodwill_recovery=0.1)  # fmt: skip
    model = ChannelModel(cfg)
    goodwill = []
    for _ in range(12):
        model.step()
        goodwill.append(float(model.markets.population.goodwill[0]))
    expected = [0.5, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95, 1.0, 1.0, 1.0]
    assert goodwill == pytest.approx(expected)
    # consumers consider a with probability goodwill: demand follows it
    shop = ca.run(cfg).market_series["demand"].to_numpy()
    assert shop[2] == pytest.approx(50 * 0.25)  # period 3 sees the goodwill of period 2
    assert shop[10] == pytest.approx(50.0)


def test_goodwill_makes_logit_consumers_avoid_a_retailer_that_ran_out():
    seg = [{"name": "all", "size": 100, "wtp": {"dist": "empirical", "values": [20]}}]
    cfg = market(seg, retailers=("a", "b"), prices=(15.0, 15.0), stock=(5.0, 1e9),
                 choice="logit", periods=2, goodwill_loss=0.5)  # fmt: skip
    r = ca.run(cfg)
    a = sold_by(r, "a")
    assert a[0] == pytest.approx(5.0)
    assert a[1] == 0.0  # a has nothing left, and fewer try: b's share rises
    b = sold_by(r, "b")
    w_a = 0.5 * math.exp(5.0)  # log(goodwill) in the utility
    share_b = math.exp(5.0) / (1 + w_a + math.exp(5.0))
    share_a = w_a / (1 + w_a + math.exp(5.0))
    assert b[1] == pytest.approx(100 * share_b + 100 * share_a * math.exp(5) / (1 + math.exp(5)))


# --------------------------------------------------------------------------- promotions


def pantry_market(promotion=True, mode="expected", periods=14):
    cfg = market([segment(high=50.0, pantry=3)], prices=(20.0,), mode=mode, periods=periods,
                 consumers=50_000)  # fmt: skip
    if promotion:
        cfg["members"]["retailer"]["promotion"] = {
            "policy": "price_discount", "depth": 0.4, "every": 10, "duration": 2, "spend": 7.0,
        }  # fmt: skip
    return cfg


def test_a_deep_discount_pulls_purchases_forward_and_a_dip_follows():
    # regular price 20: 60 of 100 buy (WTP uniform on 0..50). Periods 9-10 cost 12:
    # 76 % buy, and they buy for now and for a pantry of 3. Hand-computed below.
    sold = ca.run(pantry_market()).market_series["sold"].to_numpy()
    assert sold[:8] == pytest.approx([60.0] * 8)
    assert sold[8] == pytest.approx(76 * 4)  # 1 for now + 3 for the pantry
    # level-3 consumers top up 1 unit; the 24 % who did not buy now buy 4
    assert sold[9] == pytest.approx(100 * (0.76 * 0.76 * 1 + 0.24 * 0.76 * 4))
    # then pantries empty one unit a period: only the 0.24 x 0.24 still empty buy (at
    # the regular price, 60 %), then those who ran out, then everyone again
    assert sold[10:14] == pytest.approx([5.76 * 0.6, 5.76 * 0.6, 24 * 0.6, 60.0])


def test_a_price_promotion_lowers_the_price_linear_demand_responds_to():
    cfg = market([segment()], prices=(20.0,), periods=4)
    cfg["markets"][0]["demand"] = {"kind": "linear", "a": 100, "b": 2}
    cfg["members"]["retailer"]["promotion"] = {
        "policy": "price_discount", "depth": 0.25, "every": 2, "duration": 1,
    }  # fmt: skip
    sold = ca.run(cfg).market_series["sold"].to_numpy()
    assert sold == pytest.approx([60.0, 100 - 2 * 15.0] * 2)  # periods 2 and 4 cost 15


def test_promotion_spend_and_discount_show_in_profit_and_money_is_conserved():
    on = ca.run(pantry_market(periods=20), check=True)
    off = ca.run(pantry_market(promotion=False, periods=20), check=True)
    r_on = on.series[on.series.member == "retailer"]
    # two promotion periods in 20 periods, 7 each: paid out of the channel
    assert r_on["other_costs"].sum() == pytest.approx(2 * 2 * 7.0)
    # consumers paid the promotion price on every unit sold during it
    spend = on.market_series["spend"].to_numpy()
    sold = on.market_series["sold"].to_numpy()
    assert spend[8] == pytest.approx(12.0 * sold[8])
    assert on.summary["retail_price"] < off.summary["retail_price"] == 20.0


def test_promotions_raise_upstream_order_variance_in_the_scenario():
    on = ca.run(SCENARIO, overrides=["periods=130"], check=True)
    off = ca.run(SCENARIO, overrides=["periods=130", "members.retailer.promotion=null"])
    for member in ("retailer", "manufacturer"):
        var_on = on.series[on.series.member == member]["orders"].var()
        var_off = off.series[off.series.member == member]["orders"].var()
        assert var_on > 5 * var_off
        assert on.summary["bullwhip"][member] > off.summary["bullwhip"][member]
    seg_on = on.summary["consumer_surplus_by_segment"]
    seg_off = off.summary["consumer_surplus_by_segment"]
    assert seg_on["town.stockpilers"] > seg_off["town.stockpilers"]  # deal seekers gain
    assert on.summary["stockout_exposure"] > off.summary["stockout_exposure"]


def trade_deal(pass_through=0.0, forward_buy=True, periods=40):
    ordering = (
        "{policy: order_up_to, forecast_window: 4, safety_factor: 2, safety_stock: 20, "
        f"forward_buy: {str(forward_buy).lower()}}}"
    )
    return [
        "members.retailer.promotion=null",
        f"members.manufacturer.trade_promotion={{depth: 0.25, every: 13, duration: 2, "
        f"pass_through: {pass_through}}}",
        f"members.retailer.ordering={ordering}",
        f"periods={periods}",
        "warmup=0",
    ]


def test_a_trade_deal_cuts_the_wholesale_price_while_it_runs():
    r = ca.run(SCENARIO, overrides=trade_deal(forward_buy=False), check=True)
    model_prices = r.series[r.series.member == "manufacturer"]
    value = model_prices["sales_value"].to_numpy()
    units = model_prices["shipped"].to_numpy()
    price = value / np.where(units > 0, units, np.nan)
    deal = [t for t in range(1, 41) if (t - 1) % 13 >= 11]  # periods 12, 13, 25, 26, 38, 39
    for t in range(1, 41):
        if units[t - 1] > 0:
            assert price[t - 1] == pytest.approx(12 * 0.75 if t in deal else 12.0)


def test_a_forward_buying_retailer_orders_ahead_during_the_deal_and_not_after():
    r = ca.run(SCENARIO, overrides=trade_deal(), check=True)
    orders = r.series[r.series.member == "retailer"]["orders"].to_numpy()
    plain = ca.run(SCENARIO, overrides=trade_deal(forward_buy=False))
    normal = plain.series[plain.series.member == "retailer"]["orders"].to_numpy()
    # first deal period (12): cover the 11 regular periods that come after the deal
    assert orders[11] > normal[11] + 11 * 45
    assert orders[13:22].sum() < 0.2 * normal[13:22].sum()
    assert r.summary["profit"]["manufacturer"] < plain.summary["profit"]["manufacturer"]


def test_the_retailer_passes_on_its_share_of_the_trade_deal():
    r = ca.run(SCENARIO, overrides=trade_deal(pass_through=0.5, forward_buy=False))
    spend = r.market_series["spend"].to_numpy()
    sold = r.market_series["sold"].to_numpy()
    paid = spend / sold
    assert paid[11] == pytest.approx(20 - 0.5 * 12 * 0.25)  # half the 3 off
    assert paid[10] == pytest.approx(20.0)


@settings(max_examples=6, deadline=None)
@given(
    seed=st.integers(0, 1000), mode=st.sampled_from(["expected", "sampled"]),
    choice=st.sampled_from(["cheapest", "logit"]), switch=st.booleans(),
)  # fmt: skip
def test_money_and_goods_are_conserved_with_populations_and_promotions(seed, mode, choice, switch):
    overrides = [
        "periods=40", "warmup=0", f"markets.town.mode={mode}", "markets.town.consumers=500",
        f"markets.town.demand.choice={choice}",
        f"markets.town.demand.on_stockout={'switch' if switch else 'lost'}",
        "members.manufacturer.trade_promotion={depth: 0.2, every: 7, duration: 2, pass_through: 0.5}",
        "members.retailer.ordering={policy: order_up_to, forecast_window: 3, forward_buy: true}",
    ]  # fmt: skip
    r = ca.run(SCENARIO, overrides=overrides, seed=seed, check=True)  # invariants every period
    assert r.summary["units_sold"] > 0


def test_two_segments_and_two_markets_report_surplus_per_segment():
    cfg = market([segment("rich", 30, 20, 60), segment("poor", 70, 0, 30)], prices=(25.0,))
    s = ca.run(cfg).summary
    rich = 30 * (60 - 25) ** 2 / (2 * 40)  # uniform on [20, 60]: mass above 25, half the gap
    poor = 70 * (30 - 25) ** 2 / (2 * 30)
    assert s["consumer_surplus_by_segment"] == pytest.approx({"town.rich": rich, "town.poor": poor})
    assert s["consumer_surplus_per_consumer"] == pytest.approx((rich + poor) / 100)


def test_other_scenarios_report_null_consumer_value_keys():
    s = ca.run("configs/beer_game.yaml").summary
    for key in ("consumer_surplus_by_segment", "consumer_surplus_per_consumer", "share_served",
                "stockout_exposure"):  # fmt: skip
        assert s[key] is None


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("override", "path"),
    [
        ("members.retailer.promotion.spend=-1", "members.retailer.promotion.spend"),
        ("markets.town.demand.segments.0.size=-5", "markets[0].demand.segments[0].size"),
        ("markets.town.demand.segments.0.size=0", "markets[0].demand.segments[0].size"),
        ("members.retailer.promotion.depth=1.5", "members.retailer.promotion.depth"),
        ("markets.town.demand.goodwill_loss=2", "markets[0].demand.goodwill_loss"),
        ("markets.town.demand.goodwill_recovery=-0.1", "markets[0].demand.goodwill_recovery"),
        (
            "members.manufacturer.trade_promotion={depth: 0.2, every: 4, duration: 1, "
            "pass_through: 1.2}",
            "members.manufacturer.trade_promotion.pass_through",
        ),
        ("markets.town.retailers=[]", "markets[0].retailers"),
        ("markets.town.retailers=[nobody]", "markets[0].retailers"),
        ("markets.town.demand.segments.0.wtp={dist: weibull, k: 2}",
         "markets[0].demand.segments[0].wtp"),
        ("markets.town.demand.segments.0.preference={nobody: 1}",
         "markets[0].demand.segments[0].preference.nobody"),
        ("members.retailer.promotion.duration=20", "members.retailer.promotion"),
        ("members.manufacturer.promotion={policy: price_discount, depth: 0.1, every: 4, "
         "duration: 1}", "members.manufacturer.promotion"),
        ("markets.town.demand.segments.0.pantry=-1", "markets[0].demand.segments[0].pantry"),
    ],
)  # fmt: skip
def test_bad_population_and_promotion_input_names_the_key(override, path, capsys):
    with pytest.raises(ConfigError) as err:
        load_config(SCENARIO, [override])
    assert err.value.path == path
    code = main(["run", SCENARIO, "--set", override])
    assert code == 2
    out = capsys.readouterr()
    assert path in out.err and SCENARIO in out.err and "Traceback" not in out.err
    assert out.out == ""
