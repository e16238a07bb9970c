"""``channel-agents validate``: every theory card run through the simulation.

Each :class:`Check` runs a scenario from configs/theory/ (or the beer game)
with some overrides, reads numbers from its summary (or series) and compares
them with the closed form from theory.py (cards 1-7 of the theory cards, and
card 8: competing channels, McGuire & Staelin 1983 and Choi 1991, whose
closed forms theory.py derives). Deterministic cards must agree to
0.1 %, stochastic ones to 1 % (2 % for the bullwhip ratios, per card 3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from channel_agents import theory

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def _config(name: str) -> str:
    """A preset path: from the checkout when run there, else relative to the cwd."""
    path = CONFIGS / name
    return str(path if path.exists() else Path("configs") / name)


@dataclass(frozen=True)
class Check:
    """One card row: a scenario, what to read from its summary, and the expected values."""

    card: int
    label: str
    config: str
    overrides: tuple[str, ...]
    expected: dict[str, float]
    read: Callable[[dict[str, Any], Any], dict[str, float]]
    tolerance: float = 1e-3
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Outcome:
    check: Check
    obtained: dict[str, float]

    def misses(self) -> list[str]:
        out = []
        for key, want in self.check.expected.items():
            got = self.obtained.get(key)
            scale = max(abs(want), 1e-9)
            if got is None or abs(got - want) > self.check.tolerance * scale:
                out.append(key)
        return out

    @property
    def passed(self) -> bool:
        return not self.misses()


def _chain(n: int) -> tuple[str, ...]:
    """Overrides that turn the 3-tier double-marginalization chain into n tiers."""
    names = ["manufacturer", "wholesaler", "distributor", "retailer"]
    if n == 3:
        return ()
    if n == 1:
        members = "{source: {role: source, unit_cost: 10}, retailer: {role: retailer, stock: 1000}}"
        edges = "[{from: source, to: retailer}]"
    elif n == 2:
        members = (
            "{source: {role: source, unit_cost: 10}, manufacturer: {role: manufacturer, "
            "stock: 1000}, retailer: {role: retailer, stock: 1000}}"
        )
        edges = "[{from: source, to: manufacturer}, {from: manufacturer, to: retailer}]"
    else:
        members = (
            "{source: {role: source, unit_cost: 10}, "
            + ", ".join(f"{m}: {{role: {m}, stock: 1000}}" for m in names)
            + "}"
        )
        chain = ["source", *names]
        edges = (
            "["
            + ", ".join(f"{{from: {a}, to: {b}}}" for a, b in zip(chain, chain[1:], strict=False))
            + "]"
        )
    return (f"members={members}", f"edges={edges}")


def _dm_read(tiers: list[str]) -> Callable[[dict[str, Any], Any], dict[str, float]]:
    def read(s: dict[str, Any], _model: Any) -> dict[str, float]:
        out = {
            "quantity": s["units_sold"],
            "retail_price": s["retail_price"],
            "channel_profit": s["channel_profit"],
            "consumer_surplus": s["consumer_surplus"],
        }
        for name in tiers:
            out[f"profit.{name}"] = s["profit"][name]
        return out

    return read


def _dm_expected(t: dict[str, Any], tiers: list[str]) -> dict[str, float]:
    """Card 1 values to compare: the channel's, and each listed tier's profit (retailer first)."""
    keys = ("quantity", "retail_price", "channel_profit", "consumer_surplus")
    out = {k: t[k] for k in keys}
    out.update({f"profit.{m}": p for m, p in zip(tiers, t["profits"], strict=False)})
    return out


def checks() -> Iterator[Check]:
    """Every card row the simulation reproduces."""
    dm = _config("theory/double_marginalization.yaml")
    tier_names = {
        1: ["retailer"],
        2: ["retailer", "manufacturer"],
        3: ["retailer", "wholesaler", "manufacturer"],
        4: ["retailer", "distributor", "wholesaler", "manufacturer"],
    }
    for n in (1, 2, 3, 4):
        t = theory.double_marginalization_linear(100, 2, 10, n)
        expected = _dm_expected(t, tier_names[n])
        yield Check(
            1,
            f"double marginalization, {n} tier(s), siloed",
            dm,
            _chain(n),
            expected,
            _dm_read(tier_names[n]),
        )
        coop = theory.double_marginalization_linear(100, 2, 10, 1)
        yield Check(
            1,
            f"double marginalization, {n} tier(s), cooperative",
            dm,
            (*_chain(n), "strategy=cooperative"),
            _dm_expected(coop, []),
            _dm_read([]),
        )
    iso = _config("theory/double_marginalization_isoelastic.yaml")
    for n in (1, 3):
        t = theory.double_marginalization_isoelastic(10_000, 2, 1, n)
        over = (
            ()
            if n == 3
            else (
                "members={source: {role: source, unit_cost: 1}, retailer: {role: retailer, stock: 100000}}",
                "edges=[{from: source, to: retailer}]",
            )
        )
        expected = _dm_expected(t, tier_names[n])
        yield Check(
            1,
            f"iso-elastic double marginalization, {n} tier(s)",
            iso,
            over,
            expected,
            _dm_read(tier_names[n]),
        )

    nv = _config("theory/newsvendor_contracts.yaml")
    mean, sd, p, c, v = 100.0, 30.0, 10.0, 4.0, 1.0

    def nv_read(s: dict[str, Any], _m: Any) -> dict[str, float]:
        return {
            "quantity": s["units_ordered"],
            "retailer_profit": s["profit"]["retailer"],
            "supplier_profit": s["profit"]["manufacturer"],
        }

    def nv_expect(t: dict[str, Any]) -> dict[str, float]:
        return {
            "quantity": t["quantity"],
            "retailer_profit": t["retailer_profit"],
            "supplier_profit": t["supplier_profit"],
        }

    nv_periods = ("periods=200000",)
    yield Check(
        2,
        "newsvendor, wholesale w = 7",
        nv,
        nv_periods,
        nv_expect(theory.newsvendor_wholesale(mean, sd, p, 7, c, v)),
        nv_read,
        0.01,
    )
    yield Check(
        2, "newsvendor, supplier-optimal wholesale price", nv, (*nv_periods, "edges.1.contract.wholesale_price=null"),
        nv_expect(theory.newsvendor_supplier_optimal_wholesale(mean, sd, p, c, v)), nv_read, 0.01,
    )  # fmt: skip
    yield Check(
        2, "newsvendor, revenue sharing phi = 0.6", nv,
        (*nv_periods, "edges.1.contract={type: revenue_sharing, revenue_share: 0.6, wholesale_price: 2.4}"),
        nv_expect(theory.newsvendor_revenue_sharing(mean, sd, p, c, v, 0.6)), nv_read, 0.01,
    )  # fmt: skip
    yield Check(
        2, "newsvendor, buyback L = 0.6", nv,
        (*nv_periods, "edges.1.contract={type: buyback, wholesale_price: 6.4, buyback_price: 4.6}"),
        nv_expect(theory.newsvendor_buyback(mean, sd, p, c, v, 0.6)), nv_read, 0.01,
    )  # fmt: skip
    integrated = theory.newsvendor_integrated(mean, sd, p, c, v)
    yield Check(
        2, "newsvendor, cooperative (coordinated)", nv, (*nv_periods, "edges.1.contract=null", "strategy=cooperative"),
        {"quantity": integrated["quantity"], "channel_profit": integrated["channel_profit"]},
        lambda s, _m: {"quantity": s["units_ordered"], "channel_profit": s["channel_profit"]}, 0.01,
    )  # fmt: skip
    tpt = theory.two_part_tariff_linear(100, 2, 10, 300)
    yield Check(
        2, "two-part tariff w = c, fee 300", dm,
        (*_two_tier_overrides(), "edges.1.contract={type: two_part_tariff, wholesale_price: 10, fixed_fee: 300}"),
        {"retail_price": tpt["retail_price"], "quantity": tpt["quantity"], "consumer_surplus": tpt["consumer_surplus"],
         "profit.retailer": tpt["retailer_profit"], "profit.manufacturer": tpt["manufacturer_profit"]},
        _dm_read(["retailer", "manufacturer"]),
    )  # fmt: skip
    qd = theory.quantity_discount_linear(100, 2, 10, 0.5)
    yield Check(
        2, "quantity discount L = 0.5", dm,
        (*_two_tier_overrides(), "edges.1.contract={type: quantity_discount, retailer_share: 0.5}", "warmup=20"),
        {"retail_price": qd["retail_price"], "quantity": qd["quantity"], "price.manufacturer": qd["wholesale_price"],
         "profit.retailer": qd["retailer_profit"], "profit.manufacturer": qd["manufacturer_profit"]},
        lambda s, m: {**_dm_read(["retailer", "manufacturer"])(s, m), "price.manufacturer": s["price"]["manufacturer"]},
    )  # fmt: skip

    rc = _config("theory/retail_competition.yaml")
    for n in (1, 2, 5):
        t = theory.cournot_retailers(100, 2, 10, n)
        yield Check(
            6, f"Cournot retailers, n = {n}", rc, (f"n_retailers={n}",),
            {"total_quantity": t["total_quantity"], "retail_price": t["retail_price"],
             "retailer_profit": t["retailer_profit"], "manufacturer_profit": t["manufacturer_profit"],
             "consumer_surplus": t["consumer_surplus"], "wholesale_price": t["wholesale_price"]},
            lambda s, _m: {"total_quantity": s["units_sold"], "retail_price": s["retail_price"],
                           "retailer_profit": s["profit"]["retailer_1"], "manufacturer_profit": s["profit"]["manufacturer"],
                           "consumer_surplus": s["consumer_surplus"], "wholesale_price": s["price"]["manufacturer"]},
        )  # fmt: skip

    bg = _config("theory/bargaining.yaml")

    def bg_read(s: dict[str, Any], _m: Any) -> dict[str, float]:
        return {
            "wholesale_price": s["price"]["manufacturer"],
            "retail_price": s["retail_price"],
            "quantity": s["units_sold"],
            "manufacturer_profit": s["profit"]["manufacturer"],
            "retailer_profit": s["profit"]["retailer"],
            "consumer_surplus": s["consumer_surplus"],
        }

    keys = (
        "wholesale_price",
        "retail_price",
        "quantity",
        "manufacturer_profit",
        "retailer_profit",
        "consumer_surplus",
    )
    for protocol in ("take_it_or_leave_it", "nash", "kalai_smorodinsky"):
        t = theory.bargaining_wholesale(100, 1, 20, protocol, 0.5)
        yield Check(
            7,
            f"bargaining over w, {protocol}",
            bg,
            (f"edges.1.negotiation.protocol={protocol}",),
            {k: t[k] for k in keys},
            bg_read,
        )
    t = theory.bargaining_two_part_tariff(100, 1, 20, 0.5)
    yield Check(
        7, "bargaining, two-part tariff, Nash split", bg, ("edges.1.contract={type: two_part_tariff}",),
        {k: t[k] for k in keys}, bg_read,
    )  # fmt: skip

    ca_cfg = _config("theory/coop_advertising.yaml")

    def ad_read(s: dict[str, Any], _m: Any) -> dict[str, float]:
        out = {
            "retail_price": s["retail_price"],
            "demand": s["units_sold"],
            "consumer_surplus": s["consumer_surplus"],
            "channel_profit": s["channel_profit"],
            "advertising_retailer": s["advertising"]["retailer"],
            "advertising_manufacturer": s["advertising"]["manufacturer"],
            "wholesale_price": s["price"]["manufacturer"],
            "coop_share": s["coop_share"],
            "manufacturer_profit": s["profit"]["manufacturer"],
            "retailer_profit": s["profit"]["retailer"],
        }
        return {k: v for k, v in out.items() if v is not None}

    for arm, over in (
        ("coop", ()),
        ("no_coop", ("markets.town.demand.coop=false",)),
        ("cooperative", ("strategy=cooperative",)),
    ):
        t = theory.coop_advertising(10, 1, 2, 1, 1, arm)
        keys = [
            "retail_price",
            "demand",
            "consumer_surplus",
            "channel_profit",
            "advertising_retailer",
            "advertising_manufacturer",
        ]
        if arm != "cooperative":
            keys += ["wholesale_price", "coop_share", "manufacturer_profit", "retailer_profit"]
        expected = {k: t[k] for k in keys if not (k == "coop_share" and t[k] == 0)}
        yield Check(5, f"co-op advertising, {arm}", ca_cfg, over, expected, ad_read)

    def chain_read(s: dict[str, Any], _m: Any) -> dict[str, float]:
        return {
            "retail_price": s["retail_price"],
            "units_each": s["units_sold"] / 2,
            "consumer_surplus": s["consumer_surplus"],
            "wholesale_price": s["price"]["maker_a"],
            "chain_profit": s["channel_profit"] / 2,
        }

    keys = ("retail_price", "units_each", "consumer_surplus", "wholesale_price")
    for strategy in ("siloed", "cooperative"):
        t = theory.competing_chains(100, 2, 1, 10, integrated=strategy == "cooperative")
        expected = {k: t[k] for k in (*keys, "chain_profit")}
        yield Check(
            8, f"competing chains (McGuire & Staelin), {strategy}",
            _config("theory/competing_chains.yaml"), (f"strategy={strategy}",), expected, chain_read,
        )  # fmt: skip
        t = theory.common_retailer(100, 2, 1, 10, coordinated=strategy == "cooperative")
        yield Check(
            8, f"common retailer (Choi), {strategy}", _config("theory/common_retailer.yaml"),
            (f"strategy={strategy}",), {k: t[k] for k in keys}, chain_read,
        )  # fmt: skip

    bw = _config("theory/bullwhip.yaml")
    for strategy, formula in (
        ("siloed", theory.bullwhip_siloed),
        ("cooperative", theory.bullwhip_cooperative),
    ):
        ratios = formula([2, 2, 2, 2], 5)
        stages = ("retailer", "wholesaler", "distributor", "factory")
        yield Check(
            3, f"bullwhip, {strategy}, 400,000 periods", bw, (f"strategy={strategy}", "periods=400000"),
            dict(zip(stages, ratios, strict=True)),
            lambda s, _m, st=stages: {k: s["bullwhip"][k] for k in st}, 0.02,
        )  # fmt: skip

    beer = _config("beer_game.yaml")
    yield Check(
        4, "beer game, Sterman mean estimates", beer, (),
        {"team_cost": 2254.74}, lambda s, _m: {"team_cost": s["team_cost"]}, 1e-4,
    )  # fmt: skip
    yield Check(
        4, "beer game, pass-through", beer, ("defaults.ordering={policy: pass_through}",),
        {"team_cost": 792.0}, lambda s, _m: {"team_cost": s["team_cost"]},
    )  # fmt: skip
    yield Check(
        4, "beer game, perfect-foresight central plan", beer, ("defaults.ordering={policy: central_plan}",),
        {"team_cost": 132.0}, lambda s, _m: {"team_cost": s["team_cost"]},
    )  # fmt: skip


def _two_tier_overrides() -> tuple[str, ...]:
    return (
        "members={source: {role: source, unit_cost: 10}, manufacturer: {role: manufacturer, stock: 1000}, "
        "retailer: {role: retailer, stock: 1000}}",
        "edges=[{from: source, to: manufacturer}, {from: manufacturer, to: retailer}]",
    )


def run_check(check: Check) -> Outcome:
    """Run one check's scenario and read what it compares."""
    from channel_agents.api import run

    result = run(check.config, seed=check.seed, overrides=list(check.overrides), keep_series=False)
    return Outcome(check, check.read(result.summary, result.model))


def validate(select: Callable[[Check], bool] | None = None) -> Iterator[Outcome]:
    """Run every selected check; yields outcomes as they finish."""
    for check in checks():
        if select is None or select(check):
            yield run_check(check)
