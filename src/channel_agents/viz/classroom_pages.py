"""The classroom's pages: ``/classroom`` (instructor) and ``/play`` (students).

The logic lives in :mod:`channel_agents.viz.classroom`; these pages only show
it and pass requests on. Every refusal (:class:`ClassroomError`) appears as a
message in the page. Pages poll the classroom's revision (twice a second), so
a period closed by another student, or by a robot after the timeout, shows up
without a reload.
"""

from __future__ import annotations

import html
import threading
import time
from typing import Any
from urllib.parse import parse_qs

import pandas as pd
import solara

from channel_agents.config import ConfigError
from channel_agents.viz import charts
from channel_agents.viz.classroom import Classroom, ClassroomError, classroom
from channel_agents.viz.components import MD_CSS, Md, VegaChart
from channel_agents.viz.scenarios import (
    MAX_PERIODS,
    base_config,
    build_config,
    preset_settings,
    presets,
)

POLL_SECONDS = 0.5


def esc(text: str) -> str:
    """What a user typed, safe inside the page's markdown (no HTML, no table breaks)."""
    return html.escape(str(text)).replace("|", "/")


#: presets offered for classroom games (single product, orders a human can place)
CLASSROOM_PRESETS = ("beer_game", "three_tier", "cli")


def use_room_updates(room: Classroom):
    """Re-render when the classroom changes, and once a second for countdowns.

    Returns a function that re-renders at once (after this page changed something).
    """
    state, set_state = solara.use_state((room.revision, int(time.time())))

    def poll(cancel: threading.Event) -> None:
        last = None
        while not cancel.is_set():
            now = (room.revision, int(time.time()))
            if now != last:
                last = now
                set_state(now)
            cancel.wait(POLL_SECONDS)

    solara.use_thread(poll, dependencies=[], intrusive_cancel=False)

    def refresh() -> None:
        set_state((room.revision, time.time()))

    return refresh


def _query(router: Any) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(getattr(router, "search", None) or "").items()}


# ---------------------------------------------------------------------------- instructor
@solara.component
def OpenGameForm(room: Classroom, on_message, refresh):
    choices = {p.label: k for k, p in presets().items() if k in CLASSROOM_PRESETS}
    if not choices:
        choices = {p.label: k for k, p in presets().items()}
    label, set_label = solara.use_state(next(iter(choices)))
    key = choices[label]
    cfg = base_config(key)
    channel = [n for n, m in cfg.members.items() if m.role != "source"]
    name, set_name = solara.use_state("")
    periods, set_periods = solara.use_state(cfg.warmup + cfg.periods)
    seed, set_seed = solara.use_state(int(cfg.seed))
    timeout, set_timeout = solara.use_state(room.timeout)
    seats, set_seats = solara.use_state(tuple(channel))

    def pick(new_label: str) -> None:
        set_label(new_label)
        c = base_config(choices[new_label])
        set_periods(c.warmup + c.periods)
        set_seed(int(c.seed))
        set_seats(tuple(n for n, m in c.members.items() if m.role != "source"))

    def open_game() -> None:
        try:
            scenario = build_config(preset_settings(key))
            game = room.create_game(
                scenario, preset=key, name=name, seats=[s for s in channel if s in seats],
                seed=seed, timeout=timeout, periods=periods,
            )  # fmt: skip
        except (ClassroomError, ConfigError) as exc:
            on_message(("error", str(exc)))
            return
        on_message(("success", f"Opened {game.name}: hand out the seat codes, then Start."))
        set_name("")
        refresh()

    with solara.Card("Open a game"):
        solara.Select("Scenario", values=list(choices), value=label, on_value=pick)
        solara.InputText("Team name", value=name, on_value=set_name, continuous_update=True)
        solara.SliderInt("Periods", value=periods, min=1, max=MAX_PERIODS, on_value=set_periods)
        solara.InputInt("Seed", value=seed, on_value=set_seed)
        solara.InputFloat("Seat timeout (seconds)", value=timeout, on_value=set_timeout)
        Md("**Seats for students** (robots play the others)")
        for member in channel:

            def toggle(on: bool, member: str = member) -> None:
                chosen = set(seats)
                chosen.add(member) if on else chosen.discard(member)
                set_seats(tuple(m for m in channel if m in chosen))

            solara.Checkbox(
                label=f"{member} ({cfg.members[member].role})",
                value=member in seats,
                on_value=toggle,
            )
        solara.Button("Open game", color="primary", on_click=open_game)


@solara.component
def GameCard(room: Classroom, game: dict[str, Any], on_message, refresh):
    def act(fn, *args) -> None:
        try:
            fn(*args)
        except ClassroomError as exc:
            on_message(("error", str(exc)))
        refresh()

    status = game["status"]
    where = (
        f"period {game['period']} of {game['horizon']}, {game['seconds_left']:.0f} s left"
        if status == "running"
        else f"{game['played']} of {game['horizon']} periods played"
    )
    with solara.Card(f"{game['name']} ({game['scenario']}): {status}"):  # Card escapes
        Md(f"{where}; seat timeout {game['timeout']:g} s; id `{game['id']}`")
        rows = ["| seat | role | join code | student | this period | idle periods |",
                "|---|---|---|---|---|---|"]  # fmt: skip
        for s in game["seats"]:
            now = "ordered" if s["submitted"] else ("waiting" if s["joined"] else "robot")
            rows.append(
                f"| {s['member']} | {s['role']} | `{s['code']}` | {esc(s['player']) or '(empty)'} "
                f"| {now if status == 'running' else '–'} | {s['idle_periods']} |"
            )
        Md("\n".join(rows))
        with solara.Row():
            if status == "lobby":
                solara.Button(
                    "Start", color="primary", on_click=lambda: act(room.start, game["id"])
                )
            if status == "running":
                solara.Button("Close period now",
                              on_click=lambda: act(room.close_period, game["id"]))  # fmt: skip
            if status != "ended":
                solara.Button("End game", on_click=lambda: act(room.end, game["id"]))
            joined = [s["member"] for s in game["seats"] if s["joined"] and status != "ended"]
            for m in joined:
                solara.Button(f"Free {m}", text=True,
                              on_click=lambda m=m: act(room.release_seat, game["id"], m))  # fmt: skip


@solara.component
def Debrief(room: Classroom, games: list[dict[str, Any]]):
    names = {g["name"]: g["id"] for g in games}
    chosen, set_chosen = solara.use_state(list(names))
    chosen = [n for n in chosen if n in names] or list(names)
    ids = [names[n] for n in chosen]
    Md("## Debrief")
    solara.SelectMultiple("Teams", values=chosen, all_values=list(names), on_value=set_chosen)
    try:
        orders, costs = room.debrief(ids)
    except ConfigError as exc:
        solara.Error(f"Cannot debrief: {exc}")
        return
    VegaChart(charts.debrief_chart(orders))
    if len(costs):
        solara.DataFrame(costs.round(2), items_per_page=20)
    solara.FileDownload(
        lambda: room.export_csv(ids).encode("utf-8"),
        filename="classroom_debrief.csv",
        label="Export CSV",
        mime_type="text/csv",
    )


@solara.component
def InstructorPage():
    room = classroom()
    refresh = use_room_updates(room)
    router = solara.use_router()
    key, set_key = solara.use_state(_query(router).get("key", ""))
    typed, set_typed = solara.use_state("")
    message, set_message = solara.use_state(("", ""))
    solara.Title("channel-agents classroom")
    solara.Style(MD_CSS)
    try:
        room.check_instructor(key)
        allowed = True
    except ClassroomError:
        allowed = False
    if not allowed:
        with solara.Card("Instructor", style={"max-width": "460px", "margin": "16px"}):
            Md(
                "Enter the instructor key (printed by `channel-agents viz`, or set with "
                "`CHANNEL_AGENTS_INSTRUCTOR_KEY`). Students join at **/play**."
            )
            solara.InputText("Instructor key", value=typed, on_value=set_typed, password=True,
                             continuous_update=True)  # fmt: skip

            def enter() -> None:
                try:
                    room.check_instructor(typed)
                    set_key(typed)
                except ClassroomError as exc:
                    set_message(("error", str(exc)))

            solara.Button("Enter", color="primary", on_click=enter)
            if message[0] == "error":
                solara.Error(message[1])
        return
    games = room.overview()
    with solara.Column(style={"padding": "12px"}):
        Md(
            "# Classroom\nStudents open **/play** on this server and type their seat's join "
            "code. Each period every student's seat orders; robots play empty seats, and "
            "seats idle past the timeout."
        )
        if message[0] == "error":
            solara.Error(message[1])
        elif message[0] == "success":
            solara.Success(message[1])
        for name, err in room.load_errors.items():
            solara.Warning(f"{name} could not be restored: {err}")
        with solara.Columns([1, 2]):
            OpenGameForm(room, set_message, refresh)
            with solara.Column():
                Md(f"## Games ({len(games)})")
                if not games:
                    Md("*No games yet: open one on the left.*")
                for g in reversed(games):
                    GameCard(room, g, set_message, refresh)
        if games:
            Debrief(room, games)


# ---------------------------------------------------------------------------- student
FIELD_LABELS = {
    "period": "period",
    "incoming": "orders received this period",
    "stock": "stock on hand (after shipping)",
    "backlog": "backlog you owe",
    "supply_line": "on order, not yet received (supply line)",
    "inventory_position": "inventory position (stock - backlog + supply line)",
    "lead_time": "lead time (periods until an order arrives)",
    "allow_returns": "may you return goods (order < 0)?",
    "unit_cost": "your unit cost",
    "end_demand": "end-consumer demand (shared point-of-sale data)",
    "echelon_position": "echelon inventory position (shared)",
    "echelon_lead_time": "echelon lead time (shared)",
}


@solara.component
def JoinForm(room: Classroom, on_joined, error: str):
    code, set_code = solara.use_state("")
    name, set_name = solara.use_state("")
    message, set_message = solara.use_state(error)

    def join() -> None:
        try:
            token = room.join(code, name)
        except ClassroomError as exc:
            set_message(str(exc))
            return
        on_joined(token)

    with solara.Card("Join a game", style={"max-width": "460px", "margin": "16px"}):
        Md("Type the join code your instructor gave you for your seat.")
        solara.InputText("Join code", value=code, on_value=set_code, continuous_update=True)
        solara.InputText("Your name", value=name, on_value=set_name, continuous_update=True)
        solara.Button("Join", color="primary", on_click=join)
        if message:
            solara.Error(message)


@solara.component
def SeatPanel(room: Classroom, token: str, view: dict[str, Any], on_leave, refresh):
    text, set_text = solara.use_state("")
    message, set_message = solara.use_state(("", ""))
    period = view["period"]

    def submit() -> None:
        try:
            ok = room.submit(token, period, text)
        except ClassroomError as exc:
            set_message(("error", str(exc)))
            return
        set_message(("success", ok))
        set_text("")
        refresh()

    Md(
        f"# You are the {view['member']}\n"
        f"{esc(view['player'])}, you play the **{view['member']}** ({view['role']}) in "
        f"**{esc(view['game'])}** ({view['scenario']}). Information: *{view['information']}*. "
        f"Cost: {view['holding_cost']:g} per unit in stock, {view['backlog_cost']:g} per unit "
        f"of backlog, each period. Your cost so far: **{view['total_cost']:.2f}**."
    )
    status = view["status"]
    if status == "lobby":
        solara.Info("Waiting for your instructor to start the game.")
    elif status == "ended":
        solara.Info("The game has ended. Thank you for playing!")
    else:
        left = view["seconds_left"]
        Md(
            f"## Period {period} of {view['horizon']}\n"
            f"{left:.0f} s left before a robot orders for you."
        )
        obs = view["observation"]
        rows = ["| what you see | |", "|---|---|"]
        for k, v in obs.items():
            if k == "period":
                continue
            shown = ("yes" if v else "no") if isinstance(v, bool) else f"{v:.4g}"
            rows.append(f"| {FIELD_LABELS.get(k, k)} | **{shown}** |")
        Md("\n".join(rows))
        if view["submitted"] is not None:
            solara.Success(
                f"Your order for period {period}: {view['submitted']:g} units "
                "(waiting for the other seats; you may still change it)."
            )
        with solara.Row():
            solara.InputText("Your order (units)", value=text, on_value=set_text,
                             continuous_update=True)  # fmt: skip
            solara.Button("Submit order", color="primary", on_click=submit)
    if message[0] == "error":
        solara.Error(message[1])
    elif message[0] == "success":
        solara.Success(message[1])
    history = pd.DataFrame(view["history"])
    if len(history):
        VegaChart(charts.seat_chart(history))
        cols = [c for c in ("period", "incoming", "stock", "backlog", "supply_line", "order",
                            "by", "cost") if c in history]  # fmt: skip
        solara.DataFrame(history[cols].iloc[::-1].round(2), items_per_page=10)
    solara.Button("Leave (your key brings you back)", text=True, on_click=on_leave)


@solara.component
def StudentPage():
    room = classroom()
    refresh = use_room_updates(room)
    router = solara.use_router()
    token, set_token = solara.use_state(_query(router).get("key"))
    solara.Title("channel-agents: play a seat")
    solara.Style(MD_CSS)

    def leave() -> None:  # the seat stays taken; the personal key brings the student back
        set_token(None)
        router.push("/play")

    def joined(new: str) -> None:
        set_token(new)
        router.push(f"/play?key={new}")  # a reload keeps the seat

    with solara.Column(style={"padding": "12px", "max-width": "900px"}):
        if not token:
            JoinForm(room, joined, "")
            return
        try:
            view = room.seat_view(token)
        except ClassroomError as exc:
            JoinForm(room, joined, str(exc))
            return
        Md(f"Your personal key (to come back to this seat): `{token}`")
        SeatPanel(room, token, view, leave, refresh)
