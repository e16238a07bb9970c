"""ChannelModel: the period loop (one Mesa step = one period).

Each step runs the phases of DESIGN.md in order: arrivals, market, fulfilment,
costs, payments, negotiation, decisions, recording. State lives in numpy
arrays (logistics.py for goods, ledger.py for money); agents (members.py)
carry identity and decision rules; policies decide from frozen observations;
contract terms and their negotiation are in terms.py (mixed in).

>>> from channel_agents.model import ChannelModel
>>> model = ChannelModel("configs/beer_game.yaml")
>>> model.run()
>>> round(model.summary()["team_cost"], 2)
2254.74
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from channel_agents.anticipation import build_responses
from channel_agents.competition import ChannelGame, GameBrand, GameRetailer
from channel_agents.config import (
    AdaptivePricing,
    ConfigError,
    CostPlusPricing,
    FixedPricing,
    JointPricing,
    OrderUpToOrdering,
    ScenarioConfig,
    StackelbergPricing,
    load_config,
)
from channel_agents.consumers import Markets
from channel_agents.contracts import contract_book
from channel_agents.ledger import Ledger
from channel_agents.logistics import Logistics
from channel_agents.members import AGENT_CLASSES, ChannelMember
from channel_agents.metrics import (
    MARKET_FIELDS,
    MEMBER_FIELDS,
    PRODUCT_FIELDS,
    SEGMENT_FIELDS,
    Recorder,
    market_frame,
    series_frame,
    summarize,
)
from channel_agents.network import Incidence, compile_topology
from channel_agents.observations import OrderObservation, PriceObservation, SharedOrderObservation
from channel_agents.policies.ordering import ORDERING_POLICIES, OrderingPolicy
from channel_agents.policies.pricing import PRICING_POLICIES, PricingPolicy
from channel_agents.products import product_map
from channel_agents.strategies import resolve_levers
from channel_agents.terms import ContractTerms

if TYPE_CHECKING:
    from channel_agents.kernels import KernelPlan


class ChannelModel(ContractTerms, mesa.Model):
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
        self.products = cfg.product_names
        self.period = 0
        self.consumer_units_total = 0.0  # units sold to consumers so far (conservation)
        n_products = len(self.products)
        self.topology = topo = compile_topology(cfg)
        self.levers = resolve_levers(cfg)
        self.product_map = product_map(cfg, topo)
        self.logistics = Logistics(cfg, topo, n_products)
        if n_products > 1:  # nobody holds or ships a product it does not handle
            lg, pm = self.logistics, self.product_map
            for arr in (lg.stock, lg.consumer_backlog):
                arr *= pm.handles
            for arr in (lg.backlog, lg.orders_pending, lg.goods_in_transit, lg.initial_in_transit):
                arr *= pm.carries
            lg.orders_in_transit *= pm.carries
            lg.shipments_in_transit *= pm.carries
        self.ledger = Ledger(cfg, topo)
        children = np.random.SeedSequence(seed).spawn(2 + len(cfg.markets))
        self.markets = Markets(
            cfg,
            topo,
            np.random.default_rng(children[0]),
            [np.random.default_rng(c) for c in children[2:]],
            self.product_map,
        )
        self.members: list[ChannelMember] = [
            AGENT_CLASSES[topo.roles[k]](self, name, k) for k, name in enumerate(topo.names)
        ]
        self._setup_costs(cfg)
        self._setup_prices(cfg)
        self._setup_ordering(cfg)
        self.recorder = Recorder(
            self._raw_records(),
            self._derive_fields,
            topo.n_members,
            len(cfg.markets),
            self.periods,
            keep_series,
        )
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
        self._zeros_m = np.zeros(topo.n_members)

        # the seller pays transport: per unit sold, the mean over its sales edges
        sums = np.bincount(topo.seller, weights=self.transport_cost, minlength=topo.n_members)
        counts = np.bincount(topo.seller, minlength=topo.n_members)
        self.sales_transport = np.divide(
            sums, counts, out=np.zeros(topo.n_members), where=counts > 0
        )
        self.is_retailer = np.array([r == "retailer" for r in topo.roles])
        n_products = len(self.products)
        # (retailer, product) cell of each market pair, for per-product sums
        mk = self.markets
        self.pair_cell = Incidence(
            mk.pair_retailer * n_products + mk.pair_product, topo.n_members * n_products
        )
        self._cell = mk.pair_retailer * n_products + mk.pair_product
        pair_count = np.bincount(self._cell, minlength=topo.n_members * n_products)
        self._pairs_are_cells = bool((pair_count <= 1).all())
        self._markets_are_pairs = mk.n_pairs == mk.n
        self._demand_buf = np.zeros((topo.n_members, n_products))
        self.cell_pairs = pair_count.reshape(topo.n_members, n_products).astype(float)

    def _setup_prices(self, cfg: ScenarioConfig) -> None:
        """Contracts, edge prices [E, P], retail prices [M, P], pricing groups by depth."""
        topo = self.topology
        n_products = len(self.products)
        self.contracts = book = contract_book(cfg, self.levers.contract)
        self.edge_price = np.zeros((topo.n_edges, n_products))
        self.retail_price = np.zeros((topo.n_members, n_products))
        self.commitment = np.zeros((topo.n_members, n_products))  # Cournot quantities
        self.last_units = np.zeros((topo.n_members, n_products))  # sold last period
        self.edge_price_is_fixed = np.isfinite(book.wholesale_price)
        self.edge_price[:] = np.nan_to_num(book.wholesale_price)[:, None]
        # a source sells a product at its unit cost plus the product's making cost
        pm = self.product_map
        from_source = topo.is_source[topo.seller]
        self.edge_price[from_source] += pm.unit_cost
        # unit cost of a member: its supply edges' prices weighted by order share, per product
        self._edge_weights = np.array([e.order_share for e in cfg.edges])
        self._set_order_share(pm.order_share(self._edge_weights, topo))
        pricing = self._member_attr(cfg, "pricing")
        fixed_retail = {
            topo.names[k]: p.price
            for k, p in enumerate(pricing)
            if isinstance(p, FixedPricing) and topo.roles[k] == "retailer"
        }
        self.pricing = pricing
        self.game = self._setup_game() if self.markets.any_differentiated else None
        self.responses = self._build_responses(fixed_retail)
        if self.game is not None:
            self._choose_sources()
        pricing = self._setup_promotions(cfg, pricing)
        lever = {"stackelberg": StackelbergPricing, "joint": JointPricing}[self.levers.pricing]
        groups: dict[tuple[int, str], list[int]] = defaultdict(list)
        demand_knowledge = self._member_attr(cfg, "demand_knowledge")
        for k in range(topo.n_members):
            if topo.is_source[k]:
                continue
            if pricing[k] is None:
                # the pricing lever acts where a member has demand below it to price against
                has_power = self.responses[k] is not None
                knowledge = demand_knowledge[k]
                if not has_power:
                    pricing[k] = CostPlusPricing(policy="cost_plus")
                elif knowledge == "estimated" and self.levers.pricing == "stackelberg":
                    pricing[k] = AdaptivePricing(policy="adaptive")  # learns what it cannot know
                else:
                    pricing[k] = lever(policy=self.levers.pricing)
            groups[(int(topo.depth[k]), pricing[k].policy)].append(k)
        self.pricing = pricing
        self.pricing_groups: list[tuple[np.ndarray, PricingPolicy]] = []
        for (_, name), ks in sorted(groups.items()):
            policy = PRICING_POLICIES[name]([pricing[k] for k in ks], n_products)
            self.pricing_groups.append((np.array(ks, dtype=np.int64), policy))
        self.dynamic_prices = any(p.dynamic for _, p in self.pricing_groups)
        self.cournot = np.zeros(topo.n_members, dtype=bool)
        for m in cfg.markets:
            if m.clearing == "cournot":
                for r in m.retailers:
                    self.cournot[topo.names.index(r)] = True
        self._setup_settlement(cfg)
        self.agreements: dict[int, Any] = {}
        self.negotiate(0)
        self.decide_prices()

    def _set_order_share(self, share: np.ndarray) -> None:
        """[E, P] how each buyer splits its order for each product over its supply edges;
        with it, the channel's marginal cost and the quality of every product at every member."""
        self.order_share = share
        self.cost_weights = self.logistics.by_buyer
        self.channel_cost, self.quality = self._cost_and_quality(share)
        self.markets.set_quality(self.quality)

    def _cost_and_quality(self, share: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """[M, P] the channel's marginal cost (source price, making cost, transport on the
        way) and the quality of each product at each member, for order shares ``share``."""
        topo, pm = self.topology, self.product_map
        source_cost = np.array([m.unit_cost or 0.0 for m in self.config.members.values()])
        cost = pm.flow_down(
            topo,
            share,
            source_cost[:, None] + pm.unit_cost,
            np.broadcast_to(self.transport_cost[:, None], share.shape),
        )
        return cost, pm.quality(topo, share)

    def _build_responses(self, fixed_retail: dict[str, float]) -> list:
        """Every member's anticipated best response (anticipation.py), and the category
        game's members (competition.py) where consumers choose among brands."""
        responses = build_responses(self.config, self.topology, self.contracts, fixed_retail)
        if self.game is not None:
            for k in np.unique(self.game.cell_member):
                responses[k] = GameRetailer(self.game, int(k))
            for b in np.unique(self.game.brand[self.game.products]):
                if b >= 0:
                    responses[b] = GameBrand(self.game, int(b))
        return responses

    def _setup_game(self) -> ChannelGame:
        mk = self.markets
        return ChannelGame(self, mk.diff_markets, mk.diff_pairs)

    def _choose_sources(self) -> None:
        """Quality sourcing: a brand with several suppliers of a product's material (their
        edges' ``order_share`` all equal, as by default) buys it from one. ``own_margin`` (siloed): each brand picks the supplier that maximizes
        its own margin, given the others' picks, until no brand changes (a Nash
        equilibrium in sourcing); ``consumer_value`` (cooperative): the picks that give
        consumers the most surplus (quality net of price), all brands together."""
        topo, pm, game = self.topology, self.product_map, self.game
        share0 = self.order_share
        choices: list[tuple[int, int, np.ndarray]] = []  # (brand, product, candidate edges)
        for p in game.products:
            b = int(pm.brand[p])
            if b < 0:
                continue
            edges = topo.supply_edges[b]
            edges = edges[pm.carries[edges, p]]
            # unequal order shares on them are the scenario's own split: kept
            split = np.ptp(self._edge_weights[edges]) > 0 if len(edges) else False
            if len(edges) > 1 and not split:
                choices.append((b, int(p), edges))
        self.sourcing: dict[str, str] = {}
        if not choices:
            return
        joint = self.levers.pricing == "joint"

        def outcome(pick: tuple[int, ...]) -> dict[str, Any]:
            share = share0.copy()
            for (_, p, edges), e in zip(choices, pick, strict=True):
                share[edges, p] = 0.0
                share[e, p] = 1.0
            return game.outcome(*self._cost_and_quality(share), joint)

        options = [tuple(int(e) for e in edges) for _, _, edges in choices]
        if self.levers.sourcing == "consumer_value":
            combos = list(itertools.product(*options))
            if len(combos) > 4096:
                raise ConfigError(
                    f"{len(combos)} sourcing combinations; consumer_value sourcing searches "
                    "at most 4096 (fewer suppliers per brand)",
                    file=self.config.source_path,
                    path="strategy.sourcing",
                )
            values = [outcome(c)["surplus"] for c in combos]
            top = max(values)
            # ties (to rounding) keep the earliest combination in edge order
            pick = next(
                c
                for c, v in zip(combos, values, strict=True)
                if v >= top - 1e-9 * max(1.0, abs(top))
            )
        else:
            pick = tuple(o[0] for o in options)
            for _ in range(50):
                changed = False
                for i, (b, _, _) in enumerate(choices):
                    mine = [j for j, (bb, _, _) in enumerate(choices) if bb == b]
                    if mine[0] != i:
                        continue  # a brand picks all its products' suppliers at once
                    best, best_value = pick, None
                    for sub in itertools.product(*[options[j] for j in mine]):
                        trial = list(pick)
                        for j, e in zip(mine, sub, strict=True):
                            trial[j] = e
                        value = float(outcome(tuple(trial))["margin"][pm.brand == b].sum())
                        # a strictly better pick only: ties keep the earlier supplier
                        if best_value is None or value > best_value + 1e-9 * max(
                            1.0, abs(best_value)
                        ):
                            best, best_value = tuple(trial), value
                    if best != pick:
                        pick, changed = best, True
                if not changed:
                    break
        share = share0.copy()
        for (_, p, edges), e in zip(choices, pick, strict=True):
            share[edges, p] = 0.0
            share[e, p] = 1.0
            self.sourcing[self.products[p]] = topo.names[int(topo.seller[e])]
        self._set_order_share(share)

    def _unit_cost(self) -> np.ndarray:
        """[M, P] what one more unit costs each member to buy."""
        return self.cost_weights @ (self.order_share * self.edge_price)

    def _marginal_cost(self) -> np.ndarray:
        """[M, P] what one more unit sold costs: purchase price plus transport it pays."""
        return self._unit_cost() + self.sales_transport[:, None]

    def _setup_ordering(self, cfg: ScenarioConfig) -> None:
        """Ordering rules grouped by (rule, information level), one policy object a group.

        A member's information level is its own ``information`` key, else the
        defaults', else the strategy's information lever. The replenishment lever
        ``echelon`` turns order-up-to rules into echelon order-up-to on end demand;
        ``vendor_managed`` has each retailer's supplier decide the retailer's
        replenishment with the supplier's own rule, on the retailer's point-of-sale
        data and position (so the retailer's information is shared).
        """
        topo = self.topology
        n_products = len(self.products)
        ordering = self._member_attr(cfg, "ordering")
        info = [i or self.levers.information for i in self._member_attr(cfg, "information")]
        lever = self.levers.replenishment
        if lever == "vendor_managed":
            for k in range(topo.n_members):
                supply = topo.supply_edges[k]
                if topo.roles[k] == "retailer" and len(supply):
                    vendor = int(topo.seller[supply[0]])
                    if not topo.is_source[vendor] and ordering[vendor] is not None:
                        ordering[k] = ordering[vendor]
                        info[k] = "shared"
        groups: dict[tuple[str, str], list[int]] = defaultdict(list)
        for k, name in enumerate(topo.names):
            if topo.is_source[k]:
                continue
            if ordering[k] is None:
                raise ConfigError(
                    "no ordering policy: set `ordering` on the member or in `defaults`",
                    file=cfg.source_path,
                    path=f"members.{name}.ordering",
                )
            if lever == "echelon" and isinstance(ordering[k], OrderUpToOrdering):
                ordering[k] = ordering[k].model_copy(update={"echelon": True})
            if getattr(ordering[k], "echelon", False) and info[k] != "shared":
                own = cfg.members[name].ordering is not None
                raise ConfigError(
                    "echelon order-up-to needs shared information "
                    "(information: shared on the member, or strategy: {information: shared} "
                    "or cooperative)",
                    file=cfg.source_path,
                    path=f"members.{name}.ordering.echelon" if own else "defaults.ordering.echelon",
                )
            groups[(ordering[k].policy, info[k])].append(k)
        self.ordering_groups: list[tuple[np.ndarray, OrderingPolicy]] = [
            (
                np.array(ks, dtype=np.int64),
                ORDERING_POLICIES[name]([ordering[k] for k in ks], n_products),
            )
            for (name, _), ks in groups.items()
        ]
        self.information = np.array([i == "shared" for i in info])
        self.needs_unit_cost = any(p.needs_knowledge for _, p in self.ordering_groups)
        for ks, policy in self.ordering_groups:
            if hasattr(policy, "prepare"):
                policy.prepare(self._planning_problem(cfg, ks), ks)
        self.lead_time = topo.replenishment_lead_time()
        self.shared = bool(self.information.any())
        if self.shared:
            self.subtree = topo.subtree_matrix()
            self.echelon_lead = topo.echelon_lead_time()
        self.allow_returns = self.logistics.allow_returns
        self._constants: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def _planning_problem(self, cfg: ScenarioConfig, ks: np.ndarray):
        """The serial chain and its end-demand path, for a perfect-foresight planner."""
        import copy

        from channel_agents.policies.central_plan import PlanningProblem

        topo = self.topology
        channel = [k for k in range(topo.n_members) if not topo.is_source[k]]
        retailers = [k for k in channel if topo.roles[k] == "retailer"]
        serial = len(retailers) == 1 and all(len(topo.supply_edges[k]) == 1 for k in channel)
        serial = serial and all(len(topo.sales_edges[k]) <= 1 for k in channel)
        if not serial or set(map(int, ks)) != set(channel) or self.markets.any_price_responsive:
            raise ConfigError(
                "central_plan plans a whole serial chain with price-insensitive demand: "
                "give it to every member of a single chain",
                file=cfg.source_path,
                path="defaults.ordering",
            )
        stages = [retailers[0]]
        while not topo.is_source[topo.seller[topo.supply_edges[stages[-1]][0]]]:
            stages.append(int(topo.seller[topo.supply_edges[stages[-1]][0]]))
        edges = [int(topo.supply_edges[k][0]) for k in stages]
        # perfect foresight: the same demand the markets will draw (a copy of their state)
        future = copy.deepcopy(self.markets)
        horizon = self.warmup + self.periods
        demand = np.array(
            [future.demand(t, self.retail_price).sum() for t in range(1, horizon + 1)]
        )
        lg = self.logistics
        return PlanningProblem(
            members=tuple(stages),
            order_delay=tuple(int(topo.order_delay[e]) for e in edges),
            lead_time=tuple(int(topo.lead_time[e]) for e in edges),
            initial_flow=tuple(float(cfg.edges[e].initial_flow) for e in edges),
            initial_stock=tuple(float(lg.stock[k].sum()) for k in stages),
            initial_backlog=tuple(float(lg.backlog_owed()[k].sum()) for k in stages),
            holding_cost=tuple(float(self.holding_cost[k]) for k in stages),
            backlog_cost=tuple(float(self.backlog_cost[k]) for k in stages),
            demand=demand,
        )

    def set_ordering_policy(self, member: str, policy: OrderingPolicy) -> None:
        """Seat ``policy`` (a human, a learned policy, a test probe) in ``member``'s
        ordering decisions, before the first period."""
        if self.period:
            raise RuntimeError("seat ordering policies before the first period")
        k = self.topology.names.index(member)
        groups = []
        for ks, pol in self.ordering_groups:
            rest = ks[ks != k]
            if len(rest) == len(ks):
                groups.append((ks, pol))
            elif len(rest):  # rebuild the group's rule for the members that remain
                params = [p for kk, p in zip(ks, pol.params, strict=True) if kk != k]
                groups.append((rest, type(pol)(params, len(self.products))))
        groups.append((np.array([k]), policy))
        self.ordering_groups = groups

    # ------------------------------------------------------------------ the period loop
    def step(self) -> None:
        """One period: the eight phases of DESIGN.md, in order."""
        t = self.period = self.period + 1
        plan = self.__dict__.get("_plan")
        if plan is None:  # decided at the first period (False: the numpy path)
            plan = self._plan = self._kernel_plan() or False
        if plan and not (self.has_fees or self.has_sharing):
            self._compiled_step(t, plan)
            return
        received, orders = self.logistics.arrivals(t)
        market = self.clear_markets(t)
        self.market_revenue = market["revenue"]
        shipped, returned = self.fulfil_orders(t, orders)
        self._shipped, self._sold = shipped, market["sold"]
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

    def _kernel_plan(self) -> KernelPlan | None:
        """The compiled period (kernels.py) where it gives the numpy path's results bit
        for bit and covers every feature in play; None where the numpy path runs.

        The kernels cover one product, arrivals, markets of exogenous or price-responsive demand with
        one retailer per market, fulfilment with one allocation class (returns and
        capacities included), shipping, invoices, costs, payments and interest. They sum
        over edges in edge order, as a sparse incidence does; a dense incidence (a small
        network) sums through BLAS, which may associate differently, so a small network
        takes the kernels only where no member has two edges on one side. Checks
        (``check=True``) and Mesa's data collector run the numpy path, phase by phase."""
        lg, led, mk, topo = self.logistics, self.ledger, self.markets, self.topology

        def in_edge_order(inc: Incidence) -> bool:
            return not isinstance(inc.matrix, np.ndarray) or bool(
                (np.count_nonzero(inc.matrix, axis=1) <= 1).all()
            )

        simple = (
            not self.check
            and self.datacollector is None
            and len(self.products) == 1  # (per-product records and order shares: numpy)
            and not mk.any_differentiated
            and mk.promotions is None
            and mk.population is None
            and not mk.any_cournot
            and self._pairs_are_cells
            and self._markets_are_pairs
            and not self.any_perishable
            and not len(self.qd_edges)
            and not self.has_coop
            and not led.has_credit_limits
            and lg.n_classes == 1
            and all(
                in_edge_order(inc)
                for inc in (lg.by_seller, lg.by_buyer, led.by_seller, led.by_buyer)
            )
        )
        if not simple:
            return None
        from channel_agents import kernels  # numba loads at the first compiled period

        m, e = topo.n_members, topo.n_edges
        p = len(self.products)
        return kernels.KernelPlan(
            edge_ints=np.array(
                [topo.seller, topo.buyer, topo.lead_time, topo.order_delay, led.due_in],
                dtype=np.int64,
            ),
            edge_rules=np.array(
                [
                    self.transport_cost,
                    lg.capacity[:, 0],
                    led.seller_in_channel,
                    lg.edge_keeps_backlog[:, 0],
                    self.order_share[:, 0],
                ],
                dtype=float,
            ),
            member_flags=np.array([topo.is_source, lg.keeps_backlog], dtype=bool),
            member_costs=np.array(
                [self.holding_cost, self.backlog_cost, led.cost_of_capital, self.advertising],
                dtype=float,
            ),
            cell=np.ascontiguousarray(self._cell, dtype=np.int64),
            has_surplus=np.ascontiguousarray(mk.has_surplus, dtype=bool),
            mp=np.zeros((4, m, p)),
            ep=np.zeros((3, e, p)),
            members=np.zeros((5, m)),
            invoice=np.zeros(e),
            pairs=np.zeros((4, mk.n_pairs)),
            goods_and_money=kernels.goods_and_money,
            place_orders=kernels.place_orders,
        )

    def _compiled_step(self, t: int, plan: KernelPlan) -> None:
        """One period through the compiled kernels (see :meth:`_kernel_plan`)."""
        lg, led, mk, rec = self.logistics, self.ledger, self.markets, self.recorder
        pair_demand = mk.demand(t, self.retail_price, self.commitment)
        row = rec.slot if t > self.warmup else -1
        units, spend, issued, paid = plan.goods_and_money(
            t, pair_demand,
            lg.stock, lg.consumer_backlog, lg.backlog, lg.orders_in_transit,
            lg.shipments_in_transit, lg.orders_pending, lg.goods_in_transit,
            lg.received_total, lg.shipped_total, lg.returned_total,
            led.due, led.outstanding, led.cash, led.outside_paid, led.outside_received,
            self.edge_price, self.retail_price, mk.surplus_per_unit, mk.any_surplus,
            self.has_transport, self.has_advertising,
            plan.cell, plan.edge_ints, plan.edge_rules, plan.member_flags, plan.member_costs,
            plan.has_surplus, plan.mp, plan.ep, plan.members, plan.invoice, plan.pairs,
            rec.buffer, row, rec.offsets,
        )  # fmt: skip
        self.consumer_units_total += units
        led.consumer_spend_total += spend
        led.issued_total += issued
        led.paid_total += paid
        incoming, sold, owed, supply_line, shipped, placed, revenue, interest = plan.views
        self.market_revenue, self.invoice_amount = revenue, plan.invoice
        self.owed, self.interest = owed, interest
        self._shipped, self._sold = shipped, sold
        self.negotiate(t)
        if self.dynamic_prices:
            self.last_units = lg.by_seller @ shipped + sold
            self.decide_prices()
        order = self._member_orders(t, incoming, supply_line)
        plan.place_orders(
            t, order, plan.edge_ints, plan.edge_rules, lg.orders_in_transit, lg.orders_pending,
            placed, self.edge_price, rec.buffer, row, rec.offsets,
        )  # fmt: skip
        if row >= 0:
            rec.advance()

    def clear_markets(self, t: int) -> dict[str, np.ndarray]:
        """Phase 2: consumers buy from the retailers' stock (backlog first); perishable
        leftovers are salvaged or returned at the end of the season.

        Promotions open here: a trade deal prices this period's shipments (phase 3), a
        price promotion what consumers pay; their spend is paid out of the channel.
        Population markets buy last, from the stock the other markets leave, and never
        backlog (their consumers come back as members of the population)."""
        lg, mk = self.logistics, self.markets
        shape = lg.stock.shape
        price, promo = self.retail_price, mk.promotions
        if promo is not None:
            promo.open(t, self.edge_price)
            price = promo.consumer_price(self.retail_price)
            self.promotion_spend = promo.spend
            self.ledger.pay_outside(promo.spend)
        pair_demand = mk.demand(t, price, self.commitment, self.retail_price)
        if mk.any_cournot:  # the price follows from the committed quantities
            cells = mk.pair_retailer[mk.cournot[mk.pair_market]]
            self.retail_price[cells, mk.pair_product[mk.cournot[mk.pair_market]]] = mk.market_price[
                mk.pair_market[mk.cournot[mk.pair_market]]
            ]
            price = self.retail_price if promo is None else promo.consumer_price(self.retail_price)
        cell = self._cell
        if self._pairs_are_cells:  # one market pair per (retailer, product): a scatter
            demand = self._demand_buf
            demand.flat[cell] = pair_demand
        else:
            demand = (self.pair_cell @ pair_demand).reshape(shape)
        stock, backlog = lg.stock, lg.consumer_backlog
        from_backlog = np.minimum(stock, backlog)
        new = np.minimum(stock - from_backlog, demand)
        sold = from_backlog + new
        stock -= sold
        self.consumer_units_total += float(sold.sum())
        backlog -= from_backlog
        backlog += (demand - new) * lg.keeps_backlog[:, None]
        # attribute each retailer's sales to its market pairs
        if self._pairs_are_cells:
            pair_sold = sold.flat[cell]
            pair_new = new.flat[cell]
        else:
            flat_demand = demand.reshape(-1)[cell]
            with np.errstate(divide="ignore", invalid="ignore"):
                weight = np.where(
                    flat_demand > 0,
                    pair_demand / flat_demand,
                    1.0 / self.cell_pairs.reshape(-1)[cell],
                )
            pair_sold = weight * sold.reshape(-1)[cell]
            pair_new = weight * new.reshape(-1)[cell]
        if mk.population is not None:  # they buy from what the other markets left
            pop_wanted, pop_bought = mk.purchase(price, self.retail_price, stock)
            pop_sold = (self.pair_cell @ pop_bought).reshape(shape)
            stock -= pop_sold
            self.consumer_units_total += float(pop_bought.sum())
            demand = demand + (self.pair_cell @ pop_wanted).reshape(shape)
            sold = sold + pop_sold
            pair_demand = pair_demand + pop_wanted
            pair_sold = pair_sold + pop_bought
            pair_new = pair_new + pop_bought
        pair_price = price.flat[cell]
        if mk.any_differentiated:
            mk.after_sales(pair_demand, pair_sold)
        revenue = (sold * price).sum(axis=1)
        self.ledger.receive_consumer_spend(revenue)
        if self.any_perishable:
            self._end_season()
        per_market = self._per_market
        pair_surplus = mk.pair_surplus(pair_sold)
        out = {
            "demand": demand,
            "sold": sold,
            "revenue": revenue,
            "market_demand": per_market(pair_demand),
            "market_sold": per_market(pair_sold),
            "market_new": per_market(pair_new),
            "market_spend": per_market(pair_sold * pair_price),
            "market_surplus": per_market(pair_surplus),
        }
        if len(self.products) > 1:  # (one product: its totals are the markets')
            n_p = len(self.products)
            for field, values in (
                ("sold", pair_sold),
                ("spend", pair_sold * pair_price),
                ("surplus", pair_surplus),
            ):
                out[f"product_{field}"] = np.bincount(mk.pair_product, values, n_p)
        return out

    def _per_market(self, pair_values: np.ndarray) -> np.ndarray:
        """Sum (market, retailer) pair values per market (pairs are in market order)."""
        if self._markets_are_pairs:
            return pair_values
        return self.markets.retailers_of @ pair_values

    def _end_season(self) -> None:
        """Perishable members' leftovers leave the channel: returned to the supplier under
        a buyback (refund credited, the supplier salvages them) or salvaged by the member."""
        lg, topo = self.logistics, self.topology
        leftover = np.where(self.perishable[:, None], lg.stock, 0.0)
        lg.stock -= leftover
        units = leftover.sum(axis=1)
        self.salvaged_units_total += float(units.sum())
        returned = (leftover[topo.buyer] * self.order_share).sum(axis=1) * self.returns_leftovers
        kept = units - lg.by_buyer @ returned
        income = kept * self.salvage_value
        income += lg.by_seller @ (returned * self.salvage_value[topo.seller])
        self.salvage_income = income
        self.season_credit = -returned * self.contracts.buyback_price
        self.ledger.receive_outside(income)

    def fulfil_orders(self, t: int, orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Phase 3: sellers ship, returns come back, invoices are issued per contract."""
        lg = self.logistics
        shipped, returned = lg.fulfil(orders)
        lg.dispatch(t, shipped)
        if len(self.qd_edges):
            restart = (t - 1) % self.qd_contract_period == 0
            self.qd_volume[restart] = 0.0
            self.qd_periods[restart] = 0.0
            self.qd_volume += shipped.sum(axis=1)
            self.qd_periods += 1
            self._price_quantity_discounts()
        amount = ((shipped - returned) * self.edge_price).sum(axis=1)
        if self.has_fees:
            amount = amount + np.nan_to_num(self.contracts.fixed_fee)
        if self.has_coop:  # the manufacturer pays its share of the retailer's advertising
            amount = amount - self.coop_paid
        if self.any_perishable:
            amount = amount + self.season_credit
        if self.has_sharing:
            # the buyer passes on (1 - share) of its revenue: consumer sales, salvage, resales
            own = self.market_revenue + self.salvage_income + lg.by_seller @ amount
            amount = amount + np.where(
                self.sharing, (1 - self.contracts.revenue_share) * own[self.topology.buyer], 0.0
            )
        self.invoice_amount = amount
        self.ledger.invoice(t, amount)
        return shipped, returned

    def charge_costs(self, shipped: np.ndarray) -> dict[str, np.ndarray]:
        """Phase 4: holding on stock after shipping, backlog, transport; paid out."""
        lg = self.logistics
        self.owed = lg.backlog_owed()  # after shipping; reused by decisions and recording
        holding = self.holding_cost * lg.stock.sum(axis=1)
        backlog = self.backlog_cost * self.owed.sum(axis=1)
        if self.has_transport:
            transport = lg.by_seller @ (self.transport_cost * shipped.sum(axis=1))
        else:
            transport = self._zeros_m
        self.ledger.pay_outside(holding + backlog + transport)
        if self.has_advertising:
            self.ledger.pay_outside(self.advertising)
        return {"holding": holding, "backlog": backlog, "transport": transport}

    def settle_payments(self, t: int) -> None:
        """Phase 5: invoices falling due are paid; interest on negative cash."""
        self.ledger.settle_due(t)
        self.interest = self.ledger.charge_interest()

    def decide(self, t: int, incoming: np.ndarray) -> np.ndarray:
        """Phase 7: prices top-down (when any rule is dynamic), then orders."""
        if self.dynamic_prices:
            lg = self.logistics
            self.last_units = lg.by_seller @ self._shipped + self._sold
            self.decide_prices()
        return self.decide_orders(t, incoming)

    def decide_prices(self) -> None:
        """Set prices from the top of the chain down: each member sees its suppliers' prices."""
        topo = self.topology
        for ks, policy in self.pricing_groups:
            self._price_at_cost()
            unit_cost = self._marginal_cost()
            if len(self.qd_edges):
                # a buyer on a quantity-discount schedule responds to its seller's cost c
                qd = self.qd_edges
                unit_cost[topo.buyer[qd]] = unit_cost[topo.seller[qd]]
            obs = PriceObservation(
                period=self.period,
                unit_cost=unit_cost[ks],
                price=self.retail_price[ks],
                last_sales=self.last_units[ks],
                is_retailer=self.is_retailer[ks],
                responses=tuple(self.responses[k] for k in ks),
                channel_cost=self.channel_cost[ks],
            )
            price = policy.decide(obs)
            if self.cournot[ks].any():
                committed = policy.commit(obs)
                if committed is not None:
                    self.commitment[ks] = committed
            for j, k in enumerate(ks):
                if topo.roles[k] == "retailer":
                    self.retail_price[k] = price[j]
                else:
                    sales = topo.sales_edges[k]
                    free = sales[~self.edge_price_is_fixed[sales] & ~self.contracts.at_cost[sales]]
                    self.edge_price[free] = price[j]
            if len(self.qd_edges):
                self._price_quantity_discounts()
        self._price_at_cost()

    def _group_constants(self, ks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """A group's lead times and return permissions (fixed for the run), read-only."""
        key = ks.tobytes()
        cached = self._constants.get(key)
        if cached is None:
            cached = (self.lead_time[ks], self.allow_returns[ks])
            for arr in cached:
                arr.flags.writeable = False
            self._constants[key] = cached
        return cached

    def decide_orders(self, t: int, incoming: np.ndarray) -> np.ndarray:
        lg = self.logistics
        order = self._member_orders(t, incoming, lg.supply_line())
        q = order[self.topology.buyer] * self.order_share
        if self.ledger.has_credit_limits:
            q = self._cap_by_credit(q)
        lg.place_orders(t, q)
        return q

    def _member_orders(self, t: int, incoming: np.ndarray, supply_line: np.ndarray) -> np.ndarray:
        """[M, P] each member's order, from its group's rule and observation."""
        lg = self.logistics
        stock = lg.stock
        backlog = self.owed
        if self.shared:
            end = self.subtree @ (incoming * self.is_retailer[:, None])
            goods = stock - lg.consumer_backlog + lg.by_buyer @ lg.goods_in_transit
            own = lg.by_buyer @ (lg.orders_pending + lg.backlog)
            echelon = self.subtree @ goods + own
        order = np.zeros(stock.shape)
        unit_cost = self._unit_cost() if self.needs_unit_cost else None
        for ks, policy in self.ordering_groups:
            lead_time, allow_returns = self._group_constants(ks)
            # x.take(ks, axis=0) is x[ks] (a copy of the group's rows) at half the cost
            common = {
                "period": t, "incoming": incoming.take(ks, axis=0),
                "stock": stock.take(ks, axis=0), "backlog": backlog.take(ks, axis=0),
                "supply_line": supply_line.take(ks, axis=0),
                "lead_time": lead_time, "allow_returns": allow_returns,
            }  # fmt: skip
            if policy.needs_knowledge:
                common["unit_cost"] = unit_cost.take(ks, axis=0)
                common["responses"] = tuple(self.responses[k] for k in ks)
            if self.information[ks[0]]:  # a group shares one information level
                obs: OrderObservation = SharedOrderObservation(
                    **common, end_demand=end.take(ks, axis=0),
                    echelon_position=echelon.take(ks, axis=0),
                    echelon_lead_time=self.echelon_lead.take(ks, axis=0),
                )  # fmt: skip
            else:
                obs = OrderObservation(**common)
            order[ks] = policy.decide(obs)
        return order

    def _cap_by_credit(self, q: np.ndarray) -> np.ndarray:
        """Scale each member's orders down to what its credit limit still allows."""
        value = self.ledger.by_buyer @ (np.maximum(q, 0.0) * self.edge_price).sum(axis=1)
        budget = np.maximum(self.ledger.order_budget(), 0.0)
        over = value > budget
        scale = np.divide(budget, value, out=np.ones_like(value), where=over)
        return np.where(q > 0, q * scale[self.topology.buyer][:, None], q)

    def _raw_records(self) -> dict[str, tuple[int, ...]]:
        """The raw quantities recorded each period, with their shapes."""
        m, e, k = self.topology.n_members, self.topology.n_edges, len(self.config.markets)
        p = len(self.products)
        shapes = {
            "placed": (e, p), "shipped": (e, p), "edge_price": (e, p), "invoice": (e,),
            "incoming": (m, p), "stock": (m, p), "owed": (m, p), "retail_sold": (m, p),
            "holding": (m,), "backlog_cost": (m,), "transport": (m,), "interest": (m,),
            "cash": (m,), "retail_revenue": (m,), "salvage": (m,), "advertising": (m,),
        }  # fmt: skip
        shapes.update({f"market_{f}": (k,) for f in MARKET_FIELDS})
        if p > 1:
            shapes.update({f"product_{f}": (p,) for f in PRODUCT_FIELDS})
        if self.markets.promotions is not None:
            shapes["promotion_spend"] = (m,)
        if self.markets.population is not None:
            n_segments = self.markets.population.n_segments
            shapes.update({f"segment_{f}": (n_segments,) for f in SEGMENT_FIELDS})
        return shapes

    def record(self, market, shipped, returned, costs, placed, incoming) -> None:
        """Phase 8: copy this period's raw quantities into the recorder's slots."""
        rec, lg = self.recorder, self.logistics
        slot = rec.slot
        raw = rec.raw
        raw["placed"][slot] = placed
        raw["shipped"][slot] = shipped
        raw["edge_price"][slot] = self.edge_price
        raw["invoice"][slot] = self.invoice_amount
        raw["incoming"][slot] = incoming
        raw["stock"][slot] = lg.stock
        raw["owed"][slot] = self.owed
        raw["retail_sold"][slot] = market["sold"]
        raw["holding"][slot] = costs["holding"]
        raw["backlog_cost"][slot] = costs["backlog"]
        raw["transport"][slot] = costs["transport"]
        raw["interest"][slot] = self.interest
        raw["cash"][slot] = self.ledger.cash
        raw["retail_revenue"][slot] = market["revenue"]
        raw["salvage"][slot] = self.salvage_income
        raw["advertising"][slot] = self.advertising
        raw["market_demand"][slot] = market["market_demand"]
        raw["market_sold"][slot] = market["market_sold"]
        raw["market_served_on_arrival"][slot] = market["market_new"]
        raw["market_spend"][slot] = market["market_spend"]
        raw["market_surplus"][slot] = market["market_surplus"]
        if "product_sold" in market:
            for f in PRODUCT_FIELDS:
                raw[f"product_{f}"][slot] = market[f"product_{f}"]
        mk = self.markets
        if mk.promotions is not None:
            raw["promotion_spend"][slot] = self.promotion_spend
        if mk.population is not None:
            for f in SEGMENT_FIELDS:
                raw[f"segment_{f}"][slot] = getattr(mk.population, f"seg_{f}")
        rec.advance()
        if self.datacollector is not None:
            self.last = {
                "end_demand": float(market["market_demand"].sum()),
                "units_sold": float(market["market_sold"].sum()),
                "consumer_surplus": float(market["market_surplus"].sum()),
                "team_cost": float((costs["holding"] + costs["backlog"]).sum()),
            }

    def _derive_fields(self, raw: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Per-member and per-market fields (metrics.MEMBER_FIELDS, MARKET_FIELDS) for a
        block of periods at once, from the raw records."""
        lg = self.logistics

        def to_sellers(edge_values: np.ndarray) -> np.ndarray:  # [n, E] -> [n, M]
            return (lg.by_seller @ edge_values.T).T

        def to_buyers(edge_values: np.ndarray) -> np.ndarray:
            return (lg.by_buyer @ edge_values.T).T

        invoice = raw["invoice"]
        revenue = to_sellers(invoice) + raw["retail_revenue"] + raw["salvage"]
        purchases = to_buyers(invoice)
        other = raw["transport"] + raw["interest"] + raw["advertising"]
        if "promotion_spend" in raw:
            other = other + raw["promotion_spend"]
        shipped = to_sellers(raw["shipped"].sum(axis=2)) + raw["retail_sold"].sum(axis=2)
        fields = {
            "orders": to_buyers(raw["placed"].sum(axis=2)),
            "incoming": raw["incoming"].sum(axis=2),
            "shipped": shipped,
            "stock": raw["stock"].sum(axis=2),
            "backlog": raw["owed"].sum(axis=2),
            "holding_cost": raw["holding"],
            "backlog_cost": raw["backlog_cost"],
            "revenue": revenue,
            "purchases": purchases,
            "other_costs": other,
            "profit": revenue - purchases - raw["holding"] - raw["backlog_cost"] - other,
            "cash": raw["cash"],
            "sales_value": to_sellers((raw["shipped"] * raw["edge_price"]).sum(axis=2))
            + raw["retail_revenue"],
        }
        members = np.stack([fields[f] for f in MEMBER_FIELDS], axis=1)
        markets = np.stack([raw[f"market_{f}"] for f in MARKET_FIELDS], axis=1)
        return members, markets

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
