"""Bargaining between a seller (upstream) and a buyer (downstream) over one scalar term.

The term ``x`` lies in ``[lo, hi]``: a wholesale price ``w``, a fixed fee ``F``.
Each :class:`Party` brings a vectorized payoff ``u(x)``, a disagreement payoff
``d`` (what it gets if bargaining breaks down), a per-round discount factor
``delta`` and a concession tactic. A :class:`Protocol` turns two parties into an
:class:`Agreement`. Notation below: ``uS, uB`` payoffs, ``dS, dB`` disagreement
payoffs, ``gS = uS - dS`` and ``gB = uB - dB`` the gains from agreeing.
Numerical protocols first evaluate both payoffs on a grid of ``[lo, hi]`` and
keep its Pareto-efficient points (the *frontier*, seller's payoff ascending and
buyer's descending); solutions between two neighbouring grid points are then
solved for exactly (scipy ``brentq``, ~1e-15 relative in ``x``).

Protocols (``PROTOCOLS`` names):

- ``take_it_or_leave_it``: the seller posts ``x = argmax uS(x) s.t. uB(x) >= dB``;
  the buyer accepts (1 round). Breakdown if that leaves the seller below ``dS``.
- ``nash`` (Nash 1950; asymmetric with seller power ``alpha``):
  ``x = argmax alpha log gS + (1 - alpha) log gB`` over ``gS, gB > 0``
  (breakdown if there is no such x). ``alpha = 1`` (``0``) is the limit: the
  seller's (buyer's) best x leaving the other its disagreement payoff.
  Card 7: ``w = c + alpha A / (2b)``.
- ``kalai_smorodinsky`` (Kalai & Smorodinsky 1975): ideal payoffs
  ``U_S = max{uS : uB >= dB}``, ``U_B = max{uB : uS >= dS}``; ``x`` is the
  frontier point with ``gS / (U_S - dS) = gB / (U_B - dB)``. Card 7:
  ``w = c + A / (5b)``.
- ``rubinstein`` (Rubinstein 1982): alternating offers, seller first; party
  ``i`` values agreement on ``x`` at round ``t`` at ``d_i + delta_i^t (u_i(x) - d_i)``.
  Transferable pie (``uS + uB = P`` on ``[lo, hi]``): the seller gets
  ``dS + (1 - deltaB) / (1 - deltaS deltaB) (P - dS - dB)``. Otherwise backward
  induction over the frontier with a deadline ``T`` (default 200): at round
  ``T - 1`` the proposer leaves the responder exactly ``d_r``; at an earlier
  round it leaves the responder ``d_r + delta_r (u_r(x_{t+1}) - d_r)``, its
  discounted value of the next round's agreement; the first offer is accepted.
  As both ``delta -> 1`` this tends to the Nash solution.
- ``alternating_offers`` (Faratin, Sierra & Jennings 1998 tactics): rounds
  ``t = 0 .. T-1``, seller proposing at even ``t``. Party ``i`` aims at
  ``U_i - (U_i - d_i) (t / (T - 1))^(1/e)`` (``e`` = 0.2 ``boulware``, 1
  ``linear``, 5 ``conceder``), or, for ``tit_for_tat``, starts at ``U_i`` and
  concedes, in its own payoff, what the opponent conceded in the opponent's
  payoff between its last two offers. The proposer offers the frontier point
  giving it its target; the responder accepts if the offer gives it at least
  what its own next offer would (and at least ``d``); else the next round.
  Breakdown if nobody accepted by round ``T - 1``.

:func:`split_pie` gives the closed forms of all five for a transferable pie
(e.g. a fixed fee): the seller's part is ``P - dB`` (take it or leave it),
``dS + alpha (P - dS - dB)`` (Nash), ``dS + (P - dS - dB) / 2`` (KS),
``dS + (1 - deltaB) / (1 - deltaS deltaB) (P - dS - dB)`` (Rubinstein).

>>> seller = Party(lambda w: (w - 20) * (100 - w) / 2)
>>> buyer = Party(lambda w: (100 - w) ** 2 / 4)
>>> round(Nash().negotiate(seller, buyer, 20.0, 60.0).terms, 9)
40.0
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
from scipy import optimize

__all__ = [
    "PROTOCOLS",
    "Agreement",
    "AlternatingOffers",
    "KalaiSmorodinsky",
    "Nash",
    "NoAgreement",
    "Offer",
    "Party",
    "Protocol",
    "Rubinstein",
    "TakeItOrLeaveIt",
    "make_protocol",
    "register",
    "split_pie",
]

SELLER, BUYER = "seller", "buyer"
#: Faratin time-dependent tactics: exponent e of u(t) = U - (U - d) (t / (T - 1))^(1/e).
CONCESSION_EXPONENTS: dict[str, float] = {"boulware": 0.2, "linear": 1.0, "conceder": 5.0}
CONCESSIONS = (*CONCESSION_EXPONENTS, "tit_for_tat")
#: Grid of [lo, hi] on which the Pareto frontier is found (alternating offers).
GRID_POINTS = 512
#: Grid for the exact protocols (their answers are then solved between grid points).
_EXACT_GRID = 513
#: Backward-induction horizon of Rubinstein on a non-transferable frontier.
RUBINSTEIN_DEADLINE = 200
_EPS = float(np.finfo(float).eps)


class NoAgreement(ValueError):
    """No split of the pie leaves both parties at least their disagreement payoffs."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Party:
    """One side of a bargain: ``Party(lambda w: (w - 20) * (100 - w) / 2, disagreement=0.0)``."""

    payoff: Callable[[np.ndarray], np.ndarray]
    disagreement: float = 0.0
    discount: float = 0.9
    concession: str = "linear"

    def __post_init__(self) -> None:
        if not callable(self.payoff):
            raise TypeError(f"Party.payoff must be callable, got {type(self.payoff).__name__}")
        d = float(self.disagreement)
        if not math.isfinite(d):
            raise ValueError(f"Party.disagreement must be finite, got {self.disagreement!r}")
        object.__setattr__(self, "disagreement", d)
        delta = float(self.discount)
        if not 0.0 < delta <= 1.0:
            raise ValueError(f"Party.discount must be in (0, 1], got {self.discount!r}")
        object.__setattr__(self, "discount", delta)
        if self.concession not in CONCESSIONS:
            raise ValueError(
                f"Party.concession must be one of {', '.join(CONCESSIONS)}, got {self.concession!r}"
            )


@dataclass(frozen=True, slots=True)
class Offer:
    """One proposal: round (from 0), proposer ("seller" or "buyer"), terms and both payoffs."""

    round: int
    proposer: str
    terms: float
    seller_payoff: float
    buyer_payoff: float


@dataclass(frozen=True, slots=True)
class Agreement:
    """The outcome; on breakdown ``agreed`` is False, ``terms`` None, payoffs the disagreement ones."""

    agreed: bool
    terms: float | None
    seller_payoff: float
    buyer_payoff: float
    rounds: int
    history: tuple[Offer, ...]
    protocol: str


def _breakdown(
    seller: Party, buyer: Party, protocol: str, rounds: int = 0, history: tuple[Offer, ...] = ()
) -> Agreement:
    return Agreement(
        False, None, seller.disagreement, buyer.disagreement, rounds, history, protocol
    )


# --------------------------------------------------------------------------- protocols


class Protocol:
    """A bargaining protocol: ``make_protocol("nash").negotiate(seller, buyer, lo, hi)``."""

    name: ClassVar[str] = ""

    def negotiate(self, seller: Party, buyer: Party, lo: float, hi: float) -> Agreement:
        """Bargain over x in [lo, hi]: ``Nash().negotiate(seller, buyer, 20.0, 60.0).terms``."""
        raise NotImplementedError


PROTOCOLS: dict[str, type[Protocol]] = {}


def register(cls: type[Protocol]) -> type[Protocol]:
    """Class decorator adding a protocol to PROTOCOLS under ``cls.name``: ``@register``."""
    name = getattr(cls, "name", "")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{cls.__name__} needs a non-empty class attribute `name`")
    if PROTOCOLS.get(name, cls) is not cls:
        raise ValueError(f"protocol name {name!r} is already registered")
    PROTOCOLS[name] = cls
    return cls


# --------------------------------------------------------------------------- numerics


def _interval(lo: float, hi: float) -> tuple[float, float]:
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"need finite lo < hi, got lo={lo!r}, hi={hi!r}")
    return lo, hi


def _evaluate(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    u = np.asarray(f(x), dtype=float)
    if u.shape != x.shape:
        u = np.broadcast_to(u, x.shape)
    return u


def _scalar(f: Callable[[np.ndarray], np.ndarray], x: float) -> float:
    return float(_evaluate(f, np.array([x]))[0])


_UNIT_GRIDS: dict[int, np.ndarray] = {}


def _grid(lo: float, hi: float, n: int) -> np.ndarray:
    unit = _UNIT_GRIDS.get(n)
    if unit is None:
        unit = _UNIT_GRIDS[n] = np.linspace(0.0, 1.0, n)
    x = lo + (hi - lo) * unit
    x[-1] = hi
    return x


class _Frontier:
    """Pareto-efficient grid points of [lo, hi], ordered by the seller's payoff (ascending).

    ``joined[k]`` says points k and k + 1 are grid neighbours, so the payoffs are
    continuous between them and a target can be solved for in between;
    ``joined is None`` means they all are.
    """

    __slots__ = ("grid", "grid_us", "grid_ub", "index", "joined", "ub", "us", "x")

    def __init__(self, seller: Party, buyer: Party, lo: float, hi: float, n: int) -> None:
        x = _grid(lo, hi, n)
        us = _evaluate(seller.payoff, x)
        ub = _evaluate(buyer.payoff, x)
        self.grid, self.grid_us, self.grid_ub = x, us, ub
        # Fast paths: the usual bargaining case, one payoff rising while the other falls.
        # (strictly monotone arrays are all finite when their ends are)
        if math.isfinite(us[0] + us[-1] + ub[0] + ub[-1]):
            if (us[1:] > us[:-1]).all() and (ub[1:] < ub[:-1]).all():
                self.index, self.joined, self.x, self.us, self.ub = None, None, x, us, ub
                return
            if (us[1:] < us[:-1]).all() and (ub[1:] > ub[:-1]).all():
                self.index, self.joined = None, None
                self.x, self.us, self.ub = x[::-1], us[::-1], ub[::-1]
                return
        candidates = np.flatnonzero(np.isfinite(us) & np.isfinite(ub))
        if candidates.size == 0:
            raise ValueError(f"the payoffs are not finite anywhere on [{lo}, {hi}]")
        # Seller's payoff descending (ties: buyer's descending); a point is efficient
        # when it gives the buyer strictly more than every point before it.
        order = candidates[np.lexsort((-ub[candidates], -us[candidates]))]
        ub_o = ub[order]
        keep = np.empty(order.size, dtype=bool)
        keep[0] = True
        keep[1:] = ub_o[1:] > np.maximum.accumulate(ub_o)[:-1]
        index = order[keep][::-1]
        joined = np.abs(np.diff(index)) == 1
        self.index = index
        self.joined = None if joined.all() else joined
        self.x, self.us, self.ub = x[index], us[index], ub[index]

    def scale(self) -> float:
        return max(1.0, abs(self.us[0]), abs(self.us[-1]), abs(self.ub[0]), abs(self.ub[-1]))


def _snap_to_frontier(
    targets: np.ndarray,
    u: np.ndarray,
    x: np.ndarray,
    joined: np.ndarray | None,
    located: np.ndarray,
) -> np.ndarray:
    """Where a target falls in a gap of the frontier, take the point above it."""
    if joined is None:
        return located
    k = np.searchsorted(u, targets, side="left")
    kk = np.clip(k, 1, u.size - 1)
    gap = (k > 0) & (k < u.size) & ~joined[kk - 1] & (u[kk] != targets)
    return np.where(gap, x[kk], located)


def _root(g: Callable[[float], float], a: float, b: float, xtol: float) -> float:
    """A root of g between a and b, where g changes sign (else the end where g >= 0).

    Brent's method when both ends are finite; bisection when a payoff is
    infinite at an end (e.g. a log payoff at the edge of its domain).
    """
    ga, gb = g(a), g(b)
    if ga == 0.0:
        return a
    if gb == 0.0:
        return b
    if not ((ga < 0.0 < gb) or (gb < 0.0 < ga)):
        return a if ga > 0.0 else b
    if math.isfinite(ga) and math.isfinite(gb):
        lo, hi = (a, b) if a < b else (b, a)
        return float(optimize.brentq(g, lo, hi, xtol=xtol, rtol=4 * _EPS, maxiter=200))
    for _ in range(1100):
        m = 0.5 * (a + b)
        if m in (a, b):
            break
        gm = g(m)
        if gm == 0.0:
            return m
        if (gm < 0.0) == (ga < 0.0):
            a, ga = m, gm
        else:
            b, gb = m, gm
    return a if ga > 0.0 else b


class _Bargain:
    """Both parties' payoffs on [lo, hi] with exact solves on the Pareto frontier."""

    def __init__(self, seller: Party, buyer: Party, lo: float, hi: float) -> None:
        self.lo, self.hi = lo, hi
        self.f = (seller.payoff, buyer.payoff)
        self.d = (seller.disagreement, buyer.disagreement)
        self.delta = (seller.discount, buyer.discount)
        fr = self.frontier = _Frontier(seller, buyer, lo, hi, _EXACT_GRID)
        self.tol = 1e-12 * fr.scale()
        self.xtol = max(1e-15 * (hi - lo), 1e-300)
        self.top = (self._best_point(fr.x[-1]), self._best_point(fr.x[0], side=1))
        # Per side: x, its own payoff (ascending), the other's, joined; the frontier
        # runs from the other party's best point to this party's best point.
        x, us, ub = fr.x.tolist(), fr.us.tolist(), fr.ub.tolist()
        joined = [True] * (len(x) - 1) if fr.joined is None else fr.joined.tolist()
        for end, side in ((0, 1), (-1, 0)):  # the buyer's best point first, then the seller's
            z = self.top[side]
            uz = (self.u(0, z), self.u(1, z))
            if not uz[side] > (us, ub)[side][end]:
                continue
            if uz[1 - side] >= (us, ub)[1 - side][end]:  # it dominates the end point
                x[end], us[end], ub[end] = z, uz[0], uz[1]
                continue
            at = 0 if end == 0 else len(x)
            x.insert(at, z)
            us.insert(at, uz[0])
            ub.insert(at, uz[1])
            joined.insert(0 if end == 0 else len(joined), True)
        xa, usa, uba, ja = np.array(x), np.array(us), np.array(ub), np.array(joined, dtype=bool)
        self.side = ((xa, usa, uba, ja), (xa[::-1], uba[::-1], usa[::-1], ja[::-1]))

    def u(self, side: int, x: float) -> float:
        return _scalar(self.f[side], x)

    def _best_point(self, x_best: float, side: int = 0) -> float:
        """The x maximizing one party's payoff: its best grid point, refined in between."""
        grid = self.frontier.grid
        x_best = float(x_best)
        i = int(np.searchsorted(grid, x_best))
        a, b = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
        f = self.f[side]

        def loss(z: float) -> float:
            value = _scalar(f, z)
            return -value if math.isfinite(value) else math.inf

        res = optimize.minimize_scalar(
            loss, bounds=(a, b), method="bounded", options={"xatol": self.xtol}
        )
        if res.success and -res.fun > self.u(side, x_best) + self.tol:
            return float(res.x)
        return x_best

    def solve(self, side: int, target: float) -> float | None:
        """The frontier x giving party ``side`` exactly ``target`` (the other's best such x).

        If every frontier point gives it more, the other party's best x; None if
        none gives it ``target``.
        """
        x, u, _, joined = self.side[side]
        k = int(np.searchsorted(u, target, side="left"))  # u[k-1] < target <= u[k]
        if k == u.size:
            return float(x[-1]) if u[-1] >= target - self.tol else None
        if k == 0 or u[k] == target or not joined[k - 1]:
            return float(x[k])
        f = self.f[side]
        return _root(lambda z: _scalar(f, z) - target, float(x[k - 1]), float(x[k]), self.xtol)

    def ideal(self, side: int) -> float | None:
        """Party ``side``'s best payoff among x leaving the other at least its disagreement."""
        other = 1 - side
        x = self.solve(other, self.d[other])
        return None if x is None else self.u(side, x)

    def agreement(self, x: float, protocol: str, history: tuple[Offer, ...] = ()) -> Agreement:
        us, ub = self.u(0, x), self.u(1, x)
        return Agreement(True, x, us, ub, len(history), history, protocol)


# --------------------------------------------------------------------------- axiomatic and one-shot


@register
@dataclass(frozen=True)
class TakeItOrLeaveIt(Protocol):
    """The seller posts its best x leaving the buyer its disagreement payoff; the buyer accepts."""

    name: ClassVar[str] = "take_it_or_leave_it"

    def negotiate(self, seller: Party, buyer: Party, lo: float, hi: float) -> Agreement:
        """Card 7: ``TakeItOrLeaveIt().negotiate(seller, buyer, 20.0, 60.0).terms == 60.0``."""
        lo, hi = _interval(lo, hi)
        game = _Bargain(seller, buyer, lo, hi)
        x = _seller_best_acceptable(game)
        if x is None:
            return _breakdown(seller, buyer, self.name)
        us, ub = game.u(0, x), game.u(1, x)
        offer = Offer(0, SELLER, x, us, ub)
        return Agreement(True, x, us, ub, 1, (offer,), self.name)


def _seller_best_acceptable(game: _Bargain) -> float | None:
    """argmax uS s.t. uB >= dB, or None if that leaves the seller below dS."""
    x = game.solve(1, game.d[1])
    if x is None or game.u(0, x) < game.d[0] - game.tol:
        return None
    return x


@register
@dataclass(frozen=True)
class Nash(Protocol):
    """Asymmetric Nash bargaining: max power log(uS - dS) + (1 - power) log(uB - dB)."""

    name: ClassVar[str] = "nash"
    power: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= float(self.power) <= 1.0:
            raise ValueError(f"Nash power must be in [0, 1], got {self.power!r}")

    def negotiate(self, seller: Party, buyer: Party, lo: float, hi: float) -> Agreement:
        """Card 7: ``Nash(power=0.5).negotiate(seller, buyer, 20.0, 60.0).terms == 40.0``."""
        lo, hi = _interval(lo, hi)
        game = _Bargain(seller, buyer, lo, hi)
        alpha = float(self.power)
        if alpha in (0.0, 1.0):  # the limits: one side's best x leaving the other d
            side = 0 if alpha == 1.0 else 1
            x = game.solve(1 - side, game.d[1 - side])
            if x is None or game.u(side, x) <= game.d[side]:
                return _breakdown(seller, buyer, self.name)
            return game.agreement(x, self.name)
        fr = game.frontier
        dS, dB = game.d
        with np.errstate(invalid="ignore", divide="ignore"):
            gs, gb = fr.grid_us - dS, fr.grid_ub - dB
            ok = (gs > 0) & (gb > 0) & np.isfinite(gs) & np.isfinite(gb)
            if not ok.any():
                return _breakdown(seller, buyer, self.name)
            objective = np.where(ok, alpha * np.log(gs) + (1 - alpha) * np.log(gb), -np.inf)
        x = _nash_refine(game, alpha, int(np.argmax(objective)))
        return game.agreement(x, self.name)


def _nash_refine(game: _Bargain, alpha: float, i: int) -> float:
    """Polish the grid maximizer of the Nash product to ~1e-12 in x.

    Comparing objective values only pins a smooth maximum to ~sqrt(eps); the
    root of the objective's derivative (5-point central differences of the
    payoffs) pins it to ~1e-12.
    """
    fr, (fs, fb), (dS, dB) = game.frontier, game.f, game.d
    grid, n = fr.grid, fr.grid.size
    lo, hi = game.lo, game.hi
    h = (hi - lo) / (n - 1) / 4

    def objective(z: float) -> float:
        gs, gb = _scalar(fs, z) - dS, _scalar(fb, z) - dB
        if not (gs > 0 and gb > 0):
            return -math.inf
        return alpha * math.log(gs) + (1 - alpha) * math.log(gb)

    stencil = np.array([-2 * h, -h, 0.0, h, 2 * h])

    def slope(z: float) -> float:
        zs = z + stencil
        us, ub = _evaluate(fs, zs), _evaluate(fb, zs)
        gs, gb = us[2] - dS, ub[2] - dB
        if not (gs > 0 and gb > 0):
            return math.nan
        dus = (us[0] - 8 * us[1] + 8 * us[3] - us[4]) / (12 * h)
        dub = (ub[0] - 8 * ub[1] + 8 * ub[3] - ub[4]) / (12 * h)
        return float(alpha * dus / gs + (1 - alpha) * dub / gb)

    x_grid = float(grid[i])
    a, b = float(grid[max(i - 1, 0)]), float(grid[min(i + 1, n - 1)])
    a2, b2 = max(a, lo + 2 * h), min(b, hi - 2 * h)
    sa, sb = slope(a2), slope(b2)
    if sa > 0 and sb < 0:
        x = float(optimize.brentq(slope, a2, b2, xtol=game.xtol, rtol=4 * _EPS, maxiter=200))
    elif i == 0 and sa <= 0:
        x = lo
    elif i == n - 1 and sb >= 0:
        x = hi
    else:
        res = optimize.minimize_scalar(
            lambda z: -max(objective(z), -1e300),
            bounds=(a, b),
            method="bounded",
            options={"xatol": game.xtol},
        )
        x = float(res.x)
    best = objective(x_grid)
    if objective(x) < best - 1e-13 * max(1.0, abs(best)):
        return x_grid
    return x


@register
@dataclass(frozen=True)
class KalaiSmorodinsky(Protocol):
    """Kalai-Smorodinsky: the frontier point where both get the same share of their ideal gain."""

    name: ClassVar[str] = "kalai_smorodinsky"

    def negotiate(self, seller: Party, buyer: Party, lo: float, hi: float) -> Agreement:
        """Card 7: ``KalaiSmorodinsky().negotiate(seller, buyer, 20.0, 60.0).terms == 36.0``."""
        lo, hi = _interval(lo, hi)
        game = _Bargain(seller, buyer, lo, hi)
        dS, dB = game.d
        ideal_s, ideal_b = game.ideal(0), game.ideal(1)
        if ideal_s is None or ideal_b is None:
            return _breakdown(seller, buyer, self.name)
        span_s, span_b = ideal_s - dS, ideal_b - dB
        if span_s <= game.tol or span_b <= game.tol:
            return _breakdown(seller, buyer, self.name)
        fs, fb = game.f

        def imbalance(z: float) -> float:  # rises along the frontier
            return (_scalar(fs, z) - dS) / span_s - (_scalar(fb, z) - dB) / span_b

        x_f, us_f, ub_f, joined = game.side[0]
        with np.errstate(invalid="ignore"):
            h = (us_f - dS) / span_s - (ub_f - dB) / span_b
        k = int(np.searchsorted(h, 0.0, side="left"))  # h[k-1] < 0 <= h[k]
        if k == h.size:
            x = float(x_f[-1])
        elif k == 0 or h[k] == 0.0:
            x = float(x_f[k])
        elif joined[k - 1]:
            x = _root(imbalance, float(x_f[k - 1]), float(x_f[k]), game.xtol)
        else:  # a gap in the frontier: the point nearer the KS ray
            x = float(x_f[k - 1] if -h[k - 1] < h[k] else x_f[k])
        if game.u(0, x) < dS - game.tol or game.u(1, x) < dB - game.tol:
            return _breakdown(seller, buyer, self.name)
        return game.agreement(x, self.name)


# --------------------------------------------------------------------------- strategic


@register
@dataclass(frozen=True)
class Rubinstein(Protocol):
    """Rubinstein alternating offers, seller first; the first offer is accepted in equilibrium."""

    name: ClassVar[str] = "rubinstein"
    deadline: int | None = None

    def __post_init__(self) -> None:
        if self.deadline is not None and (
            isinstance(self.deadline, bool)
            or int(self.deadline) != self.deadline
            or self.deadline < 1
        ):
            raise ValueError(f"Rubinstein deadline must be an integer >= 1, got {self.deadline!r}")

    def negotiate(self, seller: Party, buyer: Party, lo: float, hi: float) -> Agreement:
        """Transferable pie: ``Rubinstein().negotiate(Party(lambda x: x), Party(lambda x: 1 - x), 0, 1)``."""
        lo, hi = _interval(lo, hi)
        game = _Bargain(seller, buyer, lo, hi)
        pie = _transferable_pie(game)
        x = self._backward_induction(game) if pie is None else self._closed_form(game, pie)
        if x is None:
            return _breakdown(seller, buyer, self.name)
        offer = Offer(0, SELLER, x, game.u(0, x), game.u(1, x))
        return game.agreement(x, self.name, (offer,))

    @staticmethod
    def _closed_form(game: _Bargain, pie: float) -> float | None:
        (dS, dB), (delta_s, delta_b) = game.d, game.delta
        surplus = pie - dS - dB
        if surplus < -game.tol:
            return None
        if delta_s * delta_b >= 1.0:
            raise ValueError("Rubinstein needs at least one discount factor below 1")
        share = (1.0 - delta_b) / (1.0 - delta_s * delta_b)
        return game.solve(0, dS + share * max(surplus, 0.0))

    def _backward_induction(self, game: _Bargain) -> float | None:
        deadline = RUBINSTEIN_DEADLINE if self.deadline is None else int(self.deadline)
        d, delta = game.d, game.delta
        span = game.hi - game.lo
        later: list[float] = []  # agreed x at rounds t + 1, t + 2 (most recent first)
        u_next = (0.0, 0.0)
        for t in range(deadline - 1, -1, -1):
            p = t % 2
            r = 1 - p
            need = d[r] if t == deadline - 1 else d[r] + delta[r] * (u_next[r] - d[r])
            x = game.solve(r, need)
            if x is None:
                return None
            u_next = (game.u(0, x), game.u(1, x))
            if t == deadline - 1 and u_next[p] < d[p] - game.tol:
                return None  # no x gives both their disagreement payoffs
            # A fixed point of the two-round map repeats all the way back to round 0.
            if len(later) == 2 and abs(x - later[1]) <= 1e-14 * span + 4 * _EPS * abs(x):
                return x if t % 2 == 0 else later[0]
            later = [x, *later[:1]]
        return x


def _transferable_pie(game: _Bargain) -> float | None:
    """uS + uB if it is constant on [lo, hi] (to 1e-9 of the payoffs' scale), else None."""
    fr = game.frontier
    total = fr.grid_us + fr.grid_ub
    if not np.isfinite(total).all():
        return None
    scale = max(1.0, float(np.abs(fr.grid_us).max()), float(np.abs(fr.grid_ub).max()))
    if float(np.ptp(total)) > 1e-9 * scale:
        return None
    return float(total.mean())


_PROFILES: dict[tuple[int, float], np.ndarray] = {}


def _profile(deadline: int, exponent: float) -> np.ndarray:
    """(t / (T - 1)) ** (1 / e) for t = 0 .. T - 1 (cached, read-only)."""
    key = (deadline, exponent)
    s = _PROFILES.get(key)
    if s is None:
        if deadline == 1:
            s = np.ones(1)
        else:
            s = (np.arange(deadline) / (deadline - 1)) ** (1.0 / exponent)
        s.flags.writeable = False
        _PROFILES[key] = s
    return s


_PROPOSERS = tuple(SELLER if t % 2 == 0 else BUYER for t in range(4096))


def _proposers(n: int) -> tuple[str, ...]:
    if n <= len(_PROPOSERS):
        return _PROPOSERS[:n]
    return tuple(SELLER if t % 2 == 0 else BUYER for t in range(n))


@register
@dataclass(frozen=True)
class AlternatingOffers(Protocol):
    """Explicit alternating offers with Faratin concession tactics and a deadline."""

    name: ClassVar[str] = "alternating_offers"
    deadline: int = 20
    grid: int = GRID_POINTS

    def __post_init__(self) -> None:
        for key in ("deadline", "grid"):
            value = getattr(self, key)
            if (
                isinstance(value, bool)
                or int(value) != value
                or value < (1 if key == "deadline" else 2)
            ):
                raise ValueError(f"AlternatingOffers {key} must be an integer >= 1, got {value!r}")

    def negotiate(self, seller: Party, buyer: Party, lo: float, hi: float) -> Agreement:
        """``AlternatingOffers(deadline=20).negotiate(seller, buyer, 20.0, 60.0).history[0].terms == 60.0``."""
        lo, hi = _interval(lo, hi)
        fr = _Frontier(seller, buyer, lo, hi, int(self.grid))
        dS, dB = seller.disagreement, buyer.disagreement
        us_b, ub_b, x_b = fr.us[::-1], fr.ub[::-1], fr.x[::-1]  # buyer's payoff ascending
        # Utopia: each party's best payoff leaving the other its disagreement payoff
        # (on the frontier between grid points: interpolated).
        best_s, best_b = float(fr.us[-1]), float(fr.ub[0])
        if dB > fr.ub[-1]:
            best_s = float(np.interp(dB, ub_b, us_b))
        if dS > fr.us[0]:
            best_b = float(np.interp(dS, fr.us, fr.ub))
        start_s, start_b = max(best_s, dS), max(best_b, dB)
        if seller.concession == "tit_for_tat" or buyer.concession == "tit_for_tat":
            return self._sequential(seller, buyer, fr, (start_s, start_b))
        T = int(self.deadline)
        targets_s = (
            start_s - (start_s - dS) * _profile(T, CONCESSION_EXPONENTS[seller.concession])[0::2]
        )
        targets_b = (
            start_b - (start_b - dB) * _profile(T, CONCESSION_EXPONENTS[buyer.concession])[1::2]
        )
        xs = np.empty(T)
        xs[0::2] = _snap_to_frontier(
            targets_s, fr.us, fr.x, fr.joined, np.interp(targets_s, fr.us, fr.x)
        )
        if T > 1:
            joined_b = None if fr.joined is None else fr.joined[::-1]
            xs[1::2] = _snap_to_frontier(
                targets_b, ub_b, x_b, joined_b, np.interp(targets_b, ub_b, x_b)
            )
        u_s = _evaluate(seller.payoff, xs).tolist()
        u_b = _evaluate(buyer.payoff, xs).tolist()
        tol = 1e-12 * fr.scale()
        floor_s, floor_b = dS - tol, dB - tol
        n, agreed = T, False
        for t in range(T):
            us_t, ub_t = u_s[t], u_b[t]
            if us_t < floor_s or ub_t < floor_b:
                continue
            # The responder at t proposes at t + 1: it accepts what its own next offer
            # would not beat (at the last round, anything above its disagreement payoff).
            if t == T - 1 or (ub_t >= u_b[t + 1] - tol if t % 2 == 0 else us_t >= u_s[t + 1] - tol):
                n, agreed = t + 1, True
                break
        history = tuple(map(Offer, range(n), _proposers(n), xs[:n].tolist(), u_s[:n], u_b[:n]))
        if not agreed:
            return _breakdown(seller, buyer, self.name, T, history)
        last = history[-1]
        return Agreement(
            True, last.terms, last.seller_payoff, last.buyer_payoff, n, history, self.name
        )

    def _sequential(
        self, seller: Party, buyer: Party, fr: _Frontier, start: tuple[float, float]
    ) -> Agreement:
        """Round by round, for tactics that react to the opponent (tit for tat)."""
        T = int(self.deadline)
        parties = (seller, buyer)
        d = (seller.disagreement, buyer.disagreement)
        f = (seller.payoff, buyer.payoff)
        joined_b = None if fr.joined is None else fr.joined[::-1]
        sides = ((fr.us, fr.x, fr.joined), (fr.ub[::-1], fr.x[::-1], joined_b))
        tol = 1e-12 * fr.scale()
        own: tuple[list[float], list[float]] = ([], [])  # each party's offers, in its own payoff
        aims: list[float] = [start[0], start[1]]

        def aim(i: int, t: int) -> float:
            kind = parties[i].concession
            if kind != "tit_for_tat":
                s = _profile(T, CONCESSION_EXPONENTS[kind])[t]
                return start[i] - (start[i] - d[i]) * float(s)
            theirs = own[1 - i]
            if own[i] and len(theirs) >= 2:
                conceded = max(theirs[-2] - theirs[-1], 0.0)
                aims[i] = max(aims[i] - conceded, d[i])
            return aims[i]

        def locate(i: int, target: float) -> float:
            u, x, joined = sides[i]
            t = np.array([target])
            return float(_snap_to_frontier(t, u, x, joined, np.interp(t, u, x))[0])

        history: list[Offer] = []
        x_now = locate(0, aim(0, 0))
        for t in range(T):
            p = t % 2
            r = 1 - p
            u_now = (_scalar(f[0], x_now), _scalar(f[1], x_now))
            history.append(Offer(t, _PROPOSERS[p], x_now, u_now[0], u_now[1]))
            own[p].append(u_now[p])
            threshold = d[r]
            if t < T - 1:
                x_next = locate(r, aim(r, t + 1))
                threshold = max(_scalar(f[r], x_next), d[r])
            if u_now[r] >= threshold - tol and u_now[p] >= d[p] - tol:
                return Agreement(True, x_now, u_now[0], u_now[1], t + 1, tuple(history), self.name)
            if t < T - 1:
                x_now = x_next
        return _breakdown(seller, buyer, self.name, T, tuple(history))


# --------------------------------------------------------------------------- entry points

_ALIASES = {
    "tioli": "take_it_or_leave_it",
    "ks": "kalai_smorodinsky",
    "kalai": "kalai_smorodinsky",
    "alternating": "alternating_offers",
}


def _canonical(name: str) -> str:
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    return _ALIASES.get(key, key)


def make_protocol(
    name: str,
    *,
    power: float = 0.5,
    deadline: int | None = 20,
    rubinstein_deadline: int | None = None,
) -> Protocol:
    """A protocol by name: ``make_protocol("nash", power=0.3)`` is ``Nash(power=0.3)``.

    ``power`` goes to protocols taking it (Nash), ``deadline`` to alternating
    offers; Rubinstein gets ``rubinstein_deadline`` (None: its own default), as
    its deadline only truncates an infinite game.
    """
    key = _canonical(name)
    cls = PROTOCOLS.get(key)
    if cls is None:
        raise ValueError(f"unknown bargaining protocol {name!r}; known: {', '.join(PROTOCOLS)}")
    if cls is Rubinstein:
        return Rubinstein(deadline=rubinstein_deadline)
    params = inspect.signature(cls).parameters
    kwargs: dict[str, object] = {}
    if "power" in params:
        kwargs["power"] = power
    if "deadline" in params and deadline is not None:
        kwargs["deadline"] = deadline
    return cls(**kwargs)


def split_pie(
    protocol: str,
    pie: float,
    power: float = 0.5,
    discount_seller: float = 0.9,
    discount_buyer: float = 0.9,
    disagreement_seller: float = 0.0,
    disagreement_buyer: float = 0.0,
) -> float:
    """Seller's part of a transferable pie: ``split_pie("rubinstein", 100.0)`` is 100/1.9.

    Raises NoAgreement if ``pie < disagreement_seller + disagreement_buyer``.
    """
    key = _canonical(protocol)
    pie, d_s, d_b = float(pie), float(disagreement_seller), float(disagreement_buyer)
    delta_s, delta_b = float(discount_seller), float(discount_buyer)
    if key not in PROTOCOLS:
        raise ValueError(f"unknown bargaining protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    surplus = pie - d_s - d_b
    if not math.isfinite(surplus):
        raise ValueError(f"pie and disagreement payoffs must be finite, got pie={pie!r}")
    if surplus < 0:
        raise NoAgreement(
            f"pie {pie} is less than the disagreement payoffs {d_s} + {d_b}: no agreement"
        )
    if key == "take_it_or_leave_it":
        return pie - d_b
    if key == "nash":
        if not 0.0 <= power <= 1.0:
            raise ValueError(f"Nash power must be in [0, 1], got {power!r}")
        return d_s + power * surplus
    if key == "kalai_smorodinsky":
        return d_s + surplus / 2
    if key == "rubinstein":
        if not (0.0 < delta_s <= 1.0 and 0.0 < delta_b <= 1.0) or delta_s * delta_b >= 1.0:
            raise ValueError(
                "Rubinstein needs discount factors in (0, 1], not both 1; "
                f"got {delta_s!r}, {delta_b!r}"
            )
        return d_s + (1.0 - delta_b) / (1.0 - delta_s * delta_b) * surplus
    if surplus == 0.0:
        return d_s
    seller = Party(lambda x: x, d_s, delta_s)
    buyer = Party(lambda x: pie - x, d_b, delta_b)
    agreement = make_protocol(key, power=power).negotiate(seller, buyer, 0.0, pie)
    if not agreement.agreed or agreement.terms is None:
        raise NoAgreement(f"{key} reached no agreement over a pie of {pie}")
    return float(agreement.terms)
