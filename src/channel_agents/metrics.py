"""Recording and the run summary.

Each period after warm-up the model copies its raw state (stock, shipments,
invoices ...) into a preallocated block of period slots, one plain array copy
per quantity. When the block fills, the per-member and per-market fields are
derived for all its periods at once (vectorized sums over edges and products)
and folded into running sums (and, when series are kept, appended to the
series). So the period loop does no bookkeeping arithmetic, the summary
never needs the series, and a long run with series off uses flat memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

MEMBER_FIELDS = (
    "orders",  # units ordered (as placed, negative for returns)
    "incoming",  # orders (or consumer demand) received
    "shipped",  # units shipped to buyers and sold to consumers
    "stock",  # on hand after shipping
    "backlog",  # owed to buyers and consumers after shipping
    "holding_cost",
    "backlog_cost",
    "revenue",  # sales to buyers and consumers, net of credits
    "purchases",  # goods bought, net of credits
    "other_costs",  # transport, interest, advertising, promotion spend
    "profit",
    "cash",
    "sales_value",  # value of the units shipped or sold, at the selling price
)
MARKET_FIELDS = ("demand", "sold", "served_on_arrival", "spend", "surplus")
# per consumer segment of population markets (raw ``segment_<field>``, totalled only):
# surplus; consumers who went shopping; consumer trips served; consumers who met a stockout
SEGMENT_FIELDS = ("surplus", "shoppers", "served", "exposed")
# per product (raw ``product_<field>``, totalled only): units sold, consumer spend, surplus
PRODUCT_FIELDS = ("sold", "spend", "surplus")
TOTALLED = tuple(f"segment_{f}" for f in SEGMENT_FIELDS) + tuple(
    f"product_{f}" for f in PRODUCT_FIELDS
)
# raw quantities the compiled period kernels record (kernels.py), in their order
KERNEL_RECORDS = (
    "shipped", "invoice", "incoming", "stock", "owed", "retail_sold", "holding",
    "backlog_cost", "transport", "interest", "cash", "retail_revenue", "advertising",
    "market_demand", "market_sold", "market_served_on_arrival", "market_spend",
    "market_surplus", "placed", "edge_price",
)  # fmt: skip
_MF = {f: i for i, f in enumerate(MEMBER_FIELDS)}
_KF = {f: i for i, f in enumerate(MARKET_FIELDS)}


class Recorder:
    """Preallocated per-period records, folded into sums block by block."""

    def __init__(
        self,
        raw: dict[str, tuple[int, ...]],
        derive: Callable[[dict[str, np.ndarray]], tuple[np.ndarray, np.ndarray]],
        n_members: int,
        n_markets: int,
        periods: int,
        keep_series: bool,
        block: int = 1024,
    ):
        self.block = max(1, min(block, periods))
        self.keep_series = keep_series
        # one flat buffer holding each raw quantity's [block, *shape] array, C-contiguous
        # one after the other, so a compiled kernel writes a period's records into it
        # (quantity k of KERNEL_RECORDS, period slot s: offsets[k] + s * its size)
        self._layout: list[tuple[str, int, tuple[int, ...]]] = []
        start = 0
        for name, shape in raw.items():
            self._layout.append((name, start, shape))
            start += self.block * math.prod(shape)
        self.buffer = np.zeros(start)
        self.raw = self._views()
        offset = {name: start for name, start, _ in self._layout}
        self.offsets = np.array([offset.get(name, -1) for name in KERNEL_RECORDS], dtype=np.int64)
        self.derive = derive
        self.n_members = n_members
        self.n_markets = n_markets
        self.slot = 0
        self.count = 0
        self.member_sum = np.zeros((len(MEMBER_FIELDS), n_members))
        self.market_sum = np.zeros((len(MARKET_FIELDS), n_markets))
        # shifted sums of squares for variances (shift = first value: no cancellation)
        self.order_shift: np.ndarray | None = None
        self.order_sum = np.zeros(n_members)
        self.order_sumsq = np.zeros(n_members)
        self.demand_shift: float | None = None
        self.demand_sum = 0.0
        self.demand_sumsq = 0.0
        self.cash_min = np.full(n_members, np.inf)
        # totals over the recorded periods of the raw quantities that have no series
        self.raw_totals = {name: np.zeros(raw[name]) for name in TOTALLED if name in raw}
        self.member_blocks: list[np.ndarray] = []
        self.market_blocks: list[np.ndarray] = []

    def _views(self) -> dict[str, np.ndarray]:
        """Each raw quantity's [block, *shape] array, a view of the buffer."""
        return {
            name: self.buffer[start : start + self.block * math.prod(shape)].reshape(
                self.block, *shape
            )
            for name, start, shape in self._layout
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["raw"]  # views: a copy (copy.deepcopy, pickle) rebuilds them on its buffer
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.raw = self._views()

    def slot_of(self, name: str) -> np.ndarray:
        """This period's slot of raw quantity ``name`` (write into it)."""
        return self.raw[name][self.slot]

    def advance(self) -> None:
        self.slot += 1
        self.count += 1
        if self.slot == self.block:
            self.fold()

    def fold(self) -> None:
        """Add the filled part of the block to the running sums (and the series)."""
        n = self.slot
        if n == 0:
            return
        mem, mk = self.derive({name: buf[:n] for name, buf in self.raw.items()})
        for name, total in self.raw_totals.items():
            total += self.raw[name][:n].sum(axis=0)
        self.member_sum += mem.sum(axis=0)
        np.minimum(self.cash_min, mem[:, _MF["cash"], :].min(axis=0), out=self.cash_min)
        self.market_sum += mk.sum(axis=0)
        orders = mem[:, _MF["orders"], :]
        demand = mk[:, _KF["demand"], :].sum(axis=1)
        if self.order_shift is None:
            self.order_shift = orders[0].copy()
            self.demand_shift = float(demand[0])
        d_orders = orders - self.order_shift
        self.order_sum += d_orders.sum(axis=0)
        self.order_sumsq += (d_orders**2).sum(axis=0)
        d_demand = demand - self.demand_shift
        self.demand_sum += float(d_demand.sum())
        self.demand_sumsq += float((d_demand**2).sum())
        if self.keep_series:
            self.member_blocks.append(mem)
            self.market_blocks.append(mk)
        self.slot = 0

    def total(self, field: str) -> np.ndarray:
        return self.member_sum[_MF[field]]

    def market_total(self, field: str) -> np.ndarray:
        return self.market_sum[_KF[field]]

    def order_variance(self) -> np.ndarray:
        n = max(self.count, 1)
        mean = self.order_sum / n
        return np.maximum(self.order_sumsq / n - mean**2, 0.0)

    def demand_variance(self) -> float:
        n = max(self.count, 1)
        mean = self.demand_sum / n
        return max(self.demand_sumsq / n - mean**2, 0.0)

    def member_series(self) -> np.ndarray:
        """[periods, fields, members] of the recorded periods (series must be kept)."""
        if not self.member_blocks:
            return np.zeros((0, len(MEMBER_FIELDS), self.n_members))
        return np.concatenate(self.member_blocks)

    def market_series(self) -> np.ndarray:
        if not self.market_blocks:
            return np.zeros((0, len(MARKET_FIELDS), self.n_markets))
        return np.concatenate(self.market_blocks)


def _num(x: float) -> float | None:
    """A JSON-safe number: None for NaN or infinity, plain float otherwise."""
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def _ratio(num: float, den: float) -> float | None:
    return _num(num / den) if den > 1e-12 else None


def summarize(model: Any) -> dict[str, Any]:
    """The run summary of DESIGN.md ("Interfaces that stay stable") from the recorder."""
    rec: Recorder = model.recorder
    rec.fold()
    n = max(rec.count, 1)
    topo = model.topology
    channel = [k for k in range(topo.n_members) if not topo.is_source[k]]
    markets = model.markets
    has_surplus = bool(markets.has_surplus.any())
    retailers = [k for k in channel if topo.roles[k] == "retailer"]

    demand = rec.market_total("demand")
    sold = rec.market_total("sold")
    spend = rec.market_total("spend")
    surplus = rec.market_total("surplus")
    served = rec.market_total("served_on_arrival")
    profit = rec.total("profit")
    cost = rec.total("holding_cost") + rec.total("backlog_cost")
    units = rec.total("shipped")
    value = rec.total("sales_value")
    var_d = rec.demand_variance()
    var_o = rec.order_variance()

    def per_member(values: np.ndarray) -> dict[str, float | None]:
        return {topo.names[k]: _num(values[k]) for k in channel}

    by_product = _by_product(model, rec, n)
    total_cost = cost[channel].sum()
    summary: dict[str, Any] = {
        "consumer_surplus": _num(surplus.sum() / n) if has_surplus else None,
        "units_sold": _num(sold.sum() / n),
        "retail_price": _ratio(spend.sum(), sold.sum()),
        "fill_rate": _ratio(served.sum(), demand.sum()),
        "channel_profit": _num(profit[channel].sum() / n),
        "profit": per_member(profit / n),
        "price": {topo.names[k]: _ratio(value[k], units[k]) for k in channel},
        "units_ordered": _num(rec.total("orders")[retailers].sum() / n),
        "cost": per_member(cost),
        "team_cost": _num(total_cost),
        "bullwhip": {
            topo.names[k]: (_num(var_o[k] / var_d) if var_d > 1e-12 else None) for k in channel
        },
        "lowest_cash": {topo.names[k]: _num(rec.cash_min[k]) for k in channel},
        "advertising": (
            {topo.names[k]: _num(model.advertising[k]) for k in channel}
            if getattr(model, "has_advertising", False)
            else None
        ),
        "coop_share": _coop_share(model),
        **_consumer_value(model, rec, n),
        "by_product": by_product,
        "periods": int(rec.count),
        "warmup": int(model.warmup),
        "seed": int(model.seed),
        "config": model.config.source_path or model.config.name,
    }
    return summary


def _by_product(model: Any, rec: Recorder, n: int) -> dict[str, Any]:
    """Per product (per-period means): consumer surplus, units sold, share of all units
    sold, mean price paid, consumer spend, quality at the retailers that sell it, its
    brand and, where the brand chose among suppliers, the supplier it buys from."""
    markets = model.markets
    if "product_sold" in rec.raw_totals:
        sold, spend, surplus = (rec.raw_totals[f"product_{f}"] for f in PRODUCT_FIELDS)
    else:  # one product: its totals are the markets'
        sold, spend, surplus = (np.array([rec.market_total(f).sum()]) for f in PRODUCT_FIELDS)
    pm = model.product_map
    sourcing = getattr(model, "sourcing", {}) or {}
    total_sold = float(sold.sum())
    out: dict[str, Any] = {}
    for p, product in enumerate(model.products):
        pairs = markets.pair_product == p
        has_surplus = bool(markets.has_surplus[markets.pair_market[pairs]].any())
        sellers = np.unique(markets.pair_retailer[pairs])
        quality = float(model.quality[sellers, p].mean()) if len(sellers) else None
        out[product] = {
            "consumer_surplus": _num(surplus[p] / n) if has_surplus else None,
            "units_sold": _num(sold[p] / n),
            "share": _ratio(sold[p], total_sold),
            "retail_price": _ratio(spend[p], sold[p]),
            "spend": _num(spend[p] / n),
            "quality": None if quality is None else _num(quality),
            "brand": model.topology.names[pm.brand[p]] if pm.brand[p] >= 0 else None,
            "supplier": sourcing.get(product),
        }
    return out


def _consumer_value(model: Any, rec: Recorder, n: int) -> dict[str, Any]:
    """Consumer value in population markets: surplus per segment (per-period mean) and per
    consumer (per period), the share of shoppers' trips served, the share of shoppers who
    met a stockout. All null without population markets."""
    pop = model.markets.population
    keys = (
        "consumer_surplus_by_segment", "consumer_surplus_per_consumer",
        "share_served", "stockout_exposure",
    )  # fmt: skip
    if pop is None:
        return dict.fromkeys(keys)
    t = {f: rec.raw_totals[f"segment_{f}"] for f in SEGMENT_FIELDS}
    shoppers = float(t["shoppers"].sum())
    return {
        "consumer_surplus_by_segment": {
            name: _num(t["surplus"][i] / n) for i, name in enumerate(pop.seg_names)
        },
        "consumer_surplus_per_consumer": _ratio(float(t["surplus"].sum()) / n, pop.seg_size.sum()),
        "share_served": _ratio(float(t["served"].sum()), shoppers),
        "stockout_exposure": _ratio(float(t["exposed"].sum()), shoppers),
    }


def _coop_share(model: Any) -> float | None:
    """Share of retailers' advertising paid by their manufacturers (None without co-op)."""
    if not getattr(model, "has_advertising", False):
        return None
    topo = model.topology
    retail = float(
        model.advertising[[r for r in range(topo.n_members) if topo.roles[r] == "retailer"]].sum()
    )
    return _ratio(float(model.coop_paid.sum()), retail) if retail > 0 else None


def series_frame(model: Any) -> pd.DataFrame:
    """One row per recorded period and channel member (sources left out)."""
    rec: Recorder = model.recorder
    rec.fold()
    data = rec.member_series()
    topo = model.topology
    channel = np.flatnonzero(~topo.is_source)
    t = data.shape[0]
    periods = np.arange(model.warmup + 1, model.warmup + t + 1)
    frame = {
        "period": np.repeat(periods, len(channel)),
        "member": np.tile(np.array(topo.names, dtype=object)[channel], t),
        "role": np.tile(np.array(topo.roles, dtype=object)[channel], t),
    }
    for i, f in enumerate(MEMBER_FIELDS):
        frame[f] = data[:, i, channel].reshape(-1)
    return pd.DataFrame(frame)


def market_frame(model: Any) -> pd.DataFrame:
    """One row per recorded period and market."""
    rec: Recorder = model.recorder
    rec.fold()
    data = rec.market_series()
    names = [m.name for m in model.config.markets]
    t = data.shape[0]
    frame: dict[str, Any] = {
        "period": np.repeat(np.arange(model.warmup + 1, model.warmup + t + 1), len(names)),
        "market": np.tile(np.array(names, dtype=object), t),
    }
    for i, f in enumerate(MARKET_FIELDS):
        frame[f] = data[:, i, :].reshape(-1)
    return pd.DataFrame(frame)
