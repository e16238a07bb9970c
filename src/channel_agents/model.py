"""ChannelModel: the period loop (one Mesa step = one period).

Each step runs the phases of DESIGN.md in order: arrivals, market, fulfilment,
costs, payments, negotiation, decisions, recording. State lives in numpy
arrays (logistics.py for goods, ledger.py for money); agents (members.py)
carry identity and decision rules; policies decide from frozen observations.

>>> from channel_agents.model import ChannelModel
>>> model = ChannelModel("configs/beer_game.yaml")
>>> model.run()
>>> round(model.summary()["team_cost"], 2)
2254.74
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import mesa
import numpy as np

from channel_agents.config import (
    ConfigError,
    CostPlusPricing,
    OrderUpToOrdering,
    ScenarioConfig,
    load_config,
)
from channel_agents.consumers import Markets
from channel_agents.ledger import Ledger
from channel_agents.logistics import Logistics
from channel_agents.members import AGENT_CLASSES, ChannelMember
from channel_agents.metrics import Recorder, market_frame, series_frame, summarize
from channel_agents.network import Incidence, compile_topology
from channel_agents.observations import OrderObservation, PriceObservation, SharedOrderObservation
from channel_agents.policies.ordering import ORDERING_POLICIES, OrderingPolicy
from channel_agents.policies.pricing import PRICING_POLICIES, PricingPolicy
from channel_agents.strategies import resolve_levers


class ChannelModel(mesa.Model):
    """A downstream supply channel simulated period by period.

    Parameters
    ----------
    config:
        A scenario path, mapping or validated :class:`ScenarioConfig`.
    rng:
        The run's seed (an int); defaults to the scenario's ``seed``. Every random
        source (end demand, each market's consumers) gets its own generator
        spawned from it.
    keep_series:
        Keep per-period records for :meth:`series` (off for very long runs:
        the summary never needs them).
    check:
        Check conservation invariants every period; raise
        :class:`~channel_agents.invariants.InvariantError` at the first violation.
    collect:
        Run Mesa's DataCollector each step (model-level reporters, for the browser page).
    """

    def __init__(
        self,
        config: str | Path | dict[str, Any] | ScenarioConfig,
        *,
        rng: int | None = None,
        keep_series: bool = True,
        check: bool = False,
        collect: bool = False,
    ):
        cfg = load_config(config) if not isinstance(config, ScenarioConfig) else config
        seed = cfg.seed if rng is None else int(rng)
        super().__init__(rng=seed)
        self.config = cfg
        self.seed = seed
        self.warmup = cfg.warmup
        self.periods = cfg.periods
        self.products = list(cfg.products)
        self.period = 0
        self.consumer_units_total = 0.0  # units sold to consumers so far (conservation)
        n_products = len(self.products)
        self.topology = topo = compile_topology(cfg)
        self.levers = resolve_levers(cfg)
        self.logistics = Logistics(cfg, topo, n_products)
        self.ledger = Ledger(cfg, topo)
        children = np.random.SeedSequence(seed).spawn(2 + len(cfg.markets))
        self.markets = Markets(
            cfg,
            topo,
            np.random.default_rng(children[0]),
            [np.random.default_rng(c) for c in children[2:]],
        )
        self.members: list[ChannelMember] = [
            AGENT_CLASSES[topo.roles[k]](self, name, k) for k, name in enumerate(topo.names)
        ]
        self._setup_costs(cfg)
        self._setup_prices(cfg)
        self._setup_ordering(cfg)
        self.recorder = Recorder(topo.n_members, len(cfg.markets), self.periods, keep_series)
        self.check = check
        self.datacollector = (
            mesa.DataCollector(
                model_reporters={
                    "period": "period",
                    "end_demand": lambda m: m.last["end_demand"],
                    "units_sold": lambda m: m.last["units_sold"],
                    "consumer_surplus": lambda m: m.last["consumer_surplus"],
                    "team_cost": lambda m: m.last["team_cost"],
                }
            )
            if collect
            else None
        )
        self.last: dict[str, float] = dict.fromkeys(
            ("end_demand", "units_sold", "consumer_surplus", "team_cost"), 0.0
        )
        if check:
            from channel_agents.invariants import Invariants

            self.invariants = Invariants(self)
            self.invariants.check()

    # ------------------------------------------------------------------ set-up
    def _member_attr(self, cfg: ScenarioConfig, attr: str) -> list[Any]:
        return [
            getattr(m, attr) if getattr(m, attr) is not None else getattr(cfg.defaults, attr)
            for m in cfg.members.values()
        ]

    def _setup_costs(self, cfg: ScenarioConfig) -> None:
        topo = self.topology
        channel = (~topo.is_source).astype(float)
        self.holding_cost = np.array(self._member_attr(cfg, "holding_cost")) * channel
        self.backlog_cost = np.array(self._member_attr(cfg, "backlog_cost")) * channel
        self.transport_cost = np.array([e.transport_cost for e in cfg.edges])
        self.has_transport = bool(self.transport_cost.any())
        self.is_retailer = np.array([r == "retailer" for r in topo.roles])
        n_products = len(self.products)
        # (retailer, product) cell of each market pair, for per-product sums
        mk = self.markets
        self.pair_cell = Incidence(
            mk.pair_retailer * n_products + mk.pair_product, topo.n_members * n_products
        )
        pair_count = np.bincount(
            mk.pair_retailer * n_products + mk.pair_product, minlength=topo.n_members * n_products
        )
        self.cell_pairs = pair_count.reshape(topo.n_members, n_products).astype(float)

    def _setup_prices(self, cfg: ScenarioConfig) -> None:
        """Edge prices [E, P] and retail prices [M, P]; pricing groups by depth."""
        topo = self.topology
        n_products = len(self.products)
        self.edge_price = np.zeros((topo.n_edges, n_products))
        self.retail_price = np.zeros((topo.n_members, n_products))
        fixed = np.full(topo.n_edges, np.nan)
        for i, e in enumerate(cfg.edges):
            seller = cfg.members[e.seller]
            if seller.role == "source":
                fixed[i] = seller.unit_cost
            elif e.contract is not None and e.contract.wholesale_price is not None:
                fixed[i] = e.contract.wholesale_price
        self.fixed_edge_price = fixed
        self.edge_price[:] = np.nan_to_num(fixed)[:, None]
        self.edge_price_is_fixed = ~np.isnan(fixed)
        # unit cost of a member: its supply edges' prices weighted by order share
        share = np.array([e.order_share for e in cfg.edges])
        total = np.zeros(topo.n_members)
        np.add.at(total, topo.buyer, share)
        self.order_share = (share / np.where(total[topo.buyer] > 0, total[topo.buyer], 1.0))[
            :, None
        ]
        # unit cost = order-share-weighted mean of the supply edges' prices
        self.cost_weights = Incidence(topo.buyer, topo.n_members, weights=self.order_share[:, 0])
        pricing = self._member_attr(cfg, "pricing")
        groups: dict[tuple[int, str], list[int]] = defaultdict(list)
        for k in range(topo.n_members):
            if topo.is_source[k]:
                continue
            if pricing[k] is None:
                pricing[k] = CostPlusPricing(policy="cost_plus")
            groups[(int(topo.depth[k]), pricing[k].policy)].append(k)
        self.pricing_groups: list[tuple[np.ndarray, PricingPolicy]] = []
        for (_, name), ks in sorted(groups.items()):
            policy = PRICING_POLICIES[name]([pricing[k] for k in ks], n_products)
            self.pricing_groups.append((np.array(ks, dtype=np.int64), policy))
        self.dynamic_prices = any(p.dynamic for _, p in self.pricing_groups)
        self.decide_prices()

    def _unit_cost(self) -> np.ndarray:
        return self.cost_weights @ self.edge_price

    def _setup_ordering(self, cfg: ScenarioConfig) -> None:
        topo = self.topology
        n_products = len(self.products)
        ordering = self._member_attr(cfg, "ordering")
        echelon = self.levers.replenishment == "echelon"
        groups: dict[str, list[int]] = defaultdict(list)
        for k, name in enumerate(topo.names):
            if topo.is_source[k]:
                continue
            if ordering[k] is None:
                raise ConfigError(
                    "no ordering policy: set `ordering` on the member or in `defaults`",
                    file=cfg.source_path,
                    path=f"members.{name}.ordering",
                )
            if echelon and isinstance(ordering[k], OrderUpToOrdering):
                ordering[k] = ordering[k].model_copy(update={"echelon": True})
            if getattr(ordering[k], "echelon", False) and self.levers.information != "shared":
                own = cfg.members[name].ordering is not None
                raise ConfigError(
                    "echelon order-up-to needs shared information "
                    "(strategy: {information: shared} or cooperative)",
                    file=cfg.source_path,
                    path=f"members.{name}.ordering.echelon" if own else "defaults.ordering.echelon",
                )
            groups[ordering[k].policy].append(k)
        self.ordering_groups: list[tuple[np.ndarray, OrderingPolicy]] = [
            (
                np.array(ks, dtype=np.int64),
                ORDERING_POLICIES[name]([ordering[k] for k in ks], n_products),
            )
            for name, ks in groups.items()
        ]
        self.lead_time = topo.replenishment_lead_time()
        self.shared = self.levers.information == "shared"
        if self.shared:
            self.subtree = topo.subtree_matrix()
            self.echelon_lead = topo.echelon_lead_time()
        self.allow_returns = self.logistics.allow_returns

    def set_ordering_policy(self, member: str, policy: OrderingPolicy) -> None:
        """Seat ``policy`` (e.g. a human or learned player) in ``member``'s ordering decisions."""
        k = self.topology.names.index(member)
        groups = []
        for ks, pol in self.ordering_groups:
            rest = ks[ks != k]
            if len(rest) == len(ks):
                groups.append((ks, pol))
            elif len(rest):
                raise ValueError(f"{member!r} shares a vectorized policy group; seat it at start")
        groups.append((np.array([k]), policy))
        self.ordering_groups = groups

    # ------------------------------------------------------------------ the period loop
    def step(self) -> None:
        """One period: the eight phases of DESIGN.md, in order."""
        t = self.period = self.period + 1
        received, orders = self.logistics.arrivals(t)
        market = self.clear_markets(t)
        shipped, returned = self.fulfil_orders(t, orders)
        costs = self.charge_costs(shipped)
        self.settle_payments(t)
        self.negotiate(t)
        incoming = self.logistics.by_seller @ orders + market["demand"]
        placed = self.decide(t, incoming)
        if t > self.warmup:
            self.record(market, shipped, returned, costs, placed, incoming)
        if self.check:
            self.invariants.check()
        if self.datacollector is not None:
            self.datacollector.collect(self)

    def clear_markets(self, t: int) -> dict[str, np.ndarray]:
        """Phase 2: consumers buy from the retailers' stock (backlog first)."""
        lg, mk = self.logistics, self.markets
        shape = lg.stock.shape
        pair_demand = mk.demand(t, self.retail_price)
        demand = (self.pair_cell @ pair_demand).reshape(shape)
        stock, backlog = lg.stock, lg.consumer_backlog
        from_backlog = np.minimum(stock, backlog)
        new = np.minimum(stock - from_backlog, demand)
        sold = from_backlog + new
        stock -= sold
        self.consumer_units_total += float(sold.sum())
        unmet = demand - new
        backlog -= from_backlog
        backlog += unmet * lg.keeps_backlog[:, None]
        # attribute each retailer's sales to its market pairs
        cell = mk.pair_retailer * shape[1] + mk.pair_product
        flat_demand = demand.reshape(-1)[cell]
        with np.errstate(divide="ignore", invalid="ignore"):
            weight = np.where(
                flat_demand > 0, pair_demand / flat_demand, 1.0 / self.cell_pairs.reshape(-1)[cell]
            )
        pair_sold = weight * sold.reshape(-1)[cell]
        pair_new = weight * new.reshape(-1)[cell]
        pair_price = self.retail_price.reshape(-1)[cell]
        revenue = (sold * self.retail_price).sum(axis=1)
        self.ledger.receive_consumer_spend(revenue)
        return {
            "demand": demand,
            "sold": sold,
            "revenue": revenue,
            "market_demand": mk.retailers_of @ pair_demand,
            "market_sold": mk.retailers_of @ pair_sold,
            "market_new": mk.retailers_of @ pair_new,
            "market_spend": mk.retailers_of @ (pair_sold * pair_price),
            "market_surplus": mk.surplus(pair_sold),
        }

    def fulfil_orders(self, t: int, orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Phase 3: sellers ship, returns come back, invoices are issued."""
        lg = self.logistics
        shipped, returned = lg.fulfil(orders)
        lg.dispatch(t, shipped)
        self.invoice_amount = ((shipped - returned) * self.edge_price).sum(axis=1)
        self.ledger.invoice(t, self.invoice_amount)
        return shipped, returned

    def charge_costs(self, shipped: np.ndarray) -> dict[str, np.ndarray]:
        """Phase 4: holding on stock after shipping, backlog, transport; paid out."""
        lg = self.logistics
        holding = self.holding_cost * lg.stock.sum(axis=1)
        backlog = self.backlog_cost * lg.backlog_owed().sum(axis=1)
        if self.has_transport:
            transport = lg.by_seller @ (self.transport_cost * shipped.sum(axis=1))
        else:
            transport = np.zeros_like(holding)
        self.ledger.pay_outside(holding + backlog + transport)
        return {"holding": holding, "backlog": backlog, "transport": transport}

    def settle_payments(self, t: int) -> None:
        """Phase 5: invoices falling due are paid; interest on negative cash."""
        self.ledger.settle_due(t)
        self.interest = self.ledger.charge_interest()

    def negotiate(self, t: int) -> None:
        """Phase 6: edges whose contract period starts agree new terms (none yet)."""

    def decide(self, t: int, incoming: np.ndarray) -> np.ndarray:
        """Phase 7: prices top-down (when any rule is dynamic), then orders."""
        if self.dynamic_prices:
            self.decide_prices()
        return self.decide_orders(t, incoming)

    def decide_prices(self) -> None:
        """Set prices from the top of the chain down: each member sees its suppliers' prices."""
        topo = self.topology
        for ks, policy in self.pricing_groups:
            unit_cost = self._unit_cost()
            obs = PriceObservation(
                period=self.period, unit_cost=unit_cost[ks], price=self.retail_price[ks]
            )
            price = policy.decide(obs)
            for j, k in enumerate(ks):
                if topo.roles[k] == "retailer":
                    self.retail_price[k] = price[j]
                else:
                    sales = topo.sales_edges[k]
                    free = sales[~self.edge_price_is_fixed[sales]]
                    self.edge_price[free] = price[j]

    def decide_orders(self, t: int, incoming: np.ndarray) -> np.ndarray:
        lg = self.logistics
        stock = lg.stock
        backlog = lg.backlog_owed()
        supply_line = lg.supply_line()
        if self.shared:
            end = self.subtree @ (incoming * self.is_retailer[:, None])
            goods = stock - lg.consumer_backlog + lg.by_buyer @ lg.goods_in_transit
            own = lg.by_buyer @ (lg.orders_pending + lg.backlog)
            echelon = self.subtree @ goods + own
        order = np.zeros_like(stock)
        for ks, policy in self.ordering_groups:
            if self.shared:
                obs: OrderObservation = SharedOrderObservation(
                    t, incoming[ks], stock[ks], backlog[ks], supply_line[ks],
                    self.lead_time[ks], self.allow_returns[ks],
                    end[ks], echelon[ks], self.echelon_lead[ks],
                )  # fmt: skip
            else:
                obs = OrderObservation(
                    t, incoming[ks], stock[ks], backlog[ks], supply_line[ks],
                    self.lead_time[ks], self.allow_returns[ks],
                )  # fmt: skip
            order[ks] = policy.decide(obs)
        q = order[self.topology.buyer] * self.order_share
        if self.ledger.has_credit_limits:
            q = self._cap_by_credit(q)
        lg.place_orders(t, q)
        return q

    def _cap_by_credit(self, q: np.ndarray) -> np.ndarray:
        """Scale each member's orders down to what its credit limit still allows."""
        value = self.ledger.by_buyer @ (np.maximum(q, 0.0) * self.edge_price).sum(axis=1)
        budget = np.maximum(self.ledger.order_budget(), 0.0)
        over = value > budget
        scale = np.divide(budget, value, out=np.ones_like(value), where=over)
        return np.where(q > 0, q * scale[self.topology.buyer][:, None], q)

    def record(self, market, shipped, returned, costs, placed, incoming) -> None:
        """Phase 8: this period's values into the recorder's preallocated rows."""
        lg, led = self.logistics, self.ledger
        row, mrow = self.recorder.rows()
        by_seller, by_buyer = lg.by_seller, lg.by_buyer
        sold_edges = shipped.sum(axis=1)
        sales_value_edges = (shipped * self.edge_price).sum(axis=1)
        revenue = by_seller @ self.invoice_amount + market["revenue"]
        purchases = by_buyer @ self.invoice_amount
        other = costs["transport"] + self.interest
        row[0] = by_buyer @ placed.sum(axis=1)
        row[1] = incoming.sum(axis=1)
        units = by_seller @ sold_edges + market["sold"].sum(axis=1)
        row[2] = units
        row[3] = lg.stock.sum(axis=1)
        row[4] = lg.backlog_owed().sum(axis=1)
        row[5] = costs["holding"]
        row[6] = costs["backlog"]
        row[7] = revenue
        row[8] = purchases
        row[9] = other
        row[10] = revenue - purchases - costs["holding"] - costs["backlog"] - other
        row[11] = led.cash
        row[12] = units
        row[13] = by_seller @ sales_value_edges + market["revenue"]
        mrow[0] = market["market_demand"]
        mrow[1] = market["market_sold"]
        mrow[2] = market["market_new"]
        mrow[3] = market["market_spend"]
        mrow[4] = market["market_surplus"]
        self.recorder.advance()
        if self.datacollector is not None:
            self.last = {
                "end_demand": float(mrow[0].sum()),
                "units_sold": float(mrow[1].sum()),
                "consumer_surplus": float(mrow[4].sum()),
                "team_cost": float((row[5] + row[6]).sum()),
            }

    # ------------------------------------------------------------------ running
    def run(self, progress: Any = None) -> None:
        """Run warm-up and the configured periods."""
        total = self.warmup + self.periods
        while self.period < total:
            self.step()
            if progress is not None:
                progress(self.period, total)

    def summary(self) -> dict[str, Any]:
        """The run summary (DESIGN.md: the ``--json`` object)."""
        return summarize(self)

    def series(self):
        """Per-period records: one row per period and channel member (pandas)."""
        return series_frame(self)

    def market_series(self):
        """Per-period records: one row per period and market (pandas)."""
        return market_frame(self)
