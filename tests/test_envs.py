"""Learning environments (channel_agents.envs) and the learned ordering policy."""

from __future__ import annotations

import importlib.util
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("gymnasium")
pytest.importorskip("pettingzoo")

import channel_agents as ca  # noqa: E402
from channel_agents.config import ConfigError  # noqa: E402
from channel_agents.envs import ChannelParallelEnv, SeatEnv  # noqa: E402
from channel_agents.model import ChannelModel  # noqa: E402
from channel_agents.observations import (  # noqa: E402
    OrderObservation,
    SharedOrderObservation,
)
from channel_agents.policies.learned import Learned, LinearPolicy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BEER = "configs/beer_game.yaml"
BULLWHIP = "configs/theory/bullwhip.yaml"
SEATS = ("retailer", "wholesaler", "distributor", "factory")
# theory card 4: Sterman's mean estimates at every seat
CARD_4_STAGE_COSTS = {
    "retailer": 245.272,
    "wholesaler": 551.874,
    "distributor": 813.429,
    "factory": 644.167,
}
SPACE_ADVICE = ("infinity", "symmetric and normalized", "alternative render modes")


def play(env: SeatEnv, policy=None, seed: int | None = 0) -> tuple[list, list, dict]:
    """One episode; the action is ``policy(obs)`` or the seat's configured action."""
    obs, _ = env.reset(seed=seed)
    observations, rewards, done = [obs], [], False
    while not done:
        action = env.configured_action() if policy is None else policy(obs)
        obs, reward, done, truncated, info = env.step(action)
        assert not truncated
        observations.append(obs)
        rewards.append(reward)
    return observations, rewards, info


@pytest.fixture(scope="module")
def plain_beer_game() -> dict:
    model = ChannelModel(BEER, keep_series=False)
    model.run()
    return model.summary()


# --------------------------------------------------------------------------- API checks


def test_seat_env_passes_gymnasium_check_env():
    from gymnasium.utils.env_checker import check_env

    env = SeatEnv(BEER, "retailer")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    # only the checker's advice about unbounded spaces (orders and stocks have no cap)
    unexpected = [w for w in caught if not any(a in str(w.message) for a in SPACE_ADVICE)]
    assert not unexpected, [str(w.message) for w in unexpected]
    env.close()


def test_parallel_env_passes_pettingzoo_parallel_api_test():
    from pettingzoo.test import parallel_api_test

    env = ChannelParallelEnv(BEER, seats=list(SEATS))
    parallel_api_test(env, num_cycles=100)
    env.close()


# --------------------------------------------------------------------------- feedback


@pytest.mark.parametrize("seat", SEATS)
def test_configured_action_fed_back_reproduces_the_plain_beer_game(seat, plain_beer_game):
    env = SeatEnv(BEER, seat, reward="team")
    _, rewards, info = play(env)
    summary = info["summary"]
    assert summary["team_cost"] == pytest.approx(2254.74, abs=0.005)
    for member, cost in CARD_4_STAGE_COSTS.items():
        assert summary["cost"][member] == pytest.approx(cost, abs=5e-4)
    assert summary == plain_beer_game  # exactly the plain run, every key
    assert len(rewards) == 36
    assert sum(rewards) == pytest.approx(-summary["team_cost"], rel=1e-12)
    env.close()


def test_all_four_seats_in_parallel_reproduce_the_plain_beer_game(plain_beer_game):
    env = ChannelParallelEnv(BEER, seats=list(SEATS), reward="team")
    obs, infos = env.reset(seed=0)
    assert set(obs) == set(SEATS) and infos["factory"]["period"] == 1
    steps = 0
    while env.agents:
        obs, rewards, terminations, truncations, infos = env.step(env.configured_actions())
        steps += 1
    assert steps == 36 and all(terminations.values()) and not any(truncations.values())
    assert infos["retailer"]["summary"] == plain_beer_game
    env.close()


def test_profit_reward_sums_to_the_seats_summary_profit():
    env = SeatEnv(BEER, "wholesaler")  # reward="profit"
    _, rewards, info = play(env)
    profit = info["summary"]["profit"]["wholesaler"]
    # beer game prices are zero: profit is minus the stage's own cost
    assert sum(rewards) == pytest.approx(profit * 36, rel=1e-12)
    assert profit * 36 == pytest.approx(-CARD_4_STAGE_COSTS["wholesaler"], abs=5e-4)
    env.close()


def test_learner_orders_change_the_run_and_are_clipped_at_zero():
    env = SeatEnv(BEER, "retailer", reward="team")
    assert env.action_space.low.tolist() == [0.0]
    _, _, info = play(env, policy=lambda obs: np.array([-5.0]))  # clipped: never orders
    summary = info["summary"]
    assert summary["units_ordered"] == 0.0
    assert summary["team_cost"] != pytest.approx(2254.74, abs=1)
    with pytest.raises(ValueError, match="finite"):
        env.reset(seed=0)
        env.step(np.array([np.nan]))
    env.close()


def test_reset_close_and_dropping_the_env_stop_its_worker():
    import gc
    import threading

    def workers() -> int:
        return sum(t.name == "channel-agents-seat" for t in threading.enumerate())

    before = workers()
    env = SeatEnv(BEER, "retailer")
    env.reset(seed=0)
    env.step(np.array([4.0]))
    env.reset(seed=0)  # abandons the paused episode
    assert workers() == before + 1
    env.close()
    assert workers() == before
    env = SeatEnv(BEER, "retailer")
    env.reset(seed=0)
    del env
    gc.collect()
    assert workers() == before


def test_step_after_the_last_period_asks_for_reset():
    env = SeatEnv(BEER, "retailer", periods=3)
    play(env)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.array([4.0]))
    with pytest.raises(RuntimeError, match="reset"):
        env.configured_action()
    env.close()


# --------------------------------------------------------------------------- information


def test_local_seat_observes_no_shared_fields():
    env = SeatEnv(BEER, "wholesaler")
    obs, _ = env.reset(seed=0)
    assert env.observation_fields == (
        "period",
        "incoming",
        "stock",
        "backlog",
        "supply_line",
        "lead_time",
        "allow_returns",
    )
    assert obs.shape == env.observation_space.shape == (len(env.observation_fields),)
    assert not any(f.startswith(("end_demand", "echelon")) for f in env.observation_fields)
    raw = env.observation
    assert type(raw) is OrderObservation
    assert not hasattr(raw, "end_demand") and not hasattr(raw, "echelon_position")
    # the vector is that record, field by field
    expected = [raw.period, raw.incoming[0, 0], raw.stock[0, 0], raw.backlog[0, 0]]
    expected += [raw.supply_line[0, 0], raw.lead_time[0], float(raw.allow_returns[0])]
    assert obs.tolist() == expected
    env.close()


def test_shared_seat_observes_point_of_sale_and_echelon_fields():
    env = SeatEnv(BULLWHIP, "distributor", periods=5)
    assert "end_demand" not in env.observation_fields
    env.close()
    env = SeatEnv(
        ca.config.load_config(BULLWHIP, ["strategy=cooperative"]), "distributor", periods=5
    )
    obs, _ = env.reset(seed=1)
    fields = env.observation_fields
    assert fields[-3:] == ("end_demand", "echelon_position", "echelon_lead_time")
    assert obs.shape == env.observation_space.shape == (len(fields),)
    raw = env.observation
    assert isinstance(raw, SharedOrderObservation)
    assert obs[fields.index("end_demand")] == raw.end_demand[0, 0]
    assert obs[fields.index("echelon_position")] == raw.echelon_position[0, 0]
    # its own lead time and the two stages' below it, 2 periods each
    assert obs[fields.index("echelon_lead_time")] == raw.echelon_lead_time[0] == 6.0
    env.close()


def test_returns_allowed_makes_the_action_space_unbounded_below():
    env = SeatEnv(BULLWHIP, "retailer", periods=5)
    assert env.action_space.low.tolist() == [-np.inf]
    assert env.observation_fields[-1] == "allow_returns"
    obs, _ = env.reset(seed=0)
    assert obs[-1] == 1.0
    env.close()


# --------------------------------------------------------------------------- seeds


def test_same_seed_same_episode_and_other_seeds_differ():
    def episode(env, seed):
        obs, rewards, _ = play(env, policy=lambda o: np.array([100.0]), seed=seed)
        return np.array(obs), np.array(rewards)

    a = SeatEnv(BULLWHIP, "retailer", periods=20)
    b = SeatEnv(BULLWHIP, "retailer", periods=20)
    obs_a, rew_a = episode(a, 7)
    obs_b, rew_b = episode(b, 7)
    assert np.array_equal(obs_a, obs_b) and np.array_equal(rew_a, rew_b)
    obs_c, _ = episode(b, 8)
    assert not np.array_equal(obs_a, obs_c)  # normal demand: another seed, other draws
    # unseeded resets continue a reproducible sequence from the last seed
    a.reset(seed=3)
    b.reset(seed=3)
    assert np.array_equal(a.reset()[0], b.reset()[0])
    assert a.reset()[1]["seed"] == b.reset()[1]["seed"]
    a.close()
    b.close()


def test_first_unseeded_reset_runs_the_scenario_seed():
    env = SeatEnv(BULLWHIP, "retailer", periods=2)
    assert env.reset()[1]["seed"] == 5  # bullwhip.yaml: seed 5
    env.close()
    env = SeatEnv(BULLWHIP, "retailer", periods=2, seed=11)
    assert env.reset()[1]["seed"] == 11
    env.close()


# --------------------------------------------------------------------------- errors


def test_bad_seats_and_rewards_are_refused():
    with pytest.raises(ValueError, match="no channel member 'source'"):
        SeatEnv(BEER, "source")
    with pytest.raises(ValueError, match="reward must be one of"):
        SeatEnv(BEER, "retailer", reward="channel")
    with pytest.raises(ValueError, match="plans every member"):
        cfg = ca.config.load_config(BEER, ["defaults.ordering={policy: central_plan}"])
        SeatEnv(cfg, "retailer")


def test_an_error_inside_the_model_reaches_the_caller(tmp_path):
    path = tmp_path / "broken.npz"
    LinearPolicy([np.nan] * 7, 0.0).save(path)  # a NaN order at the wholesaler
    data = yaml.safe_load((ROOT / BEER).read_text())
    data["members"]["wholesaler"]["ordering"] = {"policy": "learned", "path": str(path)}
    env = SeatEnv(data, "retailer")
    with pytest.raises(ValueError, match="finite order"):
        env.reset(seed=0)
    env.close()


# --------------------------------------------------------------------------- learned policy


def beer_game_with(member: str, ordering: dict) -> dict:
    data = yaml.safe_load((ROOT / BEER).read_text())
    data["members"][member]["ordering"] = ordering
    return data


def pass_through_policy(fields) -> LinearPolicy:
    w = np.zeros(len(fields))
    w[list(fields).index("incoming")] = 1.0
    return LinearPolicy(w, 0.0, fields)


def test_learned_linear_policy_round_trips_through_the_config(tmp_path):
    env = SeatEnv(BEER, "retailer")
    policy = pass_through_policy(env.observation_fields)
    path = policy.save(tmp_path / "pass_through.npz")
    # trained in the environment ...
    _, _, info = play(env, policy=policy)
    env.close()
    # ... seated through the scenario, as an experiment would
    learned = ca.run(beer_game_with("retailer", {"policy": "learned", "path": str(path)}))
    reference = ca.run(beer_game_with("retailer", {"policy": "pass_through"}))
    assert learned.summary["team_cost"] == reference.summary["team_cost"]
    assert learned.summary["cost"] == reference.summary["cost"]
    assert learned.summary["team_cost"] == info["summary"]["team_cost"]
    loaded = LinearPolicy.load(path)
    assert loaded.fields == env.observation_fields
    assert np.array_equal(loaded.weights, policy.weights)


def test_learned_pickled_callable_and_python_callable(tmp_path):
    policy = pass_through_policy(SeatEnv(BEER, "factory").observation_fields)
    path = tmp_path / "policy.pkl"
    path.write_bytes(pickle.dumps(policy))
    from_pickle = ca.run(beer_game_with("factory", {"policy": "learned", "path": str(path)}))
    model = ChannelModel(BEER)
    model.set_ordering_policy("factory", Learned(policy))
    model.run()
    reference = ca.run(beer_game_with("factory", {"policy": "pass_through"}))
    assert from_pickle.summary["cost"] == reference.summary["cost"]
    assert model.summary()["cost"] == reference.summary["cost"]


def test_learned_policy_refuses_other_layouts_and_missing_files(tmp_path):
    shared = ca.config.load_config(BULLWHIP, ["strategy=cooperative"])
    env = SeatEnv(shared, "retailer", periods=2)
    path = pass_through_policy(env.observation_fields).save(tmp_path / "shared.npz")
    env.close()
    with pytest.raises(ConfigError, match="trained on observation fields"):
        ca.run(beer_game_with("retailer", {"policy": "learned", "path": str(path)}))
    with pytest.raises(ConfigError, match="no such file"):
        ca.run(beer_game_with("retailer", {"policy": "learned", "path": "nowhere.npz"}))
    with pytest.raises(ConfigError, match="unknown policy file type"):
        ca.run(beer_game_with("retailer", {"policy": "learned", "path": "policy.json"}))


def test_learned_policy_is_registered_with_the_package():
    code = (
        "import channel_agents, channel_agents.model;"
        "from channel_agents.policies.ordering import ORDERING_POLICIES;"
        "assert 'learned' in ORDERING_POLICIES"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, capture_output=True)


# --------------------------------------------------------------------------- docs example


def test_training_example_runs_with_a_tiny_budget(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "train_beer_retailer", ROOT / "docs" / "examples" / "train_beer_retailer.py"
    )
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "retailer.npz"
    args = ["--iterations", "2", "--population", "4", "--elite", "2", "--out", str(out)]
    results = example.main([*args, "--quiet"])
    assert out.is_file()
    assert results["sterman"] == pytest.approx(2254.74, abs=0.005)
    assert results["central_plan"] == pytest.approx(132.0, abs=1e-6)
    assert results["learned_via_config"] == results["learned"]
    assert results["learned"] < results["sterman"]
