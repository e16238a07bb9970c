"""Promotion decisions: advertising spend and co-op advertising between a manufacturer
and its retailer, siloed (a Stackelberg game) or joint.

Demand responds to both members' advertising with a concave (square-root)
response: D = (a - b p)(k_r sqrt(m_r) + k_m sqrt(m_m)), m_r the retailer's local
and m_m the manufacturer's national spend (Xie & Wei 2009; theory card 5).

- Siloed (``promotion: independent``): the manufacturer leads, choosing its
  wholesale price w, its spend m_m and the share t of the retailer's
  advertising it pays (co-op; t = 0 when co-op is off); the retailer then
  chooses p and m_r, paying (1 - t) m_r. Both problems are solved numerically
  (the retailer's for every candidate of the leader's, nested).
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
    """The manufacturer-led Stackelberg equilibrium (with or without co-op advertising)."""
    choke = a / b

    def leader_loss(x: np.ndarray) -> float:
        w, s_m, t = x[0], abs(x[1]), (min(max(x[2], 0.0), 0.999) if coop else 0.0)
        if not c <= w <= choke:
            return 1e12 + abs(w)
        p, m_r = retailer_response(a, b, w, t, k_r, k_m, s_m * s_m)
        g = k_r * np.sqrt(m_r) + k_m * s_m
        profit = (w - c) * (a - b * p) * g - s_m * s_m - t * m_r
        return -profit

    starts = [
        np.array([c + f * (choke - c), s, t])
        for f in (0.3, 0.5, 0.7)
        for s in (1.0, 5.0)
        for t in ((0.2, 0.6) if coop else (0.0,))
    ]
    best = min(starts, key=leader_loss)
    x = _polish(leader_loss, best, [(c, choke), (-np.inf, np.inf), (0.0, 0.999 if coop else 0.0)])
    w, s_m, t = x[0], abs(x[1]), (min(max(x[2], 0.0), 0.999) if coop else 0.0)
    p, m_r = retailer_response(a, b, w, t, k_r, k_m, s_m * s_m)
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
