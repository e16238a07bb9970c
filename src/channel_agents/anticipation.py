"""What a leader anticipates: its followers' best responses, built bottom-up.

With complete information a member knows the demand its buyers face and the
contracts below it. For every member this module builds a :class:`Response`:
given the member's unit cost ``w`` (what one more unit costs it), the price
it sets, the quantity it buys per period and its expected profit. Retailers
respond to their market (monopoly, Bertrand or Cournot competitors, or a
newsvendor season); a member above them maximizes
``(p - w) x sum of its buyers' quantities at price p``, which is the
Stackelberg leader's problem at every tier (backward induction over the
graph). Everything is solved numerically (vectorized golden-section search;
bisection for Cournot; interpolated response tables for upper tiers), so any
chain length, several buyers per seller and any demand curve work the same
way. Nothing here knows a closed form of the theory cards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special
from scipy.interpolate import PchipInterpolator

GOLDEN = (np.sqrt(5.0) - 1.0) / 2.0


def maximize(
    f: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray, iters: int = 160
) -> np.ndarray:
    """Vectorized golden-section search: argmax of a unimodal ``f`` on [lo, hi] per element."""
    a = np.array(lo, dtype=float)
    b = np.array(hi, dtype=float)
    c = b - GOLDEN * (b - a)
    d = a + GOLDEN * (b - a)
    fc, fd = f(c), f(d)
    for _ in range(iters):
        left = fc >= fd  # the maximum lies in [a, d]
        a, b = np.where(left, a, c), np.where(left, d, b)
        new = np.where(left, b - GOLDEN * (b - a), a + GOLDEN * (b - a))
        f_new = f(new)
        c, d, fc, fd = (
            np.where(left, new, d),
            np.where(left, c, new),
            np.where(left, f_new, fd),
            np.where(left, fc, f_new),
        )
        if np.all(b - a <= 1e-14 * np.maximum(1.0, np.abs(b))):
            break
    return (a + b) / 2.0


def solve_foc(
    marginal: Callable[[np.ndarray], np.ndarray], lo: np.ndarray, hi: np.ndarray, iters: int = 200
) -> np.ndarray:
    """Vectorized bisection for the price where ``marginal`` (a decreasing first-order
    condition) crosses zero; converges to machine precision, unlike a search on values."""
    a = np.array(lo, dtype=float)
    b = np.array(np.broadcast_to(hi, a.shape), dtype=float)
    for _ in range(iters):
        mid = 0.5 * (a + b)
        up = marginal(mid) > 0
        a, b = np.where(up, mid, a), np.where(up, b, mid)
        if np.all(b - a <= 4e-16 * np.maximum(1.0, np.abs(b))):
            break
    return 0.5 * (a + b)


# --------------------------------------------------------------------------- demand


@dataclass(frozen=True)
class DemandCurve:
    """Expected demand of a price-responsive market: ``quantity(p)`` and its inverse."""

    kind: str  # "linear" or "isoelastic"
    a: float = 0.0
    b: float = 1.0
    scale: float = 1.0
    elasticity: float = 2.0

    def quantity(self, p: np.ndarray) -> np.ndarray:
        p = np.asarray(p, dtype=float)
        if self.kind == "linear":
            return np.maximum(self.a - self.b * p, 0.0)
        return self.scale * np.maximum(p, 1e-300) ** (-self.elasticity)

    def slope(self, p: np.ndarray) -> np.ndarray:
        """dq/dp."""
        p = np.asarray(p, dtype=float)
        if self.kind == "linear":
            return np.where(self.a - self.b * p > 0, -self.b, 0.0)
        return -self.elasticity * self.quantity(p) / np.maximum(p, 1e-300)

    def inverse(self, q: np.ndarray) -> np.ndarray:
        q = np.asarray(q, dtype=float)
        if self.kind == "linear":
            return (self.a - q) / self.b
        return (self.scale / np.maximum(q, 1e-300)) ** (1.0 / self.elasticity)

    def inverse_slope(self, q: np.ndarray) -> np.ndarray:
        """dP/dQ."""
        q = np.asarray(q, dtype=float)
        if self.kind == "linear":
            return np.full_like(q, -1.0 / self.b)
        return -self.inverse(q) / (self.elasticity * np.maximum(q, 1e-300))

    def price_bounds(self, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where a seller with unit cost ``w`` searches for its price."""
        w = np.asarray(w, dtype=float)
        if self.kind == "linear":
            choke = self.a / self.b
            return np.minimum(w, choke), np.maximum(choke, w)
        # the monopoly markup e/(e-1) is below 50 for any elasticity above 1.02
        return w, np.maximum(w, 1e-12) * 60.0

    @property
    def log_scale(self) -> bool:
        return self.kind == "isoelastic"

    @property
    def choke_price(self) -> float:
        return self.a / self.b if self.kind == "linear" else np.inf


@dataclass(frozen=True)
class SeasonDemand:
    """Normal demand for a newsvendor season: what a perishable retailer knows."""

    mean: float
    sd: float

    def quantile(self, fractile: np.ndarray) -> np.ndarray:
        f = np.clip(fractile, 1e-12, 1 - 1e-12)
        return self.mean + self.sd * np.sqrt(2.0) * special.erfinv(2.0 * f - 1.0)

    def expected_sales(self, q: np.ndarray) -> np.ndarray:
        """E[min(Q, D)] = mean - sd x L((Q - mean) / sd), L the standard normal loss."""
        if self.sd == 0:
            return np.minimum(q, self.mean)
        z = (np.asarray(q, dtype=float) - self.mean) / self.sd
        pdf = np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)
        cdf = 0.5 * (1.0 + special.erf(z / np.sqrt(2.0)))
        loss = pdf - z * (1.0 - cdf)
        return self.mean - self.sd * loss


# --------------------------------------------------------------------------- responses


class Response:
    """A member's best response to its unit cost ``w`` (arrays in, arrays out)."""

    def price(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def quantity(self, w: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def profit(self, w: np.ndarray) -> np.ndarray:
        """Expected profit per period before fixed fees, at unit cost ``w``."""
        raise NotImplementedError

    @property
    def log_scale(self) -> bool:
        return False

    @property
    def price_ceiling(self) -> float:
        return np.inf


@dataclass
class MonopolyRetailer(Response):
    """Alone in its market: maximizes (share x p - w) D(p)."""

    demand: DemandCurve
    share: float = 1.0  # revenue share it keeps (revenue sharing), 1 otherwise
    competitors: int = 1  # >1: homogeneous Bertrand rivals, who price at cost

    def price(self, w):
        w = np.asarray(w, dtype=float) / self.share  # break-even price
        if self.competitors > 1:
            return w
        lo, hi = self.demand.price_bounds(w)
        d = self.demand
        return solve_foc(lambda p: d.quantity(p) + (p - w) * d.slope(p), lo, hi)

    def quantity(self, w):
        return self.demand.quantity(self.price(w)) / self.competitors

    def profit(self, w):
        p = self.price(w)
        return (
            (self.share * p - np.asarray(w, dtype=float))
            * self.demand.quantity(p)
            / self.competitors
        )

    @property
    def log_scale(self):
        return self.demand.log_scale

    @property
    def price_ceiling(self):
        return self.demand.choke_price * self.share


@dataclass
class CournotRetailer(Response):
    """One of ``n`` symmetric Cournot retailers: its equilibrium quantity at cost w."""

    demand: DemandCurve
    n: int
    share: float = 1.0

    def quantity(self, w):
        w = np.atleast_1d(np.asarray(w, dtype=float)) / self.share
        # FOC of (P(Q) - w) q_i at the symmetric point: P(nq) + q P'(nq) - w = 0, decreasing in q
        lo = np.zeros_like(w)
        if self.demand.kind == "linear":
            hi = np.full_like(w, self.demand.a / self.n)
        else:
            hi = self.demand.quantity(np.maximum(w, 1e-12) * 1e-3) / self.n
        for _ in range(200):
            mid = (lo + hi) / 2
            big = self.n * mid
            foc = self.demand.inverse(big) + mid * self.demand.inverse_slope(big) - w
            lo = np.where(foc > 0, mid, lo)
            hi = np.where(foc > 0, hi, mid)
        return (lo + hi) / 2

    def price(self, w):
        return self.demand.inverse(self.n * self.quantity(w))

    def profit(self, w):
        q = self.quantity(w)
        return (self.share * self.price(w) - np.asarray(w, dtype=float)) * q

    @property
    def log_scale(self):
        return self.demand.log_scale

    @property
    def price_ceiling(self):
        return self.demand.choke_price * self.share


@dataclass
class NewsvendorRetailer(Response):
    """A perishable retailer at a fixed retail price: orders the critical fractile.

    With revenue share ``share``, refund ``refund`` per returned unsold unit and
    salvage value ``salvage``: underage ``share p - w``, overage ``w - max(share v, b)``.
    """

    season: SeasonDemand
    retail_price: float
    salvage: float
    share: float = 1.0
    refund: float = 0.0

    @property
    def leftover_value(self) -> float:
        return max(self.share * self.salvage, self.refund)

    def price(self, w):
        return np.full_like(np.asarray(w, dtype=float), self.retail_price)

    def quantity(self, w):
        w = np.asarray(w, dtype=float)
        p = self.share * self.retail_price
        fractile = (p - w) / (p - self.leftover_value)
        return np.maximum(self.season.quantile(fractile), 0.0)

    def profit(self, w):
        q = self.quantity(w)
        sales = self.season.expected_sales(q)
        return (
            self.share * self.retail_price * sales
            + self.leftover_value * (q - sales)
            - np.asarray(w) * q
        )

    @property
    def price_ceiling(self):
        return self.share * self.retail_price


@dataclass
class QuantityDiscountBuyer(Response):
    """A buyer under w(q) = max((1 - L) P(q) + L c, c): its response to the seller's cost c."""

    inner: MonopolyRetailer
    retailer_share: float

    def _schedule(self, q, c):
        return np.maximum(
            (1 - self.retailer_share) * self.inner.demand.inverse(q) + self.retailer_share * c, c
        )

    def price(self, c):
        c = np.asarray(c, dtype=float)
        d = self.inner.demand
        lo, hi = d.price_bounds(c)

        def payoff(p):
            q = d.quantity(p)
            return (p - self._schedule(q, c)) * q

        return maximize(payoff, lo, hi)

    def quantity(self, c):
        return self.inner.demand.quantity(self.price(c))

    def unit_price(self, c):
        return self._schedule(self.quantity(c), np.asarray(c, dtype=float))

    def profit(self, c):
        q = self.quantity(c)
        return (self.price(c) - self.unit_price(c)) * q

    @property
    def log_scale(self):
        return self.inner.log_scale

    @property
    def price_ceiling(self):
        return self.inner.price_ceiling


@dataclass
class PassThroughMember(Response):
    """A member whose contracts below sell at its marginal cost (x ``factor``, a revenue
    share): it sets no price of its own; its buyers respond to its cost."""

    buyers: list
    factor: float = 1.0

    def price(self, w):
        return np.asarray(w, dtype=float) * self.factor

    def quantity(self, w):
        return sum(np.asarray(b.quantity(self.price(w)), dtype=float) for b in self.buyers)

    def profit(self, w):
        w = np.asarray(w, dtype=float)
        return (self.price(w) - w) * self.quantity(w)

    @property
    def log_scale(self):
        return all(b.log_scale for b in self.buyers)

    @property
    def price_ceiling(self):
        return max(b.price_ceiling for b in self.buyers) / self.factor


class UpstreamMember(Response):
    """A member above others: one price to all its buyers, maximizing (p - w) x their total.

    The buyers' responses are tabulated once on a grid of prices and
    interpolated (monotone cubic), so an upper tier costs the same as a
    retailer whatever the depth.
    """

    def __init__(self, buyers: list[Response], fixed_price: float | None = None, grid: int = 1201):
        self.buyers = buyers
        self.fixed_price = fixed_price
        self._log = all(b.log_scale for b in buyers)
        ceiling = max(b.price_ceiling for b in buyers)
        if self._log:
            self.grid = np.geomspace(1e-6, 1e6, grid)
        else:
            top = ceiling if np.isfinite(ceiling) else 1e4
            self.grid = np.linspace(0.0, top * 1.0000001, grid)
        totals = sum(np.asarray(b.quantity(self.grid), dtype=float) for b in buyers)
        if self._log:
            self._table = PchipInterpolator(np.log(self.grid), np.log(np.maximum(totals, 1e-300)))
        else:
            self._table = PchipInterpolator(self.grid, totals)
        self._slope = self._table.derivative()
        self._ceiling = ceiling

    def buyers_take(self, p: np.ndarray) -> np.ndarray:
        """Total quantity the buyers take when this member charges ``p``."""
        p = np.asarray(p, dtype=float)
        if self._log:
            return np.exp(self._table(np.log(np.maximum(p, 1e-300))))
        return np.maximum(self._table(np.clip(p, self.grid[0], self.grid[-1])), 0.0) * (
            p <= self.grid[-1]
        )

    def buyers_slope(self, p: np.ndarray) -> np.ndarray:
        """d(buyers_take)/dp."""
        p = np.asarray(p, dtype=float)
        if self._log:
            x = np.log(np.maximum(p, 1e-300))
            return self.buyers_take(p) * self._slope(x) / np.maximum(p, 1e-300)
        inside = (p >= self.grid[0]) & (p <= self.grid[-1])
        return np.where(inside, self._slope(np.clip(p, self.grid[0], self.grid[-1])), 0.0)

    def price(self, w):
        w = np.asarray(w, dtype=float)
        if self.fixed_price is not None:
            return np.full_like(w, self.fixed_price)
        if self._log:
            lo, hi = w, np.maximum(w, 1e-12) * 60.0
        else:
            lo, hi = np.minimum(w, self._ceiling), np.full_like(w, self._ceiling)
        return solve_foc(lambda p: self.buyers_take(p) + (p - w) * self.buyers_slope(p), lo, hi)

    def quantity(self, w):
        return self.buyers_take(self.price(w))

    def profit(self, w):
        return (self.price(w) - np.asarray(w, dtype=float)) * self.quantity(w)

    @property
    def log_scale(self):
        return self._log

    @property
    def price_ceiling(self):
        return self._ceiling


# --------------------------------------------------------------------------- building


def retailer_markets(cfg) -> dict[str, tuple[Any, int]]:
    """Each retailer's first market, and how many retailers share it."""
    out: dict[str, tuple[Any, int]] = {}
    for m in cfg.markets:
        for name in m.retailers:
            out.setdefault(name, (m, len(m.retailers)))
    return out


def demand_curve(market) -> DemandCurve | None:
    """A market's expected demand curve, if its demand responds to price."""
    from channel_agents.config import AdvertisedLinearDemand, IsoelasticDemand, LinearDemand

    d = market.demand
    if isinstance(d, LinearDemand | AdvertisedLinearDemand):
        return DemandCurve("linear", a=d.a, b=d.b)
    if isinstance(d, IsoelasticDemand):
        return DemandCurve("isoelastic", scale=d.scale, elasticity=d.elasticity)
    return None


def build_responses(cfg, topo, book, retail_prices: dict[str, float]) -> list[Response | None]:
    """Each member's best response to its unit cost, bottom-up; None where it has no
    pricing power to anticipate (price-insensitive demand below it)."""
    from channel_agents.config import NormalDemand

    responses: list[Response | None] = [None] * topo.n_members
    names = topo.names
    markets_of = retailer_markets(cfg)
    for k in reversed(topo.order):
        if topo.is_source[k]:
            continue
        member = cfg.members[names[k]]
        supply = topo.supply_edges[k]
        e = supply[0] if len(supply) else None
        share = float(book.revenue_share[e]) if e is not None else 1.0
        if np.isnan(share):
            share = 1.0
        refund = float(book.buyback_price[e]) if e is not None else 0.0
        if topo.roles[k] == "retailer":
            market, n = markets_of.get(names[k], (None, 0))
            curve = demand_curve(market) if market is not None else None
            perishable = (
                member.perishable if member.perishable is not None else cfg.defaults.perishable
            )
            if perishable and isinstance(market.demand, NormalDemand) and names[k] in retail_prices:
                salvage = member.salvage_value
                if salvage is None:
                    salvage = cfg.defaults.salvage_value
                responses[k] = NewsvendorRetailer(
                    SeasonDemand(market.demand.mean / n, market.demand.sd / n),
                    retail_prices[names[k]],
                    salvage,
                    share=share,
                    refund=refund,
                )
            elif curve is None:
                responses[k] = None
            elif market.clearing == "cournot":
                responses[k] = CournotRetailer(curve, n, share=share)
            else:
                inner = MonopolyRetailer(curve, share=share, competitors=n)
                if e is not None and book.kind[e] == "quantity_discount":
                    responses[k] = QuantityDiscountBuyer(inner, float(book.retailer_share[e]))
                else:
                    responses[k] = inner
            continue
        buyers = [responses[int(topo.buyer[s])] for s in topo.sales_edges[k]]
        if not buyers or any(b is None for b in buyers):
            continue
        sales = topo.sales_edges[k]
        if book.at_cost[sales].all():  # its contracts pass its marginal cost on
            factors = np.nan_to_num(book.revenue_share[sales], nan=1.0)
            responses[k] = PassThroughMember(buyers, float(factors[0]))
            continue
        prices = book.wholesale_price[topo.sales_edges[k]]
        fixed = float(prices[0]) if np.isfinite(prices).all() and np.ptp(prices) == 0 else None
        responses[k] = UpstreamMember(buyers, fixed_price=fixed)
    return responses
