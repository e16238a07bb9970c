"""The browser app without a browser: scenarios, layout, charts, sessions, the page's
controls (rendered in-process with solara.render), the classroom's logic and pages,
the viz command, the offline assets, and the page's speed on a 200-member channel."""

from __future__ import annotations

import argparse
import json
import math
import socket
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("solara")

import ipyvuetify as v  # noqa: E402
import solara  # noqa: E402
import solara.widgets  # noqa: E402

from channel_agents.config import ConfigError  # noqa: E402
from channel_agents.viz import assets, charts  # noqa: E402
from channel_agents.viz import classroom as classroom_module  # noqa: E402
from channel_agents.viz.classroom import (  # noqa: E402
    CODE_ALPHABET,
    CODE_LENGTH,
    Classroom,
    ClassroomError,
    parse_order,
)
from channel_agents.viz.command import add_parser, cmd_viz, is_loopback  # noqa: E402
from channel_agents.viz.layout import role_order  # noqa: E402
from channel_agents.viz.scenarios import (  # noqa: E402
    CONFIG_ENV,
    MAX_PERIODS,
    Settings,
    build_config,
    overrides_for,
    presets,
)
from channel_agents.viz.simulation import Session  # noqa: E402

BEER = "configs/beer_game.yaml"


@pytest.fixture(autouse=True)
def _validate_charts(monkeypatch):
    """Every chart template built in these tests is validated against the Vega-Lite schema."""
    monkeypatch.setattr(charts, "VALIDATE", True)
    monkeypatch.setattr(charts, "_TEMPLATES", type(charts._TEMPLATES)())


# ---------------------------------------------------------------------------- scenarios
def test_presets_cover_the_configs_and_variants():
    keys = presets()
    for key in ("beer_game", "three_tier", "theory/bargaining", "layered_200"):
        assert key in keys
    assert keys["theory/bargaining_alternating"].overrides == (
        "edges.1.negotiation.protocol=alternating_offers",
    )


def test_command_line_config_is_offered_first(monkeypatch):
    monkeypatch.setenv(CONFIG_ENV, str(Path(BEER).resolve()))
    keys = list(presets())
    assert keys[0] == "cli"


def test_settings_become_overrides_and_a_valid_config():
    s = Settings(
        "beer_game",
        strategy="custom",
        levers=(("information", "shared"),),
        lead_time=1,
        holding_cost=1.0,
        demand_scale=1.5,
        ordering="order_up_to",
        periods=20,
    )
    cfg = build_config(s)
    assert cfg.warmup == 0 and cfg.periods == 20
    assert cfg.strategy.information == "shared" and cfg.strategy.pricing == "stackelberg"
    assert all(e.lead_time == 1 for e in cfg.edges)
    assert cfg.defaults.holding_cost == 1.0
    assert (cfg.markets[0].demand.before, cfg.markets[0].demand.after) == (6.0, 12.0)
    assert cfg.defaults.ordering.policy == "order_up_to"
    # the warm-up is folded into the run, and long theory cards are cut
    three = build_config(Settings("three_tier"))
    assert (three.warmup, three.periods) == (0, 220)
    assert build_config(Settings("theory/bullwhip")).periods == MAX_PERIODS
    assert "strategy=cooperative" in overrides_for(Settings("three_tier"), "cooperative")


def test_bad_settings_raise_config_errors():
    with pytest.raises(ConfigError):
        build_config(Settings("no_such_preset"))
    with pytest.raises(ConfigError):
        build_config(Settings("three_tier", strategy="greedy"))


# ---------------------------------------------------------------------------- layout
def test_layout_follows_the_chain_and_is_computed_once():
    s = Session(Settings("beer_game"))
    run = s.runs[0]
    names = run.model.topology.names
    x = dict(zip(names, run.layout.member_x, strict=True))
    # suppliers left, retailers right: source, factory, distributor, wholesaler, retailer
    assert x["source"] < x["factory"] < x["distributor"] < x["wholesaler"] < x["retailer"]
    assert run.layout.columns[-1] == "market"
    assert run.role_order == ("source", "manufacturer", "distributor", "wholesaler", "retailer")
    # strategies of the same scenario share the layout (cached on the topology)
    other = Session(Settings("beer_game", strategy="cooperative")).runs[0]
    assert other.layout is run.layout
    # stepping does not recompute it
    before = run.layout
    s.step(3)
    assert s.runs[0].layout is before


def test_layered_network_layout_puts_every_retailer_last():
    run = Session(Settings("layered_200")).runs[0]
    topo = run.model.topology
    assert topo.n_members == 200
    retail = np.array([r == "retailer" for r in topo.roles])
    assert np.all(run.layout.member_x[retail] == run.layout.member_x.max())
    assert role_order(tuple(topo.roles), tuple(int(d) for d in topo.depth))[-1] == "retailer"


# ---------------------------------------------------------------------------- sessions and charts
def test_session_steps_and_switching_strategy_reruns_to_the_same_period():
    s = Session(Settings("three_tier"))
    assert s.period == 0
    s.step(5)
    assert s.period == 5
    siloed = s.runs[0].key_numbers()
    assert s.apply(s.settings.with_(strategy="cooperative"))
    assert s.period == 5 and s.runs[0].label == "cooperative"
    coop = s.runs[0].key_numbers()
    assert coop["retail_price"] < siloed["retail_price"]
    s.reset()
    assert s.period == 0


def test_bad_setting_keeps_the_runs_and_reports_the_error():
    s = Session(Settings("three_tier"))
    s.step(2)
    runs = s.runs
    assert not s.apply(s.settings.with_(ordering="central_plan"))  # not a serial chain
    assert s.runs is runs and s.period == 2
    assert "central_plan" in s.error


def test_side_by_side_steps_together_and_shows_the_surplus_gap():
    s = Session(Settings("theory/double_marginalization"), compare=True)
    s.step(4)
    assert [r.label for r in s.runs] == ["siloed", "cooperative"]
    assert [r.period for r in s.runs] == [4, 4]
    gap = s.surplus_gap()
    assert list(gap["period"]) == [1, 2, 3, 4]
    assert np.allclose(gap["siloed"], 25.0) and np.allclose(gap["cooperative"], 400.0)
    assert np.allclose(gap["gap"], 375.0)


def test_key_numbers_leave_the_warmup_out_like_the_command_line():
    from channel_agents.api import run as api_run

    s = Session(Settings("three_tier"))
    s.step(s.horizon)
    numbers = s.runs[0].key_numbers()
    summary = api_run("configs/three_tier.yaml").summary
    for key in ("consumer_surplus", "retail_price", "units_sold", "channel_profit", "team_cost"):
        assert numbers[key] == pytest.approx(summary[key], rel=1e-9)
    assert numbers["bullwhip"] == pytest.approx(max(summary["bullwhip"].values()), rel=1e-9)


def test_every_chart_is_valid_vega_lite_with_its_data():
    s = Session(Settings("three_tier"), compare=True)
    s.step(6)
    members = pd.concat([r.members() for r in s.runs])
    markets = pd.concat([r.markets() for r in s.runs])
    run = s.runs[0]
    specs = [
        charts.channel_chart(run.node_states(), run.edge_states(), run.market_states()),
        charts.orders_chart(members, markets),
        charts.prices_chart(members),
        charts.consumer_chart(markets),
        charts.stock_chart(members),
        charts.cash_chart(members),
    ]
    for spec in specs:
        assert spec["$schema"].endswith("/v5.json")
        assert spec["datasets"] and all(isinstance(v, list) for v in spec["datasets"].values())
        json.dumps(spec, allow_nan=False)  # plain JSON: no NaN reaches the browser
    assert "gap" in specs[3]["title"]
    # the next period reuses the templates: only the data changes
    s.step()
    again = charts.orders_chart(
        pd.concat([r.members() for r in s.runs]), pd.concat([r.markets() for r in s.runs])
    )
    assert {k: v for k, v in again.items() if k != "datasets"} == {
        k: v for k, v in specs[1].items() if k != "datasets"
    }
    assert again["datasets"] != specs[1]["datasets"]


def test_channel_drawing_shows_state_prices_and_contracts():
    s = Session(Settings("three_tier", strategy="cooperative"))
    s.step(3)
    run = s.runs[0]
    nodes, edges = run.node_states(), run.edge_states()
    assert set(nodes["name"]) == set(run.model.topology.names)
    wholesaler = nodes.set_index("name").loc["wholesaler"]
    assert wholesaler["stock"] == pytest.approx(run.model.members[2].stock)
    assert wholesaler["cash"] == pytest.approx(run.model.members[2].cash)
    tariff = edges[edges["buyer"] == "retailer_north"].iloc[0]
    assert tariff["contract"].startswith("two part tariff") and "+F" in tariff["label"]
    assert tariff["fee"] > 0
    spec = charts.channel_chart(nodes, edges, run.market_states())
    assert {"nodes", "edges", "links", "spots", "owing"} <= set(spec["datasets"])


def test_negotiation_view_against_nash_and_kalai_smorodinsky():
    s = Session(Settings("theory/bargaining_alternating"))
    run = s.runs[0]
    assert run.negotiated_edges() == {1: "manufacturer → retailer"}
    view = run.negotiation(1)
    assert view["protocol"] == "alternating_offers" and view["agreed"]
    assert len(view["offers"]) == view["rounds"] > 1
    assert [o["proposer"] for o in view["offers"][:2]] == ["seller", "buyer"]
    assert view["offers"][-1]["terms"] == pytest.approx(view["terms"])
    # theory card 7: w = c + A / (2b) = 40 (Nash), c + A / (5b)... = 36 (KS)
    assert view["nash"]["terms"] == pytest.approx(40.0, abs=1e-6)
    assert view["kalai_smorodinsky"]["terms"] == pytest.approx(36.0, abs=1e-6)
    assert view["bounds"][0] == pytest.approx(20.0)
    spec = charts.negotiation_chart(view)
    assert len(spec["datasets"]["offers"]) == len(view["offers"])
    # the Nash protocol's own agreement sits on its Nash point
    nash = Session(Settings("theory/bargaining")).runs[0].negotiation(1)
    assert nash["terms"] == pytest.approx(nash["nash"]["terms"], abs=1e-6)
    # no agreement, no panel
    assert Session(Settings("beer_game")).runs[0].negotiated_edges() == {}


# ---------------------------------------------------------------------------- the page in-process
def _texts(rc) -> list[str]:
    return [w.unsafe_innerHTML or "" for w in rc.find(solara.widgets.HTML).widgets]


def _period(rc) -> str:
    return next(t for t in _texts(rc) if t.startswith("<h2>Period"))


def _summary(rc) -> str:
    return next(t for t in _texts(rc) if "consumer surplus" in t)


def _charts(rc) -> list[dict]:
    return [w.spec for w in rc.find(solara.widgets.VegaLite).widgets]


@pytest.fixture
def page():
    from channel_agents.viz.app import Page

    _, rc = solara.render(Page(), handle_error=False)
    yield rc
    rc.close()


def test_page_renders_charts_and_step_advances(page):
    assert "Period 0 of 220" in _period(page)
    before = _charts(page)
    assert len(before) == 6  # channel, consumers, orders, prices, stock, cash
    page.find(v.Btn, children=["Step"]).widget.click()
    assert "Period 1 of 220" in _period(page)
    after = _charts(page)
    channel = [c for c in after if "nodes" in c["datasets"]][0]
    channel_before = [c for c in before if "nodes" in c["datasets"]][0]
    assert channel["datasets"] != channel_before["datasets"]
    orders = [c for c in after if "orders" in c["datasets"]][0]
    assert orders["datasets"]["orders"]  # orders by tier now has data


def test_switching_strategy_reruns_the_model(page):
    for _ in range(3):
        page.find(v.Btn, children=["Step"]).widget.click()
    siloed = _summary(page)
    toggle = page.find(v.BtnToggle).widget
    toggle.v_model = 1  # cooperative
    assert "strategy: cooperative" in _period(page) and "Period 3 of" in _period(page)
    assert _summary(page) != siloed
    toggle.v_model = 2  # custom levers: one select per lever
    labels = [w.label for w in page.find(v.Select).widgets]
    assert "pricing lever" in labels and "information lever" in labels
    pricing = page.find(v.Select, label="pricing lever").widget
    pricing.v_model = "joint"
    assert "custom levers" in _period(page)


def test_sliders_seed_and_side_by_side(page):
    lead = page.find(v.Slider, label="Lead time (all edges)").widget
    lead.v_model = 1
    page.find(v.Btn, children=["Step"]).widget.click()
    seed_1 = _summary(page)
    seed = page.find(v.TextField, label="Seed").widget
    seed.v_model = "7"
    seed.fire_event("focusout")
    assert _summary(page) != seed_1  # other consumers sampled: the run was redone
    assert page.find(v.Slider, label="Lead time (all edges)").widget.v_model == 1
    page.find(v.Switch).widget.v_model = True
    text = _period(page)
    assert "side by side" in text and "Period 1 of" in text
    assert len(_charts(page)) == 7  # two channel drawings
    assert "gap" in _summary(page)


def test_play_pause_and_reset(page):
    page.find(v.Slider, label="Speed (periods per second)").widget.v_model = 20
    page.find(v.Btn, children=["Play"]).widget.click()
    deadline = time.monotonic() + 20
    while "Period 0 of" in _period(page) or "Period 1 of" in _period(page):
        assert time.monotonic() < deadline, "play did not advance the model"
        time.sleep(0.1)
    page.find(v.Btn, children=["Pause"]).widget.click()
    time.sleep(0.3)
    page.find(v.Btn, children=["Reset"]).widget.click()
    assert "Period 0 of" in _period(page)


def test_preset_choice_and_negotiation_panel(page):
    preset = page.find(v.Select, label="Scenario preset").widget
    preset.v_model = "theory/bargaining (alternating offers)"
    assert "<em>bargaining</em>" in _period(page)
    assert any("Negotiation" in t for t in _texts(page))
    assert any("Kalai-Smorodinsky point: price 36" in t for t in _texts(page))
    preset.v_model = "beer game"
    assert not any("Negotiation" in t for t in _texts(page))


# ---------------------------------------------------------------------------- classroom logic
class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def room(tmp_path):
    clock = Clock()
    r = Classroom(tmp_path / "games", timeout=5.0, clock=clock, instructor_key="secret")
    r.clock_ = clock
    return r


def test_join_codes_are_unique_and_readable(room):
    a = room.create_game(BEER, name="A")
    b = room.create_game(BEER, name="B")
    codes = [s.code for g in (a, b) for s in g.seats.values()]
    assert len(codes) == len(set(codes)) == 8
    assert all(len(c) == CODE_LENGTH and set(c) <= set(CODE_ALPHABET) for c in codes)
    assert list(a.seats) == ["factory", "distributor", "wholesaler", "retailer"]
    # codes are forgiving about case, spaces and dashes
    token = room.join(
        " " + a.seats["retailer"].code.lower()[:3] + "-" + a.seats["retailer"].code[3:]
    )
    assert room.seat_view(token)["member"] == "retailer"


def test_seat_isolation(room):
    g = room.create_game(BEER, name="Team")
    ann = room.join(g.seats["wholesaler"].code, "Ann")
    bob = room.join(g.seats["retailer"].code, "Bob")
    with pytest.raises(ClassroomError, match="already taken"):
        room.join(g.seats["wholesaler"].code, "Eve")
    with pytest.raises(ClassroomError, match="No seat has the code"):
        room.join("ZZZZZZ", "Eve")
    with pytest.raises(ClassroomError, match="Unknown or expired key"):
        room.submit("forged-key", 1, 4)
    room.start(g.id)
    view = room.seat_view(ann)
    assert view["member"] == "wholesaler" and "retailer" not in json.dumps(view)
    # local information: the observation's own fields only, no end demand
    assert set(view["observation"]) == {
        "period", "incoming", "stock", "backlog", "supply_line", "lead_time",
        "allow_returns", "inventory_position",
    }  # fmt: skip
    room.submit(ann, 1, 7)
    assert g.pending == {"wholesaler": 7.0}  # Ann's key moved only Ann's seat
    assert room.seat_view(bob)["submitted"] is None
    # a personal key brings its student back to the seat (after a reload), nobody else
    assert room.resume(ann) == ann
    with pytest.raises(ClassroomError, match="Unknown or expired key"):
        room.resume(g.seats["wholesaler"].code)
    # a freed seat's key stops working and its code can be used again
    room.release_seat(g.id, "retailer")
    with pytest.raises(ClassroomError):
        room.seat_view(bob)
    assert room.join(g.seats["retailer"].code, "Cy")
    with pytest.raises(ClassroomError, match="Wrong instructor key"):
        room.check_instructor("guess")
    room.check_instructor("secret")


def test_shared_information_shows_point_of_sale_data(room):
    g = room.create_game(
        build_config(Settings("beer_game", strategy="custom", levers=(("information", "shared"),)))
    )
    token = room.join(g.seats["factory"].code)
    room.start(g.id)
    obs = room.seat_view(token)["observation"]
    assert {"end_demand", "echelon_position", "echelon_lead_time"} <= set(obs)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("-3", "0 or more"),
        ("eight", "not a number"),
        ("", "Enter a number"),
        ("nan", "finite"),
        ("1e9", "at most"),
        (True, "Enter a number"),
    ],
)
def test_bad_orders_are_refused_with_a_message(text, message):
    with pytest.raises(ClassroomError, match=message):
        parse_order(text)


def test_good_orders_parse():
    assert parse_order(" 8 ") == 8.0
    assert parse_order("2,5") == 2.5
    assert parse_order(-2, allow_returns=True) == -2.0


def test_orders_out_of_turn_are_refused(room):
    g = room.create_game(BEER, seats=["wholesaler", "retailer"])
    ann = room.join(g.seats["wholesaler"].code)
    bob = room.join(g.seats["retailer"].code)
    with pytest.raises(ClassroomError, match="not started"):
        room.submit(ann, 1, 4)
    room.start(g.id)
    with pytest.raises(ClassroomError, match="0 or more"):
        room.submit(ann, 1, "-1")
    assert "received" in room.submit(ann, 1, 4)
    assert "changed to 5" in room.submit(ann, 1, 5)
    room.submit(bob, 1, 4)  # everyone in: the period closes
    assert g.period == 2
    with pytest.raises(ClassroomError, match="Period 1 has closed"):
        room.submit(ann, 1, 4)
    with pytest.raises(ClassroomError, match="which period"):
        room.submit(ann, "soon", 4)
    room.end(g.id)
    with pytest.raises(ClassroomError, match="ended"):
        room.submit(ann, 2, 4)
    with pytest.raises(ClassroomError, match="ended"):
        room.join(g.seats["retailer"].code)


def test_robot_fills_an_idle_seat_after_the_timeout(room):
    g = room.create_game(BEER)
    ann = room.join(g.seats["wholesaler"].code, "Ann")
    room.join(g.seats["retailer"].code, "Bob")
    room.start(g.id)
    room.submit(ann, 1, 6)
    room.clock_.now += 4.9
    assert room.tick() == [] and g.period == 1  # Bob still has time
    room.clock_.now += 0.2
    assert room.tick() == [g.id] and g.period == 2
    record = g.periods[0]["orders"]
    assert record["wholesaler"] == {"order": 6.0, "by": "human"}
    assert record["retailer"]["by"] == "robot" and record["factory"]["by"] == "robot"
    assert g.seats["retailer"].idle_periods == 1 and g.seats["wholesaler"].idle_periods == 0
    # the robot ordered what the seat's configured policy (Sterman) orders
    from channel_agents.model import ChannelModel

    plain = ChannelModel(room.game(g.id).config, rng=g.seed)
    plain.step()
    first = plain.series().set_index("member")["orders"]
    assert record["retailer"]["order"] == pytest.approx(first["retailer"], rel=1e-12)
    assert record["factory"]["order"] == pytest.approx(first["factory"], rel=1e-12)


def test_empty_games_are_played_by_robots(room):
    g = room.create_game(BEER, periods=5)
    room.start(g.id)
    for _ in range(5):
        room.tick()
    assert g.status == "ended" and len(g.periods) == 5
    with pytest.raises(ClassroomError, match="not running"):
        room.close_period(g.id)


def _play(room, g, tokens, orders_by_period, restart_at=None, folder=None):
    """Play a game: each period every token orders, except where orders say None."""
    for t, orders in enumerate(orders_by_period, start=1):
        if restart_at == t:
            room = Classroom(folder, timeout=5.0, clock=room.clock, instructor_key="secret")
            g = room.game(g.id)
        for member, value in orders.items():
            if value is not None:
                room.submit(tokens[member], t, value)
        if g.period == t:  # someone did not order: the timeout passes
            room.clock.now += 10
            room.tick()
    return room, g


def test_persistence_and_replay_after_restart_equal_the_uninterrupted_game(tmp_path):
    plan = [
        {"wholesaler": 8, "retailer": 4},
        {"wholesaler": 12, "retailer": None},  # Bob idles: a robot orders
        {"wholesaler": 0, "retailer": 9},
        {"wholesaler": 5, "retailer": 5},
        {"wholesaler": None, "retailer": 20},
        {"wholesaler": 7, "retailer": 3},
    ]
    games = {}
    for label, restart in (("straight", None), ("restarted", 4)):
        folder = tmp_path / label
        room = Classroom(folder, timeout=5.0, clock=Clock(), instructor_key="secret")
        g = room.create_game(BEER, name=label, seed=3)
        tokens = {m: room.join(g.seats[m].code, m) for m in ("wholesaler", "retailer")}
        room.start(g.id)
        room, g = _play(room, g, tokens, plan, restart_at=restart, folder=folder)
        # and once more after the last period, as a server restart between classes
        room = Classroom(folder, timeout=5.0, clock=room.clock, instructor_key="secret")
        games[label] = room.game(g.id)
    a, b = games["straight"], games["restarted"]
    assert a.period == b.period == 7
    pd.testing.assert_frame_equal(a.model.series(), b.model.series())
    strip = [{m: o for m, o in r["orders"].items()} for r in a.periods]
    assert strip == [{m: o for m, o in r["orders"].items()} for r in b.periods]
    assert a.current_obs == b.current_obs
    assert a.periods[1]["orders"]["retailer"]["by"] == "robot"
    # the saved file holds config, seed and every order
    saved = json.loads((tmp_path / "restarted" / f"{b.id}.json").read_text())
    assert saved["seed"] == 3 and len(saved["periods"]) == 6
    assert saved["config"]["name"] == "beer_game"
    # a submitted order of the open period survives a restart too
    room = Classroom(tmp_path / "restarted", timeout=5.0, clock=Clock(), instructor_key="secret")
    token = room.game(b.id).seats["wholesaler"].token
    room.submit(token, 7, 11)
    again = Classroom(tmp_path / "restarted", timeout=5.0, clock=Clock(), instructor_key="secret")
    assert again.game(b.id).pending == {"wholesaler": 11.0}


def test_a_damaged_game_file_does_not_stop_the_others(tmp_path, room):
    g = room.create_game(BEER, name="ok")
    (room.folder / "gbroken.json").write_text("{not json")
    again = Classroom(room.folder, timeout=5.0, clock=Clock(), instructor_key="secret")
    assert g.id in again.games and "gbroken.json" in again.load_errors


def test_debrief_against_the_central_plan_and_csv(room):
    a = room.create_game(BEER, name="Alpha")
    b = room.create_game(BEER, name="Beta")
    ann = room.join(a.seats["retailer"].code)
    room.start(a.id)
    room.start(b.id)
    for t in range(1, 37):
        room.submit(ann, t, 8)
    while b.status != "ended":
        room.tick()
    orders, costs = room.debrief()
    assert set(orders["team"]) == {"Alpha", "Beta", "benchmark (central plan)"}
    bench = costs.set_index("team")["benchmark cost (same periods)"]
    assert bench["Alpha"] == pytest.approx(132.0)  # theory card 4: the perfect-foresight plan
    beta = costs.set_index("team").loc["Beta"]
    assert beta["team cost"] == pytest.approx(2254.74, abs=0.01)  # robots: Sterman's 2254.74
    assert costs.set_index("team").loc["Alpha", "human orders"] == 36
    csv = room.export_csv()
    frame = pd.read_csv(pd.io.common.StringIO(csv))
    assert {"team", "period", "member", "orders", "by", "stock", "backlog"} <= set(frame.columns)
    assert len(frame) == 3 * 36 * 4
    assert set(frame[frame["team"] == "Alpha"]["by"]) == {"human", "robot"}
    spec = charts.debrief_chart(orders)
    assert len(spec["datasets"]["orders"]) == len(orders)


def test_games_that_cannot_seat_humans_are_refused(room):
    with pytest.raises(ClassroomError, match="plans the whole chain"):
        room.create_game(build_config(Settings("beer_game", ordering="central_plan")))
    with pytest.raises(ClassroomError, match="No seat named"):
        room.create_game(BEER, seats=["captain"])
    with pytest.raises(ClassroomError, match="at least one seat"):
        room.create_game(BEER, seats=[])


# ---------------------------------------------------------------------------- classroom pages
@pytest.fixture
def served_room(tmp_path, monkeypatch):
    r = Classroom(tmp_path / "games", timeout=30.0, instructor_key="secret")
    monkeypatch.setattr(classroom_module, "_CLASSROOM", r)
    return r


def _find(rc, cls, timeout: float = 10.0, **kwargs):
    """The one widget matching, waiting for it: a page also re-renders from its polling
    thread (twice a second), so a render racing with a click may show it a moment later."""
    deadline = time.monotonic() + timeout
    while True:
        found = rc.find(cls, **kwargs)
        if len(found.widgets) == 1:
            return found.widget
        if time.monotonic() > deadline:
            return found.widget  # raises with the page's structure
        time.sleep(0.05)


def _wait(condition, timeout: float = 10.0, what: str = "the page") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _alerts(rc) -> list[str]:
    out = []
    for w in rc.find(v.Alert).widgets:
        out.append(" ".join(str(c) for c in w.children))
    return out


def test_student_page_shows_bad_input_as_messages(served_room):
    from channel_agents.viz.classroom_pages import StudentPage

    g = served_room.create_game(BEER, name="Page team")
    served_room.join(g.seats["retailer"].code, "Bob")
    _, rc = solara.render(StudentPage(), handle_error=False)
    try:
        _find(rc, v.TextField, label="Join code").v_model = g.seats["retailer"].code
        _find(rc, v.Btn, children=["Join"]).click()
        _wait(lambda: any("already taken" in a for a in _alerts(rc)), what="the refusal")
        _find(rc, v.TextField, label="Join code").v_model = g.seats["wholesaler"].code
        _find(rc, v.TextField, label="Your name").v_model = "<b>Ann</b>"
        _find(rc, v.Btn, children=["Join"]).click()
        _wait(lambda: any("You are the wholesaler" in t for t in _texts(rc)), what="the seat")
        assert not any("<b>Ann</b>" in t for t in _texts(rc))  # names are cleaned, never HTML
        _wait(lambda: any("Waiting for your instructor" in a for a in _alerts(rc)))
        served_room.start(g.id)
        _find(rc, v.Btn, children=["Submit order"])  # the page noticed the game started
        for bad, message in (("-2", "0 or more"), ("lots", "not a number")):
            _find(rc, v.TextField, label="Your order (units)").v_model = bad
            _find(rc, v.Btn, children=["Submit order"]).click()
            _wait(lambda m=message: any(m in a for a in _alerts(rc)), what=message)
        _find(rc, v.TextField, label="Your order (units)").v_model = "9"
        _find(rc, v.Btn, children=["Submit order"]).click()
        _wait(lambda: any("Order of 9 units received for period 1" in a for a in _alerts(rc)))
        assert served_room.game(g.id).pending == {"wholesaler": 9.0}
    finally:
        rc.close()


def test_instructor_page_needs_the_key_and_opens_games(served_room):
    from channel_agents.viz.classroom_pages import InstructorPage

    _, rc = solara.render(InstructorPage(), handle_error=False)
    try:
        assert not rc.find(v.Btn, children=["Open game"]).widgets
        _find(rc, v.TextField, label="Instructor key").v_model = "nope"
        _find(rc, v.Btn, children=["Enter"]).click()
        _wait(lambda: any("Wrong instructor key" in a for a in _alerts(rc)))
        _find(rc, v.TextField, label="Instructor key").v_model = "secret"
        _find(rc, v.Btn, children=["Enter"]).click()
        _find(rc, v.TextField, label="Team name").v_model = "Gamma"
        _find(rc, v.Btn, children=["Open game"]).click()
        (game,) = served_room.games.values()
        assert game.name == "Gamma" and game.status == "lobby"
        _wait(lambda: any(game.seats["wholesaler"].code in t for t in _texts(rc)))
        _find(rc, v.Btn, children=["Start"]).click()
        assert game.status == "running"
        _find(rc, v.Btn, children=["Close period now"]).click()
        assert game.period == 2
        _wait(lambda: any("Export CSV" in w.children for w in rc.find(v.Btn).widgets))
    finally:
        rc.close()


# ---------------------------------------------------------------------------- command and assets
def _parser():
    p = argparse.ArgumentParser(prog="channel-agents")
    sub = p.add_subparsers(dest="command")
    add_parser(sub)
    return p


def test_viz_command_arguments():
    args = _parser().parse_args(["viz"])
    assert (args.config, args.host, args.port, args.handler) == (None, "127.0.0.1", 8765, cmd_viz)
    args = _parser().parse_args(["viz", BEER, "--host", "0.0.0.0", "--port", "9000"])
    assert (args.config, args.host, args.port) == (BEER, "0.0.0.0", 9000)
    with pytest.raises(SystemExit):
        _parser().parse_args(["viz", "--port", "70000"])
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.4")


def test_viz_command_refuses_a_bad_config_and_a_busy_port(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmembers: {}\n")
    with pytest.raises(ConfigError):
        cmd_viz(_parser().parse_args(["viz", str(bad)]))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code = cmd_viz(
            _parser().parse_args(["viz", "--port", str(port), "--games", str(tmp_path / "g")])
        )
    assert code == 2
    assert f"--port {port}: already in use" in capsys.readouterr().err


def test_major_version_assets_are_copied(tmp_path):
    cdn = tmp_path / "cdn"
    for name, entry in (("vega@5.21.0", "vega"), ("vega@5.3.1", "vega"),
                        ("vega-lite@5.2.0", "vega-lite"), ("vega-embed@6.20.2", "vega-embed")):  # fmt: skip
        f = cdn / name / "build" / f"{entry}.min.js"
        f.parent.mkdir(parents=True)
        f.write_text(f"// {name}")
    made = assets.ensure_major_version_assets(cdn)
    assert (made["vega"] / "build" / "vega.min.js").read_text() == "// vega@5.21.0"  # newest
    assert assets.missing_assets(cdn) == []
    assert assets.ensure_major_version_assets(cdn) == made  # idempotent
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(assets.AssetsError, match="solara-assets"):
        assets.ensure_major_version_assets(empty)
    assert assets.main(["--cdn", str(empty)]) == 2


def test_this_install_has_the_offline_assets():
    assert assets.missing_assets() == [], "run: python -m channel_agents.viz.assets"


# ---------------------------------------------------------------------------- responsiveness
def test_a_200_member_channel_stays_responsive():
    """One period + every chart of the page rebuilt (what a click on Step costs the server),
    on the 200-member layered network; the browser's drawing time is measured in
    test_viz_browser.py."""
    from channel_agents.viz.app import page_specs

    s = Session(Settings("layered_200"))
    assert s.runs[0].model.topology.n_members == 200
    page_specs(s, None)  # first build: the chart templates
    s.step()
    page_specs(s, None)
    times = []
    for _ in range(10):
        t = time.perf_counter()
        s.step()
        specs = page_specs(s, None)
        times.append(time.perf_counter() - t)
    median = statistics.median(times)
    print(f"\n200-member channel: step + redraw (server side) median {median * 1000:.0f} ms")
    assert len(specs["channels"][0]["datasets"]["nodes"]) == 200
    assert median < 1.5
    assert math.isfinite(median)


def test_the_ticker_closes_periods_in_real_time(tmp_path):
    room = Classroom(tmp_path / "games", timeout=0.3, instructor_key="secret")
    g = room.create_game(BEER)
    room.join(g.seats["retailer"].code, "Idle")
    room.start(g.id)
    room.start_ticker(interval=0.05)
    try:
        deadline = time.monotonic() + 10
        while g.period < 3:
            assert time.monotonic() < deadline, "the ticker did not close the periods"
            time.sleep(0.05)
    finally:
        room.stop_ticker()
    assert all(r["orders"]["retailer"]["by"] == "robot" for r in g.periods)


def test_model_code_never_imports_viz():
    package = Path(__file__).resolve().parents[1] / "src" / "channel_agents"
    for path in package.rglob("*.py"):
        if "viz" in path.relative_to(package).parts:
            continue
        if path.name == "cli.py":  # the command line registers the viz command, lazily
            text = path.read_text(encoding="utf-8")
            top = [line for line in text.splitlines() if line.startswith(("import ", "from "))]
            assert not any("channel_agents.viz" in line for line in top), path
            continue
        text = path.read_text(encoding="utf-8")
        assert "channel_agents.viz" not in text and "from .viz" not in text, path
