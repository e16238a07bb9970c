"""Competing brands and retailers: differentiated demand and the pricing games on it.

A *differentiated* market (demand kind ``logit`` or ``linear_system``) offers
options, one per (retailer, product) it lists; consumers weigh price, quality,
brand, store, promotion and goodwill. Its expected demand ``q(p)`` and the
Jacobian ``dq/dp`` are in closed form:

- ``logit``: worth ``delta_k`` in money, ``s_k = exp(beta (delta_k - p_k)) /
  (1 + sum_j exp(beta (delta_j - p_j)))``, ``q = size x s``; consumer surplus
  ``(size / beta) ln(1 + sum_j exp(beta (delta_j - p_j)))`` (the log-sum), split
  over options by units (in a logit every buyer, whatever it chose, expects the
  same surplus);
- ``linear_system``: ``q = A - B p`` with ``B = b`` on the diagonal and
  ``-substitution`` off it; ``A_k = a + b delta_k``; surplus of option ``k`` is
  ``q_k (B^-1 q)_k / 2`` (the representative consumer's quadratic utility; one
  option gives ``q^2 / 2b``).

:class:`CategoryGame` solves, over every differentiated market of a scenario
at once, the two-stage game of McGuire & Staelin (1983) and Choi (1991):

1. *retail*: each retailer sets the prices of all its options (category
   pricing), given its unit costs, in Nash equilibrium with the other
   retailers: ``q_k + sum_{j of the same retailer} (p_j - w_j) dq_j/dp_k = 0``;
2. *wholesale*: each brand sets one wholesale price per product for all the
   retailers it sells to, in Nash equilibrium with the other brands,
   anticipating the retail equilibrium.

Both stages are solved numerically (``scipy.optimize.root`` on the stacked
first-order conditions; the wholesale stage differentiates the retail
equilibrium by central differences), so any number of brands, retailers and
products works the same way. A retailer's price for a product is one price,
whatever markets it serves with it: the game's variables are (retailer,
product) cells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import optimize

from channel_agents.config import LinearSystemDemand, LogitDemand


@dataclass
class DifferentiatedMarket:
    """One differentiated market: its options and its demand in closed form."""

    demand: LogitDemand | LinearSystemDemand
    retailer_names: list[str]  # per option
    product_names: list[str]  # per option
    brand_value: np.ndarray = field(init=False)
    store_value: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        d = self.demand
        self.brand_value = np.array([d.brand_value.get(p, 0.0) for p in self.product_names])
        store = getattr(d, "store_value", {})
        self.store_value = np.array([store.get(r, 0.0) for r in self.retailer_names])
        self.logit = isinstance(d, LogitDemand)
        k = len(self.product_names)
        if not self.logit:
            self.B = np.full((k, k), -d.substitution) + np.eye(k) * (d.b + d.substitution)

    @property
    def n(self) -> int:
        return len(self.product_names)

    def worth(self, quality: np.ndarray) -> np.ndarray:
        """Each option's worth in money before its price (goodwill and promotions aside)."""
        d = self.demand
        base = d.value if self.logit else 0.0
        return base + d.quality_value * quality + self.brand_value + self.store_value

    def _shares(self, p: np.ndarray, delta: np.ndarray) -> tuple[np.ndarray, float, float]:
        v = self.demand.price_sensitivity * (delta - p)
        top = max(float(v.max(initial=0.0)), 0.0)
        e = np.exp(v - top)
        denom = np.exp(-top) + e.sum()
        return e / denom, top, denom

    def quantity(self, p: np.ndarray, delta: np.ndarray) -> np.ndarray:
        d = self.demand
        if self.logit:
            return d.size * self._shares(p, delta)[0]
        return np.maximum(d.a + d.b * delta - self.B @ p, 0.0)

    def jacobian(self, p: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """J[j, k] = dq_j / dp_k."""
        d = self.demand
        if self.logit:
            s = self._shares(p, delta)[0]
            return d.size * d.price_sensitivity * (np.outer(s, s) - np.diag(s))
        inside = (d.a + d.b * delta - self.B @ p) > 0
        return -self.B * inside[:, None]

    def surplus(self, p: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Consumer surplus per option when every option meets its demand."""
        d = self.demand
        if self.logit:
            s, top, denom = self._shares(p, delta)
            total = d.size / d.price_sensitivity * (top + np.log(denom))
            bought = s.sum()
            return total * s / bought if bought > 0 else np.zeros_like(s)
        q = self.quantity(p, delta)
        return 0.5 * q * np.linalg.solve(self.B, q)


class CategoryGame:
    """The retail and wholesale pricing games over all differentiated markets.

    ``cells`` are the distinct (retailer, product) pairs of the options, each a
    variable of the game; ``option_cell`` maps every market's options to them.
    """

    def __init__(self, markets: list[DifferentiatedMarket], option_cell: list[np.ndarray]):
        self.markets = markets
        self.option_cell = option_cell
        self.n_cells = int(max((int(c.max()) for c in option_cell if len(c)), default=-1)) + 1
        self.logit_cells = np.zeros(self.n_cells, dtype=bool)
        for mk, cells in zip(markets, option_cell, strict=True):
            self.logit_cells[cells] |= mk.logit
        self._cache: dict[bytes, np.ndarray] = {}

    # ------------------------------------------------------------------ demand by cell
    def quantity(self, p: np.ndarray, deltas: list[np.ndarray]) -> np.ndarray:
        q = np.zeros(self.n_cells)
        for mk, cells, delta in zip(self.markets, self.option_cell, deltas, strict=True):
            np.add.at(q, cells, mk.quantity(p[cells], delta))
        return q

    def jacobian(self, p: np.ndarray, deltas: list[np.ndarray]) -> np.ndarray:
        jac = np.zeros((self.n_cells, self.n_cells))
        for mk, cells, delta in zip(self.markets, self.option_cell, deltas, strict=True):
            jac[np.ix_(cells, cells)] += mk.jacobian(p[cells], delta)
        return jac

    def surplus(self, p: np.ndarray, deltas: list[np.ndarray]) -> np.ndarray:
        """Consumer surplus per cell."""
        out = np.zeros(self.n_cells)
        for mk, cells, delta in zip(self.markets, self.option_cell, deltas, strict=True):
            np.add.at(out, cells, mk.surplus(p[cells], delta))
        return out

    # ------------------------------------------------------------------ the retail stage
    def retail_prices(
        self,
        w: np.ndarray,
        owner: np.ndarray,
        deltas: list[np.ndarray],
        fixed: np.ndarray | None = None,
    ) -> np.ndarray:
        """Nash equilibrium retail prices per cell at unit costs ``w``; ``owner`` [cells]
        says which cells one firm prices together; ``fixed`` (NaN where free) holds the
        prices of cells whose retailer follows a rule of its own."""
        key = b"".join(np.ascontiguousarray(x, dtype=float).tobytes() for x in (w, owner))
        key += b"".join(d.tobytes() for d in deltas)
        if fixed is not None:
            key += np.ascontiguousarray(fixed, dtype=float).tobytes()
        hit = self._cache.get(key)
        if hit is not None:
            return hit.copy()
        free = np.ones(self.n_cells, dtype=bool) if fixed is None else np.isnan(fixed)
        same = owner[:, None] == owner[None, :]
        p = np.where(free, 0.0, np.nan_to_num(fixed if fixed is not None else 0.0))

        def foc(x: np.ndarray) -> np.ndarray:
            p[free] = x
            q = self.quantity(p, deltas)
            jac = self.jacobian(p, deltas)
            # logit cells per unit sold: no flat region far out where demand vanishes
            # (no false roots); linear cells as they are (piecewise linear, no flat tail)
            norm = np.where(self.logit_cells, np.maximum(q, 1e-300), 1.0)
            return ((q + (same * jac).T @ (p - w)) / norm)[free]

        scale = self._price_scale(w, deltas)
        start = w[free] + scale[free]
        with np.errstate(over="ignore", invalid="ignore"):  # far-out trial prices
            p[free] = _solve(foc, start, scale[free])
        if len(self._cache) >= 20_000:  # (prices re-solved every period: bounded memory)
            self._cache.clear()
        self._cache[key] = p.copy()
        return p

    def _price_scale(self, w: np.ndarray, deltas: list[np.ndarray]) -> np.ndarray:
        """A margin of the right order per cell, to start and scale the search."""
        scale = np.ones(self.n_cells)
        for mk, cells, delta in zip(self.markets, self.option_cell, deltas, strict=True):
            d = mk.demand
            if mk.logit:
                scale[cells] = 1.0 / d.price_sensitivity
            else:
                choke = (d.a + d.b * delta) / d.b
                scale[cells] = np.maximum(np.abs(choke - w[cells]) / 2.0, 1e-3)
        return scale

    # ------------------------------------------------------------------ the wholesale stage
    def wholesale_prices(
        self,
        cost: np.ndarray,
        cell_product: np.ndarray,
        strategic: np.ndarray,
        start: np.ndarray,
        owner: np.ndarray,
        retail_owner: np.ndarray,
        deltas: list[np.ndarray],
        retail_fixed: np.ndarray | None = None,
    ) -> np.ndarray:
        """Nash equilibrium wholesale prices per product.

        ``cost`` [P] the brands' marginal costs; ``strategic`` [P] the products whose
        brand sets its price here (the others stay at ``start``); ``owner`` [P] the
        brand of each product (products of one brand are priced together); a cell's
        unit cost is its product's wholesale price (the brand supplies the retailer)."""
        x = start.astype(float).copy()
        idx = np.flatnonzero(strategic)
        if not len(idx):
            return x
        x[idx] = cost[idx]

        def outcome(products: np.ndarray, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            full = x.copy()
            full[products] = xs
            p = self.retail_prices(full[cell_product], retail_owner, deltas, retail_fixed)
            q = self.quantity(p, deltas)
            return full, np.bincount(cell_product, weights=q, minlength=len(x))

        def profit_of(products: np.ndarray, xs: np.ndarray) -> float:
            full, units = outcome(products, xs)
            return float(((full - cost) * units)[products].sum())

        def ceiling(products: np.ndarray) -> float:
            """How far above cost a brand's prices can rise before its sales all but end
            (beyond it profit is flat at zero, where a search would get lost)."""
            base = outcome(products, cost[products])[1][products].sum()
            lo, up = 0.0, 1.0
            while outcome(products, cost[products] + up)[1][products].sum() > 1e-9 * base:
                lo, up = up, up * 2.0
                if up > 1e12:
                    break
            for _ in range(20):  # roughly: the search below tolerates a little flat ground
                mid = 0.5 * (lo + up)
                if outcome(products, cost[products] + mid)[1][products].sum() > 1e-9 * base:
                    lo = mid
                else:
                    up = mid
            return 1.2 * up

        groups = [idx[owner[idx] == b] for b in dict.fromkeys(owner[idx].tolist())]
        w_cells = cost[cell_product]
        gap = self.retail_prices(w_cells, retail_owner, deltas, retail_fixed) - w_cells
        fast = self._wholesale_by_foc(x, idx, groups, cost, outcome, float(np.mean(gap)))
        if fast is not None:
            return fast
        reach = 1.0
        # best responses, brand by brand, until no brand moves its prices
        for _ in range(100):
            moved = 0.0
            for products in groups:
                top = ceiling(products)
                reach = max(reach, top)
                hi = cost + top
                if len(products) == 1:
                    j = int(products[0])
                    res = optimize.minimize_scalar(
                        lambda v, j=j: -profit_of(np.array([j]), np.array([v])),
                        bounds=(cost[j], hi[j]),
                        method="bounded",
                        options={"xatol": 1e-12 * max(1.0, hi[j])},
                    )
                    new = np.array([res.x])
                else:
                    res = optimize.minimize(
                        lambda v, ps=products: -profit_of(ps, v),
                        x[products],
                        method="L-BFGS-B",
                        bounds=list(zip(cost[products], hi[products], strict=True)),
                        options={"ftol": 1e-15, "gtol": 1e-12},
                    )
                    new = res.x
                moved = max(moved, float(np.max(np.abs(new - x[products]))))
                x[products] = new
            if moved <= 1e-10 * max(1.0, reach):
                break
        return x

    def _wholesale_by_foc(self, x, idx, groups, cost, outcome, gap) -> np.ndarray | None:
        """The brands' first-order conditions per unit sold, solved together; None when
        the root found is not every brand's best price (the caller then iterates best
        responses)."""
        brand_of = np.empty(len(x), dtype=np.int64)
        for g, products in enumerate(groups):
            brand_of[products] = g

        def brand_units(full_units: np.ndarray, j: int) -> float:
            return float(full_units[groups[brand_of[j]]].sum())

        def foc(xs: np.ndarray) -> np.ndarray:
            out = np.empty(len(idx))
            for n, j in enumerate(idx):
                mine = groups[brand_of[j]]
                h = 1e-6 * max(1.0, abs(xs[n]))
                vals = []
                for step in (h, -h):
                    trial = xs.copy()
                    trial[n] += step
                    f, units = outcome(idx, trial)
                    vals.append(float(((f - cost) * units)[mine].sum()))
                base = outcome(idx, xs)[1]
                out[n] = (vals[0] - vals[1]) / (2 * h) / max(brand_units(base, j), 1e-300)
            return out

        start = cost[idx] + max(gap, 1e-6)  # a brand's markup is of a retailer's order
        sol = optimize.root(foc, start, method="hybr", options={"xtol": 1e-12})
        xs = sol.x
        # the conditions are per unit sold (dimensionless): 1e-7 is a root to ~1e-7 relative
        if np.any(xs < cost[idx] - 1e-9) or np.max(np.abs(foc(xs))) > 1e-7:
            return None
        # a root is a best response when no brand gains by a sizeable move either way
        for products in groups:
            pos = np.searchsorted(idx, products)
            full, units = outcome(idx, xs)
            here = float(((full - cost) * units)[products].sum())
            for factor in (0.5, 1.5):
                trial = xs.copy()
                trial[pos] = cost[products] + factor * (xs[pos] - cost[products])
                f2, u2 = outcome(idx, trial)
                if float(((f2 - cost) * u2)[products].sum()) > here + 1e-9 * max(1.0, abs(here)):
                    return None
        out = x.copy()
        out[idx] = xs
        return out


def _solve(f: Callable[[np.ndarray], np.ndarray], start: np.ndarray, scale: np.ndarray):
    """A root of ``f`` near ``start`` (first-order conditions of a pricing game)."""
    best = None
    for method in ("hybr", "lm"):
        sol = optimize.root(f, start, method=method, options={"xtol": 1e-13})
        resid = float(np.max(np.abs(f(sol.x)), initial=0.0))
        if best is None or resid < best[1]:
            best = (sol.x.copy(), resid)
        if resid <= 1e-8 * max(1.0, float(np.max(np.abs(scale)))):
            break
    return best[0]


# --------------------------------------------------------------------------- in a model


class ChannelGame:
    """The category game of a running model: cells, brands, costs and quality read from it.

    ``model`` provides ``_marginal_cost()`` [M, P], ``channel_cost`` [M, P],
    ``quality`` [M, P], ``retail_price`` [M, P], ``edge_price`` [E, P],
    ``topology``, ``product_map`` and ``pricing`` (each member's rule).
    """

    def __init__(self, model, markets: list[DifferentiatedMarket], pairs: list[np.ndarray]):
        mk = model.markets
        cell_of: dict[tuple[int, int], int] = {}
        option_cell = []
        for opts in pairs:
            cells = []
            for i in opts:
                key = (int(mk.pair_retailer[i]), int(mk.pair_product[i]))
                cells.append(cell_of.setdefault(key, len(cell_of)))
            option_cell.append(np.array(cells, dtype=np.int64))
        self.model = model
        self.pairs = pairs
        self.cell_member = np.array([k for k, _ in cell_of], dtype=np.int64)
        self.cell_product = np.array([p for _, p in cell_of], dtype=np.int64)
        self.game = CategoryGame(markets, option_cell)
        self.markets = markets
        self.products = np.unique(self.cell_product)
        self.brand = model.product_map.brand  # [P]

    # ------------------------------------------------------------------ reading the model
    def deltas(self, quality: np.ndarray | None = None) -> list[np.ndarray]:
        q = self.model.quality if quality is None else quality
        cq = q[self.cell_member, self.cell_product]
        return [mk.worth(cq[c]) for mk, c in zip(self.markets, self.game.option_cell, strict=True)]

    def strategic_retailers(self) -> np.ndarray:
        """[cells] True where the retailer prices by the game (the pricing lever)."""
        rules = self.model.pricing
        return np.array(
            [
                rules[k] is None or rules[k].policy in ("stackelberg", "joint")
                for k in self.cell_member
            ]
        )

    def _fixed(self) -> np.ndarray | None:
        free = self.strategic_retailers()
        if free.all():
            return None
        cur = self.model.retail_price[self.cell_member, self.cell_product]
        rules = self.model.pricing
        configured = [getattr(rules[k], "price", None) for k in self.cell_member]
        cur = np.array([c if v is None else v for c, v in zip(cur, configured, strict=True)])
        return np.where(free, np.nan, cur)

    def retail(self, w_cells: np.ndarray, quality: np.ndarray | None = None) -> np.ndarray:
        return self.game.retail_prices(
            w_cells, self.cell_member, self.deltas(quality), self._fixed()
        )

    def brand_cost(self, cost: np.ndarray) -> np.ndarray:
        """[P] each product's marginal cost at its brand (NaN for unbranded products)."""
        out = np.full(cost.shape[1], np.nan)
        branded = self.brand >= 0
        out[branded] = cost[self.brand[branded], np.flatnonzero(branded)]
        return out

    def wholesale(
        self, cost_p: np.ndarray, start: np.ndarray, quality: np.ndarray | None = None
    ) -> np.ndarray:
        """[P] the brands' equilibrium wholesale prices at marginal costs ``cost_p``."""
        strategic = np.zeros(len(cost_p), dtype=bool)
        for p in self.products:
            b = int(self.brand[p])
            if b >= 0 and isinstance(self.model.responses[b], GameBrand):
                rule = self.model.pricing[b]
                strategic[p] = rule is None or rule.policy == "stackelberg"
        owner = np.where(self.brand >= 0, self.brand, -1 - np.arange(len(cost_p)))
        return self.game.wholesale_prices(
            np.nan_to_num(cost_p),
            self.cell_product,
            strategic,
            np.where(strategic, np.nan_to_num(cost_p), start),
            owner,
            self.cell_member,
            self.deltas(quality),
            self._fixed(),
        )

    def outcome(self, cost: np.ndarray, quality: np.ndarray, joint: bool) -> dict[str, np.ndarray]:
        """Prices, units and surplus per cell, and each product's margin at its brand,
        for channel marginal costs ``cost`` [M, P] and ``quality`` [M, P]: under ``joint``
        pricing retailers price at the channel's cost; otherwise the brands set wholesale
        prices first (the sourcing decision uses this)."""
        deltas = self.deltas(quality)
        c_cells = cost[self.cell_member, self.cell_product]
        if joint:
            p = self.game.retail_prices(c_cells, self.cell_member, deltas, self._fixed())
            x = None
        else:
            c_p = self.brand_cost(cost)
            x = self.wholesale(c_p, np.nan_to_num(c_p), quality)
            w = np.where(self.brand[self.cell_product] >= 0, x[self.cell_product], c_cells)
            p = self.game.retail_prices(w, self.cell_member, deltas, self._fixed())
        q = self.game.quantity(p, deltas)
        n_p = cost.shape[1]
        units = np.bincount(self.cell_product, weights=q, minlength=n_p)
        if joint:
            margin = np.bincount(self.cell_product, weights=(p - c_cells) * q, minlength=n_p)
        else:
            margin = (np.nan_to_num(x) - np.nan_to_num(self.brand_cost(cost))) * units
        return {
            "price": p,
            "units": q,
            "surplus": float(self.game.surplus(p, deltas).sum()),
            "margin": margin,
        }


class GameResponse:
    """A member's part in the category game, in the interface pricing rules use:
    rows of [P] unit costs in, rows of [P] prices out."""

    log_scale = False
    price_ceiling = np.inf

    def __init__(self, channel: ChannelGame, member: int):
        self.channel = channel
        self.member = member

    def _row(self, w: np.ndarray) -> np.ndarray:
        w = np.asarray(w, dtype=float)
        if w.shape != (self.channel.model.retail_price.shape[1],):
            raise ValueError("a category-game member prices a row of products at once")
        return w


class GameRetailer(GameResponse):
    """A retailer in differentiated markets: its category's prices in the retail Nash
    equilibrium, at its own unit costs and its rivals' current ones."""

    def _cells(self) -> np.ndarray:
        return np.flatnonzero(self.channel.cell_member == self.member)

    def _equilibrium(self, w: np.ndarray, base: np.ndarray) -> np.ndarray:
        ch = self.channel
        own = self._cells()
        w_cells = base[ch.cell_member, ch.cell_product].copy()
        w_cells[own] = w[ch.cell_product[own]]
        return ch.retail(w_cells), own

    def price(self, w):
        w = self._row(w)
        p, own = self._equilibrium(w, self.channel.model._marginal_cost())
        out = w.copy()
        out[self.channel.cell_product[own]] = p[own]
        return out

    def joint(self, cost):
        """Prices and units [P] when every retailer prices at the channel's marginal cost."""
        cost = self._row(cost)
        ch = self.channel
        p, own = self._equilibrium(cost, ch.model.channel_cost)
        q = ch.game.quantity(p, ch.deltas())
        price, units = cost.copy(), np.zeros_like(cost)
        price[ch.cell_product[own]] = p[own]
        np.add.at(units, ch.cell_product[own], q[own])
        return price, units

    def quantity(self, w):
        w = self._row(w)
        ch = self.channel
        p, own = self._equilibrium(w, ch.model._marginal_cost())
        q = ch.game.quantity(p, ch.deltas())
        units = np.zeros_like(w)
        np.add.at(units, ch.cell_product[own], q[own])
        return units

    def profit(self, w):
        w = self._row(w)
        return (self.price(w) - w) * self.quantity(w)


class GameBrand(GameResponse):
    """A brand selling into differentiated markets: its wholesale price per product in
    the brands' Nash equilibrium, anticipating the retail equilibrium."""

    def price(self, w):
        w = self._row(w)
        ch = self.channel
        cost_p = ch.brand_cost(ch.model._marginal_cost())
        mine = ch.brand == self.member
        cost_p[mine] = w[mine]
        x = ch.wholesale(cost_p, self._current())
        out = w.copy()
        out[mine] = x[mine]
        return out

    def _current(self) -> np.ndarray:
        """[P] each product's current wholesale price into the game's retailers."""
        ch, model = self.channel, self.channel.model
        topo = model.topology
        out = np.zeros(model.edge_price.shape[1])
        for p in ch.products:
            b = int(ch.brand[p])
            if b < 0:
                continue
            edges = topo.sales_edges[b]
            out[p] = float(model.edge_price[edges, p].mean()) if len(edges) else 0.0
        return out

    def quantity(self, w):
        w = self._row(w)
        ch = self.channel
        x = self.price(w)
        base = ch.model._marginal_cost()
        w_cells = base[ch.cell_member, ch.cell_product].copy()
        mine = ch.brand[ch.cell_product] == self.member
        w_cells[mine] = x[ch.cell_product[mine]]
        q = ch.game.quantity(ch.retail(w_cells), ch.deltas())
        return np.bincount(ch.cell_product, weights=q * mine, minlength=len(w))

    def profit(self, w):
        w = self._row(w)
        return (self.price(w) - w) * self.quantity(w)
