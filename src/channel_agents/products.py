"""Products, brands and quality: which member handles which product, and what it is worth.

Every flow in the channel is per product (state arrays carry a product axis
``P``). This module compiles, once at set-up, where each product may go:

- a member *handles* product ``p`` when its ``carries`` list (default: every
  product) names it and, if ``p`` has a ``brand``, the member is the brand, lies
  downstream of it (it resells the brand) or upstream of it (it supplies the
  brand's material);
- an edge *carries* ``p`` when both its ends handle ``p``; orders for ``p`` are
  split only over the supply edges that carry it (by ``order_share``).

Cost and quality travel down the graph with the goods. A source sells
product ``p`` at its ``unit_cost`` plus the product's ``unit_cost`` (what
making one unit costs beyond the material, paid with the purchase). Material
quality enters at the sources (``quality`` x (1 - ``defect_rate``)); a member's
quality of ``p`` is the order-share-weighted quality of what it buys, plus the
product's own ``quality`` at its brand. What consumers see is the retailer's.

>>> from channel_agents.config import load_config
>>> from channel_agents.network import compile_topology
>>> cfg = load_config("configs/competing_brands.yaml")
>>> pm = product_map(cfg, compile_topology(cfg))
>>> [cfg.products[p].name for p in range(pm.n)], pm.handles.shape[1]
(['alpha', 'beta'], 2)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from channel_agents.config import ConfigError, ScenarioConfig
from channel_agents.network import Topology


@dataclass
class ProductMap:
    """Per-product structure of the channel, as arrays."""

    names: list[str]
    brand: np.ndarray  # [P] member index of the brand, -1 for an unbranded product
    unit_cost: np.ndarray  # [P] making cost added to the source price
    base_quality: np.ndarray  # [P] the product's own quality (added at its brand)
    handles: np.ndarray  # [M, P] bool
    carries: np.ndarray  # [E, P] bool
    material_quality: np.ndarray  # [M] sources: quality x (1 - defect rate); 0 elsewhere

    @property
    def n(self) -> int:
        return len(self.names)

    def order_share(self, weights: np.ndarray, topo: Topology) -> np.ndarray:
        """[E, P] share of a buyer's order for each product placed on each supply edge:
        ``weights`` (the edges' ``order_share``) over the edges that carry the product."""
        w = weights[:, None] * self.carries
        total = np.zeros((topo.n_members, self.n))
        np.add.at(total, topo.buyer, w)
        denom = total[topo.buyer]
        return np.divide(w, denom, out=np.zeros_like(w), where=denom > 0)

    def flow_down(
        self, topo: Topology, share: np.ndarray, at_source: np.ndarray, on_edge: np.ndarray
    ) -> np.ndarray:
        """[M, P] a per-unit attribute carried down the graph with the goods: its value at
        sources (``at_source`` [M, P]), plus ``on_edge`` [E, P] along each edge, averaged
        over a member's supply edges by ``share`` [E, P]."""
        out = np.where(topo.is_source[:, None], at_source, 0.0)
        for k in topo.order:
            edges = topo.supply_edges[k]
            if len(edges):
                out[k] = (share[edges] * (out[topo.seller[edges]] + on_edge[edges])).sum(axis=0)
        return out

    def quality(self, topo: Topology, share: np.ndarray) -> np.ndarray:
        """[M, P] quality of each product at each member (material plus brand quality)."""
        at_source = np.broadcast_to(self.material_quality[:, None], (topo.n_members, self.n))
        quality = np.where(topo.is_source[:, None], at_source, 0.0)
        branded = self.brand >= 0
        for k in topo.order:
            edges = topo.supply_edges[k]
            if len(edges):
                quality[k] = (share[edges] * quality[topo.seller[edges]]).sum(axis=0)
            quality[k] += np.where(branded & (self.brand == k), self.base_quality, 0.0)
        unbranded = ~branded
        if unbranded.any():  # an unbranded product's own quality is there from the start
            quality[:, unbranded] += self.base_quality[unbranded]
        return quality


def _reach(start: int, edges_of: tuple[np.ndarray, ...], other_end: np.ndarray) -> set[int]:
    """Members reachable from ``start`` following ``edges_of`` (sales or supply edges)."""
    seen = {start}
    todo = [start]
    while todo:
        k = todo.pop()
        for e in edges_of[k]:
            j = int(other_end[e])
            if j not in seen:
                seen.add(j)
                todo.append(j)
    return seen


def product_map(cfg: ScenarioConfig, topo: Topology) -> ProductMap:
    """Compile the products of a scenario; a ConfigError names any product that cannot flow."""
    file = cfg.source_path
    names = cfg.product_names
    index = {n: i for i, n in enumerate(names)}
    members = list(cfg.members.values())
    m_index = {n: i for i, n in enumerate(topo.names)}
    n_p = len(names)
    brand = np.full(n_p, -1, dtype=np.int64)
    for p, prod in enumerate(cfg.products):
        if prod.brand is not None:
            if prod.brand not in m_index:
                raise ConfigError(
                    f"unknown brand {prod.brand!r}: a brand is the member that makes the "
                    f"product; members: {', '.join(topo.names)}",
                    file=file,
                    path=f"products[{p}].brand",
                )
            k = m_index[prod.brand]
            if topo.is_source[k] or topo.roles[k] == "retailer":
                raise ConfigError(
                    f"brand {prod.brand!r} is a {topo.roles[k]}; a brand is a member between "
                    "the sources and the retailers (usually the manufacturer)",
                    file=file,
                    path=f"products[{p}].brand",
                )
            brand[p] = k
    handles = np.ones((topo.n_members, n_p), dtype=bool)
    for k, mc in enumerate(members):
        if mc.carries is not None:
            for j, name in enumerate(mc.carries):
                if name not in index:
                    raise ConfigError(
                        f"unknown product {name!r}; products: {', '.join(names)}",
                        file=file,
                        path=f"members.{topo.names[k]}.carries[{j}]",
                    )
            handles[k] = [n in mc.carries for n in names]
    for p in np.flatnonzero(brand >= 0):
        b = int(brand[p])
        related = _reach(b, topo.sales_edges, topo.buyer) | _reach(
            b, topo.supply_edges, topo.seller
        )
        mask = np.zeros(topo.n_members, dtype=bool)
        mask[list(related)] = True
        handles[:, p] &= mask
    # top-down: a member handles only what one of its suppliers can sell it
    for k in topo.order:
        if topo.is_source[k]:
            continue
        edges = topo.supply_edges[k]
        handles[k] &= handles[topo.seller[edges]].any(axis=0)
        if not handles[k].any():
            raise ConfigError(
                "this member can get none of the products: no supplier of it handles a "
                "product it carries (check products' brand and members' carries)",
                file=file,
                path=f"members.{topo.names[k]}",
            )
    carries = handles[topo.seller] & handles[topo.buyer]
    quality = np.zeros(topo.n_members)
    for k, mc in enumerate(members):
        if mc.quality is not None or mc.defect_rate is not None:
            if not topo.is_source[k]:
                key = "quality" if mc.quality is not None else "defect_rate"
                raise ConfigError(
                    f"{key} is set on sources only (the material a source sells); a product's "
                    "own quality is set under products",
                    file=file,
                    path=f"members.{topo.names[k]}.{key}",
                )
            quality[k] = (mc.quality or 0.0) * (1.0 - (mc.defect_rate or 0.0))
    return ProductMap(
        names=names,
        brand=brand,
        unit_cost=np.array([p.unit_cost for p in cfg.products], dtype=float),
        base_quality=np.array([p.quality for p in cfg.products], dtype=float),
        handles=handles,
        carries=carries,
        material_quality=quality,
    )
