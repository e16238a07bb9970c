"""The Solara app: ``solara run channel_agents.viz.app`` (or ``channel-agents viz``).

Pages (``routes``):

- ``/``: the simulation. Controls on the left (scenario preset, strategy or
  custom levers, the main parameters, seed; play, step, reset, speed; side by
  side), and on the right the key numbers, the channel drawn in tiers, the
  charts and, where an edge has a bargained agreement, the negotiation.
- ``/classroom``: the instructor's page (open games, see them all, debrief, CSV).
- ``/play``: a student's page (join a seat with its code, order each period).

The query string sets the starting point, e.g.
``/?scenario=beer_game&compare=1&step=12`` (keys: ``scenario``, ``strategy``,
``compare``, ``seed``, ``step``).
"""

from __future__ import annotations

import html
import time
from typing import Any
from urllib.parse import parse_qs

import numpy as np
import pandas as pd
import solara
import solara.widgets

from channel_agents.config import ConfigError
from channel_agents.viz import charts
from channel_agents.viz.classroom_pages import InstructorPage, StudentPage
from channel_agents.viz.components import MD_CSS, Md, VegaChart
from channel_agents.viz.scenarios import (
    LEVERS,
    MAX_PERIODS,
    ORDERING_CHOICES,
    STRATEGIES,
    Settings,
    base_config,
    default_preset_key,
    preset_defaults,
    preset_settings,
    presets,
)
from channel_agents.viz.simulation import Run, Session

TITLE = "channel-agents"


# ---------------------------------------------------------------------------- building blocks
def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if abs(value) >= 10_000:
            return f"{value:,.0f}"
        return f"{value:.{digits}g}"
    return str(value)


KEY_NUMBERS = (
    ("consumer_surplus", "consumer surplus / period"),
    ("retail_price", "price paid"),
    ("units_sold", "units sold / period"),
    ("fill_rate", "fill rate"),
    ("channel_profit", "channel profit / period"),
    ("team_cost", "team cost (total)"),
    ("bullwhip", "bullwhip (max)"),
)


@solara.component
def SummaryStrip(labels: list[str], numbers: list[dict[str, Any]]):
    """The run's key numbers, one line per strategy (and the gap when two are shown)."""
    head = "| | " + " | ".join(label for _, label in KEY_NUMBERS) + " |"
    rule = "|---" * (len(KEY_NUMBERS) + 1) + "|"
    lines = [head, rule]
    for label, n in zip(labels, numbers, strict=True):
        lines.append(f"| **{label}** | " + " | ".join(_fmt(n[k]) for k, _ in KEY_NUMBERS) + " |")
    if len(numbers) == 2:
        a, b = numbers

        def gap(k: str) -> str:
            if a[k] is None or b[k] is None:
                return "–"
            return f"{b[k] - a[k]:+.4g}"

        lines.append("| gap | " + " | ".join(gap(k) for k, _ in KEY_NUMBERS) + " |")
    Md("\n".join(lines), style="font-size: 13px")


def initial_settings(search: str | None) -> tuple[Settings, bool, int]:
    """Settings from the query string (or the defaults): settings, side by side, periods to run."""
    q = {k: v[-1] for k, v in parse_qs(search or "").items()}
    key = q.get("scenario", default_preset_key())
    if key not in presets():
        key = default_preset_key()
    settings = preset_settings(key)
    if q.get("strategy") in STRATEGIES:
        settings = settings.with_(strategy=q["strategy"])
    if q.get("seed", "").isdigit():
        settings = settings.with_(seed=int(q["seed"]))
    steps = int(q["step"]) if q.get("step", "").isdigit() else 0
    compare = q.get("compare", "") in ("1", "true", "yes")
    return settings, compare, steps


# ---------------------------------------------------------------------------- the controls
@solara.component
def Controls(
    session: Session,
    version: int,
    refresh,
    playing: solara.Reactive[bool],
    speed: solara.Reactive[int],
):
    """The left column. ``version`` (the session's) makes it re-render after each change."""
    s = session.settings
    d = preset_defaults(s.preset)
    all_presets = presets()
    labels = {p.label: k for k, p in all_presets.items()}

    def apply(**changes: Any) -> None:
        playing.value = False
        session.apply(s.with_(**changes))
        refresh()

    def choose_preset(label: str) -> None:
        playing.value = False
        try:
            settings = preset_settings(labels[label])
        except ConfigError as exc:  # a scenario file with an error: say so, keep the run
            session.error = str(exc)
            session.version += 1
        else:
            session.apply(settings, keep_period=False)
        refresh()

    def set_compare(on: bool) -> None:
        playing.value = False
        session.apply(s, compare=on)
        refresh()

    def step() -> None:
        session.step()
        refresh()

    def reset() -> None:
        playing.value = False
        session.reset()
        refresh()

    Md("### Scenario")
    solara.Select("Scenario preset", values=list(labels), value=all_presets[s.preset].label,
                  on_value=choose_preset)  # fmt: skip
    Md("**Strategy**")
    if session.compare:
        Md("*Side by side runs both strategies: siloed on the left, cooperative on the right.*")
    else:
        solara.ToggleButtonsSingle(
            value=s.strategy, values=list(STRATEGIES), on_value=lambda v: apply(strategy=v)
        )
    if s.strategy == "custom" and not session.compare:
        levers = s.lever_dict()
        for lever, values in LEVERS.items():

            def set_lever(v: str, lever: str = lever) -> None:
                new = dict(levers)
                new[lever] = v
                apply(levers=tuple(new.items()))

            solara.Select(f"{lever} lever", values=list(values), value=levers[lever],
                          on_value=set_lever, dense=True)  # fmt: skip
    solara.Switch(
        label="Side by side: siloed | cooperative", value=session.compare, on_value=set_compare
    )
    Md("### Run")
    with solara.Row():
        solara.Button(
            "Pause" if playing.value else "Play",
            color="primary",
            on_click=lambda: playing.set(not playing.value),
            disabled=session.done,
        )
        solara.Button("Step", color="primary", on_click=step,
                      disabled=playing.value or session.done)  # fmt: skip
        solara.Button("Reset", on_click=reset)
    solara.SliderInt("Speed (periods per second)", value=speed, min=1, max=20)
    Md("### Parameters")
    solara.SliderInt("Periods", value=s.periods or d.periods, min=5, max=MAX_PERIODS,
                     on_value=lambda v: apply(periods=int(v)))  # fmt: skip
    solara.SliderInt("Lead time (all edges)", value=s.lead_time or d.lead_time, min=1, max=6,
                     on_value=lambda v: apply(lead_time=int(v)))  # fmt: skip
    solara.SliderFloat(
        "Holding cost per unit", value=d.holding_cost if s.holding_cost is None else s.holding_cost,
        min=0.0, max=5.0, step=0.1, on_value=lambda v: apply(holding_cost=float(v)),
    )  # fmt: skip
    solara.SliderFloat(
        "Backlog cost per unit", value=d.backlog_cost if s.backlog_cost is None else s.backlog_cost,
        min=0.0, max=5.0, step=0.1, on_value=lambda v: apply(backlog_cost=float(v)),
    )  # fmt: skip
    solara.SliderFloat(f"Demand scale ({d.demand_kind})", value=s.demand_scale, min=0.5, max=2.0,
                       step=0.1, on_value=lambda v: apply(demand_scale=float(v)))  # fmt: skip
    names = {"": f"as in the scenario ({d.ordering or 'per member'})"}
    names.update({o: o for o in ORDERING_CHOICES if o})
    solara.Select("Ordering policy", values=list(names.values()), value=names[s.ordering],
                  on_value=lambda v: apply(ordering={b: a for a, b in names.items()}[v]))  # fmt: skip
    solara.InputInt(
        "Seed", value=d.seed if s.seed is None else s.seed, on_value=lambda v: apply(seed=int(v))
    )


# ---------------------------------------------------------------------------- the main area
def page_specs(session: Session, edge: int | None) -> dict[str, Any]:
    """Every chart of the page as a Vega-Lite spec (built once per version)."""
    runs = session.runs
    members = pd.concat([r.members() for r in runs], ignore_index=True)
    markets = pd.concat([r.markets() for r in runs], ignore_index=True)
    wide = len(runs) == 1
    w = 880
    order = runs[0].role_order
    lay = runs[0].layout
    tallest = max(int(np.bincount(np.round(lay.member_x * 1000).astype(int)).max()), 1)
    channel_height = int(min(max(110 + 70 * tallest, 180), 320))
    out: dict[str, Any] = {
        "channels": [
            charts.channel_chart(
                r.node_states(),
                r.edge_states(),
                r.market_states(),
                title=f"{r.label}: period {r.period}",
                width=w if wide else w // 2 - 10,
                height=channel_height,
                role_order=order,
            )
            for r in runs
        ],
        "consumer": charts.consumer_chart(
            markets, width=w, has_surplus=bool(runs[0].model.markets.has_surplus.any())
        ),
        "orders": charts.orders_chart(members, markets, width=w, role_order=order),
        "prices": charts.prices_chart(members, width=w, role_order=order),
        "stock": charts.stock_chart(members, width=w, role_order=order),
        "cash": charts.cash_chart(members, width=w, role_order=order),
    }
    out["negotiation"] = None
    edges = runs[0].negotiated_edges()
    if edges:
        e = edge if edge in edges else next(iter(edges))
        view = runs[0].negotiation(e)
        out["negotiation"] = (e, view, charts.negotiation_chart(view))
    return out


@solara.component
def NegotiationPanel(run: Run, edge: int, view: dict[str, Any], spec: dict, on_edge):
    edges = run.negotiated_edges()
    Md("### Negotiation")
    if len(edges) > 1:
        solara.Select("Edge", values=list(edges.values()), value=edges[edge],
                      on_value=lambda v: on_edge({b: a for a, b in edges.items()}[v]))  # fmt: skip
    agreed = (
        f"agreed on a price of **{view['terms']:.4g}** "
        f"(seller {view['seller_payoff']:.4g}, buyer {view['buyer_payoff']:.4g})"
        if view["agreed"]
        else "**no agreement** (bargaining broke down)"
    )
    lines = [
        f"**{edges[edge]}**, protocol *{view['protocol'].replace('_', ' ')}*: {agreed}, "
        f"after {len(view['offers'])} offer(s)."
    ]
    for key, name in (("nash", "Nash"), ("kalai_smorodinsky", "Kalai-Smorodinsky")):
        if view.get(key):
            p = view[key]
            lines.append(
                f"{name} point: price {p['terms']:.4g} (seller {p['seller_payoff']:.4g}, "
                f"buyer {p['buyer_payoff']:.4g})."
            )
    Md("  \n".join(lines))
    with solara.Row():
        VegaChart(spec)
        if view["offers"]:
            table = pd.DataFrame(view["offers"]).round(3)
            solara.DataFrame(table, items_per_page=20)
        else:
            Md("*A one-shot protocol: the agreement is the only offer.*")


@solara.component
def SimulationPage():
    """The simulation page; its query string sets the scenario (module docstring)."""
    router = solara.use_router()

    def first_session() -> tuple[Session | None, int, str]:
        try:
            settings, compare, steps = initial_settings(router.search)
            return Session(settings, compare=compare), steps, ""
        except ConfigError as exc:
            return None, 0, str(exc)

    session, steps, problem = solara.use_memo(first_session, [])
    if session is None:
        solara.Error(f"This scenario cannot be shown: {problem}")
    else:
        SimulationView(session, steps)


@solara.component
def SimulationView(session: Session, steps: int):
    """The simulation page around one :class:`Session` (fast-forwarded ``steps`` at first)."""
    version, set_version = solara.use_state(0)
    playing = solara.use_reactive(False)
    speed = solara.use_reactive(4)
    edge, set_edge = solara.use_state(None)

    def refresh() -> None:
        set_version(session.version)

    def fast_forward() -> None:
        if steps:
            session.step(min(steps, session.horizon))
            refresh()

    solara.use_effect(fast_forward, [])

    def play_loop() -> None:
        while playing.value:
            time.sleep(1.0 / max(int(speed.value), 1))
            if not playing.value:
                break
            if not session.step():
                playing.value = False
                break
            set_version(session.version)

    solara.lab.use_task(play_loop, dependencies=[playing.value], prefer_threaded=True)
    with session.lock:
        specs = solara.use_memo(
            lambda: page_specs(session, edge), [session.version, id(session.runs[0]), edge]
        )
        runs = list(session.runs)
        period, horizon = session.period, session.horizon
        numbers = [r.key_numbers() for r in runs]
    solara.Title(TITLE)
    solara.Style(MD_CSS)
    with solara.Columns([1, 3], style={"padding": "8px"}):
        with solara.Column():
            Controls(session, session.version, refresh, playing, speed)
        with solara.Column():
            Md(
                f"## Period {period} of {horizon}  \n"
                f"*{html.escape(base_config(session.settings.preset).name)}*, "
                + (
                    "siloed and cooperative side by side (same scenario, same seed)"
                    if session.compare
                    else f"strategy: {runs[0].label}"
                )
            )
            if session.error:
                solara.Error(session.error)
            SummaryStrip([r.label for r in runs], numbers)
            with solara.Row():
                for spec in specs["channels"]:
                    VegaChart(spec)
            VegaChart(specs["consumer"])
            VegaChart(specs["orders"])
            VegaChart(specs["prices"])
            VegaChart(specs["stock"])
            VegaChart(specs["cash"])
            if specs["negotiation"] is not None:
                e, view, spec = specs["negotiation"]
                NegotiationPanel(runs[0], e, view, spec, set_edge)


Page = SimulationPage


routes = [
    solara.Route(path="/", component=SimulationPage, label="Simulation"),
    solara.Route(path="classroom", component=InstructorPage, label="Classroom (instructor)"),
    solara.Route(path="play", component=StudentPage, label="Play a seat"),
]
