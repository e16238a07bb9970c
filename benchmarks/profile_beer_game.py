"""Profile the beer game: where does a period's time go? (for developers)

Runs configs/beer_game.yaml for 20,000 periods (series kept, as in the
``beer_game`` benchmark) under cProfile and prints the top 25 functions by
total (own) time, then the top 10 by cumulative time.

    .venv/bin/python -m benchmarks.profile_beer_game [--periods N] [--top N]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sysconfig
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "beer_game.yaml"


def shorten(text: str) -> str:
    """Paths relative to src/ (channel_agents/...) and site-packages (mesa/..., numpy/...)."""
    for prefix in (str(ROOT / "src"), sysconfig.get_paths()["purelib"], str(ROOT)):
        text = text.replace(prefix + "/", "")
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_beer_game")
    parser.add_argument("--periods", type=int, default=20_000)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)

    from channel_agents.config import load_config
    from channel_agents.model import ChannelModel

    cfg = load_config(CONFIG, [f"periods={args.periods}"])
    model = ChannelModel(cfg, keep_series=True)
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    model.run()
    profiler.disable()
    seconds = time.perf_counter() - start
    print(
        f"beer game, {model.period:,} periods under cProfile: {seconds:.2f} s "
        f"({model.period / seconds:,.0f} periods/s with profiling overhead)\n"
    )
    for order, top in (("tottime", args.top), ("cumulative", 10)):
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats(order).print_stats(top)
        lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
        start_at = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls"))
        print(f"--- top {top} by {'total (own)' if order == 'tottime' else order} time ---")
        print(shorten("\n".join(lines[start_at:])), end="\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
