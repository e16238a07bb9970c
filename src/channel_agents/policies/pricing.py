"""Pricing policies: the price each member charges its buyers (or consumers).

Prices are decided top-down (DESIGN.md, period loop step 7): a member's
``unit_cost`` in its observation is the price its suppliers have just set.
A policy decides for a group of members at once; register new rules with
:func:`register`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from channel_agents.observations import PriceObservation

PRICING_POLICIES: dict[str, type[PricingPolicy]] = {}


def register(cls: type[PricingPolicy]) -> type[PricingPolicy]:
    """Class decorator: make a pricing policy available under ``cls.name``."""
    PRICING_POLICIES[cls.name] = cls
    return cls


class PricingPolicy:
    """Sets selling prices for a group of members: one row of ``obs`` per member.

    ``dynamic = False`` marks a rule whose price depends only on prices above it,
    so the model computes it once instead of every period.
    """

    name: ClassVar[str] = ""
    dynamic: ClassVar[bool] = False

    def __init__(self, params: Sequence[Any], n_products: int):
        self.params = list(params)
        self.n_products = n_products

    def column(self, attr: str) -> np.ndarray:
        return np.array([getattr(p, attr) for p in self.params], dtype=float)[:, None]

    def decide(self, obs: PriceObservation) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def commit(self, obs: PriceObservation) -> np.ndarray | None:
        """Quantities committed (Cournot retailers); None for a price-only rule."""
        return None


@register
class FixedPrice(PricingPolicy):
    """The configured ``price``, every period."""

    name = "fixed"

    def decide(self, obs: PriceObservation) -> np.ndarray:
        return np.broadcast_to(self.column("price"), obs.unit_cost.shape).copy()


@register
class CostPlus(PricingPolicy):
    """(1 + markup) x unit cost + margin."""

    name = "cost_plus"

    def decide(self, obs: PriceObservation) -> np.ndarray:
        return (1.0 + self.column("markup")) * obs.unit_cost + self.column("margin")


@register
class Stackelberg(PricingPolicy):
    """Maximize own profit, anticipating the best responses of every member below.

    The anticipation (``obs.responses``, built bottom-up by anticipation.py from
    the demand and contracts a member knows) gives the price for the member's
    unit cost; a member with no price-responsive demand below it passes its
    cost through.
    """

    name = "stackelberg"

    def decide(self, obs: PriceObservation) -> np.ndarray:
        out = obs.unit_cost.copy()
        for j, response in enumerate(obs.responses):
            if response is not None:
                out[j] = response.price(obs.unit_cost[j])
        return out

    def commit(self, obs: PriceObservation) -> np.ndarray:
        """Cournot retailers: the quantity they commit (their equilibrium share)."""
        out = np.zeros_like(obs.unit_cost)
        for j, response in enumerate(obs.responses):
            if response is not None:
                out[j] = response.quantity(obs.unit_cost[j])
        return out


def joint_decision(response: Any, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A retailer's price and quantity at the channel optimum, for channel marginal cost ``cost``."""
    from channel_agents.anticipation import (
        CournotRetailer,
        MonopolyRetailer,
        NewsvendorRetailer,
        QuantityDiscountBuyer,
    )
    from channel_agents.competition import GameRetailer

    if isinstance(response, GameRetailer):
        return response.joint(cost)
    if isinstance(response, NewsvendorRetailer):
        integrated = NewsvendorRetailer(response.season, response.retail_price, response.salvage)
        return integrated.price(cost), integrated.quantity(cost)
    if isinstance(response, QuantityDiscountBuyer):
        response = response.inner
    if isinstance(response, MonopolyRetailer | CournotRetailer):
        n = response.competitors if isinstance(response, MonopolyRetailer) else response.n
        p = MonopolyRetailer(response.demand).price(cost)
        return p, response.demand.quantity(p) / n
    return cost, np.zeros_like(cost)


@register
class Joint(PricingPolicy):
    """The channel optimum: retailers price as one integrated firm whose marginal cost
    is the channel's (``obs.channel_cost``); members above sell at their marginal cost
    unless the coordinating contract fixes the transfer price."""

    name = "joint"

    def decide(self, obs: PriceObservation) -> np.ndarray:
        out = obs.unit_cost.copy()
        for j, response in enumerate(obs.responses):
            if obs.is_retailer[j] and response is not None:
                out[j] = joint_decision(response, obs.channel_cost[j])[0]
        return out

    def commit(self, obs: PriceObservation) -> np.ndarray:
        out = np.zeros_like(obs.unit_cost)
        for j, response in enumerate(obs.responses):
            if obs.is_retailer[j] and response is not None:
                out[j] = joint_decision(response, obs.channel_cost[j])[1]
        return out


@register
class Adaptive(PricingPolicy):
    """Learns its demand curve from its own prices and sales (no demand knowledge).

    Each period it fits q = alpha - beta p by least squares on its last
    ``memory`` (price, units sold) pairs and moves to the best price for the
    fitted curve, (alpha / beta + unit cost) / 2, probing by +``exploration``, 0, -``exploration``
    (relative, in turn) so the curve stays identified. Until it has three
    distinct prices it probes around ``initial_price`` (default: 1.5 x unit cost).
    """

    name = "adaptive"
    dynamic = True

    def __init__(self, params: Sequence[Any], n_products: int):
        super().__init__(params, n_products)
        n = len(self.params)
        self.memory = max(p.memory for p in self.params)
        self.prices = np.full((self.memory, n, n_products), np.nan)
        self.sales = np.full((self.memory, n, n_products), np.nan)
        self.seen = 0
        self.last: np.ndarray | None = None
        self.base: np.ndarray | None = None
        self.exploration = self.column("exploration")
        init = [p.initial_price for p in self.params]
        self.initial = np.array([np.nan if v is None else v for v in init])[:, None]

    def decide(self, obs: PriceObservation) -> np.ndarray:
        if self.last is not None and obs.last_sales is not None:
            slot = self.seen % self.memory
            self.prices[slot] = self.last
            self.sales[slot] = obs.last_sales
            self.seen += 1
        if self.base is None:
            self.base = np.where(np.isnan(self.initial), 1.5 * obs.unit_cost, self.initial)
        target = self.base.copy()
        for j in range(target.shape[0]):
            for p in range(target.shape[1]):
                x, y = self.prices[:, j, p], self.sales[:, j, p]
                ok = ~np.isnan(x)
                if np.unique(np.round(x[ok], 12)).size < 3:
                    continue
                slope, intercept = np.polyfit(x[ok], y[ok], 1)
                if slope < 0 and intercept > 0:
                    target[j, p] = max(
                        (intercept / -slope + obs.unit_cost[j, p]) / 2, obs.unit_cost[j, p]
                    )
        self.base = target
        probe = (1.0, 0.0, -1.0)[self.seen % 3]  # three prices keep a line identified
        self.last = target * (1.0 + probe * self.exploration)
        return self.last.copy()
