"""Consumer markets: demand, retail choice, purchases and consumer surplus.

A market serves one or more retailers. Its demand is either an exogenous
series (constant, step, normal, Poisson, AR(1), a CSV column: quantities that
do not respond to price) or a population with a willingness-to-pay (WTP)
distribution facing the posted retail price:

- ``linear``: uniform WTP on [0, a/b]; ``mode: expected`` buys exactly
  q = a - b p with surplus q^2 / (2b); ``mode: sampled`` draws ``consumers``
  fresh WTPs each period from the market's own generator, each consumer
  standing for a / consumers units, so the expectation is the same.
- ``isoelastic``: q = scale p^-elasticity, surplus q p / (elasticity - 1).
- ``population``: segments of consumers with their own WTP distribution, price
  sensitivity, promotion response, loyalty, store preference and pantry, who
  choose among the market's retailers (cheapest or logit), remember stockouts
  (goodwill) and switch or give up when a retailer runs out: population.py.
- ``logit`` and ``linear_system`` (differentiated): consumers choose among the
  market's (retailer, product) options by price, quality, brand and store;
  demand and surplus in closed form in competition.py.

Exogenous demand is split equally among a market's retailers; price-responsive
consumers buy from the cheapest retailer (ties split equally). Populations are
numpy arrays, never Python objects per consumer. Retailers' price promotions
and their suppliers' trade deals (policies/promotion.py) set what consumers pay.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from channel_agents.config import (
    DIFFERENTIATED,
    AdvertisedLinearDemand,
    AR1Demand,
    ConfigError,
    ConstantDemand,
    CsvDemand,
    IsoelasticDemand,
    LinearDemand,
    LinearSystemDemand,
    NormalDemand,
    PoissonDemand,
    PopulationDemand,
    ScenarioConfig,
    StepDemand,
)
from channel_agents.network import Incidence, Topology
from channel_agents.policies.promotion import PromotionCalendar
from channel_agents.population import Populations
from channel_agents.products import ProductMap


def read_csv_column(path: Path, column: str, *, file: str | None, where: str) -> np.ndarray:
    """A numeric CSV column as an array; a clear ConfigError if it is missing or not numeric."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            if column not in fields:
                raise ConfigError(
                    f"column {column!r} not in {path.name}; columns: {', '.join(fields)}",
                    file=file,
                    path=f"{where}.column",
                )
            values = []
            for line, row in enumerate(reader, start=2):
                try:
                    values.append(float(row[column]))
                except (TypeError, ValueError):
                    raise ConfigError(
                        f"{path.name} line {line}: {row[column]!r} is not a number",
                        file=file,
                        path=f"{where}.column",
                    ) from None
    except FileNotFoundError:
        raise ConfigError(f"CSV file not found: {path}", file=file, path=f"{where}.path") from None
    if not values:
        raise ConfigError(f"{path.name} has no rows", file=file, path=f"{where}.path")
    arr = np.array(values)
    if (arr < 0).any() or not np.isfinite(arr).all():
        raise ConfigError(
            f"{path.name}: demand must be finite and >= 0", file=file, path=f"{where}.column"
        )
    return arr


class Markets:
    """All consumer markets of a scenario, cleared together each period.

    Randomness: exogenous random demand draws from one ``end demand``
    generator (a fixed number of draws per market per period); each sampled
    population draws from its own generator. Both are spawned from the run's
    seed, so two strategies run with one seed see the same demand and the same
    consumers (common random numbers).
    """

    def __init__(
        self,
        cfg: ScenarioConfig,
        topo: Topology,
        end_demand_rng: np.random.Generator,
        consumer_rngs: list[np.random.Generator],
        pmap: ProductMap | None = None,
    ):
        self.cfg = cfg
        self.n = len(cfg.markets)
        idx = {n: i for i, n in enumerate(topo.names)}
        prod = {p: i for i, p in enumerate(cfg.product_names)}
        handles = pmap.handles if pmap is not None else None

        def offered(m) -> list[int]:
            names = m.products or [m.product or cfg.product_names[0]]
            return [prod[n] for n in names]

        self.product = np.array([offered(m)[0] for m in cfg.markets], dtype=np.int64)
        # one pair per (market, retailer, product the retailer carries), in market order
        pairs = [
            (k, idx[r], p)
            for k, m in enumerate(cfg.markets)
            for r in m.retailers
            for p in offered(m)
            if handles is None or handles[idx[r], p]
        ]
        self.pair_market = np.array([k for k, _, _ in pairs], dtype=np.int64)
        self.pair_retailer = np.array([r for _, r, _ in pairs], dtype=np.int64)
        self.pair_product = np.array([p for _, _, p in pairs], dtype=np.int64)
        self.n_pairs = len(pairs)
        self.retailers_of = Incidence(self.pair_market, self.n)  # market <- pairs
        self.to_retailer = Incidence(self.pair_retailer, topo.n_members)  # member <- pairs
        self.n_retailers = np.array([len(m.retailers) for m in cfg.markets], dtype=float)
        self.pairs_in = np.bincount(self.pair_market, minlength=self.n).astype(float)
        self.rng = end_demand_rng
        self.consumer_rngs = consumer_rngs
        self.price_responsive = np.array(
            [
                isinstance(m.demand, LinearDemand | IsoelasticDemand | AdvertisedLinearDemand)
                for m in cfg.markets
            ],
            dtype=bool,
        )
        self.any_price_responsive = bool(self.price_responsive.any())
        self.has_surplus = self.price_responsive.copy()
        self._exo_pairs = ~self.price_responsive[self.pair_market]
        self._exo_share = 1.0 / self.pairs_in[self.pair_market]
        base = Path(cfg.source_path).parent if cfg.source_path else Path(".")
        self._kinds: dict[type, np.ndarray] = {}
        for k, m in enumerate(cfg.markets):
            self._kinds.setdefault(type(m.demand), []).append(k)  # type: ignore[arg-type]
        self._kinds = {t: np.array(v, dtype=np.int64) for t, v in self._kinds.items()}
        d = [m.demand for m in cfg.markets]

        def param(kind: type, attr: str) -> np.ndarray:
            return np.array([getattr(d[k], attr) for k in self._kinds.get(kind, [])], dtype=float)

        self._normal = (param(NormalDemand, "mean"), param(NormalDemand, "sd"))
        self._poisson = param(PoissonDemand, "mean")
        self._ar1 = (param(AR1Demand, "mean"), param(AR1Demand, "phi"), param(AR1Demand, "sd"))
        self._ar1_state = self._ar1[0].copy()
        self._constant = param(ConstantDemand, "value")
        self._step = (
            param(StepDemand, "before"),
            param(StepDemand, "after"),
            param(StepDemand, "at"),
        )
        self._csv = [
            read_csv_column(
                base / d[k].path, d[k].column, file=cfg.source_path, where=f"markets[{k}].demand"
            )
            for k in self._kinds.get(CsvDemand, [])
        ]
        self._lin = (param(LinearDemand, "a"), param(LinearDemand, "b"))
        self._lin_sampled = np.array(
            [cfg.markets[k].mode == "sampled" for k in self._kinds.get(LinearDemand, [])],
            dtype=bool,
        )
        self._iso = (param(IsoelasticDemand, "scale"), param(IsoelasticDemand, "elasticity"))
        self._adv = (param(AdvertisedLinearDemand, "a"), param(AdvertisedLinearDemand, "b"))
        # advertising's demand multiplier per market (1 where demand is not advertised)
        self.ad_multiplier = np.ones(self.n)
        self.consumers = np.array([m.consumers for m in cfg.markets], dtype=np.int64)
        self._wtp_buffers = {
            k: np.empty(cfg.markets[k].consumers)
            for k in self._kinds.get(LinearDemand, [])
            if cfg.markets[k].mode == "sampled"
        }
        self.surplus_per_unit = np.zeros(self.n)
        self._no_pair_surplus = np.zeros(self.n_pairs)
        self._no_pair_surplus.flags.writeable = False
        self.market_price = np.zeros(self.n)
        self.cournot = np.array([m.clearing == "cournot" for m in cfg.markets], dtype=bool)
        self.any_cournot = bool(self.cournot.any())
        pop = [k for k, m in enumerate(cfg.markets) if isinstance(m.demand, PopulationDemand)]
        self.population: Populations | None = None
        if pop:
            n_products = len(cfg.products)
            self.population = Populations(
                cfg,
                pop,
                np.searchsorted(self.pair_market, np.arange(self.n)),
                self.pair_retailer * n_products + self.pair_product,
                topo.n_members * n_products,
                consumer_rngs,
            )
            self.has_surplus[pop] = True
            self.any_price_responsive = True  # (their demand responds to price, too)
        self.pop_markets = np.array(pop, dtype=np.int64)
        self._pop_pairs = [np.flatnonzero(self.pair_market == k) for k in pop]
        self._setup_differentiated(cfg, topo)
        self.any_surplus = bool(self.has_surplus.any())
        self.promotions = PromotionCalendar.from_config(cfg, topo)

    def _setup_differentiated(self, cfg: ScenarioConfig, topo: Topology) -> None:
        """Logit and linear-system markets: consumers choose among (retailer, product)
        options (competition.py has their demand in closed form)."""
        from channel_agents.competition import DifferentiatedMarket

        self.differentiated = np.array(
            [isinstance(m.demand, DIFFERENTIATED) for m in cfg.markets], dtype=bool
        )
        self.any_differentiated = bool(self.differentiated.any())
        self.has_surplus |= self.differentiated
        self.diff_markets: list[DifferentiatedMarket] = []
        self.diff_pairs: list[np.ndarray] = []
        self._pair_surplus_unit = np.zeros(self.n_pairs)
        self.pair_quality = np.zeros(self.n_pairs)
        self.goodwill = np.ones(self.n_pairs)
        names = cfg.product_names
        for k in np.flatnonzero(self.differentiated):
            opts = np.flatnonzero(self.pair_market == k)
            d = cfg.markets[k].demand
            if isinstance(d, LinearSystemDemand) and d.substitution * (len(opts) - 1) >= d.b:
                raise ConfigError(
                    f"substitution {d.substitution} x ({len(opts)} - 1) other options must stay "
                    f"below b = {d.b}: own price must matter more than all rivals' together",
                    file=cfg.source_path,
                    path=f"markets[{k}].demand.substitution",
                )
            self.diff_pairs.append(opts)
            self.diff_markets.append(
                DifferentiatedMarket(
                    cfg.markets[k].demand,
                    [topo.names[r] for r in self.pair_retailer[opts]],
                    [names[p] for p in self.pair_product[opts]],
                )
            )
        self._diff_index = np.flatnonzero(self.differentiated)
        self._diff_sampled = {int(k) for k in self._diff_index if cfg.markets[k].mode == "sampled"}

    def set_quality(self, quality: np.ndarray) -> None:
        """The quality [M, P] of what each retailer sells, as consumers see it."""
        self.pair_quality = quality[self.pair_retailer, self.pair_product]

    def _differentiated_demand(
        self, pair: np.ndarray, price: np.ndarray, posted: np.ndarray
    ) -> None:
        """Expected (or sampled) purchases at every option of the differentiated markets."""
        for j, (mk, opts) in enumerate(zip(self.diff_markets, self.diff_pairs, strict=True)):
            k = int(self._diff_index[j])
            d = mk.demand
            p = price[self.pair_retailer[opts], self.pair_product[opts]]
            delta = mk.worth(self.pair_quality[opts])
            if mk.logit:
                on_promo = p < posted[self.pair_retailer[opts], self.pair_product[opts]] - 1e-12
                delta = delta + d.promotion_value * on_promo
                delta = delta + d.goodwill_value * (self.goodwill[opts] - 1.0)
            q = mk.quantity(p, delta)
            surplus = mk.surplus(p, delta)
            if k in self._diff_sampled:  # sampled: each consumer draws its choice
                n = int(self.consumers[k])
                drawn = self.consumer_rngs[k].multinomial(n, np.append(q / d.size, 0.0).clip(0))
                q = drawn[:-1] * (d.size / n)
            with np.errstate(divide="ignore", invalid="ignore"):
                unit = np.where(q > 0, surplus / mk.quantity(p, delta), 0.0)
            pair[opts] = q
            self._pair_surplus_unit[opts] = unit

    def after_sales(self, pair_demand: np.ndarray, pair_sold: np.ndarray) -> None:
        """Goodwill in logit markets: a stockout at an option erodes it, a period without
        one restores a share of what was lost."""
        if not self.any_differentiated:
            return
        for mk, opts in zip(self.diff_markets, self.diff_pairs, strict=True):
            if not mk.logit or not mk.demand.goodwill_value:
                continue
            d = mk.demand
            short = pair_sold[opts] < pair_demand[opts] - 1e-9
            g = self.goodwill[opts]
            self.goodwill[opts] = np.where(
                short, g * (1.0 - d.goodwill_loss), g + d.goodwill_recovery * (1.0 - g)
            )

    # ------------------------------------------------------------------ demand
    def demand(
        self,
        t: int,
        retail_price: np.ndarray,
        commitment: np.ndarray | None = None,
        posted: np.ndarray | None = None,
    ) -> np.ndarray:
        """Consumer demand arising in period ``t`` at each (market, retailer) pair.

        Under ``clearing: cournot`` the retailers' committed quantities
        (``commitment``, [M, P]) set the price by inverse demand, and each
        retailer's demand is its commitment.
        """
        q = np.zeros(self.n)
        share = self._exo_share
        kinds = self._kinds
        if ConstantDemand in kinds:
            q[kinds[ConstantDemand]] = self._constant
        if StepDemand in kinds:
            before, after, at = self._step
            q[kinds[StepDemand]] = np.where(t < at, before, after)
        if NormalDemand in kinds:
            mean, sd = self._normal
            q[kinds[NormalDemand]] = np.maximum(
                mean + sd * self.rng.standard_normal(len(mean)), 0.0
            )
        if PoissonDemand in kinds:
            q[kinds[PoissonDemand]] = self.rng.poisson(self._poisson)
        if AR1Demand in kinds:
            mean, phi, sd = self._ar1
            self._ar1_state = (
                mean + phi * (self._ar1_state - mean) + sd * self.rng.standard_normal(len(mean))
            )
            q[kinds[AR1Demand]] = np.maximum(self._ar1_state, 0.0)
        if CsvDemand in kinds:
            for j, k in enumerate(kinds[CsvDemand]):
                series = self._csv[j]
                q[k] = series[(t - 1) % len(series)]
        if self.any_price_responsive:
            pair_price = retail_price[self.pair_retailer, self.pair_product]
            # consumers face the lowest price among the market's retailers
            best = np.full(self.n, np.inf)
            np.minimum.at(best, self.pair_market, pair_price)
            cheapest = (pair_price <= best[self.pair_market] + 1e-12) | ~self.price_responsive[
                self.pair_market
            ]
            n_cheapest = self.retailers_of @ cheapest.astype(float)
            share = np.where(
                self.price_responsive[self.pair_market],
                cheapest / np.maximum(n_cheapest[self.pair_market], 1.0),
                1.0,
            )
            self.market_price = np.where(self.price_responsive, best, 0.0)
            self._price_responsive_demand(q, best)
        if self.any_price_responsive:
            share = np.where(self._exo_pairs, self._exo_share, share)
        else:
            share = self._exo_share
        pair = q[self.pair_market] * share
        if self.any_cournot and commitment is not None:
            pair = self._cournot(pair, commitment)
        if self.any_differentiated:
            self._differentiated_demand(
                pair, retail_price, retail_price if posted is None else posted
            )
        return pair

    def _cournot(self, pair: np.ndarray, commitment: np.ndarray) -> np.ndarray:
        """Cournot clearing: total committed quantity, price by inverse demand."""
        from channel_agents.anticipation import demand_curve

        on = self.cournot[self.pair_market]
        committed = commitment[self.pair_retailer, self.pair_product]
        total = self.retailers_of @ np.where(on, committed, 0.0)
        for k in np.flatnonzero(self.cournot):
            curve = demand_curve(self.cfg.markets[k])
            q = max(float(total[k]), 1e-12)
            price = float(curve.inverse(q))
            self.market_price[k] = max(price, 0.0)
            if curve.kind == "linear":
                self.surplus_per_unit[k] = q / (2.0 * curve.b)
            else:
                self.surplus_per_unit[k] = price / (curve.elasticity - 1.0)
        return np.where(on, committed, pair)

    def _price_responsive_demand(self, q: np.ndarray, price: np.ndarray) -> None:
        kinds = self._kinds
        if LinearDemand in kinds:
            ks = kinds[LinearDemand]
            a, b = self._lin
            p = price[ks]
            q_lin = np.maximum(a - b * p, 0.0)
            q[ks] = q_lin
            self.surplus_per_unit[ks] = q_lin / (2.0 * b)
            for j in np.flatnonzero(self._lin_sampled):
                k = ks[j]
                wtp = self._wtp_buffers[k]
                self.consumer_rngs[k].random(out=wtp)
                wtp *= a[j] / b[j]
                surplus = wtp - p[j]
                buyers = surplus >= 0.0
                n_buy = int(np.count_nonzero(buyers))
                weight = a[j] / len(wtp)
                q[k] = n_buy * weight
                self.surplus_per_unit[k] = float(surplus[buyers].sum()) / n_buy if n_buy else 0.0
        if AdvertisedLinearDemand in kinds:
            ks = kinds[AdvertisedLinearDemand]
            a, b = self._adv
            base = np.maximum(a - b * price[ks], 0.0)
            q[ks] = self.ad_multiplier[ks] * base
            self.surplus_per_unit[ks] = base / (2.0 * b)
        if IsoelasticDemand in kinds:
            ks = kinds[IsoelasticDemand]
            scale, e = self._iso
            p = np.maximum(price[ks], 1e-12)
            q[ks] = scale * p ** (-e)
            self.surplus_per_unit[ks] = p / (e - 1.0)

    def purchase(
        self, price: np.ndarray, posted: np.ndarray, available: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Population markets: consumers choose among the retailers they reach and buy
        from ``available`` stock ([M, P], what is left after backlogs and the other
        markets), at ``price`` (what they pay) against ``posted`` (the retailers' posted
        prices: the difference is a discount). Returns (units wanted, units bought) per
        (market, retailer) pair, zero at pairs of other markets."""
        pair_price = price[self.pair_retailer, self.pair_product]
        pair_posted = posted[self.pair_retailer, self.pair_product]
        with np.errstate(divide="ignore", invalid="ignore"):
            discount = np.where(pair_posted > 0, 1.0 - pair_price / pair_posted, 0.0)
        return self.population.clear(pair_price, np.maximum(discount, 0.0), available.ravel())

    def pair_surplus(self, pair_sold: np.ndarray) -> np.ndarray:
        """Consumer surplus at each (market, retailer, product) pair for the units sold
        there this period (a population market's surplus is spread over its pairs by
        units sold)."""
        if not self.any_surplus:
            return self._no_pair_surplus
        unit = np.where(self.has_surplus, self.surplus_per_unit, 0.0)[self.pair_market]
        if self.any_differentiated:
            diff = self.differentiated[self.pair_market]
            unit = np.where(diff, self._pair_surplus_unit, unit)
        out = pair_sold * unit
        if self.population is not None:
            for k, opts in zip(self.pop_markets, self._pop_pairs, strict=True):
                sold = pair_sold[opts]
                total = float(sold.sum())
                weight = sold / total if total > 0 else np.eye(len(opts))[0]
                out[opts] = self.population.market_surplus[k] * weight
        return out
