"""Siloed and cooperative strategies as bundles of independent levers.

A strategy is either a preset name (``siloed``, ``cooperative``) or a mapping
of levers; every lever left unset takes its siloed value. Levers act on what
the scenario leaves open (DESIGN.md, "Configuration").

| lever | siloed | cooperative |
|---|---|---|
| information | local | shared (point-of-sale data and positions) |
| replenishment | independent | echelon order-up-to on end demand |
"""

from __future__ import annotations

from channel_agents.config import ScenarioConfig, StrategyLevers

PRESETS: dict[str, StrategyLevers] = {
    "siloed": StrategyLevers(),
    "cooperative": StrategyLevers(information="shared", replenishment="echelon"),
}


def resolve_levers(cfg: ScenarioConfig) -> StrategyLevers:
    """The levers a scenario runs under."""
    if isinstance(cfg.strategy, str):
        return PRESETS[cfg.strategy]
    return cfg.strategy
