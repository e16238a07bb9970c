"""What the compiled kernels (kernels.py) cost a fresh process: compiling them, and
loading them from numba's cache.

Each figure is a new Python process (best of ``--repeats``) that imports
channel_agents, builds configs/beer_game.yaml and runs its 36 periods:

- cold: an empty numba cache directory (``NUMBA_CACHE_DIR``), so every kernel the
  run uses is compiled (a first run on a machine, or after kernels.py changed);
- cached: the cache that run left (every later run);
- import only: ``import channel_agents.model`` (numba's own import included).

    .venv/bin/python -m benchmarks.bench_compile [--repeats N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUN = (
    "from channel_agents.model import ChannelModel; "
    "m = ChannelModel('configs/beer_game.yaml'); m.run(); assert m.__dict__.get('_plan')"
)
IMPORT = "import channel_agents.model"


def seconds(code: str, cache_dir: str) -> float:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_compile")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    cold, cached, imported = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as cache_dir:
            cold.append(seconds(RUN, cache_dir))
            cached.append(seconds(RUN, cache_dir))
            imported.append(seconds(IMPORT, cache_dir))
    print(f"beer game in a new process, kernels compiled (empty cache): {min(cold):.2f} s")
    print(f"beer game in a new process, kernels from the cache:         {min(cached):.2f} s")
    print(f"import channel_agents.model:                                {min(imported):.2f} s")
    print(f"(best of {args.repeats}; compiling costs about {min(cold) - min(cached):.1f} s once)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
