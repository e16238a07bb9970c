"""Scaling plot: node-periods/s and peak memory against channel members.

Reads the ``networks`` entry of ``benchmarks/results.json`` when it has one;
otherwise measures the networks itself with the suite's ``--quick`` sizes
(10x fewer periods; results.json is not written). Saves
``docs/images/scaling.png``.

    .venv/bin/python -m benchmarks.plot_scaling
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.__main__ import RESULTS, ROOT

OUT = ROOT / "docs" / "images" / "scaling.png"


def network_figures(results_path: Path = RESULTS) -> tuple[dict[str, Any], str]:
    """The ``networks`` figures and where they came from."""
    if results_path.exists():
        results = json.loads(results_path.read_text(encoding="utf-8"))
        if results.get("networks"):
            return results["networks"], f"{results_path.name}, {results['meta']['mode']}"
    from benchmarks.__main__ import bench_networks, pin_one_core

    pin_one_core()
    networks = bench_networks(
        quick=True, progress=lambda msg: print(f"  running {msg} ...", file=sys.stderr)
    )
    return networks, "measured here, quick mode (10x fewer periods)"


def plot_scaling(networks: dict[str, Any], source: str, out: Path = OUT) -> Path:
    """Two log-log panels against members: node-periods/s and peak memory (MB)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(networks.values(), key=lambda r: r["channel_members"])
    members = [r["channel_members"] for r in rows]
    periods = sorted({r["periods"] for r in rows})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    ax1.plot(members, [r["node_periods_per_s"] for r in rows], "o-", color="tab:blue")
    ax1.set_ylabel("node-periods/s (members x periods / run s)")
    ax1.set_title("Throughput")
    ax2.plot(members, [r["peak_mb"] for r in rows], "o-", color="tab:red", label="build + run")
    ax2.plot(
        members,
        [r["peak_with_series_frame_mb"] for r in rows],
        "s--",
        color="tab:orange",
        label="incl. series() frame",
    )
    ax2.set_ylabel("tracemalloc peak (MB)")
    ax2.set_title("Peak memory")
    ax2.legend()
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("channel members")
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(
        "layered_network, order-up-to, series kept; "
        f"{'/'.join(map(str, periods))} periods; one core ({source})",
        fontsize=9,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main() -> int:
    networks, source = network_figures()
    out = plot_scaling(networks, source)
    for r in sorted(networks.values(), key=lambda r: r["channel_members"]):
        print(
            f"{r['channel_members']:>6,} members, {r['periods']} periods: "
            f"{r['node_periods_per_s']:,.0f} node-periods/s, peak {r['peak_mb']:,.1f} MB"
        )
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
