"""Throughput of the learning environment: SeatEnv steps per second on the beer game.

The learner takes the retailer's seat (configs/beer_game.yaml, 36-period
episodes) and feeds back its configured action (Sterman's rule), so each step
is one model period plus the handoff between the environment and the model's
worker thread, observation flattening and the reward read-out; resets (a new
model and worker each 36 steps) are counted in the time.

    .venv/bin/python -m benchmarks.bench_envs
"""

from __future__ import annotations

import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "beer_game.yaml"


def seat_env_steps_per_second(n_steps: int = 20000, seat: str = "retailer") -> float:
    """SeatEnv steps per second (resets included) on the beer game."""
    from channel_agents.envs import SeatEnv

    env = SeatEnv(CONFIG, seat)
    env.reset(seed=0)
    for _ in range(36):  # warm-up: imports, caches
        env.step(env.configured_action())
    steps = 0
    start = time.perf_counter()
    env.reset(seed=0)
    while steps < n_steps:
        _, _, done, _, _ = env.step(env.configured_action())
        steps += 1
        if done:
            env.reset()
    seconds = time.perf_counter() - start
    env.close()
    return steps / seconds


def plain_periods_per_second(n_episodes: int = 500) -> float:
    """The same episodes as plain ChannelModel runs (series off), for comparison."""
    from channel_agents.config import load_config
    from channel_agents.model import ChannelModel

    config = load_config(CONFIG)  # the environment, too, reads its scenario once
    start = time.perf_counter()
    for _ in range(n_episodes):
        model = ChannelModel(config, keep_series=False)
        model.run()
    return n_episodes * 36 / (time.perf_counter() - start)


if __name__ == "__main__":
    env_rate = seat_env_steps_per_second()
    plain_rate = plain_periods_per_second()
    print(f"SeatEnv (beer game, retailer seat): {env_rate:,.0f} steps/s")
    print(f"plain model, same episodes:          {plain_rate:,.0f} periods/s")
