"""Promotion decisions: advertising spend and co-op advertising between a manufacturer
and its retailer, siloed (a Stackelberg game) or joint.

Demand responds to both members' advertising with a concave (square-root)
response: D = (a - b p)(k_r sqrt(m_r) + k_m sqrt(m_m)), m_r the retailer's local
and m_m the manufacturer's national spend (Xie & Wei 2009; theory card 5).

- Siloed (``promotion: independent``): the manufacturer leads, choosing its
  wholesale price w, its spend m_m and the share t of the retailer's
  advertising it pays (co-op; t = 0 when co-op is off); the retailer then
  chooses p and m_r, paying (1 - t) m_r. Both problems are solved numerically
  (the retailer's for every candidate of the leader's, nested); each member's
  own spend comes from its first-order condition (a concave quadratic in the
  square root of the spend).
- Joint (``promotion: joint``): p, m_r and m_m maximize the channel's profit.

Nothing here knows a closed form; theory.py checks the results.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import optimize


@dataclass(frozen=True)
class AdvertisingPlan:
    """The decisions of one manufacturer-retailer pair, per period."""

    retail_price: float
    wholesale_price: float | None  # None under joint decisions (the contract sets it)
    coop_share: float  # share t of the retailer's advertising the manufacturer pays
    retailer_spend: float  # m_r
    manufacturer_spend: float  # m_m

    def demand(self, a: float, b: float, k_r: float, k_m: float) -> float:
        g = k_r * np.sqrt(self.retailer_spend) + k_m * np.sqrt(self.manufacturer_spend)
        return g * max(a - b * self.retail_price, 0.0)


def retailer_response(a: float, b: float, w: float, t: float, k_r: float, k_m: float, m_m: float):
    """The retailer's best (p, m_r) given the leader's (w, t, m_m).

    Advertising multiplies demand, so p maximizes the margin (p - w)(a - b p): the root
    of its first-order condition (Brent's method). With M that margin, m_r = s^2
    maximizes the concave M k_r s - (1 - t) s^2, whose maximizer is s = M k_r / (2 (1 - t)).
    """
    choke = a / b
    if w >= choke:
        return w, 0.0
    p = optimize.brentq(lambda p: (a - b * p) - b * (p - w), w, choke, xtol=1e-14, rtol=1e-15)
    margin = (p - w) * (a - b * p)
    if k_r <= 0 or margin <= 0:
        return p, 0.0
    s = margin * k_r / (2.0 * max(1.0 - t, 1e-12))
    return p, s * s


def _polish(f, x0, bounds):
    """Nelder-Mead from x0, restarted from its own answer until it stops moving."""
    best = optimize.minimize(
        f, x0, method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 20000}
    )
    for _ in range(6):
        again = optimize.minimize(
            f,
            best.x,
            method="Nelder-Mead",
            options={"xatol": 1e-12, "fatol": 1e-14, "maxiter": 20000},
        )
        if again.fun >= best.fun - 1e-13:
            break
        best = again
    x = np.clip(best.x, [lo for lo, _ in bounds], [hi for _, hi in bounds])
    return x


def siloed_plan(
    a: float, b: float, c: float, k_r: float, k_m: float, coop: bool
) -> AdvertisingPlan:
    """The manufacturer-led Stackelberg equilibrium (with or without co-op advertising).

    Given (w, t) the retailer's response (p, m_r) does not depend on m_m, so the
    leader's profit (w - c) D0 (k_r sqrt(m_r) + k_m s) - s^2 - t m_r, D0 = a - b p, is a
    concave quadratic in s = sqrt(m_m), maximized at s = (w - c) D0 k_m / 2. What is left,
    w and t, is searched numerically: w by bounded Brent for each t, and t over a grid
    refined by bounded Brent around its best point (a search over all three at once can
    stall where t is clamped at 0)."""
    choke = a / b

    def profit(w: float, t: float) -> tuple[float, float]:
        p, m_r = retailer_response(a, b, w, t, k_r, k_m, 0.0)
        margin = (w - c) * (a - b * p)
        s_m = max(margin, 0.0) * k_m / 2.0
        return margin * (k_r * np.sqrt(m_r) + k_m * s_m) - s_m * s_m - t * m_r, s_m

    def best_w(t: float) -> tuple[float, float]:
        res = optimize.minimize_scalar(
            lambda w: -profit(w, t)[0],
            bounds=(c, choke),
            method="bounded",
            options={"xatol": 1e-13 * max(1.0, choke)},
        )
        return float(res.x), -float(res.fun)

    t = 0.0
    if coop:
        grid = np.linspace(0.0, 0.99, 100)
        values = [best_w(float(x))[1] for x in grid]
        i = int(np.argmax(values))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
        res = optimize.minimize_scalar(
            lambda x: -best_w(x)[1], bounds=(lo, hi), method="bounded", options={"xatol": 1e-12}
        )
        t = float(res.x) if -res.fun >= values[i] else float(grid[i])
    w = best_w(t)[0]
    p, m_r = retailer_response(a, b, w, t, k_r, k_m, 0.0)
    s_m = profit(w, t)[1]
    return AdvertisingPlan(p, w, t, m_r, s_m * s_m)


def joint_plan(a: float, b: float, c: float, k_r: float, k_m: float) -> AdvertisingPlan:
    """Price and both spends chosen to maximize the channel's profit."""
    choke = a / b

    def loss(x: np.ndarray) -> float:
        p, s_r, s_m = x[0], abs(x[1]), abs(x[2])
        if not c <= p <= choke:
            return 1e12 + abs(p)
        return -((p - c) * (a - b * p) * (k_r * s_r + k_m * s_m) - s_r * s_r - s_m * s_m)

    starts = [np.array([c + f * (choke - c), s, s]) for f in (0.3, 0.5, 0.7) for s in (1.0, 5.0)]
    x = _polish(loss, min(starts, key=loss), [(c, choke), (-np.inf, np.inf), (-np.inf, np.inf)])
    return AdvertisingPlan(x[0], None, 0.0, x[1] ** 2, x[2] ** 2)


# --------------------------------------------------------------------------- price promotions


def on_promotion(t: int, every: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """Is a promotion on in period ``t`` (1-based)? It runs for the last ``duration``
    periods of every ``every``, so regular stretches between promotions all have the same
    length, the first one included."""
    return (t - 1) % every >= every - duration


@dataclass(frozen=True)
class TradeDeals:
    """The trade deals of promoting sellers, one row per sales edge."""

    edges: np.ndarray  # [deals] edge index
    depth: np.ndarray
    every: np.ndarray
    duration: np.ndarray
    pass_weight: np.ndarray  # pass_through x the edge's share of its buyer's supply
    buyer: np.ndarray


class PromotionCalendar:
    """Retailers' temporary price discounts and their suppliers' trade deals, by period.

    - A retailer's ``promotion: {policy: price_discount, depth, every, duration, spend}``
      cuts what consumers pay to (1 - depth) x its posted price while it runs, and
      costs ``spend`` a period (paid out of the channel).
    - A seller's ``trade_promotion: {depth, every, duration, pass_through}`` cuts its
      price on every sales edge by ``depth`` (relative) while it runs: shipments made
      then are invoiced at the deal price. A retailer buying on the deal passes
      ``pass_through`` of its per-unit discount on to consumers.

    :meth:`open` runs at the start of the market phase: it sets this period's deal
    prices on the edges (restoring the regular price when a deal ends, unless a pricing
    rule has posted a new one meanwhile) and the per-member spend.

    >>> cal = PromotionCalendar(depth=np.array([0.2]), every=np.array([4]),
    ...                         duration=np.array([1]), spend=np.array([0.0]))
    >>> paid = []
    >>> for t in (3, 4, 5):
    ...     cal.open(t, np.zeros((0, 1)))
    ...     paid.append(float(cal.consumer_price(np.array([[10.0]]))[0, 0]))
    >>> paid
    [10.0, 8.0, 10.0]
    """

    def __init__(
        self,
        depth: np.ndarray,
        every: np.ndarray,
        duration: np.ndarray,
        spend: np.ndarray,
        deals: TradeDeals | None = None,
    ):
        self.depth = depth  # [M] per member; duration 0 where it runs no price promotion
        self.every = np.maximum(every, 1)
        self.duration = duration
        self.spend_rate = spend
        self.has_retail = bool((duration > 0).any())
        self.deals = deals
        self._base: np.ndarray | None = None  # regular price of each deal edge [deals, P]
        self._applied: np.ndarray | None = None  # the deal price this calendar posted
        self.on = np.zeros(len(depth), dtype=bool)
        self.spend = np.zeros(len(depth))
        self.pass_discount: np.ndarray | None = None  # [M, P] passed on to consumers

    @classmethod
    def from_config(cls, cfg, topo) -> PromotionCalendar | None:
        """The scenario's calendar, or None when no member promotes."""
        n = topo.n_members
        depth, every, duration, spend = (
            np.zeros(n),
            np.ones(n, dtype=np.int64),
            np.zeros(n, dtype=np.int64),
            np.zeros(n),
        )
        found = False
        for k, m in enumerate(cfg.members.values()):
            promo = m.promotion
            if promo is None and m.role == "retailer":
                promo = cfg.defaults.promotion
            if promo is not None:
                found = True
                depth[k], every[k], duration[k], spend[k] = (
                    promo.depth, promo.every, promo.duration, promo.spend,
                )  # fmt: skip
        edges, d, ev, du, weight, buyer = [], [], [], [], [], []
        share = np.array([e.order_share for e in cfg.edges], dtype=float)
        total = np.bincount(topo.buyer, weights=share, minlength=n) if len(share) else np.zeros(n)
        for k, m in enumerate(cfg.members.values()):
            deal = m.trade_promotion
            if deal is None:
                continue
            found = True
            for e in topo.sales_edges[k]:
                b = int(topo.buyer[e])
                edges.append(int(e))
                d.append(deal.depth)
                ev.append(deal.every)
                du.append(deal.duration)
                passes = topo.roles[b] == "retailer"
                weight.append(deal.pass_through * share[e] / total[b] if passes else 0.0)
                buyer.append(b)
        if not found:
            return None
        deals = None
        if edges:
            deals = TradeDeals(
                np.array(edges, dtype=np.int64), np.array(d), np.array(ev, dtype=np.int64),
                np.array(du, dtype=np.int64), np.array(weight), np.array(buyer, dtype=np.int64),
            )  # fmt: skip
        return cls(depth, every, duration, spend, deals)

    def open(self, t: int, edge_price: np.ndarray) -> None:
        """Start period ``t``: which promotions run, what they cost, the deal prices."""
        if self.has_retail:  # members without a promotion have duration 0: never on
            self.on = on_promotion(t, self.every, self.duration)
            self.spend = np.where(self.on, self.spend_rate, 0.0)
        deals = self.deals
        if deals is None:
            return
        e = deals.edges
        current = edge_price[e]
        if self._base is None:
            self._base = current.copy()
            self._applied = np.full_like(current, np.nan)
        ours = current == self._applied  # NaN never equal: a posted price is not ours
        self._base = np.where(ours, self._base, current)
        on = on_promotion(t, deals.every, deals.duration)[:, None]
        deal = self._base * (1.0 - deals.depth[:, None])
        edge_price[e] = np.where(on, deal, self._base)
        self._applied = np.where(on, deal, np.nan)
        discount = np.where(on, self._base - deal, 0.0) * deals.pass_weight[:, None]
        passed = np.zeros((len(self.depth), current.shape[1]))
        np.add.at(passed, deals.buyer, discount)
        self.pass_discount = passed

    def consumer_price(self, retail_price: np.ndarray) -> np.ndarray:
        """What consumers pay at each member [M, P] this period (posted price less the
        running discount and the trade-deal discount passed on, never below zero)."""
        price = retail_price * (1.0 - np.where(self.on, self.depth, 0.0))[:, None]
        if self.pass_discount is not None:
            price = price - self.pass_discount
        return np.maximum(price, 0.0)
