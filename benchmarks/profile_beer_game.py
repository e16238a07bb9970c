"""Profile the beer game: where does a period's time go? (for developers)

Runs configs/beer_game.yaml for 20,000 periods (series kept, as in the
``beer_game`` benchmark) under cProfile and prints the top 25 functions by
total (own) time, then the top 10 by cumulative time. cProfile does not see
inside the compiled kernels (kernels.py) and inflates Python calls, so a second
run without the profiler times the parts of a period (best of 5 runs):
market demand, the goods-and-money kernel, the ordering decisions, order
placement, the rest of the model's step, and Mesa's event scheduling.

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
    phase_times(cfg)
    return 0


def phase_times(cfg, repeats: int = 5) -> None:
    """Microseconds of CPU time per period in each part of the compiled period."""
    import channel_agents.kernels as kernels
    from channel_agents.model import ChannelModel

    parts = {"market demand": 0.0, "goods and money kernel": 0.0, "ordering decisions": 0.0}
    parts["order placement kernel"] = 0.0
    clock = time.perf_counter

    def timed(name, fn):
        def wrapper(*args, **kwargs):
            start = clock()
            out = fn(*args, **kwargs)
            parts[name] += clock() - start
            return out

        return wrapper

    best: dict[str, float] = {}
    saved = kernels.goods_and_money, kernels.place_orders
    try:
        kernels.goods_and_money = timed("goods and money kernel", saved[0])
        kernels.place_orders = timed("order placement kernel", saved[1])
        for _ in range(repeats):
            for name in parts:
                parts[name] = 0.0
            model = ChannelModel(cfg, keep_series=True)
            model.markets.demand = timed("market demand", model.markets.demand)
            model._member_orders = timed("ordering decisions", model._member_orders)
            body = model._user_step
            steps = {"step body": 0.0}

            def step_body(body=body, steps=steps):
                start = clock()
                body()
                steps["step body"] += clock() - start

            model._user_step = step_body
            start = clock()
            model.run()
            total = clock() - start
            n = model.period
            row = {name: v / n for name, v in parts.items()}
            row["rest of the step"] = steps["step body"] / n - sum(row.values())
            row["Mesa event scheduling"] = total / n - steps["step body"] / n
            row["period"] = total / n
            for name, v in row.items():
                best[name] = min(best.get(name, float("inf")), v)
    finally:
        kernels.goods_and_money, kernels.place_orders = saved
    print(f"--- a period's parts without the profiler (best of {repeats} runs) ---")
    for name, v in best.items():
        print(f"{name:>24}: {v * 1e6:6.1f} us")
    print(f"{'':>24}  ({1 / best['period']:,.0f} periods/s with the timers)")


if __name__ == "__main__":
    raise SystemExit(main())
