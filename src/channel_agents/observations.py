"""What each member may see when it decides, per the information lever.

A policy receives a frozen observation for the members it decides for (one
row per member, one column per product) and never the agent, the model or
another member's state. ``information: local`` gives :class:`OrderObservation`
(the member's own stock, backlog, supply line and the orders or consumer
demand it received); ``information: shared`` gives
:class:`SharedOrderObservation`, which adds point-of-sale data (end-consumer
demand below the member) and the echelon inventory position. A local
observation has no field that could reveal another member's state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class OrderObservation:
    """A member's own view, for an ordering decision. Arrays are [members, products]."""

    period: int
    incoming: np.ndarray  # orders (or consumer demand) received this period
    stock: np.ndarray  # on hand after shipping
    backlog: np.ndarray  # owed to buyers and consumers
    supply_line: np.ndarray  # ordered and not yet received
    lead_time: np.ndarray  # [members] order_delay + lead_time of its supply edge
    allow_returns: np.ndarray  # [members] may it place negative orders?
    unit_cost: np.ndarray | None = None  # its purchase price under its supply contract
    responses: tuple = ()  # demand knowledge (complete information), per member or None

    @property
    def inventory_position(self) -> np.ndarray:
        """Stock - backlog + supply line."""
        return self.stock - self.backlog + self.supply_line


@dataclass(frozen=True, slots=True, kw_only=True)
class SharedOrderObservation(OrderObservation):
    """Adds shared point-of-sale data and echelon positions (information: shared)."""

    end_demand: np.ndarray  # consumer demand this period at retailers at or below the member
    echelon_position: np.ndarray  # echelon inventory position
    echelon_lead_time: np.ndarray  # [members] summed lead times down to the consumer


@dataclass(frozen=True, slots=True)
class PriceObservation:
    """What a member knows when it sets its selling price. Arrays are [members, products]."""

    period: int
    unit_cost: np.ndarray  # what one more unit costs it (its purchase price)
    price: np.ndarray  # its current selling price
    is_retailer: np.ndarray  # [members] does it sell to consumers?
    last_sales: np.ndarray | None = None  # [members, products] units it sold last period
    # demand knowledge (complete information): each member's anticipated best
    # response of everyone below it, or None where it knows none
    responses: tuple = ()
    channel_cost: np.ndarray | None = None  # shared: the channel's marginal cost to it


def field_names(obs_type: type) -> tuple[str, ...]:
    """The names of the fields an observation type carries."""
    return tuple(obs_type.__dataclass_fields__)
