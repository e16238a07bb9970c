"""Siloed versus cooperative, statistically: paired replications with common random numbers.

Each replication runs every arm with the same seed, so the arms see the same
end demand and the same consumers; the difference between two arms is then
measured replication by replication (a paired comparison), and its 95 %
confidence interval uses Student's t with ``replications - 1`` degrees of
freedom.

>>> from channel_agents.compare import compare
>>> table = compare("configs/three_tier.yaml", replications=5, periods=60)
>>> sorted(table.metrics)[:2]
['bullwhip.manufacturer', 'bullwhip.retailer_north']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from channel_agents.config import LEVERS, ConfigError, StrategyLevers, load_config
from channel_agents.strategies import PRESETS

HEADLINE = (
    "consumer_surplus",
    "retail_price",
    "units_sold",
    "fill_rate",
    "channel_profit",
    "team_cost",
)


def replication_seeds(seed: int, replications: int) -> list[int]:
    """Independent per-replication seeds from one master seed (numpy SeedSequence)."""
    children = np.random.SeedSequence(seed).spawn(replications)
    return [int(c.generate_state(1, dtype=np.uint32)[0]) for c in children]


def arm_overrides(arm: str) -> list[str]:
    """``--set`` overrides for an arm: a preset name, or a preset plus levers
    (``siloed+information=shared+pricing=joint``)."""
    name, *levers = arm.split("+")
    if name not in PRESETS:
        raise ConfigError(
            f"unknown strategy {name!r} in arm {arm!r}; presets: {', '.join(PRESETS)}",
            path="--arms",
        )
    if not levers:
        return [f"strategy={name}"]
    values = PRESETS[name].model_dump()
    for item in levers:
        key, _, value = item.partition("=")
        if key not in values:
            raise ConfigError(
                f"unknown lever {key!r} in arm {arm!r}; levers: {', '.join(values)}", path="--arms"
            )
        values[key] = value
    try:
        StrategyLevers(**values)
    except Exception as exc:  # pydantic's message names the lever and the allowed values
        raise ConfigError(f"arm {arm!r}: {exc.errors()[0]['msg']}", path="--arms") from None  # type: ignore[attr-defined]
    body = ", ".join(f"{k}: {v}" for k, v in values.items())
    return [f"strategy={{{body}}}"]


NOT_METRICS = ("periods", "warmup", "seed", "config")


def summary_leaves(summary: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """Every leaf of a run summary as (``metric``, ``metric.member`` or
    ``by_product.<product>.<field>``, value); ``by_product`` only when the scenario has
    several products (with one, its values are the totals)."""
    for key, value in summary.items():
        if key in NOT_METRICS:
            continue
        if key == "by_product":
            if isinstance(value, dict) and len(value) > 1:
                for product, fields in value.items():
                    for field_name, v in fields.items():
                        yield f"{key}.{product}.{field_name}", v
        elif isinstance(value, dict):
            for sub, v in value.items():
                yield f"{key}.{sub}", v
        else:
            yield key, value


def flatten(summary: dict[str, Any]) -> dict[str, float]:
    """Numeric summary values as flat ``metric`` / ``metric.member`` keys (None dropped)."""
    return {
        k: float(v)
        for k, v in summary_leaves(summary)
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


@dataclass
class Comparison:
    """Per metric: each arm's mean, the paired difference B - A, its 95 % CI, relative change."""

    arms: list[str]
    replications: int
    seeds: list[int]
    values: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # metric -> arm -> runs

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        a, b = self.arms[0], self.arms[-1]
        out: dict[str, dict[str, Any]] = {}
        for metric, by_arm in self.values.items():
            if not all(arm in by_arm for arm in self.arms):
                continue
            row: dict[str, Any] = {arm: float(np.mean(by_arm[arm])) for arm in self.arms}
            diff = by_arm[b] - by_arm[a]
            mean = float(np.mean(diff))
            row["diff"] = mean
            row["ci95"] = list(confidence_interval(diff))
            row["relative"] = mean / row[a] if abs(row[a]) > 1e-12 else None
            out[metric] = row
        return out

    def to_json(self) -> dict[str, Any]:
        return {"arms": self.arms, "replications": self.replications, "metrics": self.metrics}


def confidence_interval(diff: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Student-t interval for the mean of paired differences."""
    n = len(diff)
    mean = float(np.mean(diff))
    if n < 2:
        return (mean, mean)
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * np.std(diff, ddof=1) / np.sqrt(n))
    return (mean - half, mean + half)


def compare(
    config: str,
    arms: tuple[str, ...] | list[str] = ("siloed", "cooperative"),
    *,
    replications: int = 20,
    seed: int = 0,
    overrides: list[str] | tuple[str, ...] = (),
    periods: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Comparison:
    """Run every arm ``replications`` times with shared seeds and compare them."""
    from channel_agents.api import run

    extra = list(overrides) + ([f"periods={periods}"] if periods else [])
    per_arm = {arm: extra + arm_overrides(arm) for arm in arms}
    for over in per_arm.values():  # validate every arm before running anything
        load_config(config, over)
    seeds = replication_seeds(seed, replications)
    result = Comparison(list(arms), replications, seeds)
    done, total = 0, replications * len(arms)
    collected: dict[str, dict[str, list[float]]] = {}
    for s in seeds:
        for arm in arms:
            r = run(config, seed=s, overrides=per_arm[arm], keep_series=False)
            values = flatten(r.summary)
            for metric, v in values.items():
                collected.setdefault(metric, {}).setdefault(arm, []).append(v)
            done += 1
            if progress:
                progress(done, total)
    for metric, by_arm in collected.items():
        if all(len(by_arm.get(arm, [])) == replications for arm in arms):
            result.values[metric] = {arm: np.array(v) for arm, v in by_arm.items()}
    return result


def lever_attribution(
    config: str, *, replications: int = 20, seed: int = 0, overrides=(), periods=None, progress=None
) -> dict[str, dict[str, Any]]:
    """Consumer-surplus gain of switching each lever alone from siloed to cooperative
    (and all together), each a paired comparison against the siloed arm."""
    coop = PRESETS["cooperative"].model_dump()
    siloed = PRESETS["siloed"].model_dump()
    arms = ["siloed"]
    for lever in LEVERS:
        if lever in coop and coop[lever] != siloed[lever]:
            arm = f"siloed+{lever}={coop[lever]}"
            if lever == "replenishment":  # echelon ordering reads point-of-sale data
                arm += "+information=shared"
            arms.append(arm)
    arms.append("cooperative")
    table = compare(config, arms, replications=replications, seed=seed, overrides=overrides,
                    periods=periods, progress=progress)  # fmt: skip
    cs = table.values.get("consumer_surplus")
    out: dict[str, dict[str, Any]] = {}
    if cs is None:
        return out
    for arm in arms[1:]:
        diff = cs[arm] - cs["siloed"]
        label = "all levers" if arm == "cooperative" else arm.split("+")[1]
        out[label] = {
            "consumer_surplus_gain": float(np.mean(diff)),
            "ci95": list(confidence_interval(diff)),
        }
    return out


def plot_comparison(table: Comparison, path: str, title: str = "") -> None:
    """Bar chart: each arm's mean with 95 % intervals, for the headline consumer metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in HEADLINE if m in table.values and m != "team_cost"]
    bullwhip = [m for m in table.values if m.startswith("bullwhip.")]
    if bullwhip:  # the most amplified tier under the first arm shows the bullwhip best
        metrics.append(max(bullwhip, key=lambda m: float(np.mean(table.values[m][table.arms[0]]))))
    fig, axes = plt.subplots(1, len(metrics), figsize=(3.0 * len(metrics), 3.4))
    axes = np.atleast_1d(axes)
    colors = ["#d62728", "#2ca02c", "#1f77b4", "#9467bd", "#ff7f0e", "#8c564b"]
    for ax, metric in zip(axes, metrics, strict=True):
        means, errs = [], []
        for arm in table.arms:
            v = table.values[metric][arm]
            means.append(float(np.mean(v)))
            half = (confidence_interval(v)[1] - float(np.mean(v))) if len(v) > 1 else 0.0
            errs.append(half)
        ax.bar(range(len(table.arms)), means, yerr=errs, capsize=4, color=colors[: len(table.arms)])
        ax.set_xticks(
            range(len(table.arms)), [a.replace("+", "\n+") for a in table.arms], fontsize=8
        )
        ax.set_title(metric.replace("_", " "), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(
        title or f"{' vs '.join(table.arms)} ({table.replications} paired replications, 95 % CI)",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
