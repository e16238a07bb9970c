"""The tiered drawing of a supply channel: suppliers left, retailers right, markets last.

Columns follow the chain: a member's column is its depth below the sources
(the longest supply path), except that every retailer sits in the last
member column; then one column of consumer markets. (Depth, not the role
name, decides: in the beer game the distributor buys from the factory and
sells to the wholesaler.) Within a column members are ordered by the mean position of their
suppliers (one barycentre sweep), which keeps edges from crossing in trees and
layered networks. The layout depends only on the topology, so a run computes
it once (and strategies of the same scenario share it: :func:`tiered_layout`
is cached on the topology).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from channel_agents.config import ROLE_TIER

MARKET = "market"


@dataclass(frozen=True)
class Layout:
    """Node positions in [0, 1] x [0, 1] (x left to right, y top to bottom)."""

    member_x: np.ndarray  # [M]
    member_y: np.ndarray  # [M]
    market_x: np.ndarray  # [K]
    market_y: np.ndarray  # [K]
    columns: tuple[str, ...]  # role of each column, "market" last

    @property
    def n_columns(self) -> int:
        return len(self.columns)


def _spread(order: list[int], y: np.ndarray) -> None:
    n = len(order)
    for rank, k in enumerate(order):
        y[k] = (rank + 0.5) / n


def member_columns(roles: tuple[str, ...], depth: tuple[int, ...]) -> np.ndarray:
    """Column of each member: its depth, retailers last; empty columns removed."""
    raw = np.array(depth, dtype=np.int64)
    retail = np.array([r == "retailer" for r in roles])
    if retail.any():
        raw[retail] = raw.max()
    used = sorted(set(raw.tolist()))
    return np.array([used.index(v) for v in raw], dtype=np.int64)


def role_order(roles: tuple[str, ...], depth: tuple[int, ...]) -> tuple[str, ...]:
    """Roles in chain order (mean column of their members, then the usual role order)."""
    col = member_columns(roles, depth)
    mean = {r: float(np.mean([c for c, rr in zip(col, roles, strict=True) if rr == r]))
            for r in set(roles)}  # fmt: skip
    return tuple(sorted(mean, key=lambda r: (mean[r], ROLE_TIER[r])))


@lru_cache(maxsize=32)
def _layout(
    roles: tuple[str, ...],
    depth: tuple[int, ...],
    seller: tuple[int, ...],
    buyer: tuple[int, ...],
    market_retailers: tuple[tuple[int, ...], ...],
) -> Layout:
    col = member_columns(roles, depth)
    tiers = sorted(set(col.tolist()))
    n_cols = len(tiers) + (1 if market_retailers else 0)
    m = len(roles)
    x = col / max(n_cols - 1, 1)
    y = np.zeros(m)
    parents: list[list[int]] = [[] for _ in range(m)]
    for s, b in zip(seller, buyer, strict=True):
        parents[b].append(s)
    for c in range(len(tiers)):
        members = [k for k in range(m) if col[k] == c]
        if c == 0:
            order = members
        else:
            # barycentre of the suppliers already placed (those in earlier columns)
            def key(k: int, c: int = c) -> tuple[float, int]:
                placed = [y[p] for p in parents[k] if col[p] < c]
                return (float(np.mean(placed)) if placed else 0.5, k)

            order = sorted(members, key=key)
        _spread(order, y)
    k_markets = len(market_retailers)
    mx = np.ones(k_markets)
    my = np.zeros(k_markets)
    if k_markets:
        bary = [float(np.mean([y[r] for r in rs])) if rs else 0.5 for rs in market_retailers]
        order = sorted(range(k_markets), key=lambda j: (bary[j], j))
        for rank, j in enumerate(order):
            my[j] = (rank + 0.5) / k_markets
    columns = tuple(
        max(
            sorted({roles[k] for k in range(m) if col[k] == c}),
            key=lambda r, c=c: sum(1 for k in range(m) if col[k] == c and roles[k] == r),
        )
        for c in tiers
    )
    if k_markets:
        columns = (*columns, MARKET)
    return Layout(x, y, mx, my, columns)


def tiered_layout(model) -> Layout:
    """The tiered layout of a :class:`~channel_agents.model.ChannelModel` (cached)."""
    topo = model.topology
    index = {n: i for i, n in enumerate(topo.names)}
    markets = tuple(tuple(index[r] for r in m.retailers) for m in model.config.markets)
    return _layout(
        tuple(topo.roles),
        tuple(int(d) for d in topo.depth),
        tuple(int(s) for s in topo.seller),
        tuple(int(b) for b in topo.buyer),
        markets,
    )
