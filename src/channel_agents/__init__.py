"""channel-agents: agent-based simulation of downstream supply channels.

>>> import channel_agents as ca
>>> ca.run("configs/beer_game.yaml").summary["periods"]
36
"""

__version__ = "0.1.0"

from channel_agents.api import Result, run  # noqa: E402

__all__ = ["Result", "__version__", "run"]
