"""``python -m channel_agents.experiments SPEC [options]``: see command.py."""

import sys

from channel_agents.experiments.command import main

sys.exit(main())
