"""Learning environments: a learner takes one or more ordering seats of a channel.

Needs the optional extra ``channel-agents[rl]`` (gymnasium, pettingzoo).

- :class:`SeatEnv`: a Gymnasium environment. One member's orders come from the
  learner; every other member orders by its configured policy.
- :class:`ChannelParallelEnv`: a PettingZoo ``ParallelEnv``, several seats
  learning at once (agents are member names).

One environment step is one period of the model, from a seat's ordering decision
to its next one:

1. the observation is exactly what the seat's ordering policy would be handed
   in that period's decision phase, :class:`~channel_agents.observations.OrderObservation`
   (``information: local``) or :class:`~channel_agents.observations.SharedOrderObservation`
   (``information: shared``), flattened to a float64 ``Box``;
2. the action is the seat's order for each product (``Box`` >= 0, or unbounded
   below where the member has ``allow_returns: true``; negative orders of a member
   that may not return goods are clipped to 0);
3. the model places the order, records the period and runs the next period up to
   the seat's next decision.

Observation layout (``env.observation_fields``; one entry per product for the
per-product fields, labelled ``field[product]`` when there are several)::

    period                  the period being decided (warm-up included)
    incoming[p]             orders (consumer demand at a retailer) received this period
    stock[p]                on hand after shipping
    backlog[p]              owed to buyers (consumers) after shipping
    supply_line[p]          ordered and not yet received
    lead_time               order_delay + lead_time of the seat's supply edge
    allow_returns           1 if the seat may place negative orders, else 0
    # only under information: shared
    end_demand[p]           consumer demand this period at retailers at or below the seat
    echelon_position[p]     echelon inventory position
    echelon_lead_time       summed lead times down to the consumer

Demand knowledge (``unit_cost``, ``responses``), which the model hands only to
policies that ask for complete information, is never part of the vector.

Reward of the step that decides period t (``reward=``):

- ``"profit"`` (default): the seat's profit in period t, as the summary counts
  it (revenue - purchases - holding - backlog - transport and interest);
- ``"team"``: minus the holding + backlog cost of all channel members in period t
  (the beer game's team objective).

Period t's profit and costs are settled before its decision (every delay is at
least one period), so the reward of a step does not depend on its action; in
exchange the episode's return is exactly the total the summary reports:
``sum(rewards) == summary["profit"][seat] * periods`` or ``-summary["team_cost"]``
(up to rounding). An episode is the scenario's ``periods`` periods after its
warm-up (during warm-up the seat orders by its configured policy); the last step
has ``terminated=True`` and ``info["summary"]``, the run summary
(:meth:`ChannelModel.summary`). The observation returned with it is the last
decision's again (there is no next decision).

Seeds: ``reset(seed=s)`` builds a fresh model with run seed ``s`` (same seed, same
episode); ``reset()`` without a seed uses the constructor's ``seed`` (else the
scenario's) the first time, then seeds drawn from the environment's generator.

How the model pauses: the model decides all orders inside one call of
``ChannelModel.step()``, so each episode runs the model in a worker thread that
stops inside the seat's ``decide(obs)`` until the environment is given the action.
Only one of the two threads runs at a time, so episodes are deterministic. The
environment cannot be pickled or deep-copied (build one per process instead);
``close()`` (or dropping the environment) stops its worker.

>>> env = SeatEnv("configs/beer_game.yaml", "retailer", reward="team")
>>> obs, info = env.reset(seed=0)
>>> env.observation_fields[:3], obs[:3].tolist()
(('period', 'incoming', 'stock'), [1.0, 4.0, 12.0])
>>> done = False
>>> while not done:
...     obs, reward, done, truncated, info = env.step(env.configured_action())
>>> round(info["summary"]["team_cost"], 2)
2254.74
>>> env.close()
"""

from __future__ import annotations

import queue
import threading
import weakref
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from channel_agents.config import ScenarioConfig, load_config
from channel_agents.metrics import MEMBER_FIELDS
from channel_agents.model import ChannelModel
from channel_agents.observations import OrderObservation, SharedOrderObservation
from channel_agents.policies.learned import (
    flatten_observation,
    observation_fields,
    observation_row,
)
from channel_agents.policies.ordering import OrderingPolicy

__all__ = ["ChannelParallelEnv", "SeatEnv"]

REWARDS = ("profit", "team")
_PROFIT = MEMBER_FIELDS.index("profit")
_LOW = {"period": 0.0, "lead_time": 0.0, "allow_returns": 0.0}
_HIGH = {"allow_returns": 1.0}


class _Stop(BaseException):
    """Unwinds a paused episode's model step when the episode is abandoned."""


class _LearnerSeats(OrderingPolicy):
    """The learners' seats inside the model: one group holding every seat.

    Each period it runs the seats' configured policies on their observations (once:
    their state advances exactly as in a plain run), then, after warm-up, hands the
    observations to the environment and waits for the actions.
    """

    name = "learner"

    def __init__(self, episode: _Episode, configured: list[OrderingPolicy], warmup: int):
        super().__init__([None] * len(configured), configured[0].n_products)
        self.episode = episode
        self.configured = configured
        self.warmup = warmup
        self.needs_knowledge = any(p.needs_knowledge for p in configured)

    def decide(self, obs: OrderObservation) -> np.ndarray:
        n = len(self.configured)
        rows = [obs] if n == 1 else [observation_row(obs, j) for j in range(n)]
        planned = np.vstack([p.decide(r) for p, r in zip(self.configured, rows, strict=True)])
        if obs.period <= self.warmup:
            return planned
        return self.episode.pause(rows, planned)


class _Episode:
    """One run of the model with learners in ``seats``, paused at each of their decisions.

    The model runs in a daemon worker thread; ``pause`` (worker side) and ``act``
    (environment side) hand control back and forth through two queues, so exactly
    one thread runs at any time.
    """

    def __init__(self, cfg: ScenarioConfig, seats: Sequence[str], seed: int, check: bool):
        self.model = model = ChannelModel(cfg, rng=seed, keep_series=False, check=check)
        names = model.topology.names
        ks = [names.index(s) for s in seats]
        configured = []
        for k in ks:
            for group, policy in model.ordering_groups:
                if k in group:  # (a planner of all members is refused by _Seating)
                    j = int(np.flatnonzero(group == k)[0])
                    # a fresh copy of the member's configured rule, as set_ordering_policy
                    # rebuilds the rule of the members that stay in the group
                    configured.append(type(policy)([policy.params[j]], len(model.products)))
        learner = _LearnerSeats(self, configured, model.warmup)
        for s in seats:
            model.set_ordering_policy(s, learner)
        # one group for all seats: their observations are built together, so a
        # parallel environment sees every seat's observation before any acts
        model.ordering_groups = [*model.ordering_groups[: -len(ks)], (np.array(ks), learner)]
        self.seats = np.array(ks)
        self.rows: list[OrderObservation] = []
        self.planned = np.zeros((len(ks), len(model.products)))
        self.done = False
        self.closed = False
        self._to_env: queue.SimpleQueue = queue.SimpleQueue()
        self._to_model: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._work, name="channel-agents-seat", daemon=True)

    # ------------------------------------------------------------ worker side
    def _work(self) -> None:
        model = self.model
        try:
            total = model.warmup + model.periods
            while model.period < total:
                model.step()
        except _Stop:
            return
        except BaseException as exc:  # reported to the environment, raised there
            self._to_env.put(("error", exc))
            return
        self._to_env.put(("done", None))

    def pause(self, rows: list[OrderObservation], planned: np.ndarray) -> np.ndarray:
        self._to_env.put(("decide", (rows, planned)))
        action = self._to_model.get()
        if action is None:
            raise _Stop
        return action

    # ------------------------------------------------------------ environment side
    def start(self) -> None:
        """Run warm-up and the model up to the seats' first decision."""
        self._thread.start()
        self._receive()

    def act(self, orders: np.ndarray) -> None:
        """Place the seats' orders [seats, products]; run to their next decision or the end."""
        if self.done or self.closed:
            raise RuntimeError("the episode is over: call reset()")
        self._to_model.put(orders)
        self._receive()

    def _receive(self) -> None:
        kind, payload = self._to_env.get()
        if kind == "decide":
            self.rows, self.planned = payload
        elif kind == "done":
            self.done = True
        else:
            self.closed = True
            raise payload

    def last_period(self, reward: str) -> np.ndarray | float:
        """The last recorded period's profit of each member (``reward="profit"``) or the
        team's holding + backlog cost (``"team"``), from the recorder's latest slot."""
        rec = self.model.recorder
        i = (rec.slot - 1) % rec.block  # slot 0 after a record: the block just folded
        if reward == "team":  # sources carry no holding or backlog cost
            return float(rec.raw["holding"][i].sum() + rec.raw["backlog_cost"][i].sum())
        members, _ = rec.derive({name: buf[i : i + 1] for name, buf in rec.raw.items()})
        return members[0, _PROFIT]

    def stop(self) -> None:
        """Abandon the episode: the worker unwinds at its next pause (idempotent)."""
        self.closed = True
        if self._thread.is_alive():
            self._to_model.put(None)  # left unread if the worker finishes instead
            if threading.current_thread() is not self._thread:
                self._thread.join(timeout=5.0)


class _Seating:
    """What both environments share: the scenario, the seats, spaces and episodes."""

    def __init__(
        self,
        config: str | Path | dict[str, Any] | ScenarioConfig,
        seats: Sequence[str],
        reward: str,
        seed: int | None,
        periods: int | None,
        check: bool,
    ):
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {', '.join(REWARDS)} (got {reward!r})")
        overrides = [] if periods is None else [f"periods={int(periods)}"]
        self.config = cfg = load_config(config, overrides)
        probe = ChannelModel(cfg, keep_series=False)
        topo = probe.topology
        channel = [n for k, n in enumerate(topo.names) if not topo.is_source[k]]
        seats = list(seats)
        if not seats:
            raise ValueError("no seats given")
        for s in seats:
            if s not in channel:
                raise ValueError(f"no channel member {s!r}; members: {', '.join(channel)}")
        if len(set(seats)) != len(seats):
            raise ValueError(f"a seat is given twice: {seats}")
        for group, policy in probe.ordering_groups:
            planned = [topo.names[k] for k in group if topo.names[k] in seats]
            if planned and hasattr(policy, "prepare"):
                raise ValueError(
                    f"{planned[0]!r} orders by {policy.name!r}, which plans every member at "
                    "once; a learner cannot take one of its seats"
                )
        self.seats = seats
        self.reward = reward
        self.check = check
        self.products = list(probe.products)
        # each member's information level (its own ``information`` key, else the lever)
        levels = getattr(probe, "information", None)
        if not isinstance(levels, np.ndarray):
            levels = np.full(topo.n_members, probe.levers.information == "shared")
        seen = {s: bool(levels[topo.names.index(s)]) for s in seats}
        if len(set(seen.values())) > 1:
            shared_seats = [s for s, v in seen.items() if v]
            raise ValueError(
                f"the seats observe at different information levels (shared: "
                f"{', '.join(shared_seats)}); seat members of one level per environment"
            )
        shared = any(seen.values())
        self.observation_type = SharedOrderObservation if shared else OrderObservation
        self.observation_fields = observation_fields(self.observation_type, self.products)
        base = [f.split("[")[0] for f in self.observation_fields]
        low = np.array([_LOW.get(b, -np.inf) for b in base])
        high = np.array([_HIGH.get(b, np.inf) for b in base])
        self.observation_spaces = {s: gym.spaces.Box(low, high, dtype=np.float64) for s in seats}
        returns = probe.logistics.allow_returns
        self.allow_returns = {s: bool(returns[topo.names.index(s)]) for s in seats}
        n = len(self.products)
        self.action_spaces = {
            s: gym.spaces.Box(
                -np.inf if self.allow_returns[s] else 0.0, np.inf, shape=(n,), dtype=np.float64
            )
            for s in seats
        }
        self.base_seed = cfg.seed if seed is None else int(seed)
        self.np_random, _ = seeding.np_random(self.base_seed)
        self.first_reset = True
        self.episode: _Episode | None = None
        self._finalizer: weakref.finalize | None = None
        self._last_obs: dict[str, np.ndarray] = {}

    def run_seed(self, seed: int | None) -> int:
        if seed is not None:
            self.np_random, _ = seeding.np_random(int(seed))
            run = int(seed)
        elif self.first_reset:
            run = self.base_seed
        else:
            run = int(self.np_random.integers(0, 2**32))
        self.first_reset = False
        return run

    def start(self, owner: object, seed: int) -> dict[str, np.ndarray]:
        self.stop()
        self.episode = episode = _Episode(self.config, self.seats, seed, self.check)
        # dropping the environment stops its worker (the worker holds no reference to it)
        self._finalizer = weakref.finalize(owner, episode.stop)
        episode.start()
        return self.observations()

    def observations(self) -> dict[str, np.ndarray]:
        ep = self.episode
        if ep is not None and not ep.done:
            self._last_obs = {
                s: flatten_observation(row) for s, row in zip(self.seats, ep.rows, strict=True)
            }
        return dict(self._last_obs)

    def orders(self, actions: dict[str, Any]) -> np.ndarray:
        n = len(self.products)
        out = np.empty((len(self.seats), n))
        for j, s in enumerate(self.seats):
            a = np.asarray(actions[s], dtype=float).reshape(-1)
            if a.size == 1 and n > 1:
                a = np.full(n, a[0])
            if a.size != n:
                raise ValueError(f"{s}: expected {n} order(s), got {a.size}")
            if not np.isfinite(a).all():
                raise ValueError(f"{s}: orders must be finite (got {a.tolist()})")
            out[j] = a if self.allow_returns[s] else np.maximum(a, 0.0)
        return out

    def act(self, actions: dict[str, Any]) -> tuple[dict[str, float], bool, dict[str, Any]]:
        ep = self.episode
        if ep is None:
            raise RuntimeError("call reset() before step()")
        if ep.done or ep.closed:
            raise RuntimeError("the episode is over: call reset()")
        ep.act(self.orders(actions))
        value = ep.last_period(self.reward)
        if self.reward == "team":
            rewards = dict.fromkeys(self.seats, -value)
        else:
            rewards = {s: float(value[k]) for s, k in zip(self.seats, ep.seats, strict=True)}
        info: dict[str, Any] = {"period": int(ep.model.period) - (0 if ep.done else 1)}
        if ep.done:
            info["summary"] = ep.model.summary()
        return rewards, ep.done, info

    def configured(self) -> dict[str, np.ndarray]:
        ep = self.episode
        if ep is None or ep.done or ep.closed:
            raise RuntimeError("no decision pending: call reset()")
        return {s: ep.planned[j].copy() for j, s in enumerate(self.seats)}

    def stop(self) -> None:
        if self._finalizer is not None:
            self._finalizer()
            self._finalizer = None


class SeatEnv(gym.Env):
    """A Gymnasium environment: a learner orders for one member of a channel.

    Parameters
    ----------
    config:
        A scenario path, mapping or :class:`~channel_agents.config.ScenarioConfig`.
    seat:
        The channel member whose orders the learner decides; every other member
        orders by its configured policy (the seat too, during warm-up).
    reward:
        ``"profit"``: the seat's profit in the period decided; ``"team"``: minus
        the holding + backlog cost of all channel members in that period.
    seed:
        The run seed of the first ``reset()`` without a seed (default: the scenario's).
    periods:
        Episode length in periods after warm-up (default: the scenario's ``periods``).
    check:
        Check the conservation laws every period (slower; raises at a violation).

    The observation layout, rewards and seeding are described in the module
    docstring; ``observation_fields`` labels each observation entry.
    ``configured_action()`` is the order the seat's configured policy would place
    now: feeding it back as the action reproduces the plain run exactly.
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        config: str | Path | dict[str, Any] | ScenarioConfig,
        seat: str,
        *,
        reward: str = "profit",
        seed: int | None = None,
        periods: int | None = None,
        check: bool = False,
    ):
        self._seating = _Seating(config, [seat], reward, seed, periods, check)
        self.seat = seat
        self.reward_kind = reward
        self.config = self._seating.config
        self.observation_fields = self._seating.observation_fields
        self.observation_space = self._seating.observation_spaces[seat]
        self.action_space = self._seating.action_spaces[seat]
        self._np_random = self._seating.np_random

    @property
    def model(self) -> ChannelModel | None:
        """The current episode's model (read it; do not step it)."""
        ep = self._seating.episode
        return ep.model if ep is not None else None

    @property
    def observation(self) -> OrderObservation | None:
        """The seat's pending observation object (the record its policy would be handed)."""
        ep = self._seating.episode
        return ep.rows[0] if ep is not None and ep.rows and not ep.done else None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        run_seed = self._seating.run_seed(seed)
        self._np_random = self._seating.np_random
        obs = self._seating.start(self, run_seed)
        return obs[self.seat], {"period": int(self.model.period), "seed": run_seed}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        rewards, done, info = self._seating.act({self.seat: action})
        obs = self._seating.observations()[self.seat]
        return obs, rewards[self.seat], done, False, info

    def configured_action(self) -> np.ndarray:
        """The order [products] the seat's configured policy places in the pending decision."""
        return self._seating.configured()[self.seat]

    def close(self) -> None:
        self._seating.stop()
        super().close()


class ChannelParallelEnv(ParallelEnv):
    """A PettingZoo parallel environment: learners order for several members at once.

    Agents are the member names in ``seats``; each agent's observation, action and
    reward are those of :class:`SeatEnv` for its seat (``reward="team"`` gives
    every agent the same team reward). Every agent acts each period; all finish
    together after ``periods`` periods, when ``infos[agent]["summary"]`` holds the
    run summary. ``configured_actions()`` gives each seat's configured order. The
    seats must observe at one information level (all local or all shared): their
    observations are built together, as one group's.
    """

    metadata = {"name": "channel_agents_parallel_v0", "render_modes": []}

    def __init__(
        self,
        config: str | Path | dict[str, Any] | ScenarioConfig,
        seats: Sequence[str],
        *,
        reward: str = "profit",
        seed: int | None = None,
        periods: int | None = None,
        check: bool = False,
    ):
        self._seating = _Seating(config, seats, reward, seed, periods, check)
        self.possible_agents = list(self._seating.seats)
        self.agents: list[str] = []
        self.reward_kind = reward
        self.config = self._seating.config
        self.observation_fields = self._seating.observation_fields
        self.observation_spaces = self._seating.observation_spaces
        self.action_spaces = self._seating.action_spaces
        self.render_mode = None

    def observation_space(self, agent: str) -> gym.spaces.Box:
        return self.observation_spaces[agent]  # the same object every call, as the API asks

    def action_space(self, agent: str) -> gym.spaces.Box:
        return self.action_spaces[agent]

    @property
    def model(self) -> ChannelModel | None:
        """The current episode's model (read it; do not step it)."""
        ep = self._seating.episode
        return ep.model if ep is not None else None

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, dict[str, Any]]]:
        run_seed = self._seating.run_seed(seed)
        obs = self._seating.start(self, run_seed)
        self.agents = list(self.possible_agents)
        period = int(self.model.period)
        return obs, {a: {"period": period, "seed": run_seed} for a in self.agents}

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        missing = [a for a in self.agents if a not in actions]
        if missing:
            raise ValueError(f"no action for {', '.join(missing)}: every seat acts each period")
        rewards, done, info = self._seating.act(actions)
        obs = self._seating.observations()
        agents = list(self.agents)
        terminations = dict.fromkeys(agents, done)
        truncations = dict.fromkeys(agents, False)
        infos = {a: dict(info) for a in agents}
        if done:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    def configured_actions(self) -> dict[str, np.ndarray]:
        """Each seat's order [products] from its configured policy, for the pending decision."""
        return self._seating.configured()

    def close(self) -> None:
        self._seating.stop()
