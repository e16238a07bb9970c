"""The compiled kernels (kernels.py) against independent references: numpy's own sums,
minimum and maximum, Sterman's formulas in numpy, and the conservation laws."""

from __future__ import annotations

import json

import numpy as np
import pytest

from channel_agents.config import load_config
from channel_agents.invariants import Invariants
from channel_agents.kernels import np_max, np_min, np_sum, row_sums, sterman
from channel_agents.model import ChannelModel


def bits(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64).view(np.int64)


@pytest.mark.parametrize(
    "n", [0, 1, 2, 7, 8, 9, 15, 16, 17, 127, 128, 129, 255, 256, 300, 1000, 5003]
)
def test_np_sum_is_numpys_sum_bit_for_bit(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n) * 10.0 ** rng.uniform(-8, 8, n)
    assert bits(np_sum(a)) == bits(a.sum())


def test_row_sums_are_numpys_axis_sums_bit_for_bit():
    rng = np.random.default_rng(1)
    for p in (1, 2, 3, 7, 8, 9, 16, 33, 200):
        a = rng.standard_normal((5, p)) * 10.0 ** rng.uniform(-8, 8, (5, p))
        out = np.empty(5)
        row_sums(a, out)
        assert (bits(out) == bits(a.sum(axis=1))).all()


def test_signed_zero_sums_like_numpy():
    for values in ([-0.0], [-0.0, -0.0], [0.0, -0.0], [-0.0] * 9, [-0.0] * 200):
        a = np.array(values)
        assert bits(np_sum(a)) == bits(a.sum())


def test_min_and_max_follow_numpy_on_signed_zeros_and_nan():
    cases = [(0.0, -0.0), (-0.0, 0.0), (1.0, np.nan), (np.nan, 1.0), (2.0, 3.0), (3.0, 2.0)]
    for a, b in cases:
        assert bits(np_min(a, b)) == bits(np.minimum(np.array([a]), np.array([b]))[0])
        assert bits(np_max(a, b)) == bits(np.maximum(np.array([a]), np.array([b]))[0])


def test_sterman_kernel_is_the_rule_in_numpy():
    rng = np.random.default_rng(2)
    n, p = 4, 3
    incoming, stock, backlog, line = (rng.uniform(0, 20, (n, p)) for _ in range(4))
    expected = rng.uniform(0, 10, (n, p))
    theta, alpha, beta, s_prime = (rng.uniform(0, 1, n) for _ in range(4))
    s_prime = s_prime * 30
    col = [x[:, None] for x in (theta, alpha, beta, s_prime)]
    want_expected = col[0] * incoming + (1.0 - col[0]) * expected
    want = np.maximum(want_expected + col[1] * (col[3] - (stock - backlog) - col[2] * line), 0.0)
    got = sterman(incoming, stock, backlog, line, expected, theta, alpha, beta, s_prime)
    assert (bits(got) == bits(want)).all()
    assert (bits(expected) == bits(want_expected)).all()  # updated in place


@pytest.mark.parametrize(
    "config", ["configs/beer_game.yaml", "configs/theory/double_marginalization.yaml"]
)
def test_compiled_period_conserves_goods_and_money(config):
    model = ChannelModel(config)
    invariants = Invariants(model)
    for _ in range(40):
        model.step()
        invariants.check()
    assert model.__dict__.get("_plan")  # these scenarios took the kernels


def test_compiled_period_with_returns_conserves_goods_and_money():
    """Order-up-to with returns allowed and a short, noisy demand: negative orders."""
    import yaml

    with open("configs/beer_game.yaml") as fh:
        data = yaml.safe_load(fh)
    data["periods"] = 60
    data["defaults"]["allow_returns"] = True
    data["defaults"]["ordering"] = {"policy": "order_up_to", "forecast_window": 2}
    data["markets"][0]["demand"] = {"kind": "normal", "mean": 8, "sd": 6}
    model = ChannelModel(data)
    invariants = Invariants(model)
    for _ in range(60):
        model.step()
        invariants.check()
    assert model.__dict__.get("_plan")
    assert model.logistics.returned_total.sum() > 0  # returns happened


def test_row_sums_of_negative_zeros_like_numpy():
    for p in (1, 3, 9, 200):
        a = np.full((2, p), -0.0)
        out = np.empty(2)
        row_sums(a, out)
        assert (bits(out) == bits(a.sum(axis=1))).all()


def test_s_S_kernel_is_the_rule_in_numpy():
    from channel_agents.kernels import s_S

    rng = np.random.default_rng(3)
    n, p = 5, 2
    stock, backlog, line = (rng.uniform(0, 30, (n, p)) for _ in range(3))
    s, S = rng.uniform(10, 40, n), rng.uniform(40, 60, n)
    position = stock - backlog + line
    want = np.where(position <= s[:, None], S[:, None] - position, 0.0)
    assert (bits(s_S(stock, backlog, line, s, S)) == bits(want)).all()


def test_a_copied_model_continues_as_the_original():
    """copy.deepcopy mid-run (the classroom probes a game so): the copy's compiled
    period works on its own buffers and continues exactly as the original."""
    import copy

    model = ChannelModel("configs/beer_game.yaml")
    for _ in range(10):
        model.step()
    twin = copy.deepcopy(model)
    for _ in range(26):
        model.step()
        twin.step()
    assert twin.__dict__.get("_plan")
    assert twin.summary()["team_cost"] == model.summary()["team_cost"]
    assert (twin.logistics.stock == model.logistics.stock).all()


@pytest.mark.parametrize(
    "config",
    [
        "configs/beer_game.yaml",
        "configs/theory/double_marginalization.yaml",
        "configs/theory/double_marginalization_isoelastic.yaml",
        "configs/theory/bullwhip.yaml",
        "configs/theory/bargaining.yaml",
    ],
)
def test_compiled_and_numpy_periods_agree_bit_for_bit(config):
    """Two implementations of one period: the compiled kernels and the numpy phases
    (which ``check=True`` runs) must give the same summary, to the last bit."""
    compiled = ChannelModel(load_config(config), keep_series=False)
    compiled.run()
    numpy_path = ChannelModel(load_config(config), keep_series=False, check=True)
    numpy_path.run()
    assert compiled.__dict__.get("_plan") and not numpy_path.__dict__.get("_plan")
    assert json.dumps(compiled.summary()) == json.dumps(numpy_path.summary())
