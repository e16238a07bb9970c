"""Experiment specs: the YAML file that says what to run, validated with pydantic.

A spec names a base scenario (a path relative to the spec file), the arms to
compare, the factors to vary and how (a full factorial, a Latin hypercube or a
Sobol' design), replications, a master seed and what to keep. Unknown keys are
errors; every error is a :class:`~channel_agents.config.ConfigError` naming the
spec file and the key path (``factors.demand.range``), what is wrong and what
is allowed. docs/experiments.md describes every key.

>>> spec = load_spec("experiments/siloed_vs_cooperative.yaml")
>>> spec.arms
['siloed', 'cooperative']
"""

from __future__ import annotations

import contextlib
import difflib
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from channel_agents.config import ConfigError, parse_set, read_yaml

DESIGNS = ("full_factorial", "latin_hypercube", "sobol")
DIFFERENCES = ("last_minus_first", "each_minus_first")
# columns of the run store; a factor may not take one of these names
RESERVED_COLUMNS = (
    "key",
    "experiment",
    "point",
    "replication",
    "arm",
    "seed",
    "status",
    "error",
    "seconds",
    "worker",
    "kind",
    "metric",
)


class _Block(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Count = Annotated[int, Field(ge=1, strict=True)]


class FactorSpec(_Block):
    """One factor: a dotted config path (as ``--set``) and the values it takes."""

    path: str | None = None  # defaults to the factor's name
    link: list[str] = Field(default_factory=list)  # more paths set to the same value
    values: list[Any] | dict[str, Any] | None = None
    range: Annotated[list[float], Field(min_length=2, max_length=2)] | None = None
    integer: bool = False
    levels: Annotated[int, Field(ge=2, strict=True)] | None = None


class PlotSpec(_Block):
    """The PNG plot: a metric by arm across one factor."""

    factor: str | None = None  # default: the first factor
    metric: str = "consumer_surplus"


class ExperimentSpec(_Block):
    """A whole experiment file, validated (see docs/experiments.md)."""

    name: str | None = None
    description: str = ""
    scenario: str
    arms: list[str] = Field(default_factory=lambda: ["siloed", "cooperative"], min_length=1)
    overrides: list[str] = Field(default_factory=list, alias="set")
    factors: dict[str, FactorSpec] = Field(default_factory=dict)
    design: Literal["full_factorial", "latin_hypercube", "sobol"] = "full_factorial"
    samples: Count | None = None
    replications: Count = 10
    seed: Annotated[int, Field(ge=0, strict=True)] = 0
    periods: Count | None = None
    warmup: Annotated[int, Field(ge=0, strict=True)] | None = None
    metrics: list[str] | None = None
    keep_series: bool = False
    precision: dict[str, float | str] = Field(default_factory=dict)
    differences: Literal["last_minus_first", "each_minus_first"] = "last_minus_first"
    plot: PlotSpec = PlotSpec()
    chunk_size: Count = 50

    # set by load_spec (not keys of the file)
    _file: str = PrivateAttr(default="")
    _raw: dict[str, Any] = PrivateAttr(default_factory=dict)

    @property
    def file(self) -> str:
        """The spec file as given (relative paths resolve from its folder)."""
        return self._file

    @property
    def raw(self) -> dict[str, Any]:
        """The mapping read from the file, as written."""
        return self._raw

    @property
    def experiment_name(self) -> str:
        return self.name or Path(self.file).stem

    @property
    def scenario_path(self) -> Path:
        return (Path(self.file).parent / self.scenario).resolve()


# --------------------------------------------------------------------------- factors


@dataclass(frozen=True)
class Factor:
    """A validated factor: where it goes, and how a design coordinate maps to a value."""

    name: str
    paths: tuple[str, ...]
    labels: tuple[str, ...]  # of discrete values (empty for a range)
    values: tuple[Any, ...]  # discrete values (YAML values)
    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    levels: int | None = None

    @property
    def numeric(self) -> bool:
        """True when every value is a number (the column holds numbers)."""
        if self.lo is not None:
            return True
        return all(isinstance(v, int | float) and not isinstance(v, bool) for v in self.values)

    @property
    def categorical(self) -> bool:
        return not self.numeric

    def grid(self) -> list[Any]:
        """The values of a full factorial: the listed values, or ``levels`` evenly spaced."""
        if self.lo is None:
            return list(self.values)
        assert self.hi is not None and self.levels is not None
        return [self._number(self.lo + (self.hi - self.lo) * i / (self.levels - 1))
                for i in range(self.levels)]  # fmt: skip

    def at(self, u: float) -> Any:
        """The value at design coordinate ``u`` in [0, 1)."""
        if self.lo is None:
            k = len(self.values)
            return self.values[min(int(u * k), k - 1)]
        assert self.hi is not None
        return self._number(self.lo + (self.hi - self.lo) * float(u))

    def _number(self, x: float) -> int | float:
        return int(round(x)) if self.integer else float(x)

    def column(self, value: Any) -> Any:
        """What the outputs show for ``value``: the number, or the value's label."""
        if self.numeric:
            return value
        for label, v in zip(self.labels, self.values, strict=True):
            if v == value:
                return label
        return _label(value)

    def assignments(self, value: Any) -> list[str]:
        """The ``--set`` assignments that give this factor ``value``."""
        text = yaml_flow(value)
        return [f"{p}={text}" for p in self.paths]


def yaml_flow(value: Any) -> str:
    """A YAML flow text that parses back to ``value`` (what ``--set`` takes)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=10**9, sort_keys=False).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")].strip()
    elif text.endswith("..."):
        text = text[:-3].strip()
    return text


def _label(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    return yaml_flow(value)


def _labels(values: list[Any]) -> list[str]:
    """Short labels: a mapping's ``type``/``policy``/``kind`` when that tells them apart."""
    for tag in ("type", "policy", "kind", "protocol"):
        if all(isinstance(v, dict) and isinstance(v.get(tag), str) for v in values):
            tags = [v[tag] for v in values]
            if len(set(tags)) == len(tags):
                return tags
    return [_label(v) for v in values]


# --------------------------------------------------------------------------- loading


def load_spec(path: str | Path) -> ExperimentSpec:
    """Read and validate an experiment file (structure only; the scenario is checked
    when the experiment is planned)."""
    shown = str(path)
    data = read_yaml(Path(path), shown, what="experiment")
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        key_path, msg = _friendly(errors[0], data)
        rest = len({tuple(e["loc"]) for e in errors}) - 1
        if rest > 0:
            msg += f" (and {rest} more problem{'s' if rest > 1 else ''})"
        raise ConfigError(msg, file=shown, path=key_path) from None
    spec._file = shown
    spec._raw = data
    check_spec(spec)
    return spec


def check_spec(spec: ExperimentSpec) -> None:
    """Checks across keys that pydantic alone does not express."""
    file = spec.file

    def fail(msg: str, where: str) -> None:
        raise ConfigError(msg, file=file, path=where)

    if not spec.scenario.strip():
        fail("must name the base scenario file (relative to this file)", "scenario")
    if not spec.scenario_path.exists():
        fail(f"scenario file not found: {spec.scenario} (looked in {spec.scenario_path})",
             "scenario")  # fmt: skip
    if spec.scenario_path.is_dir():
        fail(f"{spec.scenario} is a directory; expected a scenario YAML file", "scenario")
    if spec.name is not None and not _safe_name(spec.name):
        fail(f"{spec.name!r}: use letters, digits, '-', '_' and '.' only", "name")
    seen: set[str] = set()
    for i, arm in enumerate(spec.arms):
        if arm in seen:
            fail(f"arm {arm!r} is listed twice", f"arms[{i}]")
        seen.add(arm)
        _check_arm(arm, file, f"arms[{i}]")
    for i, assignment in enumerate(spec.overrides):
        try:
            parse_set(assignment)
        except ConfigError as exc:
            fail(exc.detail, f"set[{i}]")
    for name in spec.factors:
        factor_from_spec(spec, name)
    if spec.design == "full_factorial":
        if spec.samples is not None:
            fail("samples applies to latin_hypercube and sobol designs; a full factorial runs "
                 "every combination of the factors' values", "samples")  # fmt: skip
    else:
        if not spec.factors:
            fail(f"design {spec.design!r} needs at least one factor", "factors")
        if spec.samples is None:
            what = "points" if spec.design == "latin_hypercube" else "base samples N"
            fail(f"design {spec.design!r} needs samples (the number of {what})", "samples")
        if spec.design == "sobol":
            assert spec.samples is not None
            if spec.samples & (spec.samples - 1):
                low = 1 << (spec.samples.bit_length() - 1)
                fail(f"sobol needs a power of two (got {spec.samples}; e.g. {low} or {low * 2}); "
                     "the design has samples x (factors + 2) points", "samples")  # fmt: skip
    if spec.plot.factor is not None and spec.plot.factor not in spec.factors:
        fail(f"unknown factor {spec.plot.factor!r}; factors: "
             f"{', '.join(spec.factors) or '(none)'}", "plot.factor")  # fmt: skip
    for metric, target in spec.precision.items():
        precision_target(target, file, f"precision.{metric}")
    if spec.metrics is not None:
        if not spec.metrics:
            fail("list at least one metric, or leave metrics out to keep them all", "metrics")
        dupes = [m for m in spec.metrics if spec.metrics.count(m) > 1]
        if dupes:
            fail(f"metric {dupes[0]!r} is listed twice", "metrics")


def _safe_name(name: str) -> bool:
    return bool(name) and all(c.isalnum() or c in "-_." for c in name) and name not in (".", "..")


def _check_arm(arm: str, file: str, where: str) -> None:
    from channel_agents.compare import arm_overrides

    try:
        arm_overrides(arm)
    except ConfigError as exc:
        raise ConfigError(exc.detail, file=file, path=where) from None


def factor_from_spec(spec: ExperimentSpec, name: str) -> Factor:
    """Validate one factor block into a :class:`Factor`."""
    f = spec.factors[name]
    where = f"factors.{name}" if "." not in name else f"factors[{name}]"
    file = spec.file

    def fail(msg: str, sub: str = "") -> None:
        raise ConfigError(msg, file=file, path=where + (f".{sub}" if sub else ""))

    if name in RESERVED_COLUMNS:
        fail(f"{name!r} is a column of the run store; name the factor otherwise "
             f"(reserved: {', '.join(RESERVED_COLUMNS)})")  # fmt: skip
    path = f.path or name
    paths = [path, *f.link]
    for i, p in enumerate(paths):
        sub = "path" if i == 0 and f.path else ("" if i == 0 else f"link[{i - 1}]")
        try:
            parse_set(f"{p}=0")
        except ConfigError:
            fail(f"{p!r} is not a dotted config path (e.g. markets.north.demand.a)", sub)
        if p in paths[:i]:
            fail(f"path {p!r} appears twice", sub)
    if (f.values is None) == (f.range is None):
        fail("give either values (a list, or a mapping label: value) or range: [lo, hi]")
    if f.values is not None:
        if f.integer:
            fail("integer applies to range factors", "integer")
        if f.levels is not None:
            fail("levels applies to range factors", "levels")
        if isinstance(f.values, dict):
            labels, values = [str(k) for k in f.values], list(f.values.values())
        else:
            values = list(f.values)
            labels = _labels(values)
        if not values:
            fail("must list at least one value", "values")
        for i, v in enumerate(values):
            if v in values[:i]:
                fail(f"value {_label(v)!r} is listed twice", "values")
        return Factor(name, tuple(paths), tuple(labels), tuple(values))
    assert f.range is not None
    lo, hi = (float(x) for x in f.range)
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
        fail(f"must be [lo, hi] with finite lo < hi (got [{lo:g}, {hi:g}])", "range")
    if spec.design == "full_factorial":
        if f.levels is None:
            fail("a range in a full factorial needs levels (how many evenly spaced values), "
                 "or list the values instead", "levels")  # fmt: skip
    elif f.levels is not None:
        fail(f"levels applies to full_factorial designs ({spec.design} samples the range)",
             "levels")  # fmt: skip
    factor = Factor(name, tuple(paths), (), (), lo, hi, f.integer, f.levels)
    if f.levels is not None:
        grid = factor.grid()
        if len(set(grid)) < len(grid):
            fail(f"integer range [{lo:g}, {hi:g}] with {f.levels} levels repeats values "
                 f"({grid}); use fewer levels", "levels")  # fmt: skip
    return factor


def factors(spec: ExperimentSpec) -> list[Factor]:
    return [factor_from_spec(spec, name) for name in spec.factors]


def precision_target(target: float | str, file: str | None, where: str) -> tuple[float, bool]:
    """``(value, relative)`` of a precision target: ``0.5`` (absolute half-width) or
    ``"2%"`` (half-width relative to the mean)."""
    relative = isinstance(target, str)
    try:
        value = float(str(target).strip().removesuffix("%")) / (100 if relative else 1)
        if relative and not str(target).strip().endswith("%"):
            raise ValueError
    except ValueError:
        raise ConfigError(
            f"expected a half-width (a number, e.g. 0.5) or a percentage of the mean "
            f"(e.g. '2%'), got {target!r}", file=file, path=where
        ) from None  # fmt: skip
    if not (value > 0 and math.isfinite(value)):
        raise ConfigError(f"must be > 0 (got {target!r})", file=file, path=where)
    return value, relative


# --------------------------------------------------------------------------- design


def design_points(spec: ExperimentSpec) -> list[dict[str, Any]]:
    """The design points, each a mapping factor name -> value (a YAML value).

    ``full_factorial`` runs every combination (the first factor varies slowest);
    ``latin_hypercube`` draws ``samples`` points (scipy.stats.qmc); ``sobol`` takes
    SALib's Saltelli sample: ``samples x (factors + 2)`` points in SALib's order
    (the order its index estimator expects). No factors: one point.
    """
    from channel_agents.experiments.seeds import design_rng, design_seed

    fs = factors(spec)
    if not fs:
        return [{}]
    if spec.design == "full_factorial":
        grids = [f.grid() for f in fs]
        return [dict(zip(spec.factors, combo, strict=True)) for combo in itertools.product(*grids)]
    assert spec.samples is not None
    if spec.design == "latin_hypercube":
        from scipy.stats import qmc

        unit = qmc.LatinHypercube(d=len(fs), rng=design_rng(spec.seed)).random(spec.samples)
    else:
        import warnings

        from SALib.sample import sobol as sobol_sample

        problem = sobol_problem(fs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            unit = sobol_sample.sample(
                problem, spec.samples, calc_second_order=False, seed=design_seed(spec.seed) % 2**32
            )
    return [{f.name: f.at(u) for f, u in zip(fs, row, strict=True)} for row in unit]


def sobol_problem(fs: list[Factor]) -> dict[str, Any]:
    """SALib's problem definition on the unit cube (coordinates map to values)."""
    return {"num_vars": len(fs), "names": [f.name for f in fs], "bounds": [[0.0, 1.0]] * len(fs)}


# --------------------------------------------------------------------------- errors

_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "dict_type": "must be a mapping (key: value)",
    "model_type": "must be a mapping (key: value)",
    "list_type": "must be a list",
    "too_short": "must have at least {min_length} item(s)",
    "too_long": "must have at most {max_length} item(s)",
    "literal_error": "must be one of: {expected}",
}


def _user_loc(loc: tuple[Any, ...], data: Any) -> list[Any]:
    """The keys and indexes of an error location that the user wrote (no union tags)."""
    out: list[Any] = []
    node = data
    for i, item in enumerate(loc):
        in_dict = isinstance(node, dict) and item in node
        if in_dict or (isinstance(node, list) and isinstance(item, int) and item < len(node)):
            out.append(item)
            node = node[item]
        elif i == len(loc) - 1 and isinstance(item, str) and not _is_tag(item):
            out.append(item)
        elif not _is_tag(item):
            node = None
    return out


def _is_tag(item: Any) -> bool:
    return isinstance(item, str) and ("[" in item or item in ("list", "dict", "str", "float"))


def _render(loc: list[Any]) -> str:
    path = ""
    for item in loc:
        if isinstance(item, int) or ("." in str(item) and path):
            path += f"[{item}]"
        else:
            path += f".{item}" if path else str(item)
    return path


def _allowed(loc: list[Any]) -> list[str]:
    """The keys the block holding ``loc[-1]`` accepts."""
    parent = loc[:-1]
    if not parent:
        model: type[BaseModel] = ExperimentSpec
    elif len(parent) == 2 and parent[0] == "factors":
        model = FactorSpec
    elif parent == ["plot"]:
        model = PlotSpec
    else:
        return []
    return [(f.alias or n) for n, f in model.model_fields.items()]


def _friendly(err: dict[str, Any], data: Any) -> tuple[str, str]:
    loc = _user_loc(tuple(err["loc"]), data)
    path = _render(loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _allowed(loc)
        key = str(loc[-1]) if loc else "?"
        msg = f"unknown key {key!r}"
        hint = difflib.get_close_matches(key, allowed, n=1)
        if hint:
            msg += f" (did you mean {hint[0]!r}?)"
        if allowed:
            msg += f"; allowed: {', '.join(allowed)}"
        return path, msg
    if kind == "missing":
        return path, f"missing required key {err['loc'][-1]!r}"
    msg = err["msg"]
    if kind in _MESSAGES:
        with contextlib.suppress(KeyError, IndexError):
            msg = _MESSAGES[kind].format(**err.get("ctx", {}))
    msg = msg.removeprefix("Value error, ")
    got = err.get("input")
    if not isinstance(got, dict | list):
        msg += f" (got {got!r})"
    return path, msg
