"""Products, brands and quality (issue 11): flows per product, consumer choice among
brands, competing channels and quality sourcing.

Expected numbers come from hand derivations or small references written here:
linear first-order conditions solved with numpy for McGuire & Staelin (1983) and
Choi (1991), the logit multi-product monopoly's equal markup 1 / (beta s_0), and
the quality-as-a-cost-cut argument for sourcing.
"""

from __future__ import annotations

import copy
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channel_agents.api import run
from channel_agents.config import ConfigError, load_config
from channel_agents.model import ChannelModel

BRANDS = "configs/competing_brands.yaml"


def _two_brands(shops: int, a: float, b: float, theta: float, c: float, strategy: str) -> dict:
    """Two brands through one common shop (shops=1) or one shop each (shops=2)."""
    members = {
        "source": {"role": "source", "unit_cost": c},
        "maker_a": {"role": "manufacturer", "stock": 1e5},
        "maker_b": {"role": "manufacturer", "stock": 1e5},
    }
    if shops == 1:
        members["shop"] = {"role": "retailer", "stock": 1e5}
        edges = [{"from": "maker_a", "to": "shop"}, {"from": "maker_b", "to": "shop"}]
        retailers = ["shop"]
    else:
        members["shop_a"] = {"role": "retailer", "stock": 1e5, "carries": ["A"]}
        members["shop_b"] = {"role": "retailer", "stock": 1e5, "carries": ["B"]}
        edges = [{"from": "maker_a", "to": "shop_a"}, {"from": "maker_b", "to": "shop_b"}]
        retailers = ["shop_a", "shop_b"]
    return {
        "periods": 6,
        "warmup": 2,
        "strategy": strategy,
        "products": [{"name": "A", "brand": "maker_a"}, {"name": "B", "brand": "maker_b"}],
        "defaults": {"ordering": {"policy": "pass_through"}, "unmet_demand": "lost"},
        "members": members,
        "edges": [{"from": "source", "to": "maker_a"}, {"from": "source", "to": "maker_b"}] + edges,
        "markets": [
            {
                "name": "town",
                "retailers": retailers,
                "products": ["A", "B"],
                "demand": {"kind": "linear_system", "a": a, "b": b, "substitution": theta},
            }
        ],
    }


def _reference_equilibrium(a, b, theta, c, common: bool, integrated: bool):
    """Two-brand linear demand q = A - B p (A and c may differ by brand), solved from the
    first-order conditions as linear systems (an independent reference, not the engine's
    solver).

    Retail stage: p = M w + m (each retailer's FOC is linear in prices). Wholesale stage:
    q(w) = A - B (M w + m) is linear in w; manufacturer i's FOC
    q_i + (w_i - c_i) dq_i/dw_i = 0 is linear in w."""
    big_b = np.array([[b, -theta], [-theta, b]])
    big_a = np.broadcast_to(np.asarray(a, dtype=float), (2,))
    cost = np.broadcast_to(np.asarray(c, dtype=float), (2,))
    own = np.ones((2, 2)) if common else np.eye(2)  # which prices one retailer sets together
    # FOC_k: q_k - sum_j own[j,k] B[j,k] (p_j - w_j) = 0  ->  (B + (own*B)^T) p = A + (own*B)^T w
    lhs = big_b + (own * big_b).T
    m_w = np.linalg.solve(lhs, (own * big_b).T)
    m_0 = np.linalg.solve(lhs, big_a)
    if integrated:
        w = cost.copy()
    else:
        h = -big_b @ m_w  # dq/dw
        g = big_a - big_b @ m_0
        # (g + H w)_i + (w_i - c_i) H_ii = 0
        lhs_w = h + np.diag(np.diag(h))
        w = np.linalg.solve(lhs_w, -g + cost * np.diag(h))
    p = m_w @ w + m_0
    q = big_a - big_b @ p
    surplus = 0.5 * q @ np.linalg.solve(big_b, q)
    return w, p, q, surplus


@settings(max_examples=8)
@given(
    a=st.floats(40, 200),
    b=st.floats(1.0, 4.0),
    ratio=st.floats(0.0, 0.9),
    c=st.floats(0.0, 10.0),
    common=st.booleans(),
    strategy=st.sampled_from(["siloed", "cooperative"]),
)
def test_competing_brands_match_linear_reference(a, b, ratio, c, common, strategy) -> None:
    theta = ratio * b
    w, p, q, surplus = _reference_equilibrium(a, b, theta, c, common, strategy == "cooperative")
    if q.min() <= 1e-6:
        return  # a corner (nobody buys): outside the interior the closed forms describe
    s = run(_two_brands(1 if common else 2, a, b, theta, c, strategy), keep_series=False).summary
    for i, product in enumerate(("A", "B")):
        got = s["by_product"][product]
        assert got["retail_price"] == pytest.approx(p[i], rel=1e-6)
        assert got["units_sold"] == pytest.approx(q[i], rel=1e-6)
    maker = s["price"]["maker_a"]
    assert maker == pytest.approx(w[0], rel=1e-6, abs=1e-9)
    assert s["consumer_surplus"] == pytest.approx(surplus, rel=1e-6)


def test_common_retailer_sets_equal_logit_markups_of_one_over_beta_s0() -> None:
    """A multi-product retailer facing logit consumers marks every product up by the same
    1 / (beta s_0), s_0 the share not buying (a property of the logit, by hand)."""
    cfg = load_config(BRANDS)
    over = [
        "edges.4.contract={type: wholesale, wholesale_price: 7}",
        "edges.5.contract={type: wholesale, wholesale_price: 9}",
        "products.1.quality=0.7",
        "members.shop.stock=100000",  # no stockout: units sold are the demand
        "periods=5",
        "warmup=1",
    ]
    s = run(cfg, overrides=over, keep_series=False).summary
    beta, size = 0.4, 100.0
    alpha, beta_p = s["by_product"]["alpha"], s["by_product"]["beta"]
    s0 = 1.0 - (alpha["units_sold"] + beta_p["units_sold"]) / size
    expected = 1.0 / (beta * s0)
    assert alpha["retail_price"] - 7 == pytest.approx(expected, rel=1e-7)
    assert beta_p["retail_price"] - 9 == pytest.approx(expected, rel=1e-7)


def test_logit_demand_and_surplus_follow_the_formulas() -> None:
    """Shares exp(beta (delta - p)) / (1 + sum) and surplus (N / beta) ln(1 + sum), with
    delta = value + quality_value x quality, recomputed here from the prices paid."""
    s = run(BRANDS, overrides=["products.0.quality=0.5", "periods=8"], keep_series=False).summary
    beta, size, value, qv = 0.4, 100.0, 12.0, 2.0
    quality = {k: v["quality"] for k, v in s["by_product"].items()}
    price = {k: v["retail_price"] for k, v in s["by_product"].items()}
    expo = {k: np.exp(beta * (value + qv * quality[k] - price[k])) for k in price}
    denom = 1.0 + sum(expo.values())
    for k in price:
        assert s["by_product"][k]["units_sold"] == pytest.approx(size * expo[k] / denom, 1e-9)
    assert s["consumer_surplus"] == pytest.approx(size / beta * np.log(denom), rel=1e-9)
    total = sum(v["consumer_surplus"] for v in s["by_product"].values())
    assert total == pytest.approx(s["consumer_surplus"], rel=1e-12)


@pytest.mark.parametrize("strategy", ["siloed", "cooperative"])
def test_symmetric_brands_give_symmetric_outcomes(strategy: str) -> None:
    s = run(BRANDS, overrides=[f"strategy={strategy}"], keep_series=False).summary
    a, b = s["by_product"]["alpha"], s["by_product"]["beta"]
    for key in ("units_sold", "retail_price", "consumer_surplus", "quality", "spend"):
        assert a[key] == pytest.approx(b[key], rel=1e-7), key
    assert a["share"] == pytest.approx(0.5, rel=1e-7)
    assert s["profit"]["maker_a"] == pytest.approx(s["profit"]["maker_b"], rel=1e-6)


@settings(max_examples=10)
@given(
    gain=st.floats(0.1, 3.0),
    strategy=st.sampled_from(["siloed", "cooperative"]),
    supplier=st.sampled_from(["basic", "premium"]),
)
def test_raising_one_brands_quality_shifts_share_and_surplus_its_way(gain, strategy, supplier):
    """More quality for alpha: alpha's share up, beta's down, consumers better off."""
    # both brands source from the same supplier, so only alpha's own quality differs
    cut = {"basic": "members.premium.unit_cost=50", "premium": "members.basic.unit_cost=50"}
    common = [f"strategy={strategy}", cut[supplier], "periods=6", "warmup=2"]
    base = run(BRANDS, overrides=common, keep_series=False).summary
    more = run(BRANDS, overrides=[*common, f"products.0.quality={gain}"], keep_series=False)
    more = more.summary
    assert more["by_product"]["alpha"]["quality"] == pytest.approx(
        base["by_product"]["alpha"]["quality"] + gain
    )
    assert more["by_product"]["alpha"]["share"] > base["by_product"]["alpha"]["share"]
    assert more["by_product"]["beta"]["share"] < base["by_product"]["beta"]["share"]
    assert more["by_product"]["beta"]["units_sold"] < base["by_product"]["beta"]["units_sold"]
    assert more["consumer_surplus"] > base["consumer_surplus"]


@pytest.mark.parametrize("strategy", ["siloed", "cooperative"])
@pytest.mark.parametrize(("premium_cost", "expected"), [(4.0, "premium"), (6.0, "basic")])
def test_sourcing_buys_quality_when_it_is_worth_more_than_it_costs(
    strategy, premium_cost, expected
) -> None:
    """Consumers value quality at 2 a unit; premium adds 1.5 quality over basic, so it is
    worth 3. It costs premium_cost - 2 more. With quality valued alike by every consumer
    it shifts demand like a cost cut of 3, so a brand's own margin and consumer value
    both favour premium exactly when it costs less than 3 more (by hand)."""
    s = run(
        BRANDS,
        overrides=[f"strategy={strategy}", f"members.premium.unit_cost={premium_cost}"],
        periods=6,
        warmup=2,
        keep_series=False,
    ).summary
    for product in ("alpha", "beta"):
        assert s["by_product"][product]["supplier"] == expected
    quality = {"premium": 2.5, "basic": 1.0}[expected]
    assert s["by_product"]["alpha"]["quality"] == pytest.approx(quality)


LINEAR_SYSTEM = (
    "markets.0.demand={kind: linear_system, a: 40, b: 2, substitution: 1, quality_value: 2}"
)


def _fixed_sourcing_runs(overrides: list[str], strategy: str) -> dict[tuple[str, str], dict]:
    """Every combination of suppliers, fixed by dropping the other supplier's edge."""
    cfg = load_config(BRANDS, overrides)
    out = {}
    for sa, sb in itertools.product(("basic", "premium"), repeat=2):
        data = copy.deepcopy(cfg.model_dump(by_alias=True, exclude_none=True))
        data.update(strategy=strategy)
        keep = {"maker_a": sa, "maker_b": sb}
        data["edges"] = [
            e for e in data["edges"] if e["to"] not in keep or e["from"] == keep[e["to"]]
        ]
        out[(sa, sb)] = run(data, keep_series=False).summary
    return out


@pytest.mark.parametrize(
    ("demand", "premium_cost"), [(None, 4.9), (LINEAR_SYSTEM, 5.5), (LINEAR_SYSTEM, 4.9)]
)
def test_sourcing_picks_against_every_fixed_combination(demand, premium_cost) -> None:
    """Brute force here: run every fixed pair of suppliers. The siloed pick must be a Nash
    equilibrium of the brands' margins (no brand gains by switching alone); the
    cooperative pick must give consumers the most surplus of all pairs."""
    over = [
        f"members.premium.unit_cost={premium_cost}",
        "defaults.holding_cost=0",  # profit is then the margin sourcing compares
        "defaults.backlog_cost=0",
        "periods=40",
        "warmup=30",  # the free initial stock is sold by then: steady flows
        *([demand] if demand else []),
    ]
    siloed = run(BRANDS, overrides=[*over, "strategy=siloed"], keep_series=False).summary
    pick = tuple(siloed["by_product"][p]["supplier"] for p in ("alpha", "beta"))
    fixed = _fixed_sourcing_runs(over, "siloed")
    other = {"basic": "premium", "premium": "basic"}
    here = fixed[pick]
    assert fixed[(other[pick[0]], pick[1])]["profit"]["maker_a"] <= here["profit"]["maker_a"] + 1e-6
    assert fixed[(pick[0], other[pick[1]])]["profit"]["maker_b"] <= here["profit"]["maker_b"] + 1e-6
    assert siloed["consumer_surplus"] == pytest.approx(here["consumer_surplus"], rel=1e-9)
    coop = run(BRANDS, overrides=[*over, "strategy=cooperative"], keep_series=False).summary
    best = max(r["consumer_surplus"] for r in _fixed_sourcing_runs(over, "cooperative").values())
    assert coop["consumer_surplus"] == pytest.approx(best, rel=1e-9)


def test_siloed_brands_can_be_stuck_below_the_quality_they_would_both_prefer() -> None:
    """Linear-system demand (a = 40, b = 2, substitution 1, quality worth 2), one shop,
    basic material (cost 2 + 1, quality 1) or premium (5.5 + 1, quality 2.5). The linear
    reference above gives each brand's margin for every pair of suppliers: premium for
    both pays each brand more than basic for both, yet basic is each brand's best reply
    to basic, so siloed brands stay on basic; consumers get the most from premium."""
    supplier = {"basic": (3.0, 1.0), "premium": (6.5, 2.5)}

    def outcome(pair, integrated):
        cost = [supplier[s][0] for s in pair]
        a = [40 + 2 * 2.0 * supplier[s][1] for s in pair]
        w, p, q, cs = _reference_equilibrium(a, 2.0, 1.0, cost, True, integrated)
        return (w - cost) * q, cs

    pairs = list(itertools.product(supplier, repeat=2))
    margin = {pair: outcome(pair, False)[0] for pair in pairs}
    assert margin[("premium", "premium")][0] > margin[("basic", "basic")][0]
    assert margin[("premium", "basic")][0] < margin[("basic", "basic")][0]  # no lone upgrade
    assert margin[("basic", "premium")][0] > margin[("premium", "premium")][0]
    best_for_consumers = max(pairs, key=lambda pair: outcome(pair, True)[1])
    assert best_for_consumers == ("premium", "premium")

    over = [LINEAR_SYSTEM, "members.premium.unit_cost=5.5", "periods=6", "warmup=2"]
    siloed = run(BRANDS, overrides=over, keep_series=False).summary
    coop = run(BRANDS, overrides=[*over, "strategy=cooperative"], keep_series=False).summary
    assert {v["supplier"] for v in siloed["by_product"].values()} == {"basic"}
    assert {v["supplier"] for v in coop["by_product"].values()} == {"premium"}
    assert coop["consumer_surplus"] == pytest.approx(outcome(("premium", "premium"), True)[1])
    assert siloed["consumer_surplus"] == pytest.approx(outcome(("basic", "basic"), False)[1])


def test_cooperation_raises_consumer_value_with_competing_brands() -> None:
    siloed = run(BRANDS, keep_series=False).summary
    coop = run(BRANDS, overrides=["strategy=cooperative"], keep_series=False).summary
    assert coop["consumer_surplus"] > siloed["consumer_surplus"]
    assert coop["retail_price"] < siloed["retail_price"]


@pytest.mark.parametrize("strategy", ["siloed", "cooperative"])
def test_linear_system_with_one_option_is_linear_demand(strategy: str) -> None:
    """One option: q = a - b p and surplus q^2 / 2b, so a brand selling through one
    retailer prices as under kind linear: w = (a/b + c) / 2 = 30, p = 40 siloed; p = 30
    cooperative (a = 100, b = 2, c = 10, by hand)."""
    base = "configs/theory/double_marginalization.yaml"
    two_tier = [
        f"strategy={strategy}",
        "members={source: {role: source, unit_cost: 10}, "
        "maker: {role: manufacturer, stock: 1000}, retailer: {role: retailer, stock: 1000}}",
        "edges=[{from: source, to: maker}, {from: maker, to: retailer}]",
        "products=[{name: only, brand: maker}]",
    ]
    lin = run(base, overrides=two_tier, keep_series=False).summary
    sys = run(
        base,
        overrides=[*two_tier, "markets.0.demand={kind: linear_system, a: 100, b: 2}"],
        keep_series=False,
    ).summary
    price = {"siloed": 40.0, "cooperative": 30.0}[strategy]
    assert sys["retail_price"] == pytest.approx(price, rel=1e-9)
    for key in ("retail_price", "units_sold", "consumer_surplus", "channel_profit"):
        assert sys[key] == pytest.approx(lin[key], rel=1e-9), key


def test_sampled_logit_shares_converge_to_expected() -> None:
    n, periods = 2000, 400
    over = ["markets.0.mode=sampled", f"markets.0.consumers={n}", "defaults.unmet_demand=lost"]
    exp = run(BRANDS, overrides=["periods=30"], keep_series=False).summary
    smp = run(BRANDS, overrides=[*over, f"periods={periods}"], keep_series=False).summary
    share = exp["by_product"]["alpha"]["units_sold"] / 100
    se = np.sqrt(share * (1 - share) / (n * periods)) * 100
    assert abs(smp["by_product"]["alpha"]["units_sold"] - 100 * share) < 5 * se + 0.2


# --------------------------------------------------------------------------- conservation


def _random_brand_network(draw) -> dict:
    n_brands = draw(st.integers(1, 3))
    n_shops = draw(st.integers(1, 3))
    products = [{"name": f"p{i}", "brand": f"maker_{i}"} for i in range(n_brands)]
    members = {
        "cheap": {"role": "source", "unit_cost": 2.0, "quality": 1.0},
        "dear": {"role": "source", "unit_cost": 3.0, "quality": 2.0, "defect_rate": 0.1},
    }
    edges = []
    for i in range(n_brands):
        members[f"maker_{i}"] = {"role": "manufacturer", "stock": draw(st.floats(0, 50))}
        edges.append({"from": "cheap", "to": f"maker_{i}", "lead_time": draw(st.integers(1, 3))})
        edges.append({"from": "dear", "to": f"maker_{i}", "initial_flow": 5})
    for j in range(n_shops):
        carried = draw(
            st.lists(st.sampled_from(products), min_size=1, unique_by=lambda p: p["name"])
        )
        names = [p["name"] for p in carried]
        members[f"shop_{j}"] = {
            "role": "retailer",
            "stock": draw(st.floats(0, 40)),
            "carries": names,
        }
        for p in carried:
            edges.append(
                {"from": p["brand"], "to": f"shop_{j}", "initial_flow": draw(st.floats(0, 10)),
                 "payment_terms": draw(st.integers(0, 3))}
            )  # fmt: skip
    for i in range(n_brands):  # a brand nobody carries still sells somewhere
        if not any(e["from"] == f"maker_{i}" for e in edges):
            members["shop_0"]["carries"].append(f"p{i}")
            edges.append({"from": f"maker_{i}", "to": "shop_0"})
    demand = draw(
        st.sampled_from(
            [
                {"kind": "logit", "size": 60, "value": 10, "price_sensitivity": 0.5,
                 "quality_value": 1.0, "goodwill_value": 2.0},
                {"kind": "normal", "mean": 20, "sd": 6},
            ]
        )
    )  # fmt: skip
    market = {
        "name": "town",
        "retailers": [f"shop_{j}" for j in range(n_shops)],
        "products": [p["name"] for p in products],
        "demand": demand,
    }
    if demand["kind"] == "logit" and draw(st.booleans()):
        market.update(mode="sampled", consumers=draw(st.integers(5, 300)))
    return {
        "periods": 15,
        "seed": draw(st.integers(0, 1000)),
        "strategy": draw(st.sampled_from(["siloed", "cooperative"])),
        "products": products,
        "defaults": {
            "ordering": draw(
                st.sampled_from(
                    [
                        {"policy": "order_up_to", "forecast_window": 3, "safety_stock": 4},
                        {
                            "policy": "sterman",
                            "theta": 0.4,
                            "alpha_s": 0.3,
                            "beta": 0.5,
                            "s_prime": 20,
                        },
                    ]
                )
            ),
            "holding_cost": 0.1,
            "unmet_demand": draw(st.sampled_from(["backlog", "lost"])),
        },  # fmt: skip
        "members": members,
        "edges": edges,
        "markets": [market],
    }


@settings(max_examples=15)
@given(st.data())
def test_goods_and_money_are_conserved_per_product_every_period(data) -> None:
    cfg = load_config(_random_brand_network(data.draw))
    model = ChannelModel(cfg, check=True)  # the model's own checks, every period
    lg, topo, pm = model.logistics, model.topology, model.product_map
    from_source = topo.is_source[topo.seller]
    initial = lg.stock.sum(axis=0) + lg.goods_in_transit[~from_source].sum(axis=0)
    initial_src = lg.goods_in_transit[from_source].sum(axis=0)
    sold = np.zeros(len(model.products))
    for _ in range(cfg.periods):
        model.step()
        sold += model._sold.sum(axis=0)
        # per product: goods in = goods held + goods out, nothing appears anywhere else
        bought = (lg.shipped_total[from_source] - lg.returned_total[from_source]).sum(axis=0)
        held = lg.stock.sum(axis=0) + lg.goods_in_transit.sum(axis=0)
        np.testing.assert_allclose(
            initial + initial_src + bought, held + sold, rtol=1e-9, atol=1e-7
        )
        assert np.all(lg.stock[~pm.handles] == 0)
        assert np.all(lg.shipped_total[~pm.carries] == 0)
        # money: each invoice is the sum of its products' parts at their own prices
        # (plus the edge's fixed fee under a two-part tariff)
        parts = (model._shipped * model.edge_price).sum(axis=1)
        parts += np.nan_to_num(model.contracts.fixed_fee)
        np.testing.assert_allclose(model.invoice_amount, parts, rtol=1e-12, atol=1e-9)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"products.0.brand": "nobody"}, ["products[0].brand", "unknown brand 'nobody'"]),
        ({"products.0.brand": "shop"}, ["products[0].brand", "retailer"]),
        ({"products.1.name": "alpha"}, ["products", "'alpha' is listed twice"]),
        ({"members.shop.carries": ["C"]}, ["members.shop.carries[0]", "unknown product 'C'"]),
        ({"members.maker_a.quality": 2.0}, ["members.maker_a.quality", "sources only"]),
    ],
)
def test_bad_product_settings_are_named(change: dict, words: list[str]) -> None:
    data = load_config(BRANDS).model_dump(by_alias=True, exclude_none=True)
    for key, value in change.items():
        node = data
        *path, last = key.split(".")
        for part in path:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    with pytest.raises(ConfigError) as err:
        load_config(data)
    for w in words:
        assert w in str(err.value)


def test_run_table_shows_each_product(capsys: pytest.CaptureFixture[str]) -> None:
    from channel_agents.cli import main

    assert main(["run", BRANDS, "--periods", "5", "--warmup", "1"]) == 0
    out = capsys.readouterr().out
    assert "by product" in out
    rows = [line for line in out.splitlines() if "maker_a" in line and "alpha" in line]
    assert rows and "premium" in rows[0]


def test_an_order_share_split_on_a_brands_suppliers_is_kept() -> None:
    """Given order_share on maker_a's supply edges, maker_a keeps that split: its
    quality is the share-weighted mean of basic (1) and premium (2.5), by hand."""
    over = ["edges.0.order_share=3", "edges.1.order_share=1", "periods=6", "warmup=2"]
    s = run(BRANDS, overrides=over, keep_series=False).summary
    assert s["by_product"]["alpha"]["supplier"] is None
    assert s["by_product"]["alpha"]["quality"] == pytest.approx(0.75 * 1.0 + 0.25 * 2.5)
    assert s["by_product"]["beta"]["supplier"] == "premium"  # beta still chooses
