"""Contract types and their settlement through the ledger.

Every edge carries one contract. Its terms are arrays over edges (NaN where a
term is open, to be set by the seller's pricing rule or by negotiation):

| type | the buyer pays per period |
|---|---|
| ``wholesale`` | w x units shipped |
| ``two_part_tariff`` | w x units + ``fixed_fee`` |
| ``revenue_sharing`` | w x units + (1 - ``revenue_share``) x its revenue (sales and salvage) |
| ``buyback`` | w x units - ``buyback_price`` x unsold units it returns (perishable buyer) |
| ``quantity_discount`` | w(q) x units, w(q) = (1 - L) P(q) + L c on its mean volume q |

The semantics are those of theory card 2 (Cachon 2003; Pasternack 1985).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from channel_agents.config import (
    BuybackContract,
    QuantityDiscountContract,
    RevenueSharingContract,
    ScenarioConfig,
    TwoPartTariffContract,
    WholesaleContract,
)


@dataclass
class ContractBook:
    """The terms of every edge's contract, as arrays over edges."""

    kind: list[str]  # contract type per edge
    wholesale_price: np.ndarray  # NaN: open (seller's pricing rule or negotiation sets it)
    fixed_fee: np.ndarray  # NaN: open (negotiated)
    revenue_share: np.ndarray  # share of revenue the buyer keeps (1 if no sharing)
    buyback_price: np.ndarray  # refund per returned unsold unit (0 if none)
    retailer_share: np.ndarray  # quantity discount L (NaN if not a quantity discount)
    # the unit price follows the seller's marginal cost (x revenue_share): a two-part
    # tariff or revenue-sharing contract whose price the scenario leaves open
    at_cost: np.ndarray

    @property
    def n_edges(self) -> int:
        return len(self.kind)

    def is_(self, kind: str) -> np.ndarray:
        return np.array([k == kind for k in self.kind], dtype=bool)


def contract_book(cfg: ScenarioConfig, lever_contract: str) -> ContractBook:
    """Read every edge's contract; edges that name none get the strategy's contract lever.

    Source edges always sell at the source's unit cost (a plain wholesale price).
    """
    n = len(cfg.edges)
    kind: list[str] = []
    w = np.full(n, np.nan)
    fee = np.zeros(n)
    share = np.ones(n)
    refund = np.zeros(n)
    qd = np.full(n, np.nan)
    at_cost = np.zeros(n, dtype=bool)
    for i, e in enumerate(cfg.edges):
        seller = cfg.members[e.seller]
        c = e.contract
        if seller.role == "source":
            kind.append("wholesale")
            w[i] = seller.unit_cost
            continue
        if c is None:
            kind.append(lever_contract)
            if lever_contract == "two_part_tariff":
                fee[i] = np.nan
                at_cost[i] = True
            elif lever_contract == "revenue_sharing":
                share[i] = np.nan  # agreed by negotiation; w = share x the seller's cost
                at_cost[i] = True
            continue
        kind.append(c.type)
        if isinstance(c, WholesaleContract):
            w[i] = np.nan if c.wholesale_price is None else c.wholesale_price
        elif isinstance(c, TwoPartTariffContract):
            w[i] = np.nan if c.wholesale_price is None else c.wholesale_price
            fee[i] = np.nan if c.fixed_fee is None else c.fixed_fee
            at_cost[i] = c.wholesale_price is None
        elif isinstance(c, RevenueSharingContract):
            w[i] = c.wholesale_price
            share[i] = c.revenue_share
        elif isinstance(c, BuybackContract):
            w[i] = c.wholesale_price
            refund[i] = c.buyback_price
        elif isinstance(c, QuantityDiscountContract):
            qd[i] = c.retailer_share
    return ContractBook(kind, w, fee, share, refund, qd, at_cost)
