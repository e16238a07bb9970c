"""Extremes, long runs and safe defaults: runs complete or refuse clearly, memory stays flat."""

from __future__ import annotations

import numpy as np
import pytest

import channel_agents as ca
from channel_agents.cli import main
from channel_agents.config import ConfigError, load_config
from channel_agents.model import ChannelModel
from channel_agents.network import layered_network

BEER = "configs/beer_game.yaml"


def rss_bytes() -> int:
    """Resident memory of this process (Linux /proc), in bytes."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    import os

    return pages * os.sysconf("SC_PAGE_SIZE")


def test_a_million_beer_game_periods_run_in_flat_memory():
    model = ChannelModel(load_config(BEER, ["periods=1000000"]), keep_series=False)
    for _ in range(100_000):
        model.step()
    before = rss_bytes()
    model.run()
    after = rss_bytes()
    assert model.period == 1_000_000
    assert after - before < 20 * 2**20  # 900,000 more periods: not a byte per period
    s = model.summary()
    assert s["periods"] == 1_000_000 and np.isfinite(s["team_cost"])


@pytest.mark.parametrize(
    "override",
    [
        "markets.customers.demand={kind: constant, value: 0}",
        "markets.customers.demand={kind: step, before: 4, after: 4000, at: 5}",
        "edges.1.lead_time=500",
        "edges.2.order_delay=300",
        "edges.0.capacity=0",
        "defaults.ordering={policy: fixed, quantity: 1000000000}",
    ],
)
def test_extreme_inputs_complete_with_every_invariant_holding(override):
    s = ca.run(BEER, overrides=[override, "periods=80"], check=True).summary
    assert s["periods"] == 80
    assert all(v is None or np.isfinite(v) for v in s["cost"].values())


def test_zero_capacity_starves_the_chain_but_conserves_goods():
    s = ca.run(BEER, overrides=["edges.0.capacity=0", "periods=60"], check=True).summary
    assert s["fill_rate"] < 0.5


def test_one_member_channel_runs():
    cfg = {
        "members": {
            "source": {"role": "source", "unit_cost": 1},
            "shop": {"role": "retailer", "stock": 10, "pricing": {"policy": "fixed", "price": 3}},
        },
        "edges": [{"from": "source", "to": "shop", "initial_flow": 7}],
        "markets": [
            {"name": "m", "retailers": ["shop"], "demand": {"kind": "linear", "a": 10, "b": 1}}
        ],
        "defaults": {"ordering": {"policy": "pass_through"}},
        "periods": 20,
    }
    s = ca.run(cfg, check=True).summary
    assert s["units_sold"] == pytest.approx(7.0)
    assert s["profit"]["shop"] == pytest.approx(7 * (3 - 1))


def test_a_two_thousand_member_channel_runs_with_invariants():
    cfg = layered_network(80, 320, 1600, seed=3)
    cfg["defaults"] = {"ordering": {"policy": "order_up_to", "forecast_window": 4}}
    cfg["periods"] = 15
    model = ChannelModel(load_config(cfg), check=True)
    model.run()
    assert model.topology.n_members == 2001
    assert np.isfinite(model.summary()["channel_profit"])


def test_prices_at_their_bounds_run():
    s = ca.run("configs/theory/double_marginalization.yaml", overrides=[
        "members.source.unit_cost=49.999", "periods=20",
    ], check=True).summary  # fmt: skip
    assert s["units_sold"] == pytest.approx(0.0, abs=1e-3)


def test_yaml_is_loaded_safely_so_python_tags_are_refused(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("name: !!python/object/apply:os.system ['echo owned']\n")
    with pytest.raises(ConfigError) as err:
        load_config(evil)
    assert "YAML" in str(err.value)


def test_bad_input_writes_nothing_under_out(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["run", BEER, "--set", "periods=0", "--out", str(out)]) == 2
    assert not out.exists()
    assert "periods" in capsys.readouterr().err


def test_out_writes_summary_and_parquet_series(tmp_path):
    import json

    import pandas as pd

    out = tmp_path / "run"
    assert main(["run", BEER, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    series = pd.read_parquet(out / "series.parquet")
    assert summary["team_cost"] == pytest.approx(2254.74, rel=1e-4)
    assert len(series) == 36 * 4
    assert series.groupby("member")["holding_cost"].sum().sum() + series[
        "backlog_cost"
    ].sum() == pytest.approx(2254.74, rel=1e-4)
    assert not any(p.name.startswith(".partial") for p in out.iterdir())
