"""Analysis of an experiment from its store (pandas), and the files it writes.

Per design point and arm, for every kept metric: n (successful runs), mean,
sd, a 95 % Student-t confidence interval and its half-width. Paired
differences between arms (last minus first, or each minus the first), per
design point, paired by replication (the arms share seeds, so a difference
nets out the common demand and consumers). With ``precision:`` in the spec,
the replications needed for the requested half-width. For ``sobol`` designs,
first-order and total Sobol' indices (SALib) of each arm's point means and of
the paired difference.

Results are computed from the runs sorted by (point, arm, metric,
replication), never by completion order, so summary.csv is byte-identical for
the same spec and seed whatever the executor, the worker count or how often
the experiment was interrupted; it holds no timings.
"""

from __future__ import annotations

import math
import platform
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from channel_agents.experiments.spec import precision_target, sobol_problem
from channel_agents.experiments.store import atomic_write_bytes, atomic_write_text

if TYPE_CHECKING:
    from channel_agents.experiments.runner import Outcome, Plan

LEVEL = 0.95
HEADLINE = (
    "consumer_surplus",
    "retail_price",
    "units_sold",
    "fill_rate",
    "channel_profit",
    "team_cost",
)
STAT_COLUMNS = [
    "kind",
    "arm",
    "metric",
    "n",
    "failed",
    "mean",
    "sd",
    "ci_low",
    "ci_high",
    "half_width",
    "relative",
    "replications_needed",
]
MAX_REPORT_ROWS = 40


@dataclass
class Analysis:
    summary: pd.DataFrame  # the rows of summary.csv
    sobol: pd.DataFrame | None = None
    failures: pd.DataFrame | None = None
    runs: int = 0
    notes: list[str] = field(default_factory=list)

    def rows(self, metric: str, kind: str = "arm") -> pd.DataFrame:
        s = self.summary
        return s[(s["metric"] == metric) & (s["kind"] == kind)]


def diff_pairs(plan: Plan) -> list[tuple[int, int]]:
    """(first, other) arm indexes of the paired differences (other minus first)."""
    n = len(plan.arms)
    if n < 2:
        return []
    if plan.spec.differences == "each_minus_first":
        return [(0, i) for i in range(1, n)]
    return [(0, n - 1)]


def diff_label(plan: Plan, pair: tuple[int, int]) -> str:
    return f"{plan.arms[pair[1]]} - {plan.arms[pair[0]]}"


def t_half_width(sd: np.ndarray, n: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """Half-width of the Student-t interval of a mean (NaN below two observations)."""
    n = np.asarray(n, dtype=float)
    sd = np.asarray(sd, dtype=float)
    out = np.full(n.shape, np.nan)
    ok = n >= 2
    out[ok] = stats.t.ppf(0.5 + level / 2, n[ok] - 1) * sd[ok] / np.sqrt(n[ok])
    return out


def replications_needed(sd: float, half_width: float, level: float = LEVEL) -> float:
    """Smallest n with t(n-1) sd / sqrt(n) <= half_width (NaN when unknown)."""
    if not (math.isfinite(sd) and math.isfinite(half_width)) or half_width <= 0:
        return float("nan")
    if sd == 0:
        return 2.0
    q = 0.5 + level / 2
    n = max(2, math.ceil((stats.norm.ppf(q) * sd / half_width) ** 2))
    for _ in range(100):
        new = max(2, math.ceil((stats.t.ppf(q, n - 1) * sd / half_width) ** 2))
        if new == n:
            break
        n = new
    return float(n)


def analyze(plan: Plan, frame: pd.DataFrame) -> Analysis:
    """Summaries, paired differences, replications needed and Sobol' indices."""
    metrics = plan.metrics
    n_points, n_arms = len(plan.points), len(plan.arms)
    arm_index = {a: i for i, a in enumerate(plan.arms)}
    metric_index = {m: i for i, m in enumerate(metrics)}
    runs = frame.copy()
    for m in metrics:
        if m not in runs.columns:
            runs[m] = np.nan
    runs["arm_index"] = runs["arm"].map(arm_index) if len(runs) else pd.Series(dtype=int)
    runs = runs.sort_values(["point", "arm_index", "replication"], kind="mergesort")
    ok = runs[runs["status"] == "ok"]
    bad = runs[runs["status"] != "ok"]

    long = ok.melt(
        id_vars=["point", "arm_index", "replication"], value_vars=metrics, var_name="metric"
    )
    long["metric_index"] = long["metric"].map(metric_index)
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype(float)
    long = long.dropna(subset=["value"])
    long = long.sort_values(["point", "arm_index", "metric_index", "replication"], kind="mergesort")

    full = pd.MultiIndex.from_product(
        [range(n_points), range(n_arms), range(len(metrics))],
        names=["point", "arm_index", "metric_index"],
    )
    g = long.groupby(["point", "arm_index", "metric_index"], sort=True)["value"]
    arm_stats = pd.DataFrame({"n": g.count(), "mean": g.mean(), "sd": g.std(ddof=1)})
    arm_stats = arm_stats.reindex(full).reset_index()
    arm_stats["n"] = arm_stats["n"].fillna(0).astype(int)
    failed = bad.groupby(["point", "arm_index"]).size()
    arm_stats["failed"] = [
        int(failed.get((p, a), 0))
        for p, a in zip(arm_stats["point"], arm_stats["arm_index"], strict=True)
    ]
    arm_stats["kind"] = "arm"
    arm_stats["order"] = arm_stats["arm_index"]
    arm_stats["arm"] = [plan.arms[i] for i in arm_stats["arm_index"]]
    arm_stats["relative"] = np.nan
    arm_stats["base_mean"] = arm_stats["mean"]

    parts = [arm_stats]
    values = long.set_index(["arm_index", "point", "metric_index", "replication"])["value"]
    err_keys = {(p, a, r) for p, a, r in zip(bad["point"], bad["arm_index"], bad["replication"],
                                              strict=True)}  # fmt: skip
    for k, pair in enumerate(diff_pairs(plan)):
        a, b = pair
        va = values.xs(a, level="arm_index") if a in values.index.levels[0] else values.iloc[:0]
        vb = values.xs(b, level="arm_index") if b in values.index.levels[0] else values.iloc[:0]
        joined = pd.concat({"a": va, "b": vb}, axis=1, join="inner").sort_index()
        joined["d"] = joined["b"] - joined["a"]
        gd = joined.groupby(level=["point", "metric_index"], sort=True)
        d = pd.DataFrame(
            {
                "n": gd["d"].count(),
                "mean": gd["d"].mean(),
                "sd": gd["d"].std(ddof=1),
                "base_mean": gd["a"].mean(),
            }  # fmt: skip
        )
        d = d.reindex(pd.MultiIndex.from_product(
            [range(n_points), range(len(metrics))], names=["point", "metric_index"]
        )).reset_index()  # fmt: skip
        d["n"] = d["n"].fillna(0).astype(int)
        fails = {}
        for p in range(n_points):
            fails[p] = sum(
                ((p, a, r) in err_keys) or ((p, b, r) in err_keys)
                for r in range(plan.spec.replications)
            )
        d["failed"] = [fails[p] for p in d["point"]]
        d["kind"] = "diff"
        d["order"] = n_arms + k
        d["arm"] = diff_label(plan, pair)
        with np.errstate(divide="ignore", invalid="ignore"):
            rel = d["mean"] / d["base_mean"]
        d["relative"] = np.where(d["base_mean"].abs() > 1e-12, rel, np.nan)
        parts.append(d)
    table = pd.concat(parts, ignore_index=True)
    half = t_half_width(table["sd"].to_numpy(), table["n"].to_numpy())
    table["half_width"] = half
    table["ci_low"] = table["mean"] - half
    table["ci_high"] = table["mean"] + half
    table["metric"] = [metrics[i] for i in table["metric_index"]]

    needed = np.full(len(table), np.nan)
    for metric, target in plan.spec.precision.items():
        value, relative = precision_target(target, None, metric)
        rows = np.flatnonzero(table["metric"].to_numpy() == metric)
        for i in rows:
            scale = abs(table["base_mean"].iat[i]) if relative else 1.0
            needed[i] = replications_needed(float(table["sd"].iat[i]), value * scale)
    table["replications_needed"] = pd.array(
        [None if math.isnan(x) else int(x) for x in needed], dtype="Int64"
    )
    table = table.sort_values(["point", "order", "metric_index"], kind="mergesort")
    factor_cols = pd.DataFrame([plan.factor_columns(p) for p in table["point"]],
                               index=table.index)  # fmt: skip
    summary = pd.concat([table[["point"]], factor_cols, table[STAT_COLUMNS]], axis=1)
    summary = summary.reset_index(drop=True)

    result = Analysis(summary=summary, runs=len(runs))
    if len(bad):
        result.failures = bad[["point", "arm", "replication", "seed", "error"]].reset_index(
            drop=True
        )
    if plan.spec.design == "sobol":
        result.sobol = sobol_indices(plan, summary, result.notes)
    return result


def sobol_indices(plan: Plan, summary: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """First-order and total Sobol' indices (SALib) of each arm's and each difference's
    point means, per metric."""
    from SALib.analyze import sobol

    from channel_agents.experiments.seeds import design_seed

    problem = sobol_problem(plan.factors)
    rows = []
    labels = [("arm", a) for a in plan.arms] + [("diff", diff_label(plan, p))
                                               for p in diff_pairs(plan)]  # fmt: skip
    skipped = []
    for kind, label in labels:
        for metric in plan.metrics:
            sel = summary[(summary["kind"] == kind) & (summary["arm"] == label)
                          & (summary["metric"] == metric)].sort_values("point")  # fmt: skip
            y = sel["mean"].to_numpy(dtype=float)
            if len(y) != len(plan.points) or not np.all(np.isfinite(y)):
                skipped.append(f"{label}: {metric}")
                continue
            if np.ptp(y) == 0:
                res = {
                    "S1": [np.nan] * len(plan.factors),
                    "S1_conf": [np.nan] * len(plan.factors),
                    "ST": [np.nan] * len(plan.factors),
                    "ST_conf": [np.nan] * len(plan.factors),
                }
            else:  # fmt: skip
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    res = sobol.analyze(problem, y, calc_second_order=False, num_resamples=100,
                                        conf_level=LEVEL, seed=design_seed(plan.spec.seed) % 2**32)  # fmt: skip
            for j, f in enumerate(plan.factors):
                rows.append({"kind": kind, "arm": label, "metric": metric, "factor": f.name,
                             "S1": float(res["S1"][j]), "S1_conf": float(res["S1_conf"][j]),
                             "ST": float(res["ST"][j]), "ST_conf": float(res["ST_conf"][j])})  # fmt: skip
    if skipped:
        notes.append(
            "Sobol' indices left out where a point mean is undefined (failed runs or a null "
            f"metric): {', '.join(skipped[:10])}{' ...' if len(skipped) > 10 else ''}"
        )
    return pd.DataFrame(rows, columns=["kind", "arm", "metric", "factor", "S1", "S1_conf", "ST",
                                       "ST_conf"])  # fmt: skip


# --------------------------------------------------------------------------- files


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """CSV with full-precision floats (shortest round-trip repr), empty for missing."""
    return frame.to_csv(index=False, lineterminator="\n", na_rep="").encode("utf-8")


def plot_metric(plan: Plan) -> str:
    if plan.spec.plot.metric in plan.metrics:
        return plan.spec.plot.metric
    return "consumer_surplus" if "consumer_surplus" in plan.metrics else plan.metrics[0]


def write_outputs(
    plan: Plan, result: Analysis, out: Path, outcome: Outcome, argv: list[str] | None = None
) -> dict[str, str]:
    """summary.csv (+ sobol.csv), plot.png, report.md, provenance.json, each atomically."""
    files = {}
    atomic_write_bytes(out / "summary.csv", csv_bytes(result.summary))
    files["summary"] = str(out / "summary.csv")
    if result.sobol is not None:
        atomic_write_bytes(out / "sobol.csv", csv_bytes(result.sobol))
        files["sobol"] = str(out / "sobol.csv")
    try:
        plot(plan, result, out / "plot.png")
        files["plot"] = str(out / "plot.png")
    except Exception as exc:  # noqa: BLE001 - a plot is never worth losing the results
        result.notes.append(f"the plot could not be drawn: {type(exc).__name__}: {exc}")
    atomic_write_text(out / "report.md", report(plan, result, outcome, argv, "plot" in files))
    files["report"] = str(out / "report.md")
    atomic_write_text(out / "provenance.json", provenance(plan, outcome, out, argv))
    files["provenance"] = str(out / "provenance.json")
    files["runs"] = str(out / "runs")
    return files


# --------------------------------------------------------------------------- plot


def plot(plan: Plan, result: Analysis, path: Path) -> None:
    """The plot metric (consumer surplus by default) by arm across the main factor,
    with 95 % intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import io

    import matplotlib.pyplot as plt

    metric = plot_metric(plan)
    rows = result.rows(metric)
    colors = ["#d62728", "#2ca02c", "#1f77b4", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
              "#7f7f7f"]  # fmt: skip
    reps = plan.spec.replications
    what = f"{reps} replication{'s' if reps != 1 else ''}" + (", 95 % CI" if reps > 1 else "")
    title = f"{plan.name}: {metric.replace('_', ' ')} by arm ({what})"
    main = plan.spec.plot.factor or (plan.factors[0].name if plan.factors else None)
    if main is None:
        fig, ax = plt.subplots(figsize=(max(4.0, 1.3 * len(plan.arms) + 2), 3.8))
        means = rows["mean"].to_numpy()
        errs = np.nan_to_num(rows["half_width"].to_numpy())
        ax.bar(range(len(plan.arms)), means, yerr=errs, capsize=4,
               color=[colors[i % len(colors)] for i in range(len(plan.arms))])  # fmt: skip
        ax.set_xticks(range(len(plan.arms)), [a.replace("+", "\n+") for a in plan.arms],
                      fontsize=7)  # fmt: skip
        ax.set_ylabel(metric)
        panels = [ax]
    else:
        factor = next(f for f in plan.factors if f.name == main)
        others = [f.name for f in plan.factors if f.name != main]
        combos: list[tuple[Any, ...]] = []
        if plan.spec.design == "full_factorial" and others:
            for p in range(len(plan.points)):
                c = tuple(plan.factor_columns(p)[o] for o in others)
                if c not in combos:
                    combos.append(c)
        pooled = len(combos) > 6
        groups = [()] if (pooled or not combos) else combos
        fig, axes = plt.subplots(1, len(groups), figsize=(4.6 * len(groups) + 0.6, 3.9),
                                 squeeze=False, sharey=True)  # fmt: skip
        panels = list(axes[0])
        levels = [factor.column(v) for v in (factor.grid() if factor.lo is None or
                                             factor.levels else [])]  # fmt: skip
        for ax, combo in zip(panels, groups, strict=True):
            for i, arm in enumerate(plan.arms):
                sel = rows[rows["arm"] == arm]
                if combo:
                    mask = np.ones(len(sel), dtype=bool)
                    for o, v in zip(others, combo, strict=True):
                        mask &= sel[o].to_numpy() == v
                    sel = sel[mask]
                x, y, e = _xy(sel, main, factor.categorical, levels, pooled)
                offset = (i - (len(plan.arms) - 1) / 2) * 0.08 if factor.categorical else 0.0
                lines = plan.spec.design == "full_factorial" and not factor.categorical
                style = "o-" if lines else "o"
                ax.errorbar(np.asarray(x, dtype=float) + offset, y, yerr=e, fmt=style, capsize=3,
                            ms=4, color=colors[i % len(colors)], label=arm, alpha=0.9)  # fmt: skip
            if factor.categorical:
                ax.set_xticks(range(len(levels)), [str(v) for v in levels], fontsize=8)
            ax.set_xlabel(main)
            if combo:
                ax.set_title(", ".join(f"{o}={v}" for o, v in zip(others, combo, strict=True)),
                             fontsize=9)  # fmt: skip
            elif pooled:
                ax.set_title(f"averaged over {', '.join(others)}", fontsize=9)
        panels[0].set_ylabel(metric)
        panels[-1].legend(fontsize=7, loc="best")
    for ax in panels:
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _xy(sel: pd.DataFrame, main: str, categorical: bool, levels: list[Any], pooled: bool):
    if pooled:  # mean over the other factors; interval from the points' half-widths
        g = sel.groupby(main, sort=True)
        keys = list(g.groups)
        y = g["mean"].mean().to_numpy()
        e = (g["half_width"].apply(lambda h: float(np.sqrt(np.nansum(h**2))) / max(len(h), 1))
             .to_numpy())  # fmt: skip
        xs = keys
    else:
        xs = list(sel[main])
        y = sel["mean"].to_numpy()
        e = np.nan_to_num(sel["half_width"].to_numpy())
    if categorical:
        x = [levels.index(v) if v in levels else np.nan for v in xs]
    else:
        x = [float(v) for v in xs]
    return x, y, np.nan_to_num(np.asarray(e, dtype=float))


# --------------------------------------------------------------------------- report


def _fmt(x: Any, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)) or x is pd.NA:
        return "-"
    if isinstance(x, float | np.floating):
        return f"{x:.{digits}g}"
    return str(x)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def results_table(plan: Plan, result: Analysis, metric: str) -> tuple[list[str], list[list[str]]]:
    """One row per design point: the factors, each arm's mean ± half-width, each
    difference with its interval. Without factors: one row per arm."""
    s = result.summary
    s = s[s["metric"] == metric]
    diffs = [diff_label(plan, p) for p in diff_pairs(plan)]

    def cell(r: Any, interval: bool) -> str:
        if not math.isfinite(r["half_width"]):
            return _fmt(r["mean"])
        if interval:
            return f"{_fmt(r['mean'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
        return f"{_fmt(r['mean'])} ± {_fmt(r['half_width'], 3)}"

    def find(kind: str, label: str, point: int = 0) -> Any:
        return s[(s["kind"] == kind) & (s["arm"] == label) & (s["point"] == point)].iloc[0]

    if not plan.factors:
        first = plan.arms[0]
        header = ["arm", "mean ± 95 % half-width", f"minus {first} [95 % CI]"]
        rows = []
        for arm in plan.arms:
            label = next((d for d in diffs if d.startswith(f"{arm} - ")), None)
            diff = cell(find("diff", label), True) if label and arm != first else ""
            rows.append([arm, cell(find("arm", arm), False), diff])
        return header, rows
    header = [f.name for f in plan.factors] + list(plan.arms)
    header += [f"{d} [95 % CI]" for d in diffs]
    rows = []
    for p in range(len(plan.points)):
        row = [_fmt(plan.factor_columns(p)[f.name]) for f in plan.factors]
        row += [cell(find("arm", arm, p), False) for arm in plan.arms]
        row += [cell(find("diff", d, p), True) for d in diffs]
        rows.append(row)
    return header, rows


def report(plan: Plan, result: Analysis, outcome: Outcome, argv: list[str] | None,
           has_plot: bool) -> str:  # fmt: skip
    import channel_agents

    spec = plan.spec
    lines = [f"# Experiment: {plan.name}", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    metric = plot_metric(plan)
    headline = [m for m in HEADLINE if m in plan.metrics]
    if metric not in headline:
        headline.insert(0, metric)
    else:
        headline.remove(metric)
        headline.insert(0, metric)
    lines += ["## Results", ""]
    if has_plot:
        lines += [f"![{metric} by arm](plot.png)", ""]
    for m in headline[:4]:
        header, rows = results_table(plan, result, m)
        lines += [f"### {m}", ""]
        lines.append(_md_table(header, rows[:MAX_REPORT_ROWS]))
        if len(rows) > MAX_REPORT_ROWS:
            lines.append(f"\n({len(rows) - MAX_REPORT_ROWS} more design points in summary.csv)")
        lines.append("")
    lines += [
        "Each arm's cell: mean ± half-width of its 95 % Student-t confidence interval over "
        "the replications. Differences are paired by replication (the arms share seeds) and "
        "their intervals are Student-t intervals of the paired differences. Every kept metric "
        "is in summary.csv.",
        "",
    ]
    if spec.precision:
        lines += ["## Replications for the requested precision", ""]
        rows = []
        s = result.summary
        for m, target in spec.precision.items():
            sel = s[s["metric"] == m]
            need = sel["replications_needed"].dropna()
            worst = int(need.max()) if len(need) else None
            rows.append([m, str(target), str(spec.replications),
                         "-" if worst is None else str(worst)])  # fmt: skip
        lines.append(_md_table(
            ["metric", "half-width wanted", "replications run", "needed (worst point/arm)"], rows
        ))  # fmt: skip
        lines += ["", "Per point and arm (and per difference) in summary.csv, column "
                  "`replications_needed`.", ""]  # fmt: skip
    if result.sobol is not None and len(result.sobol):
        lines += ["## Sobol' indices", "",
                  "First-order (S1) and total (ST) indices of the point means, SALib "
                  f"(Saltelli sample, N = {spec.samples}, 95 % bootstrap intervals); all in "
                  "sobol.csv.", ""]  # fmt: skip
        sb = result.sobol[result.sobol["metric"] == metric]
        rows = [[r.arm, r.factor, f"{_fmt(r.S1, 3)} ± {_fmt(r.S1_conf, 2)}",
                 f"{_fmt(r.ST, 3)} ± {_fmt(r.ST_conf, 2)}"] for r in sb.itertuples()]  # fmt: skip
        lines += [f"{metric}:", "", _md_table(["arm", "factor", "S1", "ST"], rows), ""]
    if result.failures is not None and len(result.failures):
        f = result.failures
        lines += ["## Failed runs", "",
                  f"{len(f)} run(s) raised an error; they are recorded in the store "
                  "(status `error`) and left out of every statistic (column `failed`).", ""]  # fmt: skip
        rows = [[str(r.point), r.arm, str(r.replication), str(r.seed), f"`{r.error}`"]
                for r in f.head(10).itertuples()]  # fmt: skip
        lines += [_md_table(["point", "arm", "replication", "seed", "error"], rows), ""]
    for note in result.notes:
        lines += [f"Note: {note}", ""]
    cmd = "channel-agents experiment " + " ".join(argv) if argv else None
    lines += ["## How this was produced", ""]
    if cmd:
        lines += [f"Command: `{cmd}`", ""]
    factors = []
    for f in plan.factors:
        where = " and ".join(f"`{p}`" for p in f.paths)
        if f.lo is None:
            what = ", ".join(str(f.column(v)) for v in f.values)
        else:
            what = f"range [{f.lo:g}, {f.hi:g}]" + (" (whole numbers)" if f.integer else "")
            if f.levels:
                what += f", {f.levels} levels"
        factors.append(f"- `{f.name}`: {where} = {what}")
    design = {"full_factorial": "full factorial",
              "latin_hypercube": f"Latin hypercube, {spec.samples} points (scipy.stats.qmc)",
              "sobol": f"Sobol' (SALib Saltelli sample, N = {spec.samples}, "
                       f"{len(plan.points)} points)"}[spec.design]  # fmt: skip
    lines += [
        f"- Spec: `{spec.file}`; base scenario: `{plan.scenario_file}`"
        + (
            f" with {', '.join(f'`{o}`' for o in plan.base_overrides)}"
            if plan.base_overrides
            else ""
        ),  # fmt: skip
        "- Arms: " + "; ".join(f"`{a}` (`{' '.join(plan.arm_overrides[a])}`)" for a in plan.arms),
        f"- Design: {design}; {len(plan.points)} design point(s) x {spec.replications} "
        f"replication(s) x {len(plan.arms)} arm(s) = {len(plan.tasks)} runs",
        *(["- Factors:", *["  " + x for x in factors]] if factors else []),
        f"- Seeds: master seed {spec.seed}; numpy SeedSequence(master).spawn(points), each "
        "point's child spawns one seed per replication; every arm runs a replication with the "
        "same seed (common random numbers). All seeds are in provenance.json.",
        f"- Runs: {outcome.new} new, {outcome.cached} taken from the store; "
        f"{outcome.failed} failed (recorded, left out of the statistics)",
        f"- Executor: {outcome.executor}"
        + (f" ({outcome.workers} workers)" if outcome.executor not in ("none", "serial") else ""),
        f"- channel-agents {channel_agents.__version__}, git commit {plan.commit}; "
        f"Python {platform.python_version()} on {platform.platform()}",
        f"- Started {outcome.started}, finished {outcome.ended}",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- provenance


def package_versions() -> dict[str, str | None]:
    from importlib import metadata

    out: dict[str, str | None] = {}
    for name in ("channel-agents", "mesa", "numpy", "scipy", "pandas", "pyarrow", "pydantic",
                 "networkx", "SALib", "dask", "distributed", "matplotlib", "rich"):  # fmt: skip
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    import channel_agents

    out["channel_agents.__version__"] = channel_agents.__version__
    return out


def provenance(plan: Plan, outcome: Outcome, out: Path, argv: list[str] | None) -> str:
    """provenance.json: the spec, seeds, versions, platform, and every session that
    ran part of the experiment."""
    import hashlib
    import json

    from channel_agents.experiments.runner import dumps, plan_summary

    spec = plan.spec
    session = {
        "started": outcome.started,
        "ended": outcome.ended,
        "executor": outcome.executor,
        "workers": outcome.workers,
        "runs_new": outcome.new,
        "runs_cached": outcome.cached,
        "runs_failed_now": outcome.failed_now,
        "corrupt_parts": [name for name, _ in outcome.corrupt],
        "argv": argv,
        "pid": __import__("os").getpid(),
        "seconds": {k: round(v, 3) for k, v in outcome.timings.items()},
    }
    sessions = []
    old = out / "provenance.json"
    if old.exists():
        try:
            prev = json.loads(old.read_text(encoding="utf-8"))
            if prev.get("experiment") == plan.name:
                sessions = list(prev.get("sessions", []))
        except (OSError, ValueError):
            pass
    sessions.append(session)
    spec_path = Path(spec.file)
    doc = {
        "experiment": plan.name,
        "spec_file": spec.file,
        "spec_sha256": hashlib.sha256(spec_path.read_bytes()).hexdigest()
        if spec_path.exists()
        else None,
        "spec": spec.raw,
        "plan": plan_summary(plan),
        "scenario_sha256": hashlib.sha256(spec.scenario_path.read_bytes()).hexdigest(),
        "seeds": {
            "master": spec.seed,
            "scheme": "numpy SeedSequence(master).spawn(points)[p].spawn(replications)[r]"
            ".generate_state(1, uint64) & (2**63 - 1); shared by every arm",
            "by_point_and_replication": plan.seeds,
        },
        "points": [plan.factor_columns(p) for p in range(len(plan.points))],
        "git_commit": plan.commit,
        "packages": package_versions(),
        "platform": {
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "platform": platform.platform(),
            "machine": platform.machine(),
            "processor": platform.processor(),
            "hostname": platform.node(),
        },
        "started": outcome.started,
        "ended": outcome.ended,
        "executor": outcome.executor,
        "workers": outcome.workers,
        "runs": {
            "total": outcome.total,
            "new": outcome.new,
            "cached": outcome.cached,
            "failed": outcome.failed,
        },
        "sessions": sessions,
    }
    return dumps(doc) + "\n"
