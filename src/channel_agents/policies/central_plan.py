"""The perfect-foresight central plan: the team's cost-minimizing orders, as a linear program.

A benchmark, not a behaviour: one planner who knows the whole serial chain and
the end-demand path chooses every stage's orders and shipments to minimize the
team's holding and backlog cost over the horizon (scipy's HiGHS). It is the
beer game's cooperative yardstick (theory card 4: 132) that a class debrief
compares teams with.

Decision variables per stage i (retailer first) and period t: order o, shipment
x, stock I >= 0 and backlog B >= 0, with

    I[i,t] = I[i,t-1] + arrivals[i,t] - x[i,t]
    B[i,t] = B[i,t-1] + incoming[i,t] - x[i,t]

where incoming orders and arrivals follow the edges' order delays and lead
times (initial pipelines included), and the top stage's supplier, a source,
ships every order it receives.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import lil_matrix

from channel_agents.observations import OrderObservation
from channel_agents.policies.ordering import OrderingPolicy, register


@dataclass(frozen=True)
class PlanningProblem:
    """A serial chain as the planner sees it (stage 0 is the retailer)."""

    members: tuple[int, ...]  # member index of each stage, retailer first
    order_delay: tuple[int, ...]  # of each stage's supply edge
    lead_time: tuple[int, ...]
    initial_flow: tuple[float, ...]
    initial_stock: tuple[float, ...]
    initial_backlog: tuple[float, ...]
    holding_cost: tuple[float, ...]
    backlog_cost: tuple[float, ...]
    demand: np.ndarray  # end demand in periods 1..T


def solve_central_plan(problem: PlanningProblem) -> tuple[np.ndarray, float]:
    """Optimal orders [stage, period] and the team cost of the plan."""
    n, horizon = len(problem.members), len(problem.demand)
    nv = 4 * n * horizon

    def var(kind: int, i: int, t: int) -> int:  # kind 0 order, 1 ship, 2 stock, 3 backlog
        return ((kind * n) + i) * horizon + (t - 1)

    cost = np.zeros(nv)
    for i in range(n):
        for t in range(1, horizon + 1):
            cost[var(2, i, t)] = problem.holding_cost[i]
            cost[var(3, i, t)] = problem.backlog_cost[i]
            cost[var(1, i, t)] = -1e-7  # among equal plans, ship as much as possible
    rows = 2 * n * horizon
    a = lil_matrix((rows, nv))
    b = np.zeros(rows)
    r = 0
    for i in range(n):
        od, lt, f = problem.order_delay[i], problem.lead_time[i], problem.initial_flow[i]
        for t in range(1, horizon + 1):
            # stock balance: I_t - I_{t-1} - arrivals + x = initial terms
            a[r, var(2, i, t)] = 1.0
            a[r, var(1, i, t)] = 1.0
            rhs = problem.initial_stock[i] if t == 1 else 0.0
            if t > 1:
                a[r, var(2, i, t - 1)] = -1.0
            s = t - lt  # shipment period of what arrives now
            if s < 1:
                rhs += f
            elif i == n - 1:  # the source ships the order it received in period s
                placed = s - od
                if placed < 1:
                    rhs += f
                else:
                    a[r, var(0, i, placed)] = -1.0
            else:
                a[r, var(1, i + 1, s)] = -1.0
            b[r] = rhs
            r += 1
            # backlog balance: B_t - B_{t-1} + x = incoming
            a[r, var(3, i, t)] = 1.0
            a[r, var(1, i, t)] = 1.0
            rhs = problem.initial_backlog[i] if t == 1 else 0.0
            if t > 1:
                a[r, var(3, i, t - 1)] = -1.0
            if i == 0:
                rhs += problem.demand[t - 1]
            else:
                placed = t - problem.order_delay[i - 1]
                if placed < 1:
                    rhs += problem.initial_flow[i - 1]
                else:
                    a[r, var(0, i - 1, placed)] = -1.0
            b[r] = rhs
            r += 1
    res = linprog(cost, A_eq=a.tocsr(), b_eq=b, bounds=(0, None), method="highs")
    if res.status != 0:  # pragma: no cover - the problem is always feasible
        raise RuntimeError(f"central plan: {res.message}")
    x = res.x
    orders = x[: n * horizon].reshape(n, horizon)
    team = float(sum(cost[j] * x[j] for j in range(nv) if cost[j] > 0))
    return orders, team


@register
class CentralPlan(OrderingPolicy):
    """Orders from the perfect-foresight central plan (serial chains, exogenous demand).

    The model hands the planner a :class:`PlanningProblem` once, before the
    first period (``prepare``); afterwards each period's orders are read off
    the plan.
    """

    name = "central_plan"

    def __init__(self, params: Sequence[Any], n_products: int):
        super().__init__(params, n_products)
        self.plan: dict[int, np.ndarray] = {}
        self.team_cost: float | None = None
        self.members: np.ndarray | None = None

    def prepare(self, problem: PlanningProblem, members: np.ndarray) -> None:
        orders, self.team_cost = solve_central_plan(problem)
        self.plan = {m: orders[i] for i, m in enumerate(problem.members)}
        self.members = members

    def decide(self, obs: OrderObservation) -> np.ndarray:
        t = obs.period
        out = np.zeros_like(obs.stock)
        for j, m in enumerate(self.members):
            series = self.plan[int(m)]
            out[j] = series[t - 1] if t <= len(series) else 0.0
        return out
