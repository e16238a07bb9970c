"""Siloed and cooperative strategies as bundles of independent levers.

A strategy is either a preset name (``siloed``, ``cooperative``) or a mapping
of levers; every lever left unset takes its siloed value. Levers act on what
the scenario leaves open (DESIGN.md, "Configuration").

| lever | siloed | cooperative |
|---|---|---|
| information | local | shared (point-of-sale data and positions) |
| replenishment | independent | echelon order-up-to on end demand |
| pricing | stackelberg (each for itself, leaders anticipating followers) | joint (channel optimum) |
| contract | wholesale (price posted by the seller) | two_part_tariff (w = marginal cost + a fee) |
| promotion | independent (manufacturer leads; co-op share if the market allows) | joint (advertising that maximizes channel profit) |
| bargaining | take_it_or_leave_it | nash (equal power unless the edge says otherwise) |
| sourcing | own_margin (each brand picks the supplier best for its own margin) | consumer_value (the suppliers that give consumers the most surplus) |

The pricing lever acts on members with price-responsive demand below them
and no pricing rule of their own; the contract lever on edges with no
contract; the bargaining lever on edges with no negotiation block; the sourcing
lever on brands that can buy a product's material from several suppliers and
sell into a logit or linear_system market (products.py, competition.py).
"""

from __future__ import annotations

from channel_agents.config import ScenarioConfig, StrategyLevers

PRESETS: dict[str, StrategyLevers] = {
    "siloed": StrategyLevers(),
    "cooperative": StrategyLevers(
        information="shared",
        replenishment="echelon",
        pricing="joint",
        promotion="joint",
        contract="two_part_tariff",
        bargaining="nash",
        sourcing="consumer_value",
    ),
}


def resolve_levers(cfg: ScenarioConfig) -> StrategyLevers:
    """The levers a scenario runs under."""
    if isinstance(cfg.strategy, str):
        return PRESETS[cfg.strategy]
    return cfg.strategy
