"""The supply graph: built from a scenario, checked, and compiled to index arrays.

NetworkX holds the topology for building and checking; the period loop uses
only the integer index arrays of :class:`Topology`, never the graph.

>>> import networkx as nx
>>> from channel_agents.network import serial_chain
>>> cfg = serial_chain(3, a=100, b=2, unit_cost=10)
>>> [m for m in cfg["members"]]
['source', 'manufacturer', 'wholesaler', 'retailer']
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
from scipy import sparse

from channel_agents.config import ROLE_TIER, ConfigError, ScenarioConfig


def supply_graph(cfg: ScenarioConfig) -> nx.DiGraph:
    """The scenario's supply graph: member names as nodes, seller -> buyer edges.

    Node attributes: ``role``, ``tier``, ``index``; edge attributes: the edge's
    config (``order_delay``, ``lead_time``, ``transport_cost``, ``capacity``,
    ``initial_flow``, ``contract``) and its ``index`` in the edge list.
    """
    g = nx.DiGraph(name=cfg.name)
    for i, (name, m) in enumerate(cfg.members.items()):
        g.add_node(name, role=m.role, tier=ROLE_TIER[m.role], index=i)
    for i, e in enumerate(cfg.edges):
        g.add_edge(e.seller, e.buyer, index=i, **e.model_dump(exclude={"seller", "buyer"}))
    return g


def check_scenario(cfg: ScenarioConfig) -> None:
    """Check references and topology; raise :class:`ConfigError` at the first problem."""
    file = cfg.source_path
    names = list(cfg.members)
    if cfg.warmup >= cfg.periods + cfg.warmup:  # pragma: no cover - guarded by types
        raise ConfigError("warmup must be smaller than the run", file=file, path="warmup")
    for name, m in cfg.members.items():
        if m.unit_cost is not None and m.role != "source":
            raise ConfigError(
                "unit_cost is set on sources only (the cost of goods entering the channel)",
                file=file,
                path=f"members.{name}.unit_cost",
            )
        if m.role == "source" and m.unit_cost is None:
            raise ConfigError("a source needs unit_cost", file=file, path=f"members.{name}")
    seen: set[tuple[str, str]] = set()
    for i, e in enumerate(cfg.edges):
        for end, key in ((e.seller, "from"), (e.buyer, "to")):
            if end not in cfg.members:
                raise ConfigError(
                    f"unknown member {end!r}; members: {', '.join(names)}",
                    file=file,
                    path=f"edges[{i}].{key}",
                )
        if e.seller == e.buyer:
            raise ConfigError(
                "an edge cannot join a member to itself", file=file, path=f"edges[{i}]"
            )
        if (e.seller, e.buyer) in seen:
            raise ConfigError(
                f"duplicate edge {e.seller} -> {e.buyer}", file=file, path=f"edges[{i}]"
            )
        seen.add((e.seller, e.buyer))
        if cfg.members[e.buyer].role == "source":
            raise ConfigError(
                f"{e.buyer!r} is a source and cannot buy", file=file, path=f"edges[{i}].to"
            )
        if cfg.members[e.seller].role == "retailer":
            raise ConfigError(
                f"{e.seller!r} is a retailer and sells only to consumers (markets)",
                file=file,
                path=f"edges[{i}].from",
            )
        source_priced = getattr(e.contract, "wholesale_price", None) is not None
        if cfg.members[e.seller].role == "source" and source_priced:
            raise ConfigError(
                "a source sells at its unit_cost; set unit_cost on the source instead",
                file=file,
                path=f"edges[{i}].contract.wholesale_price",
            )
    g = supply_graph(cfg)
    if not nx.is_directed_acyclic_graph(g):
        cycle = nx.find_cycle(g)
        loop = " -> ".join([cycle[0][0], *(v for _, v in cycle)])
        raise ConfigError(f"the supply graph has a cycle: {loop}", file=file, path="edges")
    sources = [n for n, d in g.nodes(data=True) if d["role"] == "source"]
    if not sources:
        raise ConfigError(
            "no member has role 'source': goods must enter the channel somewhere",
            file=file,
            path="members",
        )
    upstream_of_source = set().union(*(nx.descendants(g, s) for s in sources)) | set(sources)
    for name in names:
        if name not in upstream_of_source:
            raise ConfigError(
                "this member has no supply path from a source", file=file, path=f"members.{name}"
            )
    product_names = set(cfg.product_names)
    served: set[str] = set()
    market_names: set[str] = set()
    for j, mk in enumerate(cfg.markets):
        if mk.name in market_names:
            raise ConfigError(f"duplicate market name {mk.name!r}", file=file, path=f"markets[{j}]")
        market_names.add(mk.name)
        for r in mk.retailers:
            if r not in cfg.members:
                raise ConfigError(
                    f"unknown retailer {r!r}; members: {', '.join(names)}",
                    file=file,
                    path=f"markets[{j}].retailers",
                )
            if cfg.members[r].role != "retailer":
                raise ConfigError(
                    f"{r!r} has role {cfg.members[r].role!r}; markets are served by retailers",
                    file=file,
                    path=f"markets[{j}].retailers",
                )
            served.add(r)
        listed = [("product", mk.product)] if mk.product is not None else []
        listed += [(f"products[{i}]", p) for i, p in enumerate(mk.products or [])]
        for key, p in listed:
            if p not in product_names:
                raise ConfigError(
                    f"unknown product {p!r}; products: {', '.join(cfg.product_names)}",
                    file=file,
                    path=f"markets[{j}].{key}",
                )
        _check_choice_names(mk, j, file, product_names)
        _check_population(mk, j, file)
    _check_promotions(cfg)
    for name, m in cfg.members.items():
        if m.role == "retailer" and name not in served:
            raise ConfigError(
                "this retailer serves no market (add it to a market's retailers)",
                file=file,
                path=f"members.{name}",
            )
        if m.role not in ("source", "retailer") and g.out_degree(name) == 0:
            raise ConfigError(
                "this member sells to nobody (add an edge from it)",
                file=file,
                path=f"members.{name}",
            )


def _check_choice_names(mk: Any, j: int, file: str | None, products: set[str]) -> None:
    """A differentiated market's brand and store values name its products and retailers."""
    d = mk.demand
    for p in getattr(d, "brand_value", {}) or {}:
        offered = mk.products or ([mk.product] if mk.product else sorted(products))
        if p not in offered:
            raise ConfigError(
                f"brand_value names {p!r}, which this market does not offer "
                f"(offered: {', '.join(offered)})",
                file=file,
                path=f"markets[{j}].demand.brand_value",
            )
    for r in getattr(d, "store_value", {}) or {}:
        if r not in mk.retailers:
            raise ConfigError(
                f"store_value names {r!r}, which is not one of this market's retailers "
                f"({', '.join(mk.retailers)})",
                file=file,
                path=f"markets[{j}].demand.store_value",
            )


MAX_CONSIDERED = 12  # retailers of an expected-mode market under cheapest choice (2^12 sets)


def _check_population(mk: Any, j: int, file: str | None) -> None:
    """A population market: its retailers once each, segment names unique, store
    preferences naming its retailers, at least one sampled consumer per segment."""
    from channel_agents.config import PopulationDemand

    d = mk.demand
    if not isinstance(d, PopulationDemand):
        return
    where = f"markets[{j}]"
    if len(set(mk.retailers)) != len(mk.retailers):
        raise ConfigError(
            "a retailer is listed twice; list each once", file=file, path=f"{where}.retailers"
        )
    seen: set[str] = set()
    for i, seg in enumerate(d.segments):
        if seg.name in seen:
            raise ConfigError(
                f"duplicate segment name {seg.name!r}",
                file=file,
                path=f"{where}.demand.segments[{i}].name",
            )
        seen.add(seg.name)
        for r in seg.preference:
            if r not in mk.retailers:
                raise ConfigError(
                    f"{r!r} does not serve this market; its retailers: {', '.join(mk.retailers)}",
                    file=file,
                    path=f"{where}.demand.segments[{i}].preference.{r}",
                )
    if mk.mode == "expected" and d.choice == "cheapest" and len(mk.retailers) > MAX_CONSIDERED:
        raise ConfigError(
            f"expected mode with cheapest choice follows every set of retailers a consumer may "
            f"consider, so it reaches at most {MAX_CONSIDERED} retailers; use mode: sampled",
            file=file,
            path=f"{where}.retailers",
        )
    if mk.mode == "sampled" and mk.consumers < len(d.segments):
        raise ConfigError(
            f"sampled mode needs at least one consumer per segment ({len(d.segments)})",
            file=file,
            path=f"{where}.consumers",
        )


def _check_promotions(cfg: ScenarioConfig) -> None:
    """Price promotions belong to retailers in posted-price markets; trade deals to sellers
    inside the channel."""
    file = cfg.source_path
    cournot = {r for mk in cfg.markets if mk.clearing == "cournot" for r in mk.retailers}
    for name, m in cfg.members.items():
        if m.promotion is not None and m.role != "retailer":
            raise ConfigError(
                f"price promotions are run by retailers; {name!r} is a {m.role}",
                file=file,
                path=f"members.{name}.promotion",
            )
        promoted = m.promotion is not None or (
            m.role == "retailer" and cfg.defaults.promotion is not None
        )
        if promoted and name in cournot:
            raise ConfigError(
                "price promotions need posted prices; this retailer is in a cournot market",
                file=file,
                path=f"members.{name}.promotion" if m.promotion else "defaults.promotion",
            )
        if m.trade_promotion is not None and m.role in ("source", "retailer"):
            raise ConfigError(
                f"trade deals are offered by sellers inside the channel; {name!r} is a {m.role}",
                file=file,
                path=f"members.{name}.trade_promotion",
            )


def serial_chain(
    tiers: int,
    *,
    a: float = 100.0,
    b: float = 2.0,
    unit_cost: float = 10.0,
    order_delay: int = 1,
    lead_time: int = 1,
) -> dict[str, Any]:
    """A scenario mapping for a serial chain of ``tiers`` members below a source.

    Roles from the top: manufacturer, wholesaler, distributor(s), retailer.
    """
    if tiers < 1:
        raise ValueError("a chain needs at least one tier")
    roles = ["retailer"]
    if tiers >= 2:
        roles.insert(0, "manufacturer")
    if tiers >= 3:
        roles.insert(1, "wholesaler")
    for k in range(tiers - 3):
        roles.insert(2, f"distributor_{k + 1}" if tiers > 4 else "distributor")
    members: dict[str, Any] = {"source": {"role": "source", "unit_cost": unit_cost}}
    for r in roles:
        members[r] = {"role": r.split("_")[0]}
    names = list(members)
    edges = [
        {"from": s, "to": t, "order_delay": order_delay, "lead_time": lead_time}
        for s, t in zip(names[:-1], names[1:], strict=True)
    ]
    markets = [
        {"name": "market", "retailers": ["retailer"], "demand": {"kind": "linear", "a": a, "b": b}}
    ]
    return {"name": f"serial_{tiers}", "members": members, "edges": edges, "markets": markets}


def distribution_tree(
    fanout: tuple[int, ...] = (2, 2), *, demand: dict[str, Any] | None = None
) -> dict[str, Any]:
    """A scenario mapping: one manufacturer, then ``fanout[0]`` wholesalers each with
    ``fanout[1]`` retailers (one market per retailer)."""
    demand = demand or {"kind": "normal", "mean": 20, "sd": 4}
    members: dict[str, Any] = {
        "source": {"role": "source", "unit_cost": 10},
        "manufacturer": {"role": "manufacturer"},
    }
    edges: list[dict[str, Any]] = [{"from": "source", "to": "manufacturer"}]
    markets: list[dict[str, Any]] = []
    for i in range(fanout[0]):
        w = f"wholesaler_{i + 1}"
        members[w] = {"role": "wholesaler"}
        edges.append({"from": "manufacturer", "to": w})
        for j in range(fanout[1] if len(fanout) > 1 else 1):
            r = f"retailer_{i + 1}_{j + 1}"
            members[r] = {"role": "retailer"}
            edges.append({"from": w, "to": r})
            markets.append({"name": f"town_{i + 1}_{j + 1}", "retailers": [r], "demand": demand})
    return {"name": "distribution_tree", "members": members, "edges": edges, "markets": markets}


def layered_network(
    manufacturers: int,
    wholesalers: int,
    retailers: int,
    *,
    markets: int | None = None,
    seed: int = 0,
    demand: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A scenario mapping with several manufacturers, wholesalers and retailers.

    Every wholesaler buys from one or two manufacturers, every retailer from one
    or two wholesalers (chosen with ``seed``); retailers are spread over
    ``markets`` consumer markets (default: one per retailer).
    """
    rng = np.random.default_rng(seed)
    demand = demand or {"kind": "normal", "mean": 10, "sd": 2}
    members: dict[str, Any] = {"source": {"role": "source", "unit_cost": 10}}
    edges: list[dict[str, Any]] = []
    mans = [f"manufacturer_{i + 1}" for i in range(manufacturers)]
    whs = [f"wholesaler_{i + 1}" for i in range(wholesalers)]
    rets = [f"retailer_{i + 1}" for i in range(retailers)]
    for m in mans:
        members[m] = {"role": "manufacturer"}
        edges.append({"from": "source", "to": m})
    for tier_above, tier, role in ((mans, whs, "wholesaler"), (whs, rets, "retailer")):
        sold_by = dict.fromkeys(tier_above, 0)
        for i, name in enumerate(tier):
            members[name] = {"role": role}
            first = tier_above[i % len(tier_above)]
            sellers = {first}
            if len(tier_above) > 1 and rng.random() < 0.5:
                sellers.add(tier_above[int(rng.integers(len(tier_above)))])
            for s in sorted(sellers):
                edges.append({"from": s, "to": name})
                sold_by[s] += 1
        for s, n in sold_by.items():  # nobody upstream may be left without a buyer
            if n == 0:
                edges.append({"from": s, "to": tier[int(rng.integers(len(tier)))]})
    n_markets = markets or retailers
    groups: list[list[str]] = [[] for _ in range(n_markets)]
    for i, r in enumerate(rets):
        groups[i % n_markets].append(r)
    mk = [
        {"name": f"market_{j + 1}", "retailers": g, "demand": demand}
        for j, g in enumerate(groups)
        if g
    ]
    return {"name": "layered", "members": members, "edges": edges, "markets": mk}


@dataclass(frozen=True)
class Topology:
    """Integer index arrays compiled once from the supply graph for the period loop."""

    names: tuple[str, ...]
    roles: tuple[str, ...]
    is_source: np.ndarray  # [M] bool
    seller: np.ndarray  # [E] member index
    buyer: np.ndarray  # [E]
    order_delay: np.ndarray  # [E]
    lead_time: np.ndarray  # [E]
    order: tuple[int, ...]  # members in topological order (top of the chain first)
    depth: np.ndarray  # [M] longest path from a source
    supply_edges: tuple[np.ndarray, ...]  # per member: its in-edges
    sales_edges: tuple[np.ndarray, ...]  # per member: its out-edges

    @property
    def n_members(self) -> int:
        return len(self.names)

    @property
    def n_edges(self) -> int:
        return len(self.seller)

    def replenishment_lead_time(self) -> np.ndarray:
        """Per member: order_delay + lead_time of its first supply edge (0 for sources)."""
        out = np.zeros(self.n_members, dtype=np.int64)
        for k, edges in enumerate(self.supply_edges):
            if len(edges):
                e = edges[0]
                out[k] = self.order_delay[e] + self.lead_time[e]
        return out

    def subtree_matrix(self) -> sparse.csr_matrix:
        """[M, M] 0/1 matrix: row k marks k and every member downstream of it."""
        below: list[set[int]] = [set() for _ in range(self.n_members)]
        for k in reversed(self.order):
            for e in self.sales_edges[k]:
                j = int(self.buyer[e])
                below[k] |= below[j] | {j}
        rows = [k for k in range(self.n_members) for _ in range(len(below[k]) + 1)]
        cols = [j for k in range(self.n_members) for j in (k, *sorted(below[k]))]
        data = np.ones(len(rows))
        return sparse.csr_matrix((data, (rows, cols)), shape=(self.n_members,) * 2)

    def echelon_lead_time(self) -> np.ndarray:
        """Per member: the longest sum of replenishment lead times from it down to a retailer."""
        own = self.replenishment_lead_time()
        out = own.copy()
        for k in reversed(self.order):
            below = [self.buyer[e] for e in self.sales_edges[k]]
            if below:
                out[k] = own[k] + max(out[j] for j in below)
        return out


def _group_edges(member_of_edge: np.ndarray, n_members: int) -> tuple[np.ndarray, ...]:
    """Per member, the indices of its edges (in edge order), in one pass."""
    order = np.argsort(member_of_edge, kind="stable")
    bounds = np.searchsorted(member_of_edge[order], np.arange(n_members + 1))
    return tuple(order[bounds[k] : bounds[k + 1]] for k in range(n_members))


def compile_topology(cfg: ScenarioConfig) -> Topology:
    """Compile the checked scenario into :class:`Topology` index arrays."""
    g = supply_graph(cfg)
    names = tuple(cfg.members)
    idx = {n: i for i, n in enumerate(names)}
    m = len(names)
    seller = np.array([idx[e.seller] for e in cfg.edges], dtype=np.int64)
    buyer = np.array([idx[e.buyer] for e in cfg.edges], dtype=np.int64)
    order = tuple(idx[n] for n in nx.lexicographical_topological_sort(g, key=lambda n: idx[n]))
    depth = np.zeros(m, dtype=np.int64)
    for n in nx.topological_sort(g):
        for _, v in g.out_edges(n):
            depth[idx[v]] = max(depth[idx[v]], depth[idx[n]] + 1)
    supply = _group_edges(buyer, m)
    sales = _group_edges(seller, m)
    return Topology(
        names=names,
        roles=tuple(cfg.members[n].role for n in names),
        is_source=np.array([cfg.members[n].role == "source" for n in names]),
        seller=seller,
        buyer=buyer,
        order_delay=np.array([e.order_delay for e in cfg.edges], dtype=np.int64),
        lead_time=np.array([e.lead_time for e in cfg.edges], dtype=np.int64),
        order=order,
        depth=depth,
        supply_edges=supply,
        sales_edges=sales,
    )


class Incidence:
    """Sums per-edge values into per-member totals: ``members = incidence @ edges``.

    Dense for small graphs (a tiny matmul is the cheapest numpy call), sparse
    beyond a few thousand cells, so cost stays linear in edges.
    """

    def __init__(
        self, member_of_edge: np.ndarray, n_members: int, weights: np.ndarray | None = None
    ):
        n_edges = len(member_of_edge)
        cols = np.arange(n_edges)
        values = np.ones(n_edges) if weights is None else np.asarray(weights, dtype=float)
        if n_members * n_edges <= 40_000:
            dense = np.zeros((n_members, n_edges))
            dense[member_of_edge, cols] = values
            self.matrix: np.ndarray | sparse.csr_matrix = dense
        else:
            self.matrix = sparse.csr_matrix(
                (values, (member_of_edge, cols)), shape=(n_members, n_edges)
            )

    def __matmul__(self, edge_values: np.ndarray) -> np.ndarray:
        return self.matrix @ edge_values
