"""Closed-form benchmarks of the theory cards (the results the simulation must reproduce).

Pure functions of the model parameters, independent of the simulation, so that
simulated outcomes can be checked against published results. Notation follows
the cards: linear demand ``q = a - b p``, unit cost ``c`` at the top of the chain,
``A = a - b c``, consumer surplus ``q^2 / (2 b)`` for linear demand. Every
function validates its domain and raises :class:`ValueError` outside it.

Cards covered: 1 (double marginalization), 2 (coordinating contracts),
3 (bullwhip), 5 (cooperative advertising), 6 (competing retailers) and
7 (bargaining). Card 4 (the beer game) is a simulation benchmark, not a closed
form, and is not reproduced here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import optimize
from scipy.stats import norm

__all__ = [
    "BARGAINING_PROTOCOLS",
    "bargaining_two_part_tariff",
    "bargaining_wholesale",
    "bertrand_retailers",
    "bullwhip_chen_lower_bound",
    "bullwhip_cooperative",
    "bullwhip_siloed",
    "coop_advertising",
    "cournot_retailers",
    "double_marginalization_isoelastic",
    "double_marginalization_linear",
    "newsvendor_buyback",
    "newsvendor_integrated",
    "newsvendor_revenue_sharing",
    "newsvendor_supplier_optimal_wholesale",
    "newsvendor_wholesale",
    "normal_expected_sales",
    "normal_loss",
    "quantity_discount_linear",
    "rubinstein_share",
    "two_part_tariff_linear",
]


# ---------------------------------------------------------------------------
# Domain checks
# ---------------------------------------------------------------------------


def _check_linear(a: float, b: float, c: float) -> float:
    """Validate a linear market (b > 0, c >= 0, A = a - b c > 0) and return A."""
    if not b > 0:
        raise ValueError(f"demand slope b must be > 0, got {b}")
    if c < 0:
        raise ValueError(f"unit cost c must be >= 0, got {c}")
    big_a = a - b * c
    if not big_a > 0:
        raise ValueError(f"need a - b c > 0 (a market worth serving), got {big_a}")
    return big_a


def _check_tiers(n: int) -> int:
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ValueError(f"number of tiers/firms must be an integer >= 1, got {n}")
    return int(n)


def _check_newsvendor(sd: float, p: float, c: float, v: float) -> None:
    if not sd > 0:
        raise ValueError(f"demand sd must be > 0, got {sd}")
    if not v < c < p:
        raise ValueError(f"need salvage < cost < price, got v={v}, c={c}, p={p}")


def _check_share(x: float, name: str, *, allow_zero: bool = False) -> None:
    lo_ok = x >= 0 if allow_zero else x > 0
    if not (lo_ok and x <= 1):
        bound = "[0, 1]" if allow_zero else "(0, 1]"
        raise ValueError(f"{name} must be in {bound}, got {x}")


# ---------------------------------------------------------------------------
# Card 1: double marginalization in an n-tier serial chain
# ---------------------------------------------------------------------------


def double_marginalization_linear(a: float, b: float, c: float, n: int) -> dict[str, Any]:
    """Stackelberg chain of n tiers under linear demand (n = 1 is integrated).

    Example: ``double_marginalization_linear(100, 2, 10, 2)["prices"] == [40.0, 30.0]``.
    """
    big_a = _check_linear(a, b, c)
    n = _check_tiers(n)
    q = big_a / 2**n
    prices = [(a - 2 ** (k - 1) * q) / b for k in range(1, n + 1)]
    profits = [2 ** (k - 1) * q * q / b for k in range(1, n + 1)]
    return {
        "quantity": q,
        "prices": prices,
        "profits": profits,
        "channel_profit": float(sum(profits)),
        "consumer_surplus": q * q / (2 * b),
        "retail_price": prices[0],
    }


def double_marginalization_isoelastic(
    scale: float, elasticity: float, c: float, n: int
) -> dict[str, Any]:
    """Stackelberg chain of n tiers under q = K p^-e: every tier marks up by e/(e-1).

    Example: ``double_marginalization_isoelastic(1e4, 2, 1, 3)["retail_price"] == 8.0``.
    """
    if not scale > 0:
        raise ValueError(f"scale K must be > 0, got {scale}")
    if not elasticity > 1:
        raise ValueError(f"elasticity must be > 1, got {elasticity}")
    if not c > 0:
        raise ValueError(f"unit cost c must be > 0 for iso-elastic demand, got {c}")
    n = _check_tiers(n)
    e = float(elasticity)
    m = e / (e - 1)
    # Tier k (1 = retailer) sells at m^(n-k+1) c and buys at m^(n-k) c.
    prices = [m ** (n - k + 1) * c for k in range(1, n + 1)]
    retail = prices[0]
    q = scale * retail**-e
    profits = [(m - 1) * m ** (n - k) * c * q for k in range(1, n + 1)]
    return {
        "quantity": q,
        "prices": prices,
        "profits": profits,
        "channel_profit": float(sum(profits)),
        "consumer_surplus": scale * retail ** (1 - e) / (e - 1),
        "retail_price": retail,
    }


# ---------------------------------------------------------------------------
# Card 2: newsvendor contracts (normal demand) and deterministic contracts
# ---------------------------------------------------------------------------


def normal_loss(z: float) -> float:
    """Standard normal loss E[(Z - z)^+] = phi(z) - z (1 - Phi(z)).

    Example: ``round(normal_loss(0.0), 6) == 0.398942``.
    """
    return float(norm.pdf(z) - z * norm.sf(z))


def normal_expected_sales(quantity: float, mean: float, sd: float) -> float:
    """Expected sales S(Q) = Q - E[(Q - D)^+] = mean - sd L((Q - mean)/sd), D ~ N(mean, sd).

    Demand is the untruncated normal (it may be negative), the convention that
    reproduces card 2; it is sound when sd is small against the mean (with a large
    coefficient of variation expected profits, and so efficiencies, lose meaning).
    Example: ``normal_expected_sales(100, 100, 30) ≈ 88.0317``.
    """
    if not sd > 0:
        raise ValueError(f"demand sd must be > 0, got {sd}")
    return float(mean - sd * normal_loss((quantity - mean) / sd))


def _critical_quantity(mean: float, sd: float, ratio: float) -> float:
    if not 0 < ratio < 1:
        raise ValueError(f"critical ratio must be in (0, 1), got {ratio}")
    return float(mean + sd * norm.ppf(ratio))


def _channel_profit(q: float, mean: float, sd: float, p: float, c: float, v: float) -> float:
    """Expected channel profit p S + v (Q - S) - c Q."""
    s = normal_expected_sales(q, mean, sd)
    return (p - v) * s - (c - v) * q


def newsvendor_integrated(mean: float, sd: float, p: float, c: float, v: float) -> dict[str, Any]:
    """Integrated newsvendor: Q0 = F^-1((p-c)/(p-v)) and its expected profit.

    Example: ``round(newsvendor_integrated(100, 30, 10, 4, 1)["quantity"], 3) == 112.922``.
    """
    _check_newsvendor(sd, p, c, v)
    q = _critical_quantity(mean, sd, (p - c) / (p - v))
    return {"quantity": q, "channel_profit": _channel_profit(q, mean, sd, p, c, v)}


def newsvendor_wholesale(
    mean: float, sd: float, p: float, w: float, c: float, v: float
) -> dict[str, Any]:
    """Wholesale-price-only contract: the retailer orders F^-1((p-w)/(p-v)).

    Example: ``round(newsvendor_wholesale(100, 30, 10, 7, 4, 1)["quantity"], 4) == 87.0782``.
    """
    _check_newsvendor(sd, p, c, v)
    if not v < w < p:
        raise ValueError(f"need salvage < wholesale price < retail price, got w={w}")
    q = _critical_quantity(mean, sd, (p - w) / (p - v))
    s = normal_expected_sales(q, mean, sd)
    retailer = (p - v) * s - (w - v) * q
    supplier = (w - c) * q
    integrated = newsvendor_integrated(mean, sd, p, c, v)["channel_profit"]
    return {
        "quantity": q,
        "wholesale_price": float(w),
        "retailer_profit": retailer,
        "supplier_profit": supplier,
        "channel_profit": retailer + supplier,
        "efficiency": (retailer + supplier) / integrated,
    }


def newsvendor_supplier_optimal_wholesale(
    mean: float, sd: float, p: float, c: float, v: float
) -> dict[str, Any]:
    """Wholesale price maximizing (w - c) Q(w) given the retailer's newsvendor response.

    Solved with ``scipy.optimize.brentq`` on the first-order condition in
    z = (Q - mean)/sd (unique for normal demand, an IFR distribution).
    Example: ``round(newsvendor_supplier_optimal_wholesale(100, 30, 10, 4, 1)["wholesale_price"], 5)
    == 8.68868``.
    """
    _check_newsvendor(sd, p, c, v)
    z0 = float(norm.ppf((p - c) / (p - v)))
    z_min = -mean / sd  # order quantity zero
    if not z0 > z_min:
        raise ValueError("the integrated order is not positive; no profitable wholesale price")

    def foc(z: float) -> float:
        # d/dz of (p - (p-v) Phi(z) - c) (mean + sd z)
        return sd * (p - c - (p - v) * norm.cdf(z)) - (p - v) * norm.pdf(z) * (mean + sd * z)

    z_star = optimize.brentq(foc, z_min, z0, xtol=1e-14, rtol=4 * np.finfo(float).eps)
    w_star = float(p - (p - v) * norm.cdf(z_star))
    return newsvendor_wholesale(mean, sd, p, w_star, c, v)


def newsvendor_revenue_sharing(
    mean: float,
    sd: float,
    p: float,
    c: float,
    v: float,
    phi: float,
    wholesale_price: float | None = None,
) -> dict[str, Any]:
    """Revenue sharing: the retailer keeps phi of revenue and salvage and pays w (default phi c).

    With w = phi c the order is the integrated one and profits split phi : 1 - phi.
    Example: ``round(newsvendor_revenue_sharing(100, 30, 10, 4, 1, 0.6)["retailer_profit"], 3)
    == 301.097``.
    """
    _check_newsvendor(sd, p, c, v)
    _check_share(phi, "phi")
    w = phi * c if wholesale_price is None else float(wholesale_price)
    # Retailer: phi (p S + v (Q - S)) - w Q, critical ratio (phi p - w) / (phi (p - v)).
    if not phi * v < w < phi * p:
        raise ValueError(f"need phi v < w < phi p, got w={w}")
    q = _critical_quantity(mean, sd, (phi * p - w) / (phi * (p - v)))
    s = normal_expected_sales(q, mean, sd)
    revenue = p * s + v * (q - s)
    retailer = phi * revenue - w * q
    supplier = (1 - phi) * revenue + (w - c) * q
    integrated = newsvendor_integrated(mean, sd, p, c, v)["channel_profit"]
    return {
        "quantity": q,
        "wholesale_price": w,
        "retailer_profit": retailer,
        "supplier_profit": supplier,
        "channel_profit": retailer + supplier,
        "efficiency": (retailer + supplier) / integrated,
    }


def newsvendor_buyback(
    mean: float,
    sd: float,
    p: float,
    c: float,
    v: float,
    share: float,
    wholesale_price: float | None = None,
    buyback_price: float | None = None,
) -> dict[str, Any]:
    """Buyback: w = p - L (p - c), b = p - L (p - v) (defaults); returns salvaged by the supplier at v.

    Example: ``newsvendor_buyback(100, 30, 10, 4, 1, 0.6)["buyback_price"] ≈ 4.6``.
    """
    _check_newsvendor(sd, p, c, v)
    _check_share(share, "share")
    w = p - share * (p - c) if wholesale_price is None else float(wholesale_price)
    bb = p - share * (p - v) if buyback_price is None else float(buyback_price)
    if not bb < w < p:
        raise ValueError(f"need buyback price < wholesale price < retail price, got w={w}, b={bb}")
    # Retailer: p S + b (Q - S) - w Q, critical ratio (p - w) / (p - b).
    q = _critical_quantity(mean, sd, (p - w) / (p - bb))
    s = normal_expected_sales(q, mean, sd)
    unsold = q - s
    retailer = p * s + bb * unsold - w * q
    supplier = (w - c) * q - (bb - v) * unsold
    integrated = newsvendor_integrated(mean, sd, p, c, v)["channel_profit"]
    return {
        "quantity": q,
        "wholesale_price": w,
        "buyback_price": bb,
        "retailer_profit": retailer,
        "supplier_profit": supplier,
        "channel_profit": retailer + supplier,
        "efficiency": (retailer + supplier) / integrated,
    }


def two_part_tariff_linear(a: float, b: float, c: float, fee: float) -> dict[str, Any]:
    """Deterministic two-part tariff: w = c plus a fixed fee; the retailer prices as integrated.

    Example: ``two_part_tariff_linear(100, 2, 10, 300)["retailer_profit"] == 500.0``.
    """
    big_a = _check_linear(a, b, c)
    integrated = big_a * big_a / (4 * b)
    if not 0 <= fee <= integrated:
        raise ValueError(f"fee must be in [0, {integrated}] for the retailer to accept, got {fee}")
    q = big_a / 2
    return {
        "retail_price": (a + b * c) / (2 * b),
        "quantity": q,
        "wholesale_price": float(c),
        "fee": float(fee),
        "retailer_profit": integrated - fee,
        "manufacturer_profit": float(fee),
        "channel_profit": integrated,
        "consumer_surplus": q * q / (2 * b),
    }


def quantity_discount_linear(a: float, b: float, c: float, share: float) -> dict[str, Any]:
    """Quantity discount w(q) = max(c, (1-L)(a-q)/b + L c): retailer profit is L x channel profit.

    Example: ``quantity_discount_linear(100, 2, 10, 0.5)["wholesale_price"] == 20.0``.
    """
    big_a = _check_linear(a, b, c)
    _check_share(share, "share")
    q = big_a / 2  # retailer's profit L ((a-q)/b - c) q peaks at the integrated volume
    w = max(c, (1 - share) * (a - q) / b + share * c)
    p = (a - q) / b
    return {
        "retail_price": p,
        "quantity": q,
        "wholesale_price": w,
        "retailer_profit": (p - w) * q,
        "manufacturer_profit": (w - c) * q,
        "channel_profit": (p - c) * q,
        "consumer_surplus": q * q / (2 * b),
    }


# ---------------------------------------------------------------------------
# Card 3: bullwhip
# ---------------------------------------------------------------------------


def _check_bullwhip(lead_times: Sequence[float], window: int) -> list[float]:
    if isinstance(window, bool) or int(window) != window or window < 1:
        raise ValueError(f"forecast window must be an integer >= 1, got {window}")
    lts = [float(x) for x in lead_times]
    if not lts or any(x < 0 for x in lts):
        raise ValueError(f"lead times must be a non-empty list of values >= 0, got {lead_times}")
    return lts


def bullwhip_siloed(lead_times: Sequence[float], window: int) -> list[float]:
    """Exact Var(q_k)/Var(D) per stage (retailer first) when each stage forecasts its incoming orders.

    The order of stage k is prod_{i<=k} (1 + a_i - a_i B^p) applied to i.i.d.
    demand, a_i = L_i / p; the ratio is the sum of squared coefficients.
    Example: ``bullwhip_siloed([2, 2], 5) ≈ [2.12, 5.1216]``.
    """
    lts = _check_bullwhip(lead_times, window)
    p = int(window)
    poly = np.array([1.0])
    ratios: list[float] = []
    for lt in lts:
        alpha = lt / p
        stage = np.zeros(p + 1)
        stage[0] = 1 + alpha
        stage[p] = -alpha
        poly = np.convolve(poly, stage)
        ratios.append(float(np.sum(poly**2)))
    return ratios


def bullwhip_chen_lower_bound(lead_times: Sequence[float], window: int) -> list[float]:
    """Chen et al.'s siloed lower bound prod_{i<=k} (1 + 2 L_i/p + 2 L_i^2/p^2).

    Example: ``bullwhip_chen_lower_bound([2, 2], 5) ≈ [2.12, 4.4944]``.
    """
    lts = _check_bullwhip(lead_times, window)
    p = int(window)
    out: list[float] = []
    acc = 1.0
    for lt in lts:
        acc *= 1 + 2 * lt / p + 2 * lt * lt / (p * p)
        out.append(acc)
    return out


def bullwhip_cooperative(lead_times: Sequence[float], window: int) -> list[float]:
    """Var(q_k)/Var(D) with echelon order-up-to on end demand: 1 + 2S/p + 2S^2/p^2, S = sum L_i, i<=k.

    Example: ``bullwhip_cooperative([2, 2], 5) ≈ [2.12, 3.88]``.
    """
    lts = _check_bullwhip(lead_times, window)
    p = int(window)
    cum = np.cumsum(lts)
    return [float(1 + 2 * s / p + 2 * s * s / (p * p)) for s in cum]


# ---------------------------------------------------------------------------
# Card 5: cooperative advertising with pricing
# ---------------------------------------------------------------------------


def _smallest_root_in_unit_interval(c2: float, c1: float, c0: float) -> float:
    """Smallest root of c2 y^2 + c1 y + c0 in (0, 1)."""
    roots = np.roots([c2, c1, c0]) if abs(c2) > 1e-15 else np.array([-c0 / c1])
    real = sorted(
        float(r.real)
        for r in np.atleast_1d(roots)
        if abs(r.imag) < 1e-12 and 1e-9 < r.real < 1 - 1e-9
    )
    if not real:  # pragma: no cover - excluded by the derivation
        raise ArithmeticError("no interior optimum for the wholesale price")
    return real[0]


def coop_advertising(
    a: float, b: float, c: float, k_r: float, k_m: float, arm: str
) -> dict[str, Any]:
    """Pricing and advertising with D = (a - b p)(k_r sqrt(m_r) + k_m sqrt(m_m)).

    ``arm``: "cooperative" (joint choice of p, m_r, m_m), "coop" (manufacturer
    leads with w, m_m and the co-op share t of the retailer's advertising) or
    "no_coop" (same with t = 0). Closed forms; see the module notes below.
    Example: ``coop_advertising(10, 1, 2, 1, 1, "cooperative")["channel_profit"] == 128.0``.

    Derivation (x = a - b w): the retailer prices at p = (a + b w)/(2b), earns
    R0 = x^2/(4b) per unit of advertising effect g, and sets
    sqrt(m_r) = k_r R0 / (2 (1 - t)); the manufacturer earns M0 = (w - c) x/2
    per unit of g and sets sqrt(m_m) = k_m M0 / 2. The optimal share is
    t = (2 M0 - R0)/(2 M0 + R0) (positive at the optimum), giving
    Pi_M = k_r^2 (2 M0 + R0)^2/16 + k_m^2 M0^2/4; without co-op
    Pi_M = k_r^2 M0 R0/2 + k_m^2 M0^2/4. The first-order condition in y = x/A is
    a quadratic: (18 r + 32 s) y^2 - (36 r + 48 s) y + 16 (r + s) = 0 with co-op,
    4 (s - r) y^2 + (3 r - 6 s) y + 2 s = 0 without (r = k_r^2, s = k_m^2);
    the optimum is its smallest root in (0, 1).
    Manufacturer and retailer profits are None in the cooperative arm (only the
    channel profit is determined).
    """
    big_a = _check_linear(a, b, c)
    if k_r < 0 or k_m < 0 or not (k_r > 0 or k_m > 0):
        raise ValueError(f"advertising effects must be >= 0 and not both 0, got {k_r}, {k_m}")
    r, s = k_r * k_r, k_m * k_m

    if arm == "cooperative":
        p = (a + b * c) / (2 * b)
        base = big_a * big_a / (4 * b)  # (p - c)(a - b p)
        root_r, root_m = k_r * base / 2, k_m * base / 2
        g = k_r * root_r + k_m * root_m
        m_r, m_m = root_r**2, root_m**2
        q = a - b * p
        channel = base * g - m_r - m_m
        return {
            "retail_price": p,
            "wholesale_price": None,
            "coop_share": None,
            "advertising_retailer": m_r,
            "advertising_manufacturer": m_m,
            "demand": q * g,
            "manufacturer_profit": None,
            "retailer_profit": None,
            "channel_profit": channel,
            "consumer_surplus": g * q * q / (2 * b),
        }

    if arm == "coop":
        y = _smallest_root_in_unit_interval(18 * r + 32 * s, -(36 * r + 48 * s), 16 * (r + s))
    elif arm == "no_coop":
        y = _smallest_root_in_unit_interval(4 * (s - r), 3 * r - 6 * s, 2 * s)
    else:
        raise ValueError(f"arm must be 'cooperative', 'coop' or 'no_coop', got {arm!r}")

    x = y * big_a
    w = (a - x) / b
    p = (a + b * w) / (2 * b)
    q = a - b * p  # = x / 2
    m0 = (w - c) * q  # manufacturer margin x quantity per unit of g
    r0 = (p - w) * q  # retailer margin x quantity per unit of g
    # Positive at the optimum (y < 4/5); with k_r = 0 the share is moot and reported as 0.
    t = (2 * m0 - r0) / (2 * m0 + r0) if arm == "coop" and k_r > 0 else 0.0
    root_r = k_r * r0 / (2 * (1 - t))
    root_m = k_m * m0 / 2
    g = k_r * root_r + k_m * root_m
    m_r, m_m = root_r**2, root_m**2
    manufacturer = m0 * g - t * m_r - m_m
    retailer = r0 * g - (1 - t) * m_r
    return {
        "retail_price": p,
        "wholesale_price": w,
        "coop_share": t,
        "advertising_retailer": m_r,
        "advertising_manufacturer": m_m,
        "demand": q * g,
        "manufacturer_profit": manufacturer,
        "retailer_profit": retailer,
        "channel_profit": manufacturer + retailer,
        "consumer_surplus": g * q * q / (2 * b),
    }


# ---------------------------------------------------------------------------
# Card 6: competing retailers
# ---------------------------------------------------------------------------


def cournot_retailers(a: float, b: float, c: float, n: int) -> dict[str, Any]:
    """Manufacturer (leader in w) selling through n identical Cournot retailers.

    Example: ``cournot_retailers(100, 2, 10, 5)["total_quantity"] ≈ 33.3333``.
    """
    big_a = _check_linear(a, b, c)
    n = _check_tiers(n)
    w = (a + b * c) / (2 * b)
    total = n / (n + 1) * big_a / 2
    p = (a - total) / b
    return {
        "wholesale_price": w,
        "total_quantity": total,
        "retail_price": p,
        "retailer_profit": big_a * big_a / (4 * b * (n + 1) ** 2),
        "manufacturer_profit": (w - c) * total,
        "consumer_surplus": total * total / (2 * b),
    }


def bertrand_retailers(a: float, b: float, c: float, n: int) -> dict[str, Any]:
    """Manufacturer selling through n >= 2 homogeneous Bertrand retailers (they price at w).

    Example: ``bertrand_retailers(100, 2, 10, 2)["manufacturer_profit"] == 800.0``.
    """
    big_a = _check_linear(a, b, c)
    n = _check_tiers(n)
    if n < 2:
        raise ValueError("Bertrand competition needs n >= 2 retailers")
    w = (a + b * c) / (2 * b)
    total = big_a / 2
    return {
        "wholesale_price": w,
        "total_quantity": total,
        "retail_price": w,
        "retailer_profit": 0.0,
        "manufacturer_profit": (w - c) * total,
        "consumer_surplus": total * total / (2 * b),
    }


# ---------------------------------------------------------------------------
# Card 7: bargaining over the contract
# ---------------------------------------------------------------------------

BARGAINING_PROTOCOLS = ("take_it_or_leave_it", "nash", "kalai_smorodinsky")


def bargaining_wholesale(
    a: float, b: float, c: float, protocol: str, power: float = 0.5
) -> dict[str, Any]:
    """Wholesale price agreed under a bargaining protocol (disagreement payoffs 0).

    The retailer then prices at p(w) = (a + b w)/(2b). Payoffs:
    pi_M = (w - c)(a - b w)/2, pi_R = (a - b w)^2/(4b). Protocols:
    "take_it_or_leave_it" (manufacturer posts w = (a + b c)/(2b)), "nash"
    (maximizes pi_M^power pi_R^(1-power): w = c + power A/(2b)) and
    "kalai_smorodinsky" (equal shares of each player's utopia payoff,
    A^2/(8b) for M at the monopoly w and A^2/(4b) for R at w = c: w = c + A/(5b)).
    Example: ``bargaining_wholesale(100, 1, 20, "nash")["wholesale_price"] == 40.0``.
    """
    big_a = _check_linear(a, b, c)
    if protocol == "take_it_or_leave_it":
        w = (a + b * c) / (2 * b)
    elif protocol == "nash":
        _check_share(power, "power", allow_zero=True)
        w = c + power * big_a / (2 * b)
    elif protocol == "kalai_smorodinsky":
        w = c + big_a / (5 * b)
    else:
        raise ValueError(f"protocol must be one of {BARGAINING_PROTOCOLS}, got {protocol!r}")
    p = (a + b * w) / (2 * b)
    q = a - b * p
    return {
        "wholesale_price": w,
        "retail_price": p,
        "quantity": q,
        "manufacturer_profit": (w - c) * q,
        "retailer_profit": (p - w) * q,
        "consumer_surplus": q * q / (2 * b),
    }


def bargaining_two_part_tariff(a: float, b: float, c: float, power: float = 0.5) -> dict[str, Any]:
    """Nash bargaining over a two-part tariff: w = c, the fee gives M power x integrated profit.

    Example: ``bargaining_two_part_tariff(100, 1, 20)["fee"] == 800.0``.
    """
    big_a = _check_linear(a, b, c)
    _check_share(power, "power", allow_zero=True)
    integrated = big_a * big_a / (4 * b)
    q = big_a / 2
    fee = power * integrated
    return {
        "wholesale_price": float(c),
        "fee": fee,
        "retail_price": (a + b * c) / (2 * b),
        "quantity": q,
        "manufacturer_profit": fee,
        "retailer_profit": integrated - fee,
        "consumer_surplus": q * q / (2 * b),
    }


def rubinstein_share(d_m: float, d_r: float) -> float:
    """Manufacturer's share (1 - d_r)/(1 - d_m d_r) of the pie when it proposes first.

    Example: ``rubinstein_share(0.9, 0.9) ≈ 0.526316``.
    """
    if not (0 <= d_m <= 1 and 0 <= d_r <= 1) or d_m * d_r == 1:
        raise ValueError(f"discount factors must be in [0, 1], not both 1, got {d_m}, {d_r}")
    return (1 - d_r) / (1 - d_m * d_r)


# --------------------------------------------------------------------------- competing channels


def _check_substitutes(a: float, b: float, theta: float, c: float) -> None:
    _check_linear(a, b, c)
    if not 0 <= theta < b:
        raise ValueError(f"substitution theta must be in [0, b) (got {theta}, b = {b})")


def competing_chains(
    a: float, b: float, theta: float, c: float, integrated: bool
) -> dict[str, Any]:
    """McGuire & Staelin (1983): two manufacturer-retailer chains, symmetric demand
    q_i = a - b p_i + theta p_j, unit cost c. Integrated chains price p = (a + b c) /
    (2b - theta). Decentralized: each retailer prices p_i = (a + b w_i + theta p_j) / 2b,
    and each manufacturer sets w_i anticipating both retailers; with
    K = (2b^2 - theta^2) / (4b^2 - theta^2) the symmetric equilibrium is
    w = (a / (2b - theta) + K c) / (K + (b - theta) / (2b - theta)).
    Consumer surplus of the linear system: q^2 / (b - theta) for the two options."""
    _check_substitutes(a, b, theta, c)
    if integrated:
        p = (a + b * c) / (2 * b - theta)
        w = c
    else:
        k = (2 * b * b - theta * theta) / (4 * b * b - theta * theta)
        w = (a / (2 * b - theta) + k * c) / (k + (b - theta) / (2 * b - theta))
        p = (a + b * w) / (2 * b - theta)
    q = a - (b - theta) * p
    return {
        "wholesale_price": w,
        "retail_price": p,
        "units_each": q,
        "manufacturer_profit": (w - c) * q,
        "retailer_profit": (p - w) * q,
        "chain_profit": (p - c) * q,
        "consumer_surplus": q * q / (b - theta),
    }


def common_retailer(
    a: float, b: float, theta: float, c: float, coordinated: bool = False
) -> dict[str, Any]:
    """Choi (1991): two manufacturers sell substitutes through one retailer, which prices
    both (category pricing): p_i = a / (2(b - theta)) + w_i / 2, so q_i = (a - b w_i +
    theta w_j) / 2 and each manufacturer's best price gives w = (a + b c) / (2b - theta).
    ``coordinated``: the channel prices jointly (w = c)."""
    _check_substitutes(a, b, theta, c)
    w = c if coordinated else (a + b * c) / (2 * b - theta)
    p = a / (2 * (b - theta)) + w / 2
    q = a - (b - theta) * p
    return {
        "wholesale_price": w,
        "retail_price": p,
        "units_each": q,
        "manufacturer_profit": (w - c) * q,
        "retailer_profit": 2 * (p - w) * q,
        "consumer_surplus": q * q / (b - theta),
    }
