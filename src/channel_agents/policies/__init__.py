"""Decision rules: ordering, pricing (and, later, promotion).

Each kind shares one small interface: a policy object decides for a group of
members at once (arrays, one row per member) from a frozen observation. A
new rule is one class registered under its config name.
"""

from channel_agents.policies import central_plan as _central_plan  # noqa: E402,F401  (registers)
from channel_agents.policies import learned as _learned  # noqa: E402,F401  (registers)
