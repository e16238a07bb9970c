"""Money: invoices, payment terms, cash, and costs paid outside the channel.

Double entry: every invoice moves money from one member to another (or to a
source, outside the channel); costs (holding, backlog, transport, interest,
promotion) leave the channel. So the sum of the members' cash changes is
always consumer spend minus outside payments, which the tests check every
period.

Invoices are kept as amounts due per edge in a ring buffer indexed by due
period: a settled slot is zeroed and reused, so memory stays flat however
long the run.
"""

from __future__ import annotations

import numpy as np

from channel_agents.config import ScenarioConfig
from channel_agents.network import Incidence, Topology


class Ledger:
    """Cash, receivables and payables of every member.

    An invoice for a shipment in period ``t`` on edge ``e`` falls due in period
    ``t + lead_time[e] + payment_terms[e]``: ``payment_terms: 0`` is cash on
    delivery. A member may carry a ``credit_limit`` (its orders are capped so
    that cash - payables - the new order's value stays above -credit_limit) and
    pays ``cost_of_capital`` per period on negative cash.
    """

    def __init__(self, cfg: ScenarioConfig, topo: Topology):
        m, e = topo.n_members, topo.n_edges
        self.topo = topo
        self.by_seller = Incidence(topo.seller, m)
        self.by_buyer = Incidence(topo.buyer, m)
        members = list(cfg.members.values())
        d = cfg.defaults

        def pick(attr: str) -> list:
            return [
                getattr(mc, attr) if getattr(mc, attr) is not None else getattr(d, attr)
                for mc in members
            ]

        # a contract carries its payment terms; an edge whose contract the strategy
        # picks carries them itself
        terms = [
            ec.contract.payment_terms if ec.contract is not None else (ec.payment_terms or 0)
            for ec in cfg.edges
        ]
        self.payment_terms = np.array(terms, dtype=np.int64)
        self.due_in = topo.lead_time + self.payment_terms
        self.horizon = int(self.due_in.max(initial=0)) + 1
        self.due = np.zeros((self.horizon, e))
        self.outstanding = np.zeros(e)
        self.channel = ~topo.is_source
        self.cash = np.where(self.channel, np.array(pick("cash"), dtype=float), 0.0)
        self.initial_cash = self.cash.copy()
        self.cost_of_capital = np.array(pick("cost_of_capital"), dtype=float)
        limits = pick("credit_limit")
        self.credit_limit = np.array([np.inf if c is None else c for c in limits])
        self.has_credit_limits = bool(np.isfinite(self.credit_limit[self.channel]).any())
        self.edges = np.arange(e)
        self.seller_in_channel = self.channel[topo.seller].astype(float)
        in_channel = self.seller_in_channel > 0
        self.to_channel_sellers = Incidence(topo.seller, m, weights=self.seller_in_channel)
        self.from_sources = Incidence(topo.buyer, m, weights=(~in_channel).astype(float))
        # cumulative totals, for the conservation checks
        self.issued_total = 0.0
        self.paid_total = 0.0
        self.consumer_spend_total = 0.0
        self.outside_paid = np.zeros(m)  # costs and source purchases paid out
        self.outside_received = np.zeros(m)  # refunds from sources

    def invoice(self, t: int, amount: np.ndarray) -> None:
        """Issue invoices (amount per edge, negative for credit notes) due per the terms."""
        self.due[(t + self.due_in) % self.horizon, self.edges] += amount
        self.outstanding += amount
        self.issued_total += float(amount.sum())

    def settle_due(self, t: int) -> np.ndarray:
        """Pay every invoice falling due in period ``t``; returns the amounts per edge."""
        slot = t % self.horizon
        paid = self.due[slot].copy()
        self.due[slot] = 0.0
        self.outstanding -= paid
        self.paid_total += float(paid.sum())
        self.cash -= self.by_buyer @ paid
        self.cash += self.to_channel_sellers @ paid
        # payments to sources leave the channel; credits from them (returns) come in
        to_sources = self.from_sources @ paid
        if (to_sources >= 0).all():
            self.outside_paid += to_sources
        else:
            source_paid = np.where(self.seller_in_channel > 0, 0.0, paid)
            self.outside_paid += self.by_buyer @ np.maximum(source_paid, 0.0)
            self.outside_received += self.by_buyer @ np.maximum(-source_paid, 0.0)
        return paid

    def receive_consumer_spend(self, spend: np.ndarray) -> None:
        """Retailers receive consumers' payments ([M])."""
        self.cash += spend
        self.consumer_spend_total += float(spend.sum())

    def receive_outside(self, amount: np.ndarray) -> None:
        """Members receive money from outside the channel (salvage sales) ([M])."""
        self.cash += amount
        self.outside_received += amount

    def pay_outside(self, cost: np.ndarray) -> None:
        """Members pay costs that leave the channel ([M])."""
        self.cash -= cost
        self.outside_paid += cost

    def charge_interest(self) -> np.ndarray:
        """Cost of capital on negative cash, paid out of the channel; returns it per member."""
        interest = self.cost_of_capital * np.maximum(-self.cash, 0.0)
        if interest.any():
            self.pay_outside(interest)
        return interest

    def receivables(self) -> np.ndarray:
        """Per member: invoices issued to its buyers and not yet paid."""
        return self.by_seller @ (self.outstanding * self.seller_in_channel)

    def payables(self) -> np.ndarray:
        """Per member: invoices it has received and not yet paid."""
        return self.by_buyer @ self.outstanding

    def order_budget(self) -> np.ndarray:
        """Per member: the value it may still order under its credit limit (inf if none)."""
        return self.cash - self.payables() + self.credit_limit
