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
