"""Goods: stock, backlogs, orders and shipments in transit, shortage allocation.

All goods state lives in numpy arrays owned by one :class:`Logistics` object,
with a product axis from the start (``P`` products). Orders and shipments in
transit are ring buffers indexed by arrival period, so a period touches one
slot per buffer whatever the delays.

Shapes: ``M`` members, ``E`` edges (seller -> buyer), ``P`` products.
"""

from __future__ import annotations

import numpy as np

from channel_agents.config import ScenarioConfig
from channel_agents.network import Incidence, Topology

ALLOCATION_RULES = ("proportional", "fifo", "priority")


class Logistics:
    """Stock, backlogs and the order and shipment pipelines of every edge.

    Period ``t`` starts at 1. An order placed in period ``t`` on edge ``e``
    reaches the seller in period ``t + order_delay[e]``; goods shipped in ``t``
    reach the buyer in ``t + lead_time[e]``.
    """

    def __init__(self, cfg: ScenarioConfig, topo: Topology, n_products: int):
        m, e, p = topo.n_members, topo.n_edges, n_products
        self.topo = topo
        self.by_seller = Incidence(topo.seller, m)
        self.by_buyer = Incidence(topo.buyer, m)
        self.edges = np.arange(e)
        self.order_delay = topo.order_delay
        self.lead_time = topo.lead_time
        self.h_orders = int(topo.order_delay.max(initial=1)) + 1
        self.h_ships = int(topo.lead_time.max(initial=1)) + 1
        members = list(cfg.members.values())
        defaults = cfg.defaults

        def pick(attr: str):
            return [
                getattr(mc, attr) if getattr(mc, attr) is not None else getattr(defaults, attr)
                for mc in members
            ]

        # goods state
        self.stock = np.zeros((m, p))
        self.stock[:] = np.array([mc.stock for mc in members])[:, None]
        self.stock[topo.is_source] = 0.0
        self.consumer_backlog = np.zeros((m, p))
        self.backlog = np.zeros((e, p))  # owed by the seller of each edge to its buyer
        self.orders_in_transit = np.zeros((self.h_orders, e, p))
        self.shipments_in_transit = np.zeros((self.h_ships, e, p))
        self.orders_pending = np.zeros((e, p))  # sum over the order ring
        self.goods_in_transit = np.zeros((e, p))  # sum over the shipment ring
        # initial backlog of a member is owed to its consumers (retailer) or spread
        # evenly over its sales edges
        for k, mc in enumerate(members):
            if mc.backlog:
                sales = topo.sales_edges[k]
                if topo.roles[k] == "retailer" or not len(sales):
                    self.consumer_backlog[k] = mc.backlog
                else:
                    self.backlog[sales] += mc.backlog / len(sales)
        # pipelines start full of initial_flow: arrivals in periods 1..delay
        for i, ec in enumerate(cfg.edges):
            if ec.initial_flow:
                for t in range(1, ec.order_delay + 1):
                    self.orders_in_transit[t % self.h_orders, i] = ec.initial_flow
                for t in range(1, ec.lead_time + 1):
                    self.shipments_in_transit[t % self.h_ships, i] = ec.initial_flow
        self.orders_pending = self.orders_in_transit.sum(axis=0)
        self.goods_in_transit = self.shipments_in_transit.sum(axis=0)

        # per-member rules, as arrays for the loop
        self.keeps_backlog = np.array([u == "backlog" for u in pick("unmet_demand")])
        self.allow_returns = np.array(pick("allow_returns"), dtype=bool)
        cap = [ec.capacity for ec in cfg.edges]
        self.capacity = np.array([np.inf if c is None else c for c in cap])[:, None]
        self.has_capacity = bool(np.isfinite(self.capacity).any())
        self.source_supply = np.where(topo.is_source, np.inf, 0.0)[:, None]
        self.edge_keeps_backlog = self.keeps_backlog[topo.seller][:, None]
        # allocation: claims are served class by class; proportional within a class
        rules = pick("allocation")
        seller_rule = [rules[s] for s in topo.seller]
        self.fifo_edges = np.array([r == "fifo" for r in seller_rule], dtype=bool)
        prio = np.zeros(e, dtype=np.int64)
        for s in range(m):
            if rules[s] == "priority":
                sales = topo.sales_edges[s]
                ranks = sorted(sales, key=lambda i: (cfg.edges[i].priority, i))
                for r, i in enumerate(ranks):
                    prio[i] = r
        self.priority_rank = prio
        self.n_classes = max(int(prio.max(initial=0)) + 1, 2 if self.fifo_edges.any() else 1)
        # cumulative flows, for conservation checks
        self.shipped_total = np.zeros((e, p))
        self.received_total = np.zeros((e, p))
        self.returned_total = np.zeros((e, p))
        self.initial_in_transit = self.goods_in_transit.copy()

    # ------------------------------------------------------------------ arrivals
    def arrivals(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Goods and orders arriving in period ``t``: returns (received, orders), both [E, P]."""
        so, ss = t % self.h_orders, t % self.h_ships
        received = self.shipments_in_transit[ss].copy()
        self.shipments_in_transit[ss] = 0.0
        orders = self.orders_in_transit[so].copy()
        self.orders_in_transit[so] = 0.0
        self.goods_in_transit -= received
        self.orders_pending -= orders
        self.received_total += received
        self.stock += self.by_buyer @ received
        return received, orders

    # ------------------------------------------------------------------ fulfilment
    def fulfil(self, orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each seller ships min(stock, backlog + orders), sharing shortages by its rule.

        Negative orders (returns) first cancel the edge's backlog; the rest goes
        back from the buyer's stock, capped at that stock. Returns (shipped,
        returned), both [E, P]; shipped goods are not yet in a pipeline.
        """
        owed = self.backlog + orders
        returned = None
        if (owed < 0).any():
            returned = self._take_returns(owed)
        if self.n_classes == 1:
            shipped = self._allocate(owed, self.stock + self.source_supply)
        else:
            shipped = self._allocate_by_class(owed)
        if self.has_capacity:
            np.minimum(shipped, self.capacity, out=shipped)
        self.backlog = (owed - shipped) * self.edge_keeps_backlog
        self.stock -= self.by_seller @ shipped
        self.stock[self.topo.is_source] = 0.0
        return shipped, returned if returned is not None else np.zeros_like(shipped)

    def _allocate(self, claims: np.ndarray, available: np.ndarray) -> np.ndarray:
        total = self.by_seller @ claims
        # rounding can leave -1e-16 of stock: never ship a negative share
        available = np.maximum(available, 0.0)
        short = total > available
        if not short.any():
            return claims.copy()
        ratio = np.divide(available, total, out=np.ones_like(total), where=short)
        return claims * ratio[self.topo.seller]

    def _allocate_by_class(self, owed: np.ndarray) -> np.ndarray:
        available = self.stock + self.source_supply
        shipped = np.zeros_like(owed)
        backlog_part = np.minimum(self.backlog, owed)
        for c in range(self.n_classes):
            cls = self.priority_rank == c
            claims = np.zeros_like(owed)
            if c == 0:
                claims[self.fifo_edges] = backlog_part[self.fifo_edges]
                claims[cls & ~self.fifo_edges] = owed[cls & ~self.fifo_edges]
            elif c == 1:
                claims[self.fifo_edges] = (owed - backlog_part)[self.fifo_edges]
                claims[cls & ~self.fifo_edges] = owed[cls & ~self.fifo_edges]
            else:
                claims[cls] = owed[cls]
            part = self._allocate(claims, available)
            shipped += part
            available = available - self.by_seller @ part
        return shipped

    def _take_returns(self, owed: np.ndarray) -> np.ndarray:
        """Turn negative claims into returns from the buyer's stock (capped), in place."""
        want = np.maximum(-owed, 0.0)
        owed[:] = np.maximum(owed, 0.0)
        # a buyer returning on several edges shares its stock among them pro rata
        per_buyer = self.by_buyer @ want
        stock = np.maximum(self.stock, 0.0)
        short = per_buyer > stock
        ratio = np.divide(stock, per_buyer, out=np.ones_like(per_buyer), where=short)
        returned = want * ratio[self.topo.buyer]
        self.stock -= self.by_buyer @ returned
        self.stock += self.by_seller @ returned
        self.stock[self.topo.is_source] = 0.0
        self.returned_total += returned
        return returned

    def dispatch(self, t: int, shipped: np.ndarray) -> None:
        """Put shipped goods into the pipeline: they arrive in period t + lead_time."""
        self.shipments_in_transit[(t + self.lead_time) % self.h_ships, self.edges] += shipped
        self.goods_in_transit += shipped
        self.shipped_total += shipped

    def place_orders(self, t: int, quantity: np.ndarray) -> None:
        """Send orders ([E, P]); each reaches its seller in period t + order_delay."""
        self.orders_in_transit[(t + self.order_delay) % self.h_orders, self.edges] += quantity
        self.orders_pending += quantity

    # ------------------------------------------------------------------ views
    def supply_line(self) -> np.ndarray:
        """Per member [M, P]: ordered and not yet received (orders in transit,
        the seller's backlog to it, goods in transit)."""
        return self.by_buyer @ (self.orders_pending + self.backlog + self.goods_in_transit)

    def backlog_owed(self) -> np.ndarray:
        """Per member [M, P]: backlog owed to its buyers and consumers."""
        return self.by_seller @ self.backlog + self.consumer_backlog
