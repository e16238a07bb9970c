"""The beer game (theory card 4) against the card's numbers and an independent reference."""

from __future__ import annotations

import json

import pytest

import channel_agents as ca
from channel_agents.cli import main

BEER = "configs/beer_game.yaml"
STAGES = ("retailer", "wholesaler", "distributor", "factory")


def reference_beer_game(params, weeks=36, rule="sterman"):
    """Card 4 written out plainly: four stages, retailer first. Returns (costs, orders).

    params: one (theta, alpha_s, beta, s_prime) per stage, retailer first.
    """
    n = 4
    stock = [12.0] * n
    backlog = [0.0] * n
    # orders travelling to stage i's supplier: 2 slots (factory: 1 slot, its production request)
    order_pipe = [[4.0, 4.0] for _ in range(n - 1)] + [[4.0]]
    ship_pipe = [[4.0, 4.0] for _ in range(n)]  # goods travelling to stage i, 2 slots
    expected = [4.0] * n
    supply_line = [16.0, 16.0, 16.0, 12.0]
    costs = [0.0] * n
    orders_placed = [[] for _ in range(n)]
    for week in range(1, weeks + 1):
        demand = 4.0 if week <= 4 else 8.0
        # (1) shipments arrive
        for i in range(n):
            arrived = ship_pipe[i].pop(0)
            stock[i] += arrived
            supply_line[i] -= arrived
        # (2) orders arrive; the factory's production request starts production
        incoming = [demand] + [order_pipe[i].pop(0) for i in range(n - 1)]
        production = order_pipe[n - 1].pop(0)
        ship_pipe[n - 1].append(production)
        # (3) ship min(stock, backlog + incoming order)
        for i in range(n):
            owed = backlog[i] + incoming[i]
            shipped = min(stock[i], owed)
            stock[i] -= shipped
            backlog[i] = owed - shipped
            if i > 0:
                ship_pipe[i - 1].append(shipped)
        # (4) costs on post-shipment stock and backlog
        for i in range(n):
            costs[i] += 0.5 * stock[i] + 1.0 * backlog[i]
        # (5) each stage orders
        for i in range(n):
            if rule == "pass_through":
                order = incoming[i]
            else:
                theta, alpha, beta, s_prime = params[i]
                expected[i] = theta * incoming[i] + (1 - theta) * expected[i]
                net = stock[i] - backlog[i]
                order = max(0.0, expected[i] + alpha * (s_prime - net - beta * supply_line[i]))
            order_pipe[i].append(order)
            supply_line[i] += order
            orders_placed[i].append(order)
    return costs, orders_placed


def run_json(*args):
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        code = main(["run", BEER, "--json", *args])
    assert code == 0
    return json.loads(buf.getvalue())


def test_sterman_mean_estimates_give_card_team_cost():
    summary = run_json()
    assert summary["team_cost"] == pytest.approx(2254.74, rel=1e-4)
    card = {"retailer": 245.272, "wholesaler": 551.874, "distributor": 813.429, "factory": 644.167}
    for stage, cost in card.items():
        assert summary["cost"][stage] == pytest.approx(cost, rel=1e-5)


def test_pass_through_gives_792_and_the_card_stage_costs():
    summary = run_json("--set", "defaults.ordering={policy: pass_through}")
    assert summary["team_cost"] == pytest.approx(792.0, abs=1e-9)
    card = {"retailer": 330, "wholesaler": 242, "distributor": 154, "factory": 66}
    for stage, cost in card.items():
        assert summary["cost"][stage] == pytest.approx(cost, abs=1e-9)


def test_order_peaks_rise_upstream_and_come_later_as_on_the_card():
    series = ca.run(BEER).series
    card = {
        "retailer": (10.7641, 13),
        "wholesaler": (15.8407, 16),
        "distributor": (23.7474, 18),
        "factory": (29.0045, 20),
    }
    for stage, (peak, week) in card.items():
        orders = series[series.member == stage].set_index("period")["orders"]
        assert orders.max() == pytest.approx(peak, abs=1e-4)
        assert int(orders.idxmax()) == week


@pytest.mark.parametrize(
    "params",
    [
        (0.0, 0.0, 0.0, 0.0),
        (1.0, 1.0, 1.0, 30.0),
        (0.5, 0.1, 0.0, 12.0),
        (0.2, 0.5, 1.0, 25.0),
        (0.9, 0.3, 0.6, 5.0),
    ],
)
def test_any_sterman_parameters_match_the_independent_reference(params):
    costs, orders = reference_beer_game([params] * 4)
    theta, alpha, beta, s_prime = params
    block = f"{{policy: sterman, theta: {theta}, alpha_s: {alpha}, beta: {beta}, s_prime: {s_prime}, initial_expectation: 4}}"
    result = ca.run(BEER, overrides=[f"defaults.ordering={block}"])
    for i, stage in enumerate(STAGES):
        assert result.summary["cost"][stage] == pytest.approx(costs[i], rel=1e-9, abs=1e-9)
        got = result.series[result.series.member == stage]["orders"].to_numpy()
        assert got == pytest.approx(orders[i], rel=1e-9, abs=1e-9)


def test_per_member_parameters_match_the_independent_reference():
    params = [
        (0.2, 0.4, 0.1, 20.0),
        (0.6, 0.2, 0.5, 14.0),
        (0.36, 0.26, 0.34, 17.0),
        (1.0, 0.05, 1.0, 8.0),
    ]
    overrides = [
        f"members.{stage}.ordering={{policy: sterman, theta: {p[0]}, alpha_s: {p[1]}, beta: {p[2]}, s_prime: {p[3]}}}"
        for stage, p in zip(STAGES, params, strict=True)
    ]
    costs, _ = reference_beer_game(params)
    summary = ca.run(BEER, overrides=overrides).summary
    assert summary["team_cost"] == pytest.approx(sum(costs), rel=1e-9)
    for i, stage in enumerate(STAGES):
        assert summary["cost"][stage] == pytest.approx(costs[i], rel=1e-9)


def test_the_reference_itself_reproduces_the_card():
    costs, _ = reference_beer_game([(0.36, 0.26, 0.34, 17.0)] * 4)
    assert sum(costs) == pytest.approx(2254.74, abs=0.01)
    costs, _ = reference_beer_game(None, rule="pass_through")
    assert sum(costs) == pytest.approx(792.0)


def test_same_seed_gives_byte_identical_json():
    first = run_json("--seed", "7")
    second = run_json("--seed", "7")
    assert json.dumps(first) == json.dumps(second)


def test_different_seeds_differ_where_demand_is_random():
    a = ca.run("configs/three_tier.yaml", seed=1, periods=50).summary
    b = ca.run("configs/three_tier.yaml", seed=2, periods=50).summary
    c = ca.run("configs/three_tier.yaml", seed=1, periods=50).summary
    assert a["units_sold"] != b["units_sold"]
    assert json.dumps(a) == json.dumps(c)
