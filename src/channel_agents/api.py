"""The notebook interface: ``channel_agents.run(config) -> Result``.

>>> import channel_agents as ca
>>> result = ca.run("configs/beer_game.yaml")
>>> round(result.summary["team_cost"], 2)
2254.74
>>> result.series.columns[:4].tolist()
['period', 'member', 'role', 'orders']
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from channel_agents.config import ScenarioConfig, load_config
from channel_agents.model import ChannelModel


@dataclass
class Result:
    """A finished run: its summary (the ``--json`` object) and per-period series."""

    summary: dict[str, Any]
    series: pd.DataFrame
    market_series: pd.DataFrame
    model: ChannelModel = field(repr=False)


def run(
    config_or_path: str | Path | dict[str, Any] | ScenarioConfig,
    seed: int | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    *,
    periods: int | None = None,
    warmup: int | None = None,
    keep_series: bool = True,
    check: bool = False,
) -> Result:
    """Run a scenario and return its :class:`Result`.

    ``overrides`` are ``path=value`` strings, as ``--set`` on the command line.
    """
    extra = list(overrides)
    if periods is not None:
        extra.append(f"periods={int(periods)}")
    if warmup is not None:
        extra.append(f"warmup={int(warmup)}")
    cfg = load_config(config_or_path, extra)
    model = ChannelModel(cfg, rng=seed, keep_series=keep_series, check=check)
    model.run()
    return Result(
        summary=model.summary(),
        series=model.series() if keep_series else pd.DataFrame(),
        market_series=model.market_series() if keep_series else pd.DataFrame(),
        model=model,
    )
