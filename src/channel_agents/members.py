"""Mesa agents for the channel members.

An agent is a member's identity and its decision rules; its state (stock,
backlog, cash ...) lives in the model's arrays, which the properties below
read, so agents never keep copies that could drift.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

if TYPE_CHECKING:
    from channel_agents.model import ChannelModel


class ChannelMember(mesa.Agent):
    """A member of the supply channel (one node of the supply graph)."""

    role = "member"

    def __init__(self, model: ChannelModel, name: str, index: int):
        super().__init__(model)
        self.name = name
        self.index = index

    @property
    def stock(self) -> float:
        """Units on hand (all products)."""
        return float(self.model.logistics.stock[self.index].sum())

    @property
    def backlog(self) -> float:
        """Units owed to buyers and consumers (all products)."""
        lg = self.model.logistics
        owed = lg.consumer_backlog[self.index].sum()
        owed += lg.backlog[self.model.topology.sales_edges[self.index]].sum()
        return float(owed)

    @property
    def cash(self) -> float:
        """Cash on hand."""
        return float(self.model.ledger.cash[self.index])

    @property
    def selling_price(self) -> float:
        """Mean price it charges (its retail price for a retailer)."""
        m = self.model
        if self.role == "retailer":
            return float(m.retail_price[self.index].mean())
        sales = m.topology.sales_edges[self.index]
        return float(m.edge_price[sales].mean()) if len(sales) else float("nan")

    def state(self) -> dict[str, float | str]:
        """A snapshot for tooltips and notebooks."""
        return {
            "name": self.name,
            "role": self.role,
            "stock": self.stock,
            "backlog": self.backlog,
            "cash": self.cash,
            "price": self.selling_price,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


class Source(ChannelMember):
    """Outside the channel: unlimited stock sold at ``unit_cost``."""

    role = "source"


class Supplier(ChannelMember):
    role = "supplier"


class Manufacturer(ChannelMember):
    role = "manufacturer"


class Wholesaler(ChannelMember):
    role = "wholesaler"


class Distributor(ChannelMember):
    role = "distributor"


class Retailer(ChannelMember):
    """Sells to consumers at its posted retail price."""

    role = "retailer"

    @property
    def posted_price(self) -> np.ndarray:
        """Its retail price per product."""
        return self.model.retail_price[self.index].copy()


AGENT_CLASSES: dict[str, type[ChannelMember]] = {
    cls.role: cls for cls in (Source, Supplier, Manufacturer, Wholesaler, Distributor, Retailer)
}
