"""Classroom play: students take seats in a channel (the beer game's wholesaler ...).

An instructor opens a **game** (a scenario preset, the seats humans may take,
a seed, a seat timeout). Each seat has a **join code** the instructor hands to
one student; joining gives the student a personal **key** that every later
request must carry, so one student cannot act for another seat. Each period
every joined seat enters an order; when all have, or when the timeout passes,
the period closes: robots (the seat's configured ordering policy) order for
empty seats and for seats that let the timeout pass, and the model steps.

What a student sees is the seat's :class:`~channel_agents.observations.OrderObservation`
for the open period, which the seat's information lever decides (local: own
stock, backlog, supply line and orders received; shared adds end demand and
echelon position), and its own past orders; never another member's state.
To show the observation *before* the order is placed, the game steps a copy
of the model (the observation is built inside the period, before decisions,
and does not depend on them), then steps the real model once the orders are in.

Every change is saved as JSON under the games folder (config, seed, seats,
every closed period's orders and who placed them, the open period's
submissions). After a restart each game is rebuilt by replaying its saved
orders (the model is deterministic), so it continues exactly where it was.

Bad input (a negative order, text, an order after the period closed, a code
for a seat someone else holds, an unknown key) raises :class:`ClassroomError`
with a message for the page; nothing here raises anything else for user input.
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from channel_agents.config import ConfigError, ScenarioConfig, load_config
from channel_agents.model import ChannelModel
from channel_agents.observations import OrderObservation
from channel_agents.policies.ordering import OrderingPolicy

GAMES_DIR_ENV = "CHANNEL_AGENTS_GAMES_DIR"
SEAT_TIMEOUT_ENV = "CHANNEL_AGENTS_SEAT_TIMEOUT"
INSTRUCTOR_KEY_ENV = "CHANNEL_AGENTS_INSTRUCTOR_KEY"
DEFAULT_TIMEOUT = 60.0
#: the largest order a seat may place (a typo guard)
MAX_ORDER = 100_000.0
#: join codes avoid look-alike characters (0/O, 1/I)
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
FORMAT_VERSION = 1
BENCHMARK = "benchmark (central plan)"


class ClassroomError(ValueError):
    """A request the classroom refuses; ``str(error)`` is the message for the page."""


# ---------------------------------------------------------------------------- the seat policy
class SeatPolicy(OrderingPolicy):
    """A seat's ordering: the human's order when one was entered, else the robot's.

    The robot (the seat's configured policy) decides every period, so its state
    (a Sterman expectation, a forecast) stays current when a human leaves.
    """

    name = "classroom_seat"

    def __init__(self, robot: OrderingPolicy, n_products: int):
        super().__init__([None], n_products)
        self.robot = robot
        self.needs_knowledge = robot.needs_knowledge
        self.pending: float | None = None
        self.last_obs: OrderObservation | None = None
        self.last_robot = np.zeros((1, n_products))
        self.last_order = np.zeros((1, n_products))

    def decide(self, obs: OrderObservation) -> np.ndarray:
        robot = np.asarray(self.robot.decide(obs), dtype=float).reshape(1, self.n_products)
        self.last_obs = obs
        self.last_robot = robot
        if self.pending is None:
            order = robot
        else:
            order = np.full((1, self.n_products), float(self.pending))
        self.last_order = order
        return order


def robot_for(model: ChannelModel, member: str) -> OrderingPolicy:
    """A fresh copy of the ordering policy ``member`` has in ``model``, for that member alone."""
    k = model.topology.names.index(member)
    for ks, pol in model.ordering_groups:
        where = np.flatnonzero(ks == k)
        if len(where):
            if hasattr(pol, "prepare"):
                raise ClassroomError(
                    f"{member} plans with {pol.name!r}, which plans the whole chain at once: "
                    "a human cannot take that seat (choose another scenario)"
                )
            if pol.params[int(where[0])] is None:
                raise ClassroomError(f"{member}'s ordering rule cannot be copied for a seat")
            return type(pol)([pol.params[int(where[0])]], len(model.products))
    raise ClassroomError(f"{member} places no orders (a source cannot be a seat)")


def observation_view(obs: OrderObservation) -> dict[str, Any]:
    """The fields of a one-member observation as plain numbers (what the student sees)."""
    out: dict[str, Any] = {}
    for name in obs.__dataclass_fields__:
        value = getattr(obs, name)
        if name == "responses" or value is None:
            continue  # demand knowledge: a function, not a number to show
        if isinstance(value, np.ndarray):
            arr = np.asarray(value, dtype=float).reshape(-1) if value.ndim else value
            if name == "allow_returns":
                out[name] = bool(np.asarray(value).reshape(-1)[0])
            else:
                out[name] = float(np.asarray(arr, dtype=float).sum())
        else:
            out[name] = value
    if {"stock", "backlog", "supply_line"} <= out.keys():
        out["inventory_position"] = out["stock"] - out["backlog"] + out["supply_line"]
    return out


# ---------------------------------------------------------------------------- records
@dataclass
class Seat:
    member: str
    role: str
    code: str
    token: str | None = None
    player: str = ""
    idle_periods: int = 0

    @property
    def joined(self) -> bool:
        return self.token is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "member": self.member,
            "role": self.role,
            "code": self.code,
            "token": self.token,
            "player": self.player,
            "idle_periods": self.idle_periods,
        }


@dataclass
class Game:
    """One classroom game: a model, its seats, and every order placed so far."""

    id: str
    name: str
    preset: str
    config: dict[str, Any]
    seed: int
    timeout: float
    created: float
    seats: dict[str, Seat]
    status: str = "lobby"  # lobby | running | ended
    periods: list[dict[str, Any]] = field(default_factory=list)  # closed periods
    pending: dict[str, float] = field(default_factory=dict)  # the open period's human orders
    opened_at: float | None = None
    # runtime (rebuilt from the above, never saved)
    model: ChannelModel | None = field(default=None, repr=False)
    policies: dict[str, SeatPolicy] = field(default_factory=dict, repr=False)
    current_obs: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    obs_log: dict[str, list[dict[str, Any]]] = field(default_factory=dict, repr=False)

    @property
    def horizon(self) -> int:
        assert self.model is not None
        return self.model.warmup + self.model.periods

    @property
    def period(self) -> int:
        """The open period (the one orders are entered for); horizon + 1 once ended."""
        assert self.model is not None
        return int(self.model.period) + 1

    @property
    def deadline(self) -> float | None:
        if self.status != "running" or self.opened_at is None:
            return None
        return self.opened_at + self.timeout

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "id": self.id,
            "name": self.name,
            "preset": self.preset,
            "config": self.config,
            "seed": self.seed,
            "timeout": self.timeout,
            "created": self.created,
            "status": self.status,
            "seats": {m: s.to_json() for m, s in self.seats.items()},
            "periods": self.periods,
            "pending": self.pending,
        }


def _cost_rates(cfg: ScenarioConfig, member: str) -> tuple[float, float]:
    m = cfg.members[member]
    h = m.holding_cost if m.holding_cost is not None else cfg.defaults.holding_cost
    b = m.backlog_cost if m.backlog_cost is not None else cfg.defaults.backlog_cost
    return float(h), float(b)


def clean_name(text: Any, limit: int = 40) -> str:
    """A display name: letters, digits, spaces and a little punctuation, at most ``limit``."""
    kept = "".join(ch for ch in str(text or "") if ch.isalnum() or ch in " .'-_")
    return " ".join(kept.split())[:limit]


def parse_order(text: Any, allow_returns: bool = False) -> float:
    """A student's order from what they typed; :class:`ClassroomError` says what is wrong."""
    if isinstance(text, bool):
        raise ClassroomError("Enter a number of units, e.g. 8.")
    if isinstance(text, int | float):
        value = float(text)
    else:
        s = str(text if text is not None else "").strip().replace(",", ".")
        if not s:
            raise ClassroomError("Enter a number of units, e.g. 8.")
        try:
            value = float(s)
        except ValueError:
            raise ClassroomError(f"{s[:20]!r} is not a number: enter units, e.g. 8.") from None
    if not math.isfinite(value):
        raise ClassroomError("Enter a finite number of units, e.g. 8.")
    if value < 0 and not allow_returns:
        raise ClassroomError("Orders must be 0 or more (this seat cannot return goods).")
    if abs(value) > MAX_ORDER:
        raise ClassroomError(f"Orders are at most {MAX_ORDER:,.0f} units.")
    return value


# ---------------------------------------------------------------------------- the classroom
class Classroom:
    """All games on one server, saved under ``folder``; thread-safe.

    ``clock`` (seconds, wall time) is injectable for tests; ``timeout`` is the
    default seat timeout of new games.
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
        instructor_key: str | None = None,
    ):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.timeout = float(timeout)
        self.clock = clock
        self.lock = threading.RLock()
        self.games: dict[str, Game] = {}
        self.revision = 0
        self.load_errors: dict[str, str] = {}
        self.instructor_key = instructor_key or self._instructor_key()
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._benchmarks: dict[str, tuple[str, pd.DataFrame, float | None]] = {}
        self._load_all()

    # ------------------------------------------------------------------ persistence
    def _instructor_key(self) -> str:
        env = os.environ.get(INSTRUCTOR_KEY_ENV)
        if env:
            return env
        path = self.folder / "instructor_key.txt"
        if path.is_file():
            key = path.read_text(encoding="utf-8").strip()
            if key:
                return key
        key = secrets.token_urlsafe(6)
        path.write_text(key + "\n", encoding="utf-8")
        return key

    def _path(self, game_id: str) -> Path:
        return self.folder / f"{game_id}.json"

    def _save(self, game: Game) -> None:
        path = self._path(game.id)
        tmp = path.with_suffix(".json.partial")
        tmp.write_text(json.dumps(game.to_json(), indent=1), encoding="utf-8")
        os.replace(tmp, path)
        self.revision += 1

    def _load_all(self) -> None:
        for path in sorted(self.folder.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                game = self._restore(data)
            except Exception as exc:  # a damaged file must not stop the others
                self.load_errors[path.name] = f"{type(exc).__name__}: {exc}"
                print(f"channel-agents classroom: cannot restore {path}: {exc}", file=sys.stderr)
                continue
            self.games[game.id] = game

    def _restore(self, data: dict[str, Any]) -> Game:
        if data.get("format") != FORMAT_VERSION:
            raise ValueError(f"unknown game file format {data.get('format')!r}")
        seats = {m: Seat(**s) for m, s in data["seats"].items()}
        game = Game(
            id=data["id"], name=data["name"], preset=data["preset"], config=data["config"],
            seed=int(data["seed"]), timeout=float(data["timeout"]), created=data["created"],
            seats=seats, status=data["status"], periods=[], pending={},
        )  # fmt: skip
        self._build(game)
        for record in data["periods"]:  # replay every closed period with its saved orders
            humans = {m: o["order"] for m, o in record["orders"].items() if o.get("by") == "human"}
            self._step(game, humans, closed=record.get("closed"), idle=False)
        if game.status != "ended" and game.model.period >= game.horizon:
            game.status = "ended"
        game.pending = {m: float(v) for m, v in data.get("pending", {}).items() if m in seats}
        if game.status == "running":
            self._open(game)
        return game

    # ------------------------------------------------------------------ model plumbing
    def _build(self, game: Game) -> None:
        cfg = load_config(game.config)
        model = ChannelModel(cfg, rng=game.seed, keep_series=True)
        policies = {}
        for member in game.seats:
            policy = SeatPolicy(robot_for(model, member), len(model.products))
            model.set_ordering_policy(member, policy)
            policies[member] = policy
        game.model, game.policies = model, policies
        game.obs_log = {m: [] for m in game.seats}

    def _open(self, game: Game) -> None:
        """Open the next period: step a copy of the model to learn each seat's observation."""
        probe_model, probe_policies = copy.deepcopy((game.model, game.policies))
        for p in probe_policies.values():
            p.pending = None
        probe_model.step()
        game.current_obs = {
            m: observation_view(p.last_obs)
            for m, p in probe_policies.items()
            if p.last_obs is not None
        }
        game.opened_at = self.clock()

    def _step(
        self, game: Game, humans: dict[str, float], closed: float | None = None, idle: bool = True
    ) -> dict[str, Any]:
        """Step the real model with the humans' orders; robots order for every other seat."""
        t = game.period
        for m, p in game.policies.items():
            p.pending = humans.get(m)
        game.model.step()
        orders = {}
        for m, p in game.policies.items():
            by = "human" if m in humans else "robot"
            orders[m] = {"order": float(p.last_order.sum()), "by": by}
            if p.last_obs is not None:
                view = observation_view(p.last_obs)
                view.update(orders[m])
                game.obs_log[m].append(view)
            if idle and by == "robot" and game.seats[m].joined:
                game.seats[m].idle_periods += 1
        record = {"period": t, "orders": orders, "closed": closed}
        game.periods.append(record)
        return record

    def _close(self, game: Game) -> None:
        humans = {m: v for m, v in game.pending.items() if game.seats[m].joined}
        self._step(game, humans, closed=self.clock())
        game.pending = {}
        if game.model.period >= game.horizon:
            game.status = "ended"
            game.current_obs = {}
            game.opened_at = None
        else:
            self._open(game)
        self._save(game)

    def _all_in(self, game: Game) -> bool:
        joined = [m for m, s in game.seats.items() if s.joined]
        return all(m in game.pending for m in joined)

    # ------------------------------------------------------------------ instructor actions
    def check_instructor(self, key: str | None) -> None:
        if not key or not secrets.compare_digest(str(key).strip(), self.instructor_key):
            raise ClassroomError("Wrong instructor key.")

    def create_game(
        self,
        config: ScenarioConfig | dict[str, Any] | str | Path,
        *,
        preset: str = "",
        name: str = "",
        seats: Iterable[str] | None = None,
        seed: int | None = None,
        timeout: float | None = None,
        periods: int | None = None,
    ) -> Game:
        """Open a game in the lobby (students may join; :meth:`start` opens period 1)."""
        overrides = ["warmup=0"]
        cfg0 = load_config(config) if not isinstance(config, ScenarioConfig) else config
        total = periods if periods is not None else cfg0.warmup + cfg0.periods
        if int(total) < 1:
            raise ClassroomError("A game needs at least 1 period.")
        overrides.append(f"periods={int(total)}")
        cfg = load_config(cfg0, overrides)
        if len(cfg.products) != 1:
            raise ClassroomError("Classroom games need a single-product scenario.")
        channel = [n for n, m in cfg.members.items() if m.role != "source"]
        chosen = list(channel if seats is None else seats)
        unknown = [s for s in chosen if s not in channel]
        if unknown:
            raise ClassroomError(
                f"No seat named {', '.join(unknown)}; seats: {', '.join(channel)}."
            )
        if not chosen:
            raise ClassroomError("Choose at least one seat for students.")
        if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
            raise ClassroomError("The seat timeout must be a positive number of seconds.")
        with self.lock:
            game_id = self._new_id()
            used = self._codes()
            seat_objs = {}
            for m in chosen:
                code = self._new_code(used)
                used.add(code)
                seat_objs[m] = Seat(m, cfg.members[m].role, code)
            game = Game(
                id=game_id,
                name=clean_name(name, 60) or f"Game {len(self.games) + 1}",
                preset=preset or cfg.name,
                config=cfg.model_dump(mode="json", by_alias=True, exclude_none=True),
                seed=int(cfg.seed if seed is None else seed),
                timeout=float(self.timeout if timeout is None else timeout),
                created=self.clock(),
                seats=seat_objs,
            )
            self._build(game)  # fails early (ClassroomError) if a seat cannot be played
            self.games[game.id] = game
            self._save(game)
            return game

    def _new_id(self) -> str:
        while True:
            gid = "g" + secrets.token_hex(3)
            if gid not in self.games and not self._path(gid).exists():
                return gid

    def _codes(self) -> set[str]:
        return {s.code for g in self.games.values() for s in g.seats.values()}

    @staticmethod
    def _new_code(used: set[str]) -> str:
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if code not in used:
                return code

    def game(self, game_id: str) -> Game:
        try:
            return self.games[game_id]
        except KeyError:
            raise ClassroomError(f"No game {game_id!r}.") from None

    def start(self, game_id: str) -> None:
        with self.lock:
            game = self.game(game_id)
            if game.status == "ended":
                raise ClassroomError("This game has ended.")
            if game.status == "running":
                return
            game.status = "running"
            self._open(game)
            self._save(game)

    def close_period(self, game_id: str) -> None:
        """Close the open period now: robots order for every seat that has not."""
        with self.lock:
            game = self.game(game_id)
            if game.status != "running":
                raise ClassroomError("The game is not running.")
            self._close(game)

    def end(self, game_id: str) -> None:
        with self.lock:
            game = self.game(game_id)
            game.status = "ended"
            game.pending = {}
            game.current_obs = {}
            game.opened_at = None
            self._save(game)

    def release_seat(self, game_id: str, member: str) -> None:
        """Free a seat (its student's key stops working; the code can be used again)."""
        with self.lock:
            game = self.game(game_id)
            if member not in game.seats:
                raise ClassroomError(f"No seat {member!r} in {game.name}.")
            seat = game.seats[member]
            seat.token, seat.player = None, ""
            game.pending.pop(member, None)
            self._save(game)

    def delete(self, game_id: str) -> None:
        with self.lock:
            self.game(game_id)
            del self.games[game_id]
            self._path(game_id).unlink(missing_ok=True)
            self.revision += 1

    # ------------------------------------------------------------------ student actions
    def join(self, code: str, player: str = "") -> str:
        """Take the seat with join ``code``; returns the student's personal key."""
        code = str(code or "").strip().upper().replace(" ", "").replace("-", "")
        if not code:
            raise ClassroomError("Enter the join code your instructor gave you.")
        with self.lock:
            for game in self.games.values():
                for seat in game.seats.values():
                    if secrets.compare_digest(seat.code, code):
                        if game.status == "ended":
                            raise ClassroomError("That game has ended.")
                        if seat.joined:
                            raise ClassroomError(
                                "That seat is already taken. Join codes are personal: "
                                "ask your instructor for your own."
                            )
                        seat.token = secrets.token_urlsafe(9)
                        seat.player = clean_name(player) or "student"
                        self._save(game)
                        return seat.token
        raise ClassroomError(f"No seat has the code {code!r}. Check it with your instructor.")

    def resume(self, key: str) -> str:
        """Come back to a seat with its personal key (after a reload); returns the key."""
        with self.lock:
            game, _ = self._seat_of(str(key or "").strip())
            if game.status == "ended":
                raise ClassroomError("That game has ended.")
            return str(key).strip()

    def _seat_of(self, token: str | None) -> tuple[Game, Seat]:
        if token:
            for game in self.games.values():
                for seat in game.seats.values():
                    if seat.token is not None and secrets.compare_digest(seat.token, str(token)):
                        return game, seat
        raise ClassroomError("Unknown or expired key: join again with your seat's code.")

    def submit(self, token: str | None, period: int | None, order: Any) -> str:
        """Enter the order of the key's seat for ``period``; returns a confirmation."""
        with self.lock:
            game, seat = self._seat_of(token)
            if game.status == "lobby":
                raise ClassroomError("The game has not started yet: wait for your instructor.")
            if game.status == "ended":
                raise ClassroomError("The game has ended: no more orders.")
            try:
                period = int(period)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ClassroomError("Say which period the order is for.") from None
            if period != game.period:
                raise ClassroomError(
                    f"Period {period} has closed; now ordering for period {game.period}."
                )
            obs = game.current_obs.get(seat.member, {})
            value = parse_order(order, allow_returns=bool(obs.get("allow_returns", False)))
            changed = seat.member in game.pending
            game.pending[seat.member] = value
            message = (
                f"Order {'changed to' if changed else 'of'} {value:g} units received "
                f"for period {period}."
            )
            if self._all_in(game):
                self._close(game)
            else:
                self._save(game)
            return message

    def seat_view(self, token: str | None) -> dict[str, Any]:
        """What the key's student may see: their seat's observation and their own history."""
        with self.lock:
            game, seat = self._seat_of(token)
            cfg = game.model.config
            h, b = _cost_rates(cfg, seat.member)
            history = [dict(v) for v in game.obs_log[seat.member]]
            for v in history:
                v["cost"] = h * v.get("stock", 0.0) + b * v.get("backlog", 0.0)
            deadline = game.deadline
            return {
                "game": game.name,
                "game_id": game.id,
                "scenario": cfg.name,
                "member": seat.member,
                "role": seat.role,
                "player": seat.player,
                "status": game.status,
                "period": game.period if game.status == "running" else None,
                "horizon": game.horizon,
                "observation": dict(game.current_obs.get(seat.member, {})),
                "submitted": game.pending.get(seat.member),
                "seconds_left": None if deadline is None else max(deadline - self.clock(), 0.0),
                "history": history,
                "total_cost": float(sum(v["cost"] for v in history)),
                "holding_cost": h,
                "backlog_cost": b,
                "information": game.model.levers.information,
            }

    # ------------------------------------------------------------------ time
    def tick(self) -> list[str]:
        """Close every period whose timeout has passed (robots fill the idle seats).

        Returns the ids of the games that moved on.
        """
        moved = []
        with self.lock:
            now = self.clock()
            for game in list(self.games.values()):
                if game.status != "running":
                    continue
                nobody = not any(s.joined for s in game.seats.values())
                if nobody or (game.deadline is not None and now >= game.deadline):
                    self._close(game)
                    moved.append(game.id)
        return moved

    def start_ticker(self, interval: float = 0.25) -> None:
        """Run :meth:`tick` in a daemon thread every ``interval`` seconds (once per classroom)."""
        if self._ticker is not None and self._ticker.is_alive():
            return

        def loop() -> None:
            while not self._stop.wait(interval):
                try:
                    self.tick()
                except Exception as exc:  # keep ticking; report once per failure
                    print(f"channel-agents classroom: tick failed: {exc!r}", file=sys.stderr)

        self._ticker = threading.Thread(target=loop, name="classroom-ticker", daemon=True)
        self._ticker.start()

    def stop_ticker(self) -> None:
        self._stop.set()

    # ------------------------------------------------------------------ instructor views
    def overview(self) -> list[dict[str, Any]]:
        """Every game with its seats (codes included: for the instructor only)."""
        with self.lock:
            out = []
            for g in sorted(self.games.values(), key=lambda g: g.created):
                out.append(
                    {
                        "id": g.id,
                        "name": g.name,
                        "preset": g.preset,
                        "scenario": g.model.config.name,
                        "status": g.status,
                        "period": g.period if g.status == "running" else None,
                        "played": len(g.periods),
                        "horizon": g.horizon,
                        "timeout": g.timeout,
                        "seconds_left": None
                        if g.deadline is None
                        else max(g.deadline - self.clock(), 0.0),
                        "seats": [
                            {
                                "member": s.member,
                                "role": s.role,
                                "code": s.code,
                                "player": s.player if s.joined else "",
                                "joined": s.joined,
                                "submitted": s.member in g.pending,
                                "idle_periods": s.idle_periods,
                            }
                            for s in g.seats.values()
                        ],
                    }
                )
            return out

    def benchmark(self, game_id: str) -> tuple[str, pd.DataFrame, float | None]:
        """The cooperative benchmark of a game's scenario: the central plan's orders
        (``{policy: central_plan}`` on every member), or, where a central plan cannot
        plan the scenario, the cooperative strategy. Returns (label, series, team cost)."""
        with self.lock:
            game = self.game(game_id)
            cfg = load_config(game.config)
            seed = game.seed
        key = json.dumps([game.config, seed], sort_keys=True)
        if key in self._benchmarks:
            return self._benchmarks[key]
        channel = [n for n, m in cfg.members.items() if m.role != "source"]
        plan = ["defaults.ordering={policy: central_plan}"] + [
            f"members.{n}.ordering={{policy: central_plan}}"
            for n in channel
            if cfg.members[n].ordering is not None
        ]
        try:
            model = ChannelModel(load_config(cfg, plan), rng=seed, keep_series=True)
            label = BENCHMARK
        except ConfigError:
            model = ChannelModel(
                load_config(cfg, ["strategy=cooperative"]), rng=seed, keep_series=True
            )
            label = "benchmark (cooperative strategy)"
        model.run()
        result = (label, model.series(), model.summary()["team_cost"])
        self._benchmarks[key] = result
        return result

    def debrief(self, game_ids: Iterable[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Orders by member and period for each team (game) and the benchmark, and a table
        of team costs. Returns (orders, costs)."""
        with self.lock:
            ids = [g for g in (game_ids or self.games) if g in self.games]
            rows, costs = [], []
            seen_bench: set[str] = set()
            distinct = {
                json.dumps([self.games[g].config, self.games[g].seed], sort_keys=True) for g in ids
            }
            for gid in ids:
                game = self.games[gid]
                series = game.model.series()
                by = {
                    (r["period"], m): o["by"] for r in game.periods for m, o in r["orders"].items()
                }
                frame = series.assign(
                    team=game.name,
                    game=game.id,
                    by=[by.get((p, m), "rule") for p, m in zip(series["period"], series["member"], strict=True)],
                )  # fmt: skip
                rows.append(frame)
                summary = game.model.summary()
                label, bench, bench_cost = self.benchmark(gid)
                played = int(game.model.period)
                bench_played = bench[bench["period"] <= played]
                bench_cost_played = float(
                    (bench_played["holding_cost"] + bench_played["backlog_cost"]).sum()
                )
                humans = sum(
                    1 for r in game.periods for o in r["orders"].values() if o["by"] == "human"
                )
                seat_periods = sum(len(r["orders"]) for r in game.periods)
                costs.append(
                    {
                        "team": game.name,
                        "scenario": game.model.config.name,
                        "periods played": played,
                        "team cost": summary["team_cost"],
                        "benchmark cost (same periods)": bench_cost_played,
                        "cost / benchmark": (summary["team_cost"] / bench_cost_played)
                        if bench_cost_played > 1e-9 and summary["team_cost"] is not None
                        else None,
                        "human orders": humans,
                        "robot orders": seat_periods - humans,
                    }
                )
                bkey = json.dumps([game.config, game.seed], sort_keys=True)
                if bkey not in seen_bench:
                    seen_bench.add(bkey)
                    name = (
                        label
                        if len(distinct) == 1
                        else f"{label}: {game.model.config.name}, seed {game.seed}"
                    )
                    rows.append(bench.assign(team=name, game="benchmark", by="plan"))
            orders = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
            return orders, pd.DataFrame(costs)

    def export_csv(self, game_ids: Iterable[str] | None = None) -> str:
        """The debrief as CSV: one row per team (and benchmark), period and member."""
        orders, _ = self.debrief(game_ids)
        buf = io.StringIO()
        cols = ["team", "game", "period", "member", "role", "orders", "by", "incoming",
                "shipped", "stock", "backlog", "holding_cost", "backlog_cost", "profit", "cash"]  # fmt: skip
        if len(orders):
            orders[[c for c in cols if c in orders]].to_csv(buf, index=False)
        else:
            buf.write(",".join(cols) + "\n")
        return buf.getvalue()


# ---------------------------------------------------------------------------- the server's classroom
_CLASSROOM: Classroom | None = None
_CLASSROOM_LOCK = threading.Lock()


def classroom() -> Classroom:
    """The server's classroom (one per process): folder, timeout and key from the
    environment (``CHANNEL_AGENTS_GAMES_DIR``, default ``games``;
    ``CHANNEL_AGENTS_SEAT_TIMEOUT`` seconds; ``CHANNEL_AGENTS_INSTRUCTOR_KEY``)."""
    global _CLASSROOM
    with _CLASSROOM_LOCK:
        if _CLASSROOM is None:
            folder = os.environ.get(GAMES_DIR_ENV) or "games"
            try:
                timeout = float(os.environ.get(SEAT_TIMEOUT_ENV) or DEFAULT_TIMEOUT)
            except ValueError:
                timeout = DEFAULT_TIMEOUT
            _CLASSROOM = Classroom(folder, timeout=timeout)
            _CLASSROOM.start_ticker()
            print(
                f"channel-agents classroom: games in {Path(folder).resolve()}, "
                f"seat timeout {timeout:g} s",
                file=sys.stderr,
            )
        return _CLASSROOM
