"""Scenario presets and the page's settings, turned into validated scenario configs.

The page offers every YAML file under ``configs/`` and ``configs/theory/``, a
few variants (the bargaining card with alternating offers, a 200-member
layered network) and the CONFIG given to ``channel-agents viz``. Its controls
(strategy, levers, sliders, seed) become ``--set`` overrides on the preset, so
what the page runs is exactly what ``channel-agents run --set ...`` would run,
except that the page shows every period: warm-up is folded into the run
(``warmup=0``, ``periods`` = warm-up + periods, capped at :data:`MAX_PERIODS`).
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from channel_agents.config import ConfigError, ScenarioConfig, StrategyLevers, load_config
from channel_agents.network import layered_network

#: the environment variable through which ``channel-agents viz CONFIG`` reaches the app.
CONFIG_ENV = "CHANNEL_AGENTS_VIZ_CONFIG"
#: longest run the page simulates (theory cards with 20,000 periods are cut here).
MAX_PERIODS = 400
#: the levers of a custom strategy and their allowed values (siloed value first).
LEVERS: dict[str, tuple[str, ...]] = {
    name: tuple(f.annotation.__args__)  # type: ignore[union-attr]
    for name, f in StrategyLevers.model_fields.items()
}
#: ordering policies the page offers ("" keeps the scenario's).
ORDERING_CHOICES = ("", "sterman", "order_up_to", "pass_through", "central_plan")
STRATEGIES = ("siloed", "cooperative", "custom")

# demand fields a "demand scale" multiplies, per demand kind
_DEMAND_SCALED = {
    "linear": ("a",),
    "advertised_linear": ("a",),
    "isoelastic": ("scale",),
    "constant": ("value",),
    "step": ("before", "after"),
    "normal": ("mean", "sd"),
    "poisson": ("mean",),
    "ar1": ("mean", "sd"),
}


def project_root() -> Path:
    """The folder holding ``configs/`` (the source checkout, else the working directory)."""
    here = Path(__file__).resolve().parents[3]
    return here if (here / "configs").is_dir() else Path.cwd()


@dataclass(frozen=True)
class Preset:
    """A scenario the page offers: a YAML file or a mapping, plus overrides."""

    key: str
    label: str
    path: str | None = None
    overrides: tuple[str, ...] = ()
    builder: str | None = None  # name of a mapping factory in _BUILDERS
    description: str = ""

    def source(self) -> str | dict[str, Any]:
        if self.builder is not None:
            return _BUILDERS[self.builder]()
        assert self.path is not None
        return self.path


def layered_200() -> dict[str, Any]:
    """A 200-member channel (1 source, 20 manufacturers, 60 wholesalers, 119 retailers)."""
    cfg = layered_network(20, 60, 119, markets=40, seed=3)
    for m in cfg["members"].values():
        if m["role"] != "source":
            m["stock"] = 40 if m["role"] == "retailer" else 80
    cfg["name"] = "layered_200"
    cfg["periods"] = 100
    cfg["defaults"] = {
        "ordering": {"policy": "order_up_to", "forecast_window": 4, "safety_stock": 5},
        "holding_cost": 0.5,
        "backlog_cost": 1.0,
        "unmet_demand": "backlog",
    }
    return cfg


_BUILDERS = {"layered_200": layered_200}


def presets() -> dict[str, Preset]:
    """Every preset by key, the command line's CONFIG first (when given)."""
    root = project_root()
    out: dict[str, Preset] = {}
    given = os.environ.get(CONFIG_ENV)
    if given:
        out["cli"] = Preset("cli", f"{Path(given).name} (from the command line)", path=given)
    for folder, prefix in ((root / "configs", ""), (root / "configs" / "theory", "theory/")):
        for p in sorted(folder.glob("*.yaml")):
            key = prefix + p.stem
            out[key] = Preset(key, key.replace("_", " "), path=str(p))
    if "theory/bargaining" in out:
        out["theory/bargaining_alternating"] = Preset(
            "theory/bargaining_alternating",
            "theory/bargaining (alternating offers)",
            path=out["theory/bargaining"].path,
            overrides=("edges.1.negotiation.protocol=alternating_offers",),
        )
    out["layered_200"] = Preset(
        "layered_200", "layered network (200 members)", builder="layered_200"
    )
    return out


def default_preset_key() -> str:
    keys = presets()
    for k in ("cli", "three_tier", "beer_game"):
        if k in keys:
            return k
    return next(iter(keys))


@dataclass(frozen=True)
class Settings:
    """Everything the controls set. ``None`` slider values keep the preset's value."""

    preset: str
    strategy: str = "siloed"  # siloed | cooperative | custom
    levers: tuple[tuple[str, str], ...] = ()  # for custom
    seed: int | None = None  # None: the scenario's seed
    periods: int | None = None
    lead_time: int | None = None
    holding_cost: float | None = None
    backlog_cost: float | None = None
    demand_scale: float = 1.0
    ordering: str = ""
    extra: tuple[str, ...] = field(default=())  # further --set overrides

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def lever_dict(self) -> dict[str, str]:
        out = {k: v[0] for k, v in LEVERS.items()}
        out.update(dict(self.levers))
        return out


def preset_settings(preset_key: str, **changes: Any) -> Settings:
    """Settings that run the preset as its file says (its own strategy or levers)."""
    strategy = base_config(preset_key).strategy
    if isinstance(strategy, StrategyLevers):
        base = Settings(preset_key, strategy="custom", levers=tuple(strategy.model_dump().items()))
    else:
        base = Settings(preset_key, strategy=strategy)
    return base.with_(**changes)


@lru_cache(maxsize=64)
def _base(key: str, path: str | None, overrides: tuple[str, ...]) -> ScenarioConfig:
    preset = presets().get(key) or Preset(key, key, path=path, overrides=overrides)
    return load_config(preset.source(), list(preset.overrides))


def base_config(preset_key: str) -> ScenarioConfig:
    """The preset as its file says (cached)."""
    all_presets = presets()
    if preset_key not in all_presets:
        raise ConfigError(
            f"unknown scenario preset {preset_key!r}; presets: {', '.join(all_presets)}"
        )
    p = all_presets[preset_key]
    return _base(preset_key, p.path, p.overrides)


@dataclass(frozen=True)
class Defaults:
    """The slider values a preset starts from."""

    periods: int
    lead_time: int
    holding_cost: float
    backlog_cost: float
    seed: int
    demand_kind: str
    ordering: str


def preset_defaults(preset_key: str) -> Defaults:
    cfg = base_config(preset_key)
    leads = Counter(e.lead_time for e in cfg.edges)
    ordering = cfg.defaults.ordering.policy if cfg.defaults.ordering is not None else ""
    kinds = {m.demand.kind for m in cfg.markets}
    return Defaults(
        periods=min(cfg.warmup + cfg.periods, MAX_PERIODS),
        lead_time=leads.most_common(1)[0][0] if leads else 1,
        holding_cost=float(cfg.defaults.holding_cost),
        backlog_cost=float(cfg.defaults.backlog_cost),
        seed=int(cfg.seed),
        demand_kind=", ".join(sorted(kinds)),
        ordering=ordering,
    )


def _yaml_mapping(values: dict[str, Any]) -> str:
    return "{" + ", ".join(f"{k}: {v}" for k, v in values.items()) + "}"


def overrides_for(settings: Settings, strategy: str | None = None) -> list[str]:
    """The ``--set`` overrides that turn the preset into what the controls say.

    ``strategy`` replaces the settings' strategy (the side-by-side arms).
    """
    cfg = base_config(settings.preset)
    out = ["warmup=0"]
    periods = settings.periods or min(cfg.warmup + cfg.periods, MAX_PERIODS)
    out.append(f"periods={int(periods)}")
    chosen = strategy or settings.strategy
    if chosen == "custom":
        out.append(f"strategy={_yaml_mapping(settings.lever_dict())}")
    elif chosen in ("siloed", "cooperative"):
        out.append(f"strategy={chosen}")
    else:
        raise ConfigError(f"unknown strategy {chosen!r}; strategies: {', '.join(STRATEGIES)}")
    channel = [n for n, m in cfg.members.items() if m.role != "source"]
    if settings.lead_time is not None:
        out += [f"edges.{i}.lead_time={int(settings.lead_time)}" for i in range(len(cfg.edges))]
    for key in ("holding_cost", "backlog_cost"):
        value = getattr(settings, key)
        if value is not None:
            out.append(f"defaults.{key}={float(value)}")
            out += [
                f"members.{n}.{key}={float(value)}"
                for n in channel
                if getattr(cfg.members[n], key) is not None
            ]
    if settings.demand_scale != 1.0:
        s = float(settings.demand_scale)
        for j, m in enumerate(cfg.markets):
            for f in _DEMAND_SCALED.get(m.demand.kind, ()):
                out.append(f"markets.{j}.demand.{f}={getattr(m.demand, f) * s}")
    if settings.ordering:
        policy = f"{{policy: {settings.ordering}}}"
        out.append(f"defaults.ordering={policy}")
        out += [f"members.{n}.ordering={policy}" for n in channel if cfg.members[n].ordering]
    out += list(settings.extra)
    return out


def build_config(settings: Settings, strategy: str | None = None) -> ScenarioConfig:
    """The validated scenario the page runs (raises :class:`ConfigError` on bad settings)."""
    all_presets = presets()
    if settings.preset not in all_presets:
        raise ConfigError(f"unknown scenario preset {settings.preset!r}")
    p = all_presets[settings.preset]
    return load_config(p.source(), [*p.overrides, *overrides_for(settings, strategy)])
