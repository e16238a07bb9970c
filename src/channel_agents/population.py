"""Consumer populations: segments of consumers choosing among a market's retailers.

A market with ``demand: {kind: population, segments: [...]}`` holds segments of
consumers. Each consumer wants one unit per period; its willingness to pay
(WTP) for it is drawn from the segment's distribution (``uniform``,
``normal``, ``lognormal``, or ``empirical``: a list of values sampled with
replacement). Each period, consumers:

1. consume one unit from their pantry if it holds one (``pantry``: the units a
   consumer can store; 0 by default), and so *need* a unit only when it is empty;
2. choose a retailer among those the market reaches:

   - ``choice: cheapest``: the cheapest retailer they consider, buying if
     WTP + promotion_response x discount / price_sensitivity >= price there;
     ties split equally; a consumer considers each retailer with probability
     equal to the market's goodwill towards it;
   - ``choice: logit``: utility of retailer r is
     beta (WTP - p_r) + promotion_response x d_r + log(goodwill_r)
     + loyalty [r is where it bought last] + preference_r, the outside option 0,
     plus Gumbel noise (beta = ``price_sensitivity``, d_r = relative discount);

   a consumer buys what it needs, and at a discount (price below the
   retailer's posted price) it also fills its pantry;
3. at a retailer short of stock, every consumer who came gets the same share
   of what it wanted; the rest try their next choice among the retailers that
   still have stock (``on_stockout: switch``) or go home (``lost``). Unmet
   population demand is never backlogged: consumers come back next period as
   members of the population.

Goodwill (per market and retailer, in [0, 1]) drops by the share
``goodwill_loss`` after a period in which the retailer ran short for the market
and recovers by ``goodwill_recovery`` every period in which it did not.

Consumer surplus is the money-metric utility gain over the outside option, per
unit bought: WTP - price (+ promotion_response x d / beta) under cheapest
choice; (U_chosen - U_outside) / beta under logit, whose expectation is the
logsum.

Modes:

- ``expected``: no sampling. Under cheapest choice each segment's WTP
  distribution is cut at this period's decision thresholds, so each cell
  decides as one and quantities and surplus are exact integrals (uniform WTP
  on [0, a/b] with size a buys exactly a - b p, surplus q^2 / (2b)); goodwill
  below 1 is handled by enumerating consideration sets. Under logit each segment
  is a quadrature of ``QUADRATURE_NODES`` quantile bins at their conditional
  means (exact for a fixed WTP), with exact choice probabilities. State (pantry
  level, last retailer) is carried as the mass of each segment in each state.
- ``sampled``: ``consumers`` individual consumers, split among segments by
  size, each standing for size / n consumers. Every period each draws a fresh
  WTP and (cheapest) one consideration uniform or (logit) one Gumbel per
  retailer plus one for the outside option, from its market's own generator, a
  fixed number of draws per period (common random numbers). Per-consumer state
  is one pantry level and one last retailer: memory O(consumers).

Everything is numpy arrays; no Python object per consumer.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
from scipy import special

QUADRATURE_NODES = 64  # quantile bins per continuous WTP distribution (logit, expected)
_STOCKOUT = 1e-12  # a fill below 1 - this is a stockout


# --------------------------------------------------------------------------- WTP


class WTP:
    """A willingness-to-pay distribution: sampling, P(v < x), E[v; v < x], quadrature.

    >>> w = WTP("uniform", 0.0, 50.0)
    >>> float(w.cdf(np.array([20.0]))[0]), float(w.lower_mean(np.array([np.inf]))[0])
    (0.4, 25.0)
    """

    def __init__(self, kind: str, a: float = 0.0, b: float = 0.0, values: Any = None):
        self.kind = kind
        self.a, self.b = float(a), float(b)
        if kind == "empirical" or values is not None:
            v = np.sort(np.asarray(values, dtype=float))
            self.sample_values = v
            self.values, counts = np.unique(v, return_counts=True)
            self.weights = counts / counts.sum()
            self._cum_w = np.concatenate(([0.0], np.cumsum(self.weights)))
            self._cum_vw = np.concatenate(([0.0], np.cumsum(self.weights * self.values)))
            self.discrete = True
        else:
            self.discrete = False

    @classmethod
    def from_config(cls, spec: Any) -> WTP:
        kind = spec.dist
        if kind == "uniform":
            if spec.high == spec.low:
                return cls._point("uniform", spec.low, spec.low, spec.low)
            return cls("uniform", spec.low, spec.high)
        if kind == "normal":
            if spec.sd == 0:
                return cls._point("normal", spec.mean, 0.0, spec.mean)
            return cls("normal", spec.mean, spec.sd)
        if kind == "lognormal":
            if spec.sigma == 0:
                return cls._point("lognormal", spec.mu, 0.0, float(np.exp(spec.mu)))
            return cls("lognormal", spec.mu, spec.sigma)
        return cls("empirical", values=spec.values)

    @classmethod
    def _point(cls, kind: str, a: float, b: float, value: float) -> WTP:
        """A degenerate continuous distribution: sampled as itself, integrated as a point."""
        w = cls(kind, a, b, values=[value])
        w.kind = kind
        return w

    # ---------------------------------------------------------------- sampling
    def sample(self, rng: np.random.Generator, out: np.ndarray) -> None:
        """Fill ``out`` with WTP draws (a fixed number of generator draws per value)."""
        if self.kind == "uniform":
            rng.random(out=out)
            out *= self.b - self.a
            out += self.a
        elif self.kind == "normal":
            rng.standard_normal(out=out)
            out *= self.b
            out += self.a
        elif self.kind == "lognormal":
            rng.standard_normal(out=out)
            out *= self.b
            out += self.a
            np.exp(out, out=out)
        else:
            rng.random(out=out)
            n = len(self.sample_values)
            idx = (out * n).astype(np.intp)
            np.minimum(idx, n - 1, out=idx)
            np.take(self.sample_values, idx, out=out)

    # ---------------------------------------------------------------- integrals
    def cdf(self, x: np.ndarray) -> np.ndarray:
        """P(v < x)."""
        x = np.asarray(x, dtype=float)
        if self.discrete:
            return self._cum_w[np.searchsorted(self.values, x, side="left")]
        if self.kind == "uniform":
            return np.clip((x - self.a) / (self.b - self.a), 0.0, 1.0)
        if self.kind == "normal":
            return special.ndtr((x - self.a) / self.b)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (np.log(np.maximum(x, 0.0)) - self.a) / self.b
        return np.where(x > 0, special.ndtr(z), 0.0)

    def lower_mean(self, x: np.ndarray) -> np.ndarray:
        """E[v; v < x] (the partial first moment below x)."""
        x = np.asarray(x, dtype=float)
        if self.discrete:
            return self._cum_vw[np.searchsorted(self.values, x, side="left")]
        if self.kind == "uniform":
            c = np.clip(x, self.a, self.b)
            return (c * c - self.a * self.a) / (2.0 * (self.b - self.a))
        if self.kind == "normal":
            z = (x - self.a) / self.b
            with np.errstate(invalid="ignore"):
                pdf = np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi)
            return self.a * special.ndtr(z) - self.b * pdf
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (np.log(np.maximum(x, 0.0)) - self.a) / self.b
        mean = np.exp(self.a + 0.5 * self.b * self.b)
        return np.where(x > 0, mean * special.ndtr(z - self.b), 0.0)

    def quantile(self, q: np.ndarray) -> np.ndarray:
        if self.kind == "uniform":
            return self.a + (self.b - self.a) * q
        z = special.ndtri(q)
        return self.a + self.b * z if self.kind == "normal" else np.exp(self.a + self.b * z)

    def nodes(self) -> tuple[np.ndarray, np.ndarray]:
        """Quadrature (values, masses): the points of a discrete distribution, else
        ``QUADRATURE_NODES`` equal-mass quantile bins at their conditional means."""
        if self.discrete:
            return self.values, self.weights
        k = QUADRATURE_NODES
        bounds = self.quantile(np.linspace(0.0, 1.0, k + 1))
        mass = np.diff(self.cdf(bounds))
        mean = np.diff(self.lower_mean(bounds)) / np.where(mass > 0, mass, 1.0)
        return mean, mass

    def cells(self, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The distribution cut at ``cuts`` (sorted): (lower bound, mean, mass) of each
        cell [c_i, c_i+1) with mass. Every consumer in a cell is on the same side of
        every cut."""
        bounds = np.concatenate(([-np.inf], cuts, [np.inf]))
        mass = np.diff(self.cdf(bounds))
        moment = np.diff(self.lower_mean(bounds))
        keep = mass > 1e-15
        return bounds[:-1][keep], moment[keep] / mass[keep], mass[keep]


def split_consumers(n: int, sizes: np.ndarray) -> np.ndarray:
    """Split ``n`` sampled consumers among segments in proportion to their sizes
    (largest remainder), at least one each."""
    share = sizes / sizes.sum() * n
    counts = np.floor(share).astype(np.int64)
    order = np.argsort(-(share - counts), kind="stable")
    counts[order[: n - counts.sum()]] += 1
    while (counts == 0).any():  # a tiny segment still gets one consumer
        counts[np.argmax(counts)] -= 1
        counts[np.argmin(counts)] += 1
    return counts


# --------------------------------------------------------------------------- blocks


class _Units:
    """Consumers (sampled) or population cells (expected) that clear together.

    Units are grouped by segment (``starts``: each group's first unit; ``gseg``: its
    segment; ``counts``: its size), so sums per segment are ``np.add.reduceat``.
    Columns are the market's retailers in config order, padded to the block's widest
    market; per-column arrays are column-major ([columns, units]) so that every
    column is one contiguous vector.
    """

    n: int
    width: int
    seg: np.ndarray  # [n] global segment of each unit
    mass: np.ndarray  # [n] consumers a unit stands for
    goods: np.ndarray  # [1 or width, n] units wanted per trip (mass x want)
    unit_goods: bool  # goods == mass (one unit per trip, no pantry)
    starts: np.ndarray  # [G]
    gseg: np.ndarray  # [G]
    counts: np.ndarray  # [G]
    pair_of: np.ndarray  # [width, G] the pair of each column for each group
    switch: Any  # bool, or [n] bool: do unserved consumers try their next choice?
    keeps_got = False  # settle() needs the units bought per column
    keeps_served = False  # settle() needs the trips served per column (mass)

    def _layout(self, pops: Populations, starts: list[int], gseg: list[int], n: int) -> None:
        self.n = n
        self.starts = np.array(starts, dtype=np.intp)
        self.gseg = np.array(gseg, dtype=np.intp)
        self.counts = np.diff(np.append(self.starts, n))
        self.pair_of = np.ascontiguousarray(pops.seg_pair[self.gseg, : self.width].T)
        switch = pops.mk_switch[pops.seg_market[self.gseg]]
        self.switch = bool(switch[0]) if (switch == switch[0]).all() else self.spread_row(switch)

    def spread(self, table: np.ndarray) -> np.ndarray:
        """A per-(segment, column) table [S, Rmax] as per-unit columns [width, n]."""
        return np.repeat(table[self.gseg, : self.width].T, self.counts, axis=1)

    def spread_row(self, values: np.ndarray) -> np.ndarray:
        """Per-group values [G] as per-unit values [n]."""
        return np.repeat(values, self.counts)

    def prepare(self, pops: Populations) -> None:  # pragma: no cover - interface
        """Set this period's units and what does not change between rounds."""
        raise NotImplementedError

    def choose(self, open_tab: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """(pick [width, n]: the share of each unit's remaining trip that goes to each
        column and buys there; surplus per unit bought [width or 1, n]). ``open_tab``
        [S, Rmax]: where stock is left (None: everywhere, the first round)."""
        raise NotImplementedError  # pragma: no cover - interface

    def record(self, c: int, got: np.ndarray) -> None:
        """Note the units each unit bought at column ``c`` in a round."""

    def settle(self, pops: Populations, got: Any, served: Any) -> None:
        """Update the state from the units bought and trips served, per column."""


class _SampledBlock(_Units):
    """Individual consumers of the sampled markets that share one choice rule."""

    def __init__(self, pops: Populations, rule: str, markets: list[int]):
        self.rule = rule
        self.width = int(max(pops.n_retailers[k] for k in markets))
        seg, mass, starts, gseg, draws = [], [], [], [], []
        start = 0
        for k in markets:
            ids = np.flatnonzero(pops.seg_market == k)
            counts = split_consumers(pops.cfg.markets[k].consumers, pops.seg_size[ids])
            parts = []
            row0 = start
            for s, c in zip(ids, counts, strict=True):
                parts.append((slice(start, start + c), pops.wtp[s]))
                seg.append(np.full(c, s, dtype=np.intp))
                mass.append(np.full(c, pops.seg_size[s] / c))
                starts.append(start)
                gseg.append(int(s))
                start += c
            draws.append((pops.rngs[k], parts, slice(row0, start)))
        self.draws = draws
        self._layout(pops, starts, gseg, start)
        self.seg = np.concatenate(seg)
        self.mass = np.concatenate(mass)
        n, width = self.n, self.width
        self.v = np.empty(n)
        # logit noise in single precision: half the memory traffic, and a uniform with
        # 24-bit resolution moves choice probabilities by less than 1e-6
        self.noise = np.empty(
            (width + (rule == "logit"), n), np.float32 if rule == "logit" else float
        )
        self.all_valid = bool(pops.valid_tab[self.gseg, :width].all())
        capacity = pops.seg_pantry[self.seg]
        self.capacity = capacity.astype(float) if capacity.any() else None
        self.pantry = np.zeros(n) if self.capacity is not None else None
        self.unit_goods = self.pantry is None
        beta = pops.seg_beta[self.gseg]
        self.beta = float(beta[0]) if (beta == beta[0]).all() else pops.seg_beta[self.seg]
        loyalty = pops.seg_loyalty[self.gseg]
        self.last = None
        if rule == "logit":
            self.util = np.empty((width, n))
            self.weight = np.empty((width, n))
            self.work = np.empty(n)
            self.best = np.empty(n)
            self.pick = np.empty((width, n), dtype=bool)
            if loyalty.any():
                same = (loyalty == loyalty[0]).all()
                self.loyalty = float(loyalty[0]) if same else pops.seg_loyalty[self.seg]
                self.last = np.full(n, -1, dtype=np.int16)
        self.keeps_got = self.pantry is not None

    def prepare(self, pops: Populations) -> None:
        """Draw this period's consumers (a fixed number of draws per market)."""
        v, noise, logit = self.v, self.noise, self.rule == "logit"
        for rng, parts, rows in self.draws:
            for sl, wtp in parts:
                wtp.sample(rng, v[sl])
            for c in range(len(noise)):
                rng.random(out=noise[c, rows], dtype=noise.dtype)
        valid = None if self.all_valid else self.spread(pops.valid_tab)
        if self.pantry is not None:
            self.need = np.maximum(1.0 - self.pantry, 0.0)
            np.maximum(self.pantry - 1.0, 0.0, out=self.pantry)  # consume from it
            deal = self.spread(pops.disc_tab) > 0
            self.goods = self.mass * (self.need + (self.capacity - self.pantry) * deal)
            valid = self.goods > 0 if valid is None else valid & (self.goods > 0)
        else:
            self.goods = self.mass[None, :]
        if logit:
            self._utilities(pops, valid)
        else:
            threshold = self.spread(pops.threshold_tab)
            self.ok = v >= threshold
            self.gain = v - threshold
            goodwill = pops.goodwill_tab[self.gseg, : self.width]
            if not (goodwill >= 1.0).all():
                goodwill = self.spread(pops.goodwill_tab)
                considered = noise < goodwill
                valid = considered if valid is None else valid & considered
                if self.width > 1:
                    with np.errstate(divide="ignore", invalid="ignore"):
                        self.tiebreak = noise / goodwill  # uniform on [0, 1) if considered
            elif self.width > 1:
                self.tiebreak = noise
            if self.width > 1:
                self.price = self.spread(pops.price_tab)
        self.valid = valid

    def _utilities(self, pops: Populations, valid: np.ndarray | None) -> None:
        """Deterministic utilities and their exponentials (weights); the noise becomes
        log(1 - U) = -E with E ~ Exp(1). Maximizing utility + Gumbel noise is choosing
        the largest -E / weight (an exponential race): no logarithm of a logarithm."""
        noise, util, work = self.noise, self.util, self.work
        np.subtract(np.float32(1.0), noise, out=noise)
        np.log(noise, out=noise)
        np.multiply(self.beta, self.v, out=work)
        table = pops.util_tab[self.gseg]
        for c in range(self.width):
            np.add(np.repeat(table[:, c], self.counts), work, out=util[c])
            if self.last is not None:  # the bonus where it bought last
                util[c] += (self.last == c) * self.loyalty
        np.minimum(util, 700.0, out=util)  # exp overflows beyond; no market needs more
        np.exp(util, out=self.weight)
        if valid is not None:
            self.weight *= valid

    def choose(self, open_tab):
        valid = self.valid
        if open_tab is not None:
            here = self.spread(open_tab)
            valid = here if valid is None else valid & here
        if self.rule == "cheapest" and self.width == 1:
            return (self.ok if valid is None else self.ok & valid), self.gain
        n = self.n
        if self.rule == "cheapest":  # lowest price; ties by a uniform draw
            pick = np.empty((self.width, n), dtype=bool)
            best, tie, j = np.full(n, np.inf), np.full(n, np.inf), np.full(n, -1, np.int16)
            for c in range(self.width):
                p = self.price[c] if valid is None else np.where(valid[c], self.price[c], np.inf)
                t = self.tiebreak[c]
                better = (p < best) | ((p == best) & (t < tie) & (p < np.inf))
                best = np.where(better, p, best)
                tie = np.where(better, t, tie)
                j[better] = c
            for c in range(self.width):
                np.logical_and(j == c, self.ok[c], out=pick[c])
            return pick, self.gain
        weight = self.weight if open_tab is None else self.weight * here
        noise, best, race = self.noise, self.best, self.work
        with np.errstate(divide="ignore", invalid="ignore"):
            np.divide(noise[0], weight[0], out=best)  # -E / weight; an excluded one: -inf
            j = np.zeros(n, dtype=np.int16)
            for c in range(1, self.width):
                np.divide(noise[c], weight[c], out=race)
                j += (c - j) * (race > best)
                np.fmax(best, race, out=best)
            ratio = noise[self.width] / best  # E_outside x weight_j / E_j
        buys = ratio > 1.0
        pick = self.pick
        for c in range(self.width):
            np.equal(j, c, out=pick[c])
            pick[c] &= buys
        # utility gain over the outside option: log(E_outside weight_j / E_j) >= 0
        gain = np.log(np.fmax(ratio, 1.0))
        gain /= self.beta
        return pick, gain[None, :]

    def record(self, c: int, got: np.ndarray) -> None:
        if self.last is not None:  # the last retailer it bought at
            self.last += (c - self.last) * (got > 0)

    def settle(self, pops, got, served):
        if self.pantry is not None:
            per_consumer = got.sum(axis=0) / self.mass
            extra = np.maximum(per_consumer - self.need, 0.0)
            np.minimum(self.pantry + extra, self.capacity, out=self.pantry)


class _ExpectedBlock(_Units):
    """The expected-mode segments of one choice rule, rebuilt as cells each period.

    A unit is (state class, WTP cell or node, consideration set): its mass is the
    segment's mass in the class x the cell's probability x the set's probability.
    """

    keeps_served = True
    unit_goods = False

    def __init__(self, pops: Populations, rule: str, markets: list[int]):
        self.rule = rule
        self.width = int(max(pops.n_retailers[k] for k in markets))
        self.segments = [int(s) for s in np.flatnonzero(np.isin(pops.seg_market, markets))]
        # state: mass of each segment by (pantry level 0..K, last retailer none, 0..R-1)
        self.state: dict[int, np.ndarray] = {}
        self.loyal: dict[int, bool] = {}
        for s in self.segments:
            r = int(pops.n_retailers[pops.seg_market[s]])
            loyal = rule == "logit" and pops.seg_loyalty[s] != 0
            cls = np.zeros((int(pops.seg_pantry[s]) + 1, r + 1 if loyal else 1))
            cls[0, 0] = pops.seg_size[s]
            self.state[s] = cls
            self.loyal[s] = bool(loyal)
        self.nodes = {s: pops.wtp[s].nodes() for s in self.segments} if rule == "logit" else {}

    def prepare(self, pops: Populations) -> None:
        keys = ("seg", "mass", "level", "last", "v", "low", "considered", "cls")
        parts: dict[str, list[np.ndarray]] = {k: [] for k in keys}
        starts, n, width = [], 0, self.width
        for s in self.segments:
            cls = self.state[s]
            lvl, last = np.nonzero(cls > 0)
            cmass = cls[lvl, last]
            if self.rule == "logit":
                v, vmass = self.nodes[s]
                low = v
                sets = [(np.ones(width, dtype=bool), 1.0)]
            else:  # cut at every decision threshold: each cell decides as one
                t = pops.threshold_tab[s, :width]
                low, v, vmass = pops.wtp[s].cells(np.unique(t[np.isfinite(t)]))
                sets = pops.consideration_sets(s, width)
            nv, nset, nc = len(v), len(sets), len(cmass)
            ci = np.repeat(np.arange(nc), nv * nset)
            vi = np.tile(np.repeat(np.arange(nv), nset), nc)
            si = np.tile(np.arange(nset), nc * nv)
            set_mask = np.array([m for m, _ in sets])
            set_p = np.array([p for _, p in sets])
            parts["seg"].append(np.full(len(ci), s, dtype=np.intp))
            parts["mass"].append(cmass[ci] * vmass[vi] * set_p[si])
            parts["level"].append(lvl[ci])
            parts["last"].append(last[ci] - 1 if self.loyal[s] else np.full(len(ci), -1))
            parts["cls"].append(last[ci])
            parts["v"].append(v[vi])
            parts["low"].append(low[vi])
            parts["considered"].append(set_mask[si])
            starts.append(n)
            n += len(ci)
        cat = {k: np.concatenate(v) for k, v in parts.items()}
        self._layout(pops, starts, self.segments, n)
        self.seg, self.mass = cat["seg"], cat["mass"]
        self.level, self.class_last = cat["level"], cat["cls"]
        self.need = (self.level == 0).astype(float)
        self.after_use = np.maximum(self.level - 1, 0)
        capacity = pops.seg_pantry[self.seg]
        self.deal = self.spread(pops.disc_tab) > 0
        self.goods = self.mass * (self.need + (capacity - self.after_use) * self.deal)
        self.valid = self.spread(pops.valid_tab) & (self.goods > 0) & cat["considered"].T
        v = cat["v"]
        if self.rule == "cheapest":
            threshold = self.spread(pops.threshold_tab)
            self.ok = cat["low"] >= threshold  # a cell lies on one side of each cut
            self.gain = v - threshold
            self.price = self.spread(pops.price_tab)
        else:
            self.beta = pops.seg_beta[self.seg]
            util = self.beta * v + self.spread(pops.util_tab)
            util += (cat["last"] == np.arange(width)[:, None]) * pops.seg_loyalty[self.seg]
            self.util = util

    def choose(self, open_tab):
        valid = self.valid if open_tab is None else self.valid & self.spread(open_tab)
        if self.rule == "cheapest":  # ties split equally
            price = np.where(valid, self.price, np.inf)
            tie = valid & (price == price.min(axis=0))
            return tie / np.maximum(tie.sum(axis=0), 1) * self.ok, self.gain
        util = np.where(valid, self.util, -np.inf)
        top = np.maximum(util.max(axis=0), 0.0)
        weight = np.exp(util - top)
        outside = np.exp(-top)
        denom = outside + weight.sum(axis=0)
        buying = 1.0 - outside / denom
        logsum = top + np.log(denom)  # E[max utility] - E[outside utility]
        with np.errstate(divide="ignore", invalid="ignore"):
            gain = np.where(buying > 0, logsum / buying, 0.0) / self.beta
        return weight / denom, gain[None, :]

    def settle(self, pops, got, served):
        """New state: a consumer who bought at a discount has a full pantry and, where
        loyalty counts, remembers the retailer; one who did not keeps what is left."""
        for g, s in enumerate(self.segments):
            lo, hi = self.starts[g], self.starts[g] + self.counts[g]
            cls = self.state[s]
            width = cls.shape[1]
            new = np.zeros(cls.size)
            stay = np.maximum(self.mass[lo:hi] - served[:, lo:hi].sum(axis=0), 0.0)
            after, last = self.after_use[lo:hi], self.class_last[lo:hi]
            np.add.at(new, after * width + last, stay)
            capacity = int(pops.seg_pantry[s])
            for j in range(int(pops.n_retailers[pops.seg_market[s]])):
                level = np.where(self.deal[j, lo:hi], capacity, after)
                column = j + 1 if self.loyal[s] else last
                np.add.at(new, level * width + column, served[j, lo:hi])
            self.state[s] = new.reshape(cls.shape)


# --------------------------------------------------------------------------- populations


class Populations:
    """Every population market of a scenario, cleared together against shared stock.

    Parameters come from the markets' ``population`` demand blocks; ``pair_offset[k]``
    is the index of market k's first (market, retailer) pair and ``pair_cell`` the
    (retailer, product) stock cell of each pair.
    """

    def __init__(
        self,
        cfg: Any,
        markets: list[int],
        pair_offset: np.ndarray,
        pair_cell: np.ndarray,
        n_cells: int,
        rngs: list[np.random.Generator],
    ):
        self.cfg = cfg
        self.rngs = rngs
        n_pairs = len(pair_cell)
        self.n_pairs = n_pairs
        self.n_cells = n_cells
        self.pair_cell = np.append(pair_cell, n_cells)  # a dummy pair in a dummy cell
        n_markets = len(cfg.markets)
        self.n_retailers = np.array([len(m.retailers) for m in cfg.markets])
        rmax = int(max(self.n_retailers[k] for k in markets))
        self.mk_switch = np.zeros(n_markets, dtype=bool)
        self.mk_loss = np.zeros(n_markets)
        self.mk_recovery = np.zeros(n_markets)
        seg_market, names, wtp, size, beta, gamma, loyalty, pantry = ([] for _ in range(8))
        seg_pair, pref = [], []
        for k in markets:
            m = cfg.markets[k]
            d = m.demand
            self.mk_switch[k] = d.on_stockout == "switch"
            self.mk_loss[k] = d.goodwill_loss
            self.mk_recovery[k] = d.goodwill_recovery
            r = len(m.retailers)
            for seg in d.segments:
                seg_market.append(k)
                names.append(f"{m.name}.{seg.name}")
                wtp.append(WTP.from_config(seg.wtp))
                size.append(seg.size)
                beta.append(seg.price_sensitivity)
                gamma.append(seg.promotion_response)
                loyalty.append(seg.loyalty)
                pantry.append(seg.pantry)
                row = np.full(rmax, n_pairs, dtype=np.intp)
                row[:r] = pair_offset[k] + np.arange(r)
                seg_pair.append(row)
                bonus = np.zeros(rmax)
                bonus[:r] = [seg.preference.get(name, 0.0) for name in m.retailers]
                pref.append(bonus)
        self.seg_market = np.array(seg_market, dtype=np.intp)
        self.seg_names = names
        self.wtp = wtp
        self.seg_size = np.array(size, dtype=float)
        self.seg_beta = np.array(beta, dtype=float)
        self.seg_gamma = np.array(gamma, dtype=float)
        self.seg_loyalty = np.array(loyalty, dtype=float)
        self.seg_pantry = np.array(pantry, dtype=np.int64)
        self.seg_pair = np.array(seg_pair, dtype=np.intp)
        self.seg_pref = np.array(pref)
        self.valid_tab = self.seg_pair < n_pairs
        self.n_segments = len(names)
        self.pair_goodwill = np.ones(n_pairs + 1)
        self.pair_goodwill[-1] = 0.0  # the dummy pair is never considered
        valid = self.valid_tab
        self.pop_pairs = np.zeros(n_pairs, dtype=bool)
        self.pop_pairs[self.seg_pair[valid]] = True
        self.pair_market = np.zeros(n_pairs, dtype=np.intp)
        self.pair_market[self.seg_pair[valid]] = np.broadcast_to(
            self.seg_market[:, None], valid.shape
        )[valid]
        groups: dict[tuple[str, str], list[int]] = {}
        for k in markets:
            m = cfg.markets[k]
            groups.setdefault((m.mode, m.demand.choice), []).append(k)
        self.blocks: list[_Units] = []
        for (mode, rule), ks in sorted(groups.items()):
            block = _SampledBlock if mode == "sampled" else _ExpectedBlock
            self.blocks.append(block(self, rule, ks))
        self.max_rounds = int(max(self.n_retailers[k] for k in markets))
        # this period's outcome, per segment and per market
        self.seg_surplus = np.zeros(self.n_segments)
        self.seg_shoppers = np.zeros(self.n_segments)
        self.seg_served = np.zeros(self.n_segments)
        self.seg_exposed = np.zeros(self.n_segments)
        self.market_surplus = np.zeros(n_markets)

    @property
    def goodwill(self) -> np.ndarray:
        """Goodwill of each (market, retailer) pair (1 outside population markets)."""
        return self.pair_goodwill[:-1].copy()

    def consideration_sets(self, s: int, width: int) -> list[tuple[np.ndarray, float]]:
        """The sets of retailers a consumer of segment ``s`` may consider, with their
        probabilities: each retailer is considered with probability goodwill,
        independently (so only retailers with goodwill strictly inside (0, 1) vary)."""
        g = self.goodwill_tab[s, :width]
        sure = g >= 1.0
        unsure = np.flatnonzero((g > 0) & ~sure)
        out = []
        for picks in itertools.product((False, True), repeat=len(unsure)):
            mask = sure.copy()
            mask[unsure] = picks
            p = float(np.prod(np.where(picks, g[unsure], 1.0 - g[unsure])))
            out.append((mask, p))
        return out

    def _tables(self, pair_price: np.ndarray, pair_discount: np.ndarray) -> None:
        """This period's per-(segment, retailer) prices, discounts, thresholds, utilities."""
        sp = self.seg_pair
        price = np.append(pair_price, np.inf)[sp]
        disc = np.append(pair_discount, 0.0)[sp]
        self.price_tab, self.disc_tab = price, disc
        self.goodwill_tab = self.pair_goodwill[sp]
        self.threshold_tab = price - (self.seg_gamma / self.seg_beta)[:, None] * disc
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            util = (
                -self.seg_beta[:, None] * price
                + self.seg_gamma[:, None] * disc
                + np.log(self.goodwill_tab)
                + self.seg_pref
            )
        self.util_tab = np.where(self.valid_tab, util, -np.inf)

    def clear(
        self, pair_price: np.ndarray, pair_discount: np.ndarray, available: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Consumers choose and buy against ``available`` stock per cell (flat [M x P]),
        in rounds: everyone at its first choice; where a retailer is short, each of its
        consumers gets the same share, and the rest (``switch``) choose again among the
        retailers with stock left. Returns (units wanted, units bought) per pair."""
        self._tables(pair_price, pair_discount)
        for block in self.blocks:
            block.prepare(self)
        n_pairs = self.n_pairs
        avail = np.append(np.maximum(available, 0.0), 0.0)
        wanted = np.zeros(n_pairs + 1)
        bought = np.zeros(n_pairs + 1)
        for arr in (self.seg_surplus, self.seg_shoppers, self.seg_served, self.seg_exposed):
            arr[:] = 0.0
        remaining: list[Any] = [None] * len(self.blocks)  # unmet share of each unit's trip
        got_all = [np.zeros((b.width, b.n)) if b.keeps_got else None for b in self.blocks]
        served_all = [np.zeros((b.width, b.n)) if b.keeps_served else None for b in self.blocks]
        open_tab = None
        active = list(range(len(self.blocks)))
        for rnd in range(self.max_rounds):
            demand = np.zeros(n_pairs + 1)
            chosen = []
            for i in active:
                b = self.blocks[i]
                pick, gain = b.choose(open_tab)
                columns = []
                for c in range(b.width):
                    trips = pick[c] if remaining[i] is None else pick[c] * remaining[i]
                    goods = trips * b.goods[c if len(b.goods) > 1 else 0]
                    per_group = np.add.reduceat(goods, b.starts)
                    np.add.at(demand, b.pair_of[c], per_group)
                    columns.append((trips, goods, per_group))
                chosen.append((i, gain, columns))
            cell_demand = np.bincount(self.pair_cell, weights=demand, minlength=self.n_cells + 1)
            with np.errstate(divide="ignore", invalid="ignore"):
                fill = np.where(cell_demand > avail, avail / cell_demand, 1.0)
            short = (fill < 1.0 - _STOCKOUT)[self.pair_cell]
            pair_fill = fill[self.pair_cell]
            wanted += demand
            next_active = []
            for i, gain, columns in chosen:
                b = self.blocks[i]
                unmet = None
                for c, (trips, goods, per_group) in enumerate(columns):
                    if short[b.pair_of[c]].any():
                        f = b.spread_row(pair_fill[b.pair_of[c]])
                        got, served = goods * f, trips * f
                        got_group = np.add.reduceat(got, b.starts)
                        lost = trips - served
                        unmet = lost if unmet is None else unmet + lost
                        if rnd == 0:
                            met = trips * b.mass * (f < 1.0 - _STOCKOUT)
                            self.seg_exposed[b.gseg] += np.add.reduceat(met, b.starts)
                    else:
                        got, served, got_group = goods, trips, per_group
                    np.add.at(bought, b.pair_of[c], got_group)
                    worth = got * gain[c if len(gain) > 1 else 0]
                    self.seg_surplus[b.gseg] += np.add.reduceat(worth, b.starts)
                    if b.unit_goods:  # goods = trips x mass
                        self.seg_served[b.gseg] += got_group
                        if rnd == 0:
                            self.seg_shoppers[b.gseg] += per_group
                    else:
                        self.seg_served[b.gseg] += np.add.reduceat(served * b.mass, b.starts)
                        if rnd == 0:
                            self.seg_shoppers[b.gseg] += np.add.reduceat(trips * b.mass, b.starts)
                    b.record(c, got)
                    if got_all[i] is not None:
                        got_all[i][c] += got
                    if served_all[i] is not None:
                        served_all[i][c] += served * b.mass
                if unmet is not None:
                    unmet = unmet * b.switch
                    if unmet.any():
                        remaining[i] = unmet
                        next_active.append(i)
            sold = np.minimum(cell_demand, avail)
            avail = np.where(fill < 1.0 - _STOCKOUT, 0.0, np.maximum(avail - sold, 0.0))
            active = next_active
            if not active:
                break
            open_tab = (avail > 0)[self.pair_cell][self.seg_pair]
        for block, got, served in zip(self.blocks, got_all, served_all, strict=True):
            block.settle(self, got, served)
        self.market_surplus[:] = 0.0
        np.add.at(self.market_surplus, self.seg_market, self.seg_surplus)
        wanted, bought = wanted[:n_pairs], bought[:n_pairs]
        self._update_goodwill(wanted, bought)
        return wanted, bought

    def _update_goodwill(self, wanted: np.ndarray, bought: np.ndarray) -> None:
        """A retailer short for a market loses goodwill there; otherwise it recovers."""
        short = wanted - bought > _STOCKOUT * np.maximum(wanted, 1.0)
        market = self.pair_market
        g = self.pair_goodwill[:-1]
        g[:] = np.where(
            short,
            g * (1.0 - self.mk_loss[market]),
            np.minimum(g + self.mk_recovery[market], 1.0),
        )
        g[~self.pop_pairs] = 1.0
