"""Ordering policies: how much each member orders from its suppliers each period.

Every policy decides for a group of members at once: ``__init__`` receives one
validated parameter block per member and ``decide(obs)`` returns an
[members, products] array of orders from an observation (see
observations.py). Register a new rule with :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np

from channel_agents.observations import OrderObservation, SharedOrderObservation

ORDERING_POLICIES: dict[str, type[OrderingPolicy]] = {}


def register(cls: type[OrderingPolicy]) -> type[OrderingPolicy]:
    """Class decorator: make an ordering policy available under ``cls.name``."""
    ORDERING_POLICIES[cls.name] = cls
    return cls


class OrderingPolicy:
    """Decides orders for a group of members: one row of ``obs`` per member."""

    name: ClassVar[str] = ""
    needs_knowledge: ClassVar[bool] = False  # wants its unit cost and demand knowledge

    def __init__(self, params: Sequence[Any], n_products: int):
        self.params = list(params)
        self.n_products = n_products

    def column(self, attr: str) -> np.ndarray:
        """A parameter as a column [members, 1], for broadcasting over products."""
        return np.array([getattr(p, attr) for p in self.params], dtype=float)[:, None]

    def decide(self, obs: OrderObservation) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


def _no_negative(order: np.ndarray, obs: OrderObservation) -> np.ndarray:
    """Clip orders at zero for members that may not return goods."""
    if obs.allow_returns.all():
        return order
    return np.where(obs.allow_returns[:, None], order, np.maximum(order, 0.0))


@register
class Sterman(OrderingPolicy):
    """Sterman's (1989) anchoring and adjustment.

    Lhat_t = theta x incoming_t + (1 - theta) Lhat_{t-1};
    order = max(0, Lhat + alpha_s (s_prime - S - beta SL)), with S = stock -
    backlog and SL the supply line.
    """

    name = "sterman"

    def __init__(self, params: Sequence[Any], n_products: int):
        super().__init__(params, n_products)
        self.theta = self.column("theta")
        self.alpha_s = self.column("alpha_s")
        self.beta = self.column("beta")
        self.s_prime = self.column("s_prime")
        init = [p.initial_expectation for p in self.params]
        self._initial = np.array([np.nan if v is None else v for v in init])[:, None]
        self.expected: np.ndarray | None = None
        from channel_agents.kernels import sterman  # (numba loads with the first model)

        self._kernel = sterman
        # the parameters as contiguous vectors, for the compiled rule
        self._vectors = tuple(
            np.ascontiguousarray(c[:, 0])
            for c in (self.theta, self.alpha_s, self.beta, self.s_prime)
        )

    def decide(self, obs: OrderObservation) -> np.ndarray:
        """Updates the expectation (in place) and returns the orders, in one compiled
        call (kernels.sterman: the class docstring's formulas, in numpy's order)."""
        if self.expected is None:
            self.expected = np.where(np.isnan(self._initial), obs.incoming, self._initial)
        # (numba compiles a variant for any other dtype or memory layout of the inputs)
        return self._kernel(
            obs.incoming, obs.stock, obs.backlog, obs.supply_line, self.expected, *self._vectors
        )


class _Forecast:
    """Moving-average or exponential forecast of a [members, products] series."""

    def __init__(self, params: Sequence[Any], shape: tuple[int, int]):
        self.window = max(p.forecast_window for p in params)
        self.windows = np.array([p.forecast_window for p in params], dtype=float)[:, None]
        self.exponential = np.array([p.forecast == "exponential" for p in params])[:, None]
        self.smoothing = np.array([p.smoothing for p in params], dtype=float)[:, None]
        self.history = np.zeros((self.window, *shape))
        self.seen = 0
        init = [p.initial_forecast for p in params]
        self.initial = np.array([np.nan if v is None else v for v in init])[:, None]
        self.level = np.zeros(shape)
        self.uniform_window = bool((self.windows == self.window).all())

    def update(self, value: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Add this period's observation; return (forecast, standard deviation)."""
        if self.seen == 0:
            start = np.where(np.isnan(self.initial), value, self.initial)
            self.history[:] = start
            self.level = start.astype(float)
        self.history[self.seen % self.window] = value
        self.seen += 1
        if self.uniform_window:
            recent = self.history
        else:  # members with shorter windows look at their own last values only
            ages = (self.seen - 1 - np.arange(self.window)) % self.window
            mask = ages[:, None, None] < self.windows[None]
            recent = np.where(mask, self.history, np.nan)
        mean = recent.mean(axis=0) if self.uniform_window else np.nanmean(recent, axis=0)
        sd = recent.std(axis=0) if self.uniform_window else np.nanstd(recent, axis=0)
        if self.exponential.any():
            self.level = self.smoothing * value + (1 - self.smoothing) * self.level
            mean = np.where(self.exponential, self.level, mean)
        return mean, sd


@register
class OrderUpTo(OrderingPolicy):
    """Order up to y = L x forecast + z x sd x sqrt(L) + safety_stock.

    L is the member's replenishment lead time (order_delay + lead_time of its
    supply edge) unless ``lead_time`` is set. The forecast is a moving average
    over ``forecast_window`` periods (or exponential smoothing) of the orders
    the member receives, or, with ``echelon: true``, of end-consumer demand at
    or below it, against its echelon inventory position and echelon lead time
    (this needs ``information: shared``). Orders are ``y - position``; negative
    only where the member has ``allow_returns: true``.

    With ``forward_buy: true`` the member watches its purchase price: while it is
    below the regular price (a supplier's trade deal), the target also covers the
    demand of the regular-price periods after the deal, as many as preceded it,
    at the demand rate forecast before the deal.
    """

    name = "order_up_to"

    def __init__(self, params: Sequence[Any], n_products: int):
        super().__init__(params, n_products)
        self.forecast = _Forecast(self.params, (len(self.params), n_products))
        self.z = self.column("safety_factor")
        self.safety_stock = self.column("safety_stock")
        fixed = [p.lead_time for p in self.params]
        self.fixed_lead = np.array([np.nan if v is None else v for v in fixed], dtype=float)
        self.echelon = np.array([p.echelon for p in self.params], dtype=bool)[:, None]
        self.forward_buy = np.array([p.forward_buy for p in self.params], dtype=bool)[:, None]
        if self.forward_buy.any():
            self.needs_knowledge = True  # it needs its purchase price (obs.unit_cost)
            self.deals = _DealWatch((len(self.params), n_products))

    @property
    def needs_shared(self) -> bool:
        return bool(self.echelon.any())

    def decide(self, obs: OrderObservation) -> np.ndarray:
        if self.echelon.any():
            if not isinstance(obs, SharedOrderObservation):  # pragma: no cover - config check
                raise TypeError("echelon order-up-to needs a shared observation")
            seen = np.where(self.echelon, obs.end_demand, obs.incoming)
            lead = np.where(self.echelon[:, 0], obs.echelon_lead_time, obs.lead_time)
            position = np.where(self.echelon, obs.echelon_position, obs.inventory_position)
        else:
            seen, lead, position = obs.incoming, obs.lead_time, obs.inventory_position
        lead = np.where(np.isnan(self.fixed_lead), lead, self.fixed_lead)[:, None]
        mean, sd = self.forecast.update(seen)
        target = lead * mean + self.z * sd * np.sqrt(lead) + self.safety_stock
        if self.needs_knowledge and obs.unit_cost is not None:
            target = target + np.where(self.forward_buy, self.deals.extra(obs.unit_cost, mean), 0)
        return _no_negative(target - position, obs)


class _DealWatch:
    """Spots a trade deal in a member's purchase price and sizes a forward buy.

    The regular price is the last price outside a deal; a deal is a price below it.
    A deal covers as many periods of demand as the regular stretch before it lasted
    (promotions recur), at the rate forecast before the deal began.
    """

    def __init__(self, shape: tuple[int, int]):
        self.regular: np.ndarray | None = None
        self.in_deal = np.zeros(shape, dtype=bool)
        self.since = np.zeros(shape)  # regular-price periods since the last deal
        self.cover = np.zeros(shape)
        self.rate = np.zeros(shape)

    def extra(self, price: np.ndarray, rate: np.ndarray) -> np.ndarray:
        """Units to hold on top of the normal target this period."""
        if self.regular is None:
            self.regular = price.copy()
        deal = price < self.regular * (1.0 - 1e-9)
        self.cover = np.where(deal & ~self.in_deal, self.since, self.cover)
        self.since = np.where(deal, 0.0, self.since + 1.0)
        self.rate = np.where(deal, self.rate, rate)
        self.regular = np.where(deal, self.regular, price)
        self.in_deal = deal
        return np.where(deal, self.rate * self.cover, 0.0)


@register
class SS(OrderingPolicy):
    """(s, S): when the inventory position is at or below s, order up to S."""

    name = "s_S"

    def __init__(self, params: Sequence[Any], n_products: int):
        super().__init__(params, n_products)
        self.s = self.column("s")
        self.S = self.column("S")
        self._vectors = (np.ascontiguousarray(self.s[:, 0]), np.ascontiguousarray(self.S[:, 0]))
        from channel_agents.kernels import s_S  # (numba loads with the first model)

        self._kernel = s_S

    def decide(self, obs: OrderObservation) -> np.ndarray:
        """np.where(position <= s, S - position, 0), in one compiled call (kernels.s_S)."""
        return self._kernel(obs.stock, obs.backlog, obs.supply_line, *self._vectors)


@register
class PassThrough(OrderingPolicy):
    """Order what was received this period (orders from buyers, or consumer demand)."""

    name = "pass_through"

    def decide(self, obs: OrderObservation) -> np.ndarray:
        return _no_negative(obs.incoming.copy(), obs)


@register
class Fixed(OrderingPolicy):
    """Order ``quantity`` every period."""

    name = "fixed"

    def __init__(self, params: Sequence[Any], n_products: int):
        super().__init__(params, n_products)
        self.quantity = np.broadcast_to(self.column("quantity"), (len(self.params), n_products))

    def decide(self, obs: OrderObservation) -> np.ndarray:
        return self.quantity.copy()


@register
class Newsvendor(OrderingPolicy):
    """Each period is one selling season: order the critical fractile of its contract.

    With retail price p, salvage v, unit cost w, revenue share phi and buyback b,
    Q = F^-1((phi p - w) / (phi p - max(phi v, b))) for the season's demand F,
    which the member knows (complete information, from its observation).
    """

    name = "newsvendor"
    needs_knowledge = True

    def decide(self, obs: OrderObservation) -> np.ndarray:
        out = np.zeros_like(obs.stock)
        for j, response in enumerate(obs.responses):
            if response is not None:
                out[j] = response.quantity(obs.unit_cost[j])
        return out


class Callback(OrderingPolicy):
    """Orders from a callable ``f(obs) -> array``: a human seat, a learned policy, a test."""

    name = "callback"

    def __init__(
        self, fn: Callable[[OrderObservation], np.ndarray], n_members: int, n_products: int
    ):
        super().__init__([None] * n_members, n_products)
        self.fn = fn

    def decide(self, obs: OrderObservation) -> np.ndarray:
        return np.asarray(self.fn(obs), dtype=float).reshape(len(self.params), self.n_products)
