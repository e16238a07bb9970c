"""The browser visualization and classroom play (Solara; the ``viz`` extra).

- :mod:`channel_agents.viz.app`: the Solara app (``solara run channel_agents.viz.app``,
  or ``channel-agents viz``): simulation, side by side, negotiation, classroom pages.
- :mod:`channel_agents.viz.scenarios`, :mod:`~channel_agents.viz.simulation`,
  :mod:`~channel_agents.viz.layout`, :mod:`~channel_agents.viz.charts`: what the
  page shows, in plain Python (testable without a browser).
- :mod:`channel_agents.viz.classroom`: games, seats, join codes, robots, persistence.
- :mod:`channel_agents.viz.assets`: the offline JavaScript (``python -m channel_agents.viz.assets``).
- :mod:`channel_agents.viz.command`: ``channel-agents viz``.

Model code never imports this package; importing it does not import Solara
(only :mod:`~channel_agents.viz.app` and the page modules do).
"""
