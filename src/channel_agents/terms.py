"""Contract terms: what edges agree and what contracts fix, for ChannelModel.

The methods here set up and settle the terms the period loop uses: the
advertising plans of co-op advertising markets, the arrays contracts settle
each period (fees, revenue shares, buybacks, quantity-discount volumes), the
negotiation of open terms (phase 6: unit terms top-down, fees bottom-up) and
the prices contracts fix (marginal-cost pass-through, quantity-discount
schedules). They share the model's state; ChannelModel mixes them in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from channel_agents.anticipation import UpstreamMember
from channel_agents.competition import GameResponse
from channel_agents.config import ConfigError, FixedPricing, NegotiationConfig, ScenarioConfig
from channel_agents.policies.pricing import joint_decision


class ContractTerms:
    """Mixin of :class:`~channel_agents.model.ChannelModel`: contract terms and negotiation."""

    def _setup_promotions(self, cfg: ScenarioConfig, pricing: list[Any]) -> list[Any]:
        """Advertising plans for markets whose demand advertising expands (theory card 5).

        Each such market's retailer and its supplier (the manufacturer) play the
        advertising game of policies/promotion.py: siloed, the manufacturer leads
        with its wholesale price, its spend and a co-op share; joint, the channel
        chooses price and both spends. The plan fixes the retail price (and, siloed,
        the wholesale price) for the run; spends are paid every period.
        """
        from channel_agents.config import AdvertisedLinearDemand
        from channel_agents.policies.promotion import joint_plan, siloed_plan

        topo = self.topology
        self.advertising = np.zeros(topo.n_members)
        self.coop_paid = np.zeros(topo.n_edges)
        self.ad_plans: dict[int, Any] = {}
        for j, market in enumerate(cfg.markets):
            d = market.demand
            if not isinstance(d, AdvertisedLinearDemand):
                continue
            if len(market.retailers) != 1:
                raise ConfigError(
                    "advertised demand is modelled for one retailer per market",
                    file=cfg.source_path,
                    path=f"markets[{j}].retailers",
                )
            r = topo.names.index(market.retailers[0])
            e = int(topo.supply_edges[r][0])
            m = int(topo.seller[e])
            cost = float(self._unit_cost()[m, 0]) + float(self.transport_cost[e])
            if self.levers.promotion == "joint":
                plan = joint_plan(d.a, d.b, cost, d.k_r, d.k_m)
            else:
                plan = siloed_plan(d.a, d.b, cost, d.k_r, d.k_m, d.coop)
                self.edge_price[e] = plan.wholesale_price
                self.edge_price_is_fixed[e] = True
                self.contracts.wholesale_price[e] = plan.wholesale_price
            pricing[r] = FixedPricing(policy="fixed", price=float(plan.retail_price))
            self.advertising[r] += plan.retailer_spend
            if not topo.is_source[m]:
                self.advertising[m] += plan.manufacturer_spend
            self.coop_paid[e] = plan.coop_share * plan.retailer_spend
            self.markets.ad_multiplier[j] = d.k_r * np.sqrt(plan.retailer_spend) + d.k_m * np.sqrt(
                plan.manufacturer_spend
            )
            self.ad_plans[r] = (plan, e, d)
        self.has_advertising = bool(self.advertising.any())
        self.has_coop = bool(self.coop_paid.any())
        return pricing

    def _setup_settlement(self, cfg: ScenarioConfig) -> None:
        """Arrays for the contract terms settled each period: fees, shares, buybacks."""
        topo, book = self.topology, self.contracts
        self.has_fees = bool((book.is_("two_part_tariff")).any())
        self.sharing = book.revenue_share < 1.0
        self.has_sharing = bool(self.sharing.any())
        self.perishable = np.array(
            [
                (m.perishable if m.perishable is not None else cfg.defaults.perishable)
                and not topo.is_source[k]
                for k, m in enumerate(cfg.members.values())
            ]
        )
        salvage = self._member_attr(cfg, "salvage_value")
        self.salvage_value = np.array(salvage, dtype=float)
        self.any_perishable = bool(self.perishable.any())
        # a perishable buyer returns its leftovers where the refund beats its own salvage
        refund = book.buyback_price
        keeps = book.revenue_share
        buyer_salvage = self.salvage_value[topo.buyer]
        self.returns_leftovers = (refund > keeps * buyer_salvage) & self.perishable[topo.buyer]
        self.qd_edges = np.flatnonzero(book.is_("quantity_discount"))
        from channel_agents.anticipation import QuantityDiscountBuyer

        for e in self.qd_edges:
            if not isinstance(self.responses[int(topo.buyer[e])], QuantityDiscountBuyer):
                raise ConfigError(
                    "a quantity_discount schedule follows the buyer's inverse demand: its buyer "
                    "must be a retailer alone in a price-responsive (linear or isoelastic) market",
                    file=cfg.source_path,
                    path=f"edges[{int(e)}].contract",
                )
        self.qd_volume = np.zeros(topo.n_edges)
        self.qd_periods = np.zeros(topo.n_edges)
        # the volume a schedule is priced on is the mean over the edge's contract period
        self.qd_contract_period = np.array(
            [(e.negotiation or NegotiationConfig()).contract_period for e in cfg.edges]
        )
        self.salvaged_units_total = 0.0
        self.salvage_income = np.zeros(topo.n_members)
        self.season_credit = np.zeros(topo.n_edges)
        self.market_revenue = np.zeros(topo.n_members)

    # ------------------------------------------------------------------ negotiation
    def negotiate(self, t: int) -> None:
        """Phase 6: where an edge's contract period starts, its members agree open terms.

        Open terms are those the scenario leaves unset: a two-part tariff's unit
        price (the seller's marginal cost, which coordinates) and fee (a split of
        the buyer's profit by the edge's protocol); a revenue share or quantity
        discount share (1 - power); a wholesale price bargained over by any
        protocol but take-it-or-leave-it (where the seller's pricing rule posts it).
        Unit terms are agreed from the top of the chain down, each seller seeing
        the terms agreed above it; fees from the bottom up, each buyer's profit
        including the fees it earns below.
        """
        cfg, topo = self.config, self.topology
        if t == 0:
            self._open = [
                (i, e.negotiation or NegotiationConfig(protocol=self.levers.bargaining))
                for i, e in enumerate(cfg.edges)
                if not topo.is_source[topo.seller[i]] and self._has_open_terms(i)
            ]
        if not self._open or (t and not self.dynamic_prices):
            # with complete information and static prices a renegotiation would agree
            # the same terms: only the first is run
            return
        due = [(i, neg) for i, neg in self._open if t % neg.contract_period == 0]
        if not due:
            return
        from channel_agents.negotiation import NoAgreement, make_protocol, split_pie

        for depth in sorted({int(topo.depth[topo.seller[i]]) for i, _ in due}):
            self.decide_prices()  # the sellers at this depth see the terms agreed above
            for i, neg in due:
                if int(topo.depth[topo.seller[i]]) == depth:
                    self._agree_unit_terms(i, neg, make_protocol)
            self._refresh_after_terms()
        self.decide_prices()
        for i, neg in sorted(due, key=lambda item: -int(topo.depth[topo.buyer[item[0]]])):
            c = cfg.edges[i].contract
            if self.contracts.kind[i] == "two_part_tariff" and (c is None or c.fixed_fee is None):
                b = int(topo.buyer[i])
                pie = self._expected_profit(b, float(self.edge_price[i, 0]), edge=i)
                try:
                    fee = split_pie(
                        neg.protocol, max(pie, 0.0), power=neg.power,
                        discount_seller=neg.discount_seller, discount_buyer=neg.discount_buyer,
                        disagreement_seller=neg.disagreement_seller,
                        disagreement_buyer=neg.disagreement_buyer,
                    )  # fmt: skip
                except NoAgreement:
                    fee = 0.0  # breakdown: the tariff runs at marginal cost, no fee
                self.contracts.fixed_fee[i] = max(fee, 0.0)
        self._setup_settlement_shares()

    def _agree_unit_terms(self, i: int, neg: NegotiationConfig, make_protocol: Any) -> None:
        """Agree the per-unit terms of edge ``i`` given its seller's current unit cost."""
        from channel_agents.negotiation import Party

        cfg, topo, book = self.config, self.topology, self.contracts
        s, b = int(topo.seller[i]), int(topo.buyer[i])
        cost = float(self._unit_cost()[s, 0]) + float(self.transport_cost[i])  # marginal cost
        kind = book.kind[i]
        cfg_c = cfg.edges[i].contract
        if kind == "wholesale" and neg.protocol != "take_it_or_leave_it":
            response = self.responses[b]
            if response is None:
                raise ConfigError(
                    "bargaining over a wholesale price needs price-responsive demand below",
                    file=cfg.source_path,
                    path=f"edges[{i}].negotiation",
                )
            # the frontier runs from the seller's cost to its take-it-or-leave-it price
            hi = float(UpstreamMember([response]).price(np.array([cost]))[0])
            seller = Party(
                lambda w, c=cost, r=response: (w - c) * r.quantity(w),
                neg.disagreement_seller, neg.discount_seller, neg.seller_concession,
            )  # fmt: skip
            buyer = Party(
                lambda w, r=response: r.profit(w),
                neg.disagreement_buyer, neg.discount_buyer, neg.buyer_concession,
            )  # fmt: skip
            protocol = make_protocol(neg.protocol, power=neg.power, deadline=neg.deadline)
            agreement = protocol.negotiate(seller, buyer, cost, hi)
            self.agreements[i] = agreement
            self.edge_price[i] = agreement.terms if agreement.agreed else hi
            self.edge_price_is_fixed[i] = True
        elif kind == "revenue_sharing" and cfg_c is None:
            book.revenue_share[i] = 1.0 - neg.power  # w = share x marginal cost, each period
        elif kind == "quantity_discount" and cfg_c is None:
            book.retailer_share[i] = 1.0 - neg.power

    def _has_open_terms(self, i: int) -> bool:
        book = self.contracts
        kind = book.kind[i]
        c = self.config.edges[i].contract
        if kind == "wholesale":
            protocol = (
                self.config.edges[i].negotiation
                or NegotiationConfig(protocol=self.levers.bargaining)
            ).protocol
            return np.isnan(book.wholesale_price[i]) and protocol != "take_it_or_leave_it"
        if kind == "two_part_tariff":
            return c is None or c.wholesale_price is None or c.fixed_fee is None
        return c is None and kind in ("revenue_sharing", "quantity_discount")

    def _refresh_after_terms(self) -> None:
        """Agreed shares change what buyers anticipate: rebuild their responses."""
        fixed_retail = {
            self.topology.names[k]: p.price
            for k, p in enumerate(self.pricing)
            if isinstance(p, FixedPricing) and self.topology.roles[k] == "retailer"
        }
        self.contracts.wholesale_price[:] = np.where(
            self.edge_price_is_fixed, self.edge_price[:, 0], np.nan
        )
        self.responses = self._build_responses(fixed_retail)
        self._setup_settlement_shares()

    def _setup_settlement_shares(self) -> None:
        book = self.contracts
        self.sharing = book.revenue_share < 1.0
        self.has_sharing = bool(self.sharing.any())
        self.has_fees = bool(np.nan_to_num(book.fixed_fee).any())

    def _expected_profit(self, k: int, unit_cost: float, edge: int | None = None) -> float:
        """A member's expected profit per period at ``unit_cost`` (before fees it pays),
        under its pricing rule, plus the fees it receives from its own buyers. In a
        category game (several products) it is the profit, at the prices just decided,
        on the products that come in through ``edge``."""
        response = self.responses[k]
        w = np.array([unit_cost])
        if isinstance(response, GameResponse):
            cost = self._marginal_cost()[k]
            carried = self.product_map.carries[edge] if edge is not None else True
            margin = float(
                ((response.price(cost) - cost) * response.quantity(cost) * carried).sum()
            )
            fees = float(
                np.nan_to_num(self.contracts.fixed_fee[self.topology.sales_edges[k]]).sum()
            )
            return margin + fees
        if k in self.ad_plans:  # a retailer in an advertising game: its plan's profit
            plan, _, d = self.ad_plans[k]
            q = plan.demand(d.a, d.b, d.k_r, d.k_m)
            margin = (plan.retail_price - unit_cost) * q - (
                1 - plan.coop_share
            ) * plan.retailer_spend
            fees = float(
                np.nan_to_num(self.contracts.fixed_fee[self.topology.sales_edges[k]]).sum()
            )
            return margin + fees
        if response is None:
            margin = 0.0
        elif self.pricing[k].policy == "joint":
            if self.topology.roles[k] == "retailer":
                price, qty = joint_decision(response, self.channel_cost[k, :1])
                margin = float(((price - w) * qty)[0])
            else:
                margin = 0.0  # sells at marginal cost
        else:
            margin = float(response.profit(w)[0])
        fees = float(np.nan_to_num(self.contracts.fixed_fee[self.topology.sales_edges[k]]).sum())
        return margin + fees

    def _price_at_cost(self) -> None:
        """Edges whose contract passes the seller's marginal cost on (x a revenue share)."""
        book = self.contracts
        if book.at_cost.any():
            e = np.flatnonzero(book.at_cost)
            seller = self.topology.seller[e]
            cost = self._unit_cost()[seller] + self.transport_cost[e, None]
            self.edge_price[e] = np.nan_to_num(book.revenue_share[e], nan=1.0)[:, None] * cost

    def _price_quantity_discounts(self) -> None:
        """w(q) = max((1 - L) P(q) + L c, c) on the buyer's mean volume this contract period
        (its anticipated volume before any shipment)."""
        topo, book = self.topology, self.contracts
        unit_cost = self._unit_cost()
        for e in self.qd_edges:
            s, b = topo.seller[e], topo.buyer[e]
            c = unit_cost[s, 0]
            response = self.responses[b]
            if response is None:
                continue
            L = book.retailer_share[e]
            if self.qd_periods[e]:
                q = self.qd_volume[e] / self.qd_periods[e]
            else:
                q = float(response.quantity(np.array([c]))[0])
            curve = response.inner.demand
            self.edge_price[e] = max((1 - L) * float(curve.inverse(q)) + L * c, c)
