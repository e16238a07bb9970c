"""Learned ordering policies: a trained callable seated beside the heuristics.

A learned policy is any callable ``f(flat_obs) -> order`` that maps a member's
flattened ordering observation (:func:`flatten_observation`, the layout the
learning environments in :mod:`channel_agents.envs` hand a learner) to its
order for each product. It takes a seat in two ways:

- in a scenario, ``ordering: {policy: learned, path: FILE}`` loads it from
  a file (a relative ``path`` is relative to the working directory);
- in Python, ``model.set_ordering_policy("retailer", Learned(f))``.

Two file formats (chosen by the file's suffix):

``.npz``, a linear policy (:class:`LinearPolicy`): ``order = weights @ x + bias``
    with arrays ``weights`` [products, fields] (or [fields] for one product),
    ``bias`` [products] (or a scalar) and, optionally, ``fields`` (the
    observation labels it was trained on; when present they must match the
    seat's layout, so a policy trained under local information cannot take a
    seat that observes shared data). Safe to load: plain arrays only.
``.pkl`` or ``.pickle``, any pickled callable
    Loading a pickle runs code from the file: load only files you made or
    trust. The callable's class must be importable where it is loaded
    (a module-level function or class, not a lambda).

Orders are clipped at zero for members that may not return goods, as every
ordering rule is.

>>> import numpy as np
>>> from channel_agents.observations import OrderObservation
>>> obs = OrderObservation(period=1, incoming=np.array([[4.0]]), stock=np.array([[12.0]]),
...     backlog=np.array([[0.0]]), supply_line=np.array([[16.0]]),
...     lead_time=np.array([4]), allow_returns=np.array([False]))
>>> observation_fields(OrderObservation, ["beer"])
('period', 'incoming', 'stock', 'backlog', 'supply_line', 'lead_time', 'allow_returns')
>>> flatten_observation(obs).tolist()
[1.0, 4.0, 12.0, 0.0, 16.0, 4.0, 0.0]
>>> pass_through = LinearPolicy(weights=[0, 1, 0, 0, 0, 0, 0], bias=0.0)
>>> Learned(pass_through).decide(obs).tolist()
[[4.0]]
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Any

import numpy as np

from channel_agents.config import ConfigError
from channel_agents.observations import OrderObservation, field_names
from channel_agents.policies.ordering import OrderingPolicy, _no_negative, register

# Observation fields by shape. Everything else is [members, products].
_SCALAR = frozenset({"period"})
_PER_MEMBER = frozenset({"lead_time", "allow_returns", "echelon_lead_time"})
# Demand knowledge (complete information) is given only to policies that ask for it
# and is not a number per product (``responses`` holds demand curves): never flattened.
_KNOWLEDGE = frozenset({"unit_cost", "responses"})

NPZ_SUFFIXES = (".npz",)
PICKLE_SUFFIXES = (".pkl", ".pickle")


def _flat_names(obs_type: type) -> tuple[str, ...]:
    return tuple(f for f in field_names(obs_type) if f not in _KNOWLEDGE)


def observation_fields(obs_type: type, products: Sequence[str] | int) -> tuple[str, ...]:
    """The label of each entry of a flattened observation of ``obs_type``, in order.

    The fields of the observation dataclass in declaration order, less the demand
    knowledge (``unit_cost``, ``responses``): one entry for ``period`` and for each
    per-member field (``lead_time``, ``allow_returns``, ``echelon_lead_time``; a
    boolean is 0 or 1), one per product for the others, labelled ``field[product]``
    when there are several products (products given as a count are labelled by index).
    """
    names = [str(i) for i in range(products)] if isinstance(products, int) else list(products)
    labels: list[str] = []
    for name in _flat_names(obs_type):
        if name in _SCALAR or name in _PER_MEMBER or len(names) == 1:
            labels.append(name)
        else:
            labels.extend(f"{name}[{p}]" for p in names)
    return tuple(labels)


def flatten_observation(obs: OrderObservation, row: int = 0) -> np.ndarray:
    """Member ``row`` of an ordering observation as one float vector
    (layout: :func:`observation_fields`)."""
    parts = []
    for name in _flat_names(type(obs)):
        value = getattr(obs, name)
        if name in _SCALAR:
            parts.append(np.array([value], dtype=float))
        else:
            parts.append(np.asarray(value[row], dtype=float).reshape(-1))
    return np.concatenate(parts)


def observation_row(obs: OrderObservation, row: int) -> OrderObservation:
    """The observation of one member of a group: the same type, every array cut to
    that member's row (``responses`` to its entry)."""
    values: dict[str, Any] = {}
    for f in dataclass_fields(obs):
        value = getattr(obs, f.name)
        if f.name == "period" or value is None:
            values[f.name] = value
        elif f.name == "responses":
            values[f.name] = (value[row],) if len(value) else ()
        else:
            values[f.name] = value[row : row + 1]
    return type(obs)(**values)


class LinearPolicy:
    """``order = weights @ flat_obs + bias``: a linear rule over the flattened observation.

    ``weights`` is [products, fields] (or [fields] for one product), ``bias``
    [products] (or a scalar); ``fields`` optionally records the observation
    labels the weights belong to.
    """

    def __init__(self, weights: Any, bias: Any = 0.0, fields: Sequence[str] | None = None) -> None:
        self.weights = np.atleast_2d(np.asarray(weights, dtype=float))
        self.bias = np.broadcast_to(
            np.asarray(bias, dtype=float).reshape(-1), (self.weights.shape[0],)
        ).copy()
        self.fields = None if fields is None else tuple(str(f) for f in fields)
        if self.fields is not None and len(self.fields) != self.weights.shape[1]:
            raise ValueError(
                f"{len(self.fields)} field labels for {self.weights.shape[1]} weights per product"
            )

    def __call__(self, flat_obs: np.ndarray) -> np.ndarray:
        return self.weights @ np.asarray(flat_obs, dtype=float) + self.bias

    def save(self, path: str | Path) -> Path:
        """Write the policy as ``.npz`` (``weights``, ``bias``, ``fields``)."""
        path = Path(path)
        if path.suffix != ".npz":
            raise ValueError(f"a linear policy is saved as .npz, not {path.suffix or 'no suffix'}")
        arrays: dict[str, np.ndarray] = {"weights": self.weights, "bias": self.bias}
        if self.fields is not None:
            arrays["fields"] = np.array(self.fields, dtype=str)
        with path.open("wb") as fh:  # np.savez would append .npz to a str path
            np.savez(fh, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> LinearPolicy:
        with np.load(path, allow_pickle=False) as data:
            fields = data["fields"].tolist() if "fields" in data.files else None
            return cls(data["weights"], data["bias"], fields)


def load_policy(path: str | Path) -> Callable[[np.ndarray], Any]:
    """Load a trained policy: ``.npz`` a :class:`LinearPolicy`, ``.pkl``/``.pickle``
    a pickled callable (pickles run code when loaded: trusted files only)."""
    path = Path(path)
    where = "ordering.path"
    suffix = path.suffix.lower()
    if suffix not in NPZ_SUFFIXES + PICKLE_SUFFIXES:
        raise ConfigError(
            f"{str(path)!r}: unknown policy file type {suffix or '(no suffix)'!r}; "
            "allowed: .npz (linear policy), .pkl or .pickle (pickled callable)",
            path=where,
        )
    if not path.is_file():
        raise ConfigError(
            f"{str(path)!r}: no such file (a relative path is relative to the working "
            f"directory, {Path.cwd()})",
            path=where,
        )
    try:
        if suffix in NPZ_SUFFIXES:
            return LinearPolicy.load(path)
        with path.open("rb") as fh:
            fn = pickle.load(fh)  # noqa: S301 - documented: trusted files only
    except (OSError, ValueError, KeyError, pickle.UnpicklingError, EOFError) as exc:
        raise ConfigError(
            f"{str(path)!r}: cannot read the policy ({exc.__class__.__name__}: {exc})", path=where
        ) from None
    except (AttributeError, ImportError) as exc:
        raise ConfigError(
            f"{str(path)!r}: the pickled policy needs code that cannot be imported here ({exc})",
            path=where,
        ) from None
    if not callable(fn):
        raise ConfigError(
            f"{str(path)!r}: the pickle holds a {type(fn).__name__}, not a callable", path=where
        )
    return fn


@register
class Learned(OrderingPolicy):
    """Orders from trained callables ``f(flat_obs) -> order``, one per member.

    ``Learned(f)`` seats one callable (Python); the registry builds
    ``Learned(params, n_products)`` from ``{policy: learned, path: FILE}`` blocks,
    loading each member's file (:func:`load_policy`).
    """

    name = "learned"

    def __init__(
        self,
        params: Sequence[Any] | Callable[[np.ndarray], Any],
        n_products: int = 1,
    ):
        if callable(params):
            fns: list[Callable[[np.ndarray], Any]] = [params]
            params = [None]
        else:
            fns = [load_policy(p.path) for p in params]
        super().__init__(params, n_products)
        self.fns = fns
        self._checked = False

    def _check_layout(self, obs: OrderObservation) -> None:
        """A linear policy's recorded fields must match what this seat observes."""
        expected = observation_fields(type(obs), obs.stock.shape[1])
        for fn, p in zip(self.fns, self.params, strict=True):
            trained = getattr(fn, "fields", None)
            if trained is None:
                continue
            if [f.split("[")[0] for f in trained] != [f.split("[")[0] for f in expected]:
                where = f" ({p.path})" if p is not None else ""
                raise ConfigError(
                    f"the learned policy{where} was trained on observation fields "
                    f"{list(trained)}, but this member observes {list(expected)}",
                    path="ordering.path",
                )
        self._checked = True

    def decide(self, obs: OrderObservation) -> np.ndarray:
        if not self._checked:
            self._check_layout(obs)
        n_products = obs.stock.shape[1]
        out = np.empty_like(obs.stock, dtype=float)
        for j, fn in enumerate(self.fns):
            order = np.asarray(fn(flatten_observation(obs, j)), dtype=float).reshape(-1)
            if order.size == 1 and n_products > 1:
                order = np.full(n_products, order[0])
            if order.size != n_products or not np.isfinite(order).all():
                raise ValueError(
                    f"a learned policy returned {order.tolist()}; expected {n_products} "
                    "finite order(s)"
                )
            out[j] = order
        return _no_negative(out, obs)
