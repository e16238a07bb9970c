"""Conservation checks, run every period under ``--check`` and in the tests.

- goods: on every edge, shipped + initially in transit = received + in transit;
  in the channel, stock + goods in transit = initial goods + bought from
  sources - returned to sources - sold to consumers;
- money: invoices issued = paid + outstanding; the members' cash changes add
  up to consumer spend - payments out of the channel + refunds from sources;
- no negative stock, no NaN or infinite value in the state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from channel_agents.model import ChannelModel


class InvariantError(AssertionError):
    """A conservation law failed: the report names the period and the quantity."""


class Invariants:
    """Checks a model's state against its conservation laws."""

    def __init__(self, model: ChannelModel, tol: float = 1e-6):
        self.model = model
        self.tol = tol
        lg = model.logistics
        topo = model.topology
        self.from_source = topo.is_source[topo.seller]
        self.initial_goods = float(lg.stock.sum() + lg.goods_in_transit.sum())
        self.sold_total = 0.0
        self._last_stock = None

    def _fail(self, what: str, left: float, right: float) -> None:
        raise InvariantError(
            f"period {self.model.period}: {what}: {left:.10g} != {right:.10g} "
            f"(difference {left - right:.3g})"
        )

    def _close(self, what: str, left: float, right: float) -> None:
        scale = max(1.0, abs(left), abs(right))
        if abs(left - right) > self.tol * scale:
            self._fail(what, left, right)

    def check(self) -> None:
        m = self.model
        lg, led = m.logistics, m.ledger
        for name, arr in (
            ("stock", lg.stock),
            ("backlog", lg.backlog),
            ("consumer backlog", lg.consumer_backlog),
            ("goods in transit", lg.goods_in_transit),
            ("cash", led.cash),
            ("edge prices", m.edge_price),
            ("retail prices", m.retail_price),
        ):
            if not np.isfinite(arr).all():
                raise InvariantError(f"period {m.period}: {name} holds NaN or infinity")
        if (lg.stock < -self.tol).any():
            k = int(np.argmin(lg.stock.min(axis=1)))
            raise InvariantError(
                f"period {m.period}: negative stock at {m.topology.names[k]}: {lg.stock[k].min():.6g}"
            )
        if (lg.backlog < -self.tol).any() or (lg.consumer_backlog < -self.tol).any():
            raise InvariantError(f"period {m.period}: negative backlog")
        not_backlogging = ~lg.keeps_backlog
        if (lg.consumer_backlog[not_backlogging] > self.tol).any():
            raise InvariantError(f"period {m.period}: backlog at a member with lost sales")
        # goods per edge
        left = lg.shipped_total + lg.initial_in_transit
        right = lg.received_total + lg.goods_in_transit
        if not np.allclose(left, right, rtol=self.tol, atol=self.tol):
            e = int(np.argmax(np.abs(left - right).sum(axis=1)))
            self._fail(
                f"goods on edge {e}: shipped + initial != received + in transit",
                float(left[e].sum()),
                float(right[e].sum()),
            )
        # goods in the channel
        self.sold_total = float(m.consumer_units_total)
        inflow = float(lg.shipped_total[self.from_source].sum())
        outflow = float(lg.returned_total[self.from_source].sum()) + self.sold_total
        outflow += m.salvaged_units_total
        self._close(
            "channel goods (stock + in transit = initial + bought - returned - sold - salvaged)",
            float(lg.stock.sum() + lg.goods_in_transit.sum()),
            self.initial_goods + inflow - outflow,
        )
        # money
        self._close(
            "invoices issued = paid + outstanding",
            led.issued_total,
            led.paid_total + float(led.outstanding.sum()),
        )
        channel = led.channel
        self._close(
            "members' cash change = consumer spend - outside payments + refunds",
            float((led.cash - led.initial_cash)[channel].sum()),
            led.consumer_spend_total
            - float(led.outside_paid[channel].sum())
            + float(led.outside_received[channel].sum()),
        )
