"""Seeds of an experiment: one master seed, numpy ``SeedSequence`` children.

The master seed spawns one child per design point; each point's child spawns
one child per replication, and that grandchild gives the run's seed (a
non-negative Python int below 2**63). Every arm of the experiment runs a
(point, replication) with the **same** seed, so the arms see the same end
demand and the same consumers (common random numbers), and their difference
is measured replication by replication.

Spawning is prefix-stable: raising ``replications`` from 10 to 20 keeps the
first ten seeds of every point, so the runs already in the store are reused.

The design's own randomness (Latin hypercube, scrambled Sobol' sequences)
comes from a separate child (spawn key ``DESIGN_KEY``) that no point ever
receives.

>>> seeds = run_seeds(0, points=2, replications=3)
>>> [len(s) for s in seeds], all(isinstance(x, int) for s in seeds for x in s)
([3, 3], True)
>>> run_seeds(0, 2, 5)[1][:3] == run_seeds(0, 2, 3)[1]
True
"""

from __future__ import annotations

import numpy as np

SEED_MASK = (1 << 63) - 1  # seeds fit a signed 64-bit column (Parquet int64)
DESIGN_KEY = 2**32 - 1  # spawn key of the design's generator (never a point index)


def _to_int(seq: np.random.SeedSequence) -> int:
    return int(seq.generate_state(1, dtype=np.uint64)[0]) & SEED_MASK


def run_seeds(master: int, points: int, replications: int) -> list[list[int]]:
    """``seeds[point][replication]``: the seed of every run, shared by all arms."""
    root = np.random.SeedSequence(int(master))
    return [[_to_int(rep) for rep in child.spawn(replications)] for child in root.spawn(points)]


def design_seed(master: int) -> int:
    """The seed of the design's sampler (Latin hypercube, Sobol' scrambling)."""
    return _to_int(np.random.SeedSequence(int(master), spawn_key=(DESIGN_KEY,)))


def design_rng(master: int) -> np.random.Generator:
    """A generator for the design, independent of every run's seed."""
    return np.random.default_rng(design_seed(master))
