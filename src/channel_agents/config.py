"""Scenario configuration: load YAML, resolve ``extends:``, apply ``--set``, validate.

A scenario is validated once, at load, into frozen typed objects; the rest of
the package trusts them. Every error is a :class:`ConfigError` that names the
file, the key path, what is wrong and what is allowed.

>>> from channel_agents.config import load_config
>>> cfg = load_config("configs/beer_game.yaml")
>>> cfg.periods, list(cfg.members)[:2]
(36, ['source', 'factory'])
"""

from __future__ import annotations

import contextlib
import copy
import difflib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

ROLES = ("source", "supplier", "manufacturer", "wholesaler", "distributor", "retailer")
ROLE_TIER = {r: i for i, r in enumerate(ROLES)}
# keys whose value names the variant of a tagged block (``policy: sterman``, ``dist: normal``)
TAG_KEYS = ("policy", "kind", "type", "dist")


class ConfigError(ValueError):
    """A scenario or flag that cannot be run: says where, what, and what is allowed."""

    def __init__(self, message: str, *, file: str | None = None, path: str | None = None):
        self.file = file
        self.path = path
        self.detail = message
        where = ": ".join(p for p in (file, path) if p)
        super().__init__(f"{where}: {message}" if where else message)


class _Block(BaseModel):
    """Base of every config block: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


Unit = Annotated[float, Field(ge=0, le=1)]
MAX_VALUE = 1e12  # larger magnitudes overflow the numerics; no channel needs them
NonNeg = Annotated[float, Field(ge=0, le=MAX_VALUE, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, le=MAX_VALUE, allow_inf_nan=False)]
Bounded = Annotated[float, Field(ge=-MAX_VALUE, le=MAX_VALUE, allow_inf_nan=False)]
Delay = Annotated[int, Field(ge=1, strict=True)]

# --------------------------------------------------------------------------- ordering


class StermanOrdering(_Block):
    """Sterman (1989) anchoring-and-adjustment ordering rule."""

    policy: Literal["sterman"]
    theta: Unit = 0.36
    alpha_s: Unit = 0.26
    beta: Unit = 0.34
    s_prime: NonNeg = 17.0
    initial_expectation: NonNeg | None = None


class OrderUpToOrdering(_Block):
    """Order up to ``lead time x forecast + safety`` on the inventory position."""

    policy: Literal["order_up_to"]
    forecast: Literal["moving_average", "exponential"] = "moving_average"
    forecast_window: Annotated[int, Field(ge=1, strict=True)] = 5
    smoothing: Annotated[float, Field(gt=0, le=1)] = 0.3
    safety_factor: NonNeg = 0.0
    safety_stock: NonNeg = 0.0
    lead_time: Annotated[int, Field(ge=0, strict=True)] | None = None
    echelon: bool = False
    initial_forecast: NonNeg | None = None
    forward_buy: bool = False


class SSOrdering(_Block):
    """(s, S): when the inventory position falls to ``s`` or below, order up to ``S``."""

    policy: Literal["s_S"]
    s: Bounded
    S: Bounded

    @model_validator(mode="after")
    def _s_below_S(self) -> SSOrdering:
        if self.s >= self.S:
            raise ValueError(f"s ({self.s}) must be below S ({self.S})")
        return self


class PassThroughOrdering(_Block):
    """Order exactly what was received as orders (or demand) this period."""

    policy: Literal["pass_through"]


class FixedOrdering(_Block):
    """Order the same quantity every period."""

    policy: Literal["fixed"]
    quantity: NonNeg


class NewsvendorOrdering(_Block):
    """Perishable retailer: order the critical fractile of its contract each season."""

    policy: Literal["newsvendor"]


class CentralPlanOrdering(_Block):
    """Perfect-foresight central plan (linear program) for the whole serial chain."""

    policy: Literal["central_plan"]


class LearnedOrdering(_Block):
    """A trained policy loaded from ``path`` (relative to the working directory): a
    linear policy's ``.npz`` or a pickled callable (``.pkl``, ``.pickle``: trusted
    files only, loading runs code). See channel_agents.policies.learned."""

    policy: Literal["learned"]
    path: Annotated[str, Field(min_length=1)]


Ordering = Annotated[
    CentralPlanOrdering
    | StermanOrdering
    | OrderUpToOrdering
    | SSOrdering
    | PassThroughOrdering
    | FixedOrdering
    | NewsvendorOrdering
    | LearnedOrdering,
    Field(discriminator="policy"),
]

# --------------------------------------------------------------------------- pricing


class FixedPricing(_Block):
    """Charge the same price every period."""

    policy: Literal["fixed"]
    price: NonNeg


class CostPlusPricing(_Block):
    """Price = (1 + markup) x unit purchase cost + margin."""

    policy: Literal["cost_plus"]
    markup: NonNeg = 0.0
    margin: NonNeg = 0.0


class StackelbergPricing(_Block):
    """Maximize own profit, anticipating the best responses of every member below."""

    policy: Literal["stackelberg"]


class JointPricing(_Block):
    """The channel optimum: retail prices that maximize the whole channel's profit;
    transfer prices follow the coordinating contract (marginal cost if it names none)."""

    policy: Literal["joint"]


class AdaptivePricing(_Block):
    """Learn a linear demand curve from own prices and sales, price against it.

    Each period it fits q = alpha - beta p by least squares on its recent
    (price, quantity) observations and moves to the best price for the fitted
    curve; ``exploration`` is the relative size of the price probes it adds.
    """

    policy: Literal["adaptive"]
    initial_price: Annotated[float, Field(gt=0, le=MAX_VALUE)] | None = None
    exploration: Annotated[float, Field(ge=0, le=0.5)] = 0.02
    memory: Annotated[int, Field(ge=3, strict=True)] = 50


Pricing = Annotated[
    FixedPricing | CostPlusPricing | StackelbergPricing | JointPricing | AdaptivePricing,
    Field(discriminator="policy"),
]

# --------------------------------------------------------------------------- contracts


Terms = Annotated[int, Field(ge=0, strict=True)]


class WholesaleContract(_Block):
    """A per-unit wholesale price, invoiced per shipment (left open: the seller sets it)."""

    type: Literal["wholesale"]
    wholesale_price: NonNeg | None = None
    payment_terms: Terms = 0


class TwoPartTariffContract(_Block):
    """A per-unit price plus a fixed fee per period (open terms: w = marginal cost, fee
    from bargaining)."""

    type: Literal["two_part_tariff"]
    wholesale_price: NonNeg | None = None
    fixed_fee: NonNeg | None = None
    payment_terms: Terms = 0


class RevenueSharingContract(_Block):
    """The buyer pays ``wholesale_price`` per unit and keeps ``revenue_share`` of its
    revenue (sales and salvage); the rest goes to the seller."""

    type: Literal["revenue_sharing"]
    revenue_share: Unit
    wholesale_price: NonNeg
    payment_terms: Terms = 0


class BuybackContract(_Block):
    """The seller refunds ``buyback_price`` per unsold unit, which goes back to it."""

    type: Literal["buyback"]
    wholesale_price: NonNeg
    buyback_price: NonNeg
    payment_terms: Terms = 0

    @model_validator(mode="after")
    def _refund_below_price(self) -> BuybackContract:
        if self.buyback_price > self.wholesale_price:
            raise ValueError(
                f"buyback_price ({self.buyback_price}) must not exceed wholesale_price "
                f"({self.wholesale_price})"
            )
        return self


class QuantityDiscountContract(_Block):
    """Unit price w(q) = (1 - retailer_share) P(q) + retailer_share x c, on the buyer's
    mean volume per period q over the contract period, never below marginal cost c
    (P is inverse demand)."""

    type: Literal["quantity_discount"]
    retailer_share: Unit
    payment_terms: Terms = 0


Contract = Annotated[
    WholesaleContract
    | TwoPartTariffContract
    | RevenueSharingContract
    | BuybackContract
    | QuantityDiscountContract,
    Field(discriminator="type"),
]
CONTRACT_TYPES = ("wholesale", "two_part_tariff", "revenue_sharing", "buyback", "quantity_discount")


class NegotiationConfig(_Block):
    """How an edge's two members agree the open terms of its contract."""

    protocol: Literal[
        "take_it_or_leave_it", "nash", "kalai_smorodinsky", "rubinstein", "alternating_offers"
    ] = "take_it_or_leave_it"
    power: Unit = 0.5
    contract_period: Annotated[int, Field(ge=1, strict=True)] = 13
    discount_seller: Annotated[float, Field(gt=0, lt=1)] = 0.9
    discount_buyer: Annotated[float, Field(gt=0, lt=1)] = 0.9
    deadline: Annotated[int, Field(ge=1, strict=True)] = 20
    seller_concession: Literal["boulware", "linear", "conceder", "tit_for_tat"] = "linear"
    buyer_concession: Literal["boulware", "linear", "conceder", "tit_for_tat"] = "linear"
    disagreement_seller: Bounded = 0.0
    disagreement_buyer: Bounded = 0.0


# --------------------------------------------------------------------------- promotions


class _Calendar(_Block):
    """A promotion that runs for the last ``duration`` periods of every ``every`` periods
    (periods count from 1, warm-up included)."""

    every: Annotated[int, Field(ge=1, strict=True)]
    duration: Annotated[int, Field(ge=1, strict=True)]

    @model_validator(mode="after")
    def _fits_in_cycle(self) -> _Calendar:
        if self.duration > self.every:
            raise ValueError(f"duration ({self.duration}) must not exceed every ({self.every})")
        return self


class PriceDiscountPromotion(_Calendar):
    """A retailer's temporary price cut: consumers pay (1 - depth) x its posted price."""

    policy: Literal["price_discount"]
    depth: Unit
    spend: NonNeg = 0.0  # paid out of the channel in every promotion period (display, feature)


class TradePromotion(_Calendar):
    """A seller's trade deal: its selling price drops by ``depth`` (relative) on every
    sales edge; retailers buying on the deal pass ``pass_through`` of the discount on."""

    depth: Unit
    pass_through: Unit = 0.0


# --------------------------------------------------------------------------- members


class MemberDefaults(_Block):
    """Settings applied to every member that does not set its own."""

    ordering: Ordering | None = None
    pricing: Pricing | None = None
    holding_cost: NonNeg = 0.0
    backlog_cost: NonNeg = 0.0
    unmet_demand: Literal["backlog", "lost"] = "backlog"
    allocation: Literal["proportional", "fifo", "priority"] = "proportional"
    allow_returns: bool = False
    cash: Bounded = 0.0
    cost_of_capital: NonNeg = 0.0
    credit_limit: NonNeg | None = None
    perishable: bool = False
    salvage_value: NonNeg = 0.0
    demand_knowledge: Literal["complete", "estimated"] = "complete"
    information: Literal["local", "shared"] | None = None
    promotion: PriceDiscountPromotion | None = None


class MemberConfig(_Block):
    """One node of the supply graph."""

    role: Literal[ROLES]  # type: ignore[valid-type]
    stock: NonNeg = 0.0
    backlog: NonNeg = 0.0
    unit_cost: NonNeg | None = None
    ordering: Ordering | None = None
    pricing: Pricing | None = None
    holding_cost: NonNeg | None = None
    backlog_cost: NonNeg | None = None
    unmet_demand: Literal["backlog", "lost"] | None = None
    allocation: Literal["proportional", "fifo", "priority"] | None = None
    allow_returns: bool | None = None
    cash: Bounded | None = None
    cost_of_capital: NonNeg | None = None
    credit_limit: NonNeg | None = None
    perishable: bool | None = None
    salvage_value: NonNeg | None = None
    demand_knowledge: Literal["complete", "estimated"] | None = None
    information: Literal["local", "shared"] | None = None
    promotion: PriceDiscountPromotion | None = None
    trade_promotion: TradePromotion | None = None
    carries: list[str] | None = Field(default=None, min_length=1)  # products handled; all if unset
    quality: Bounded | None = None  # sources: quality of the material they sell
    defect_rate: Annotated[float, Field(ge=0, lt=1)] | None = None  # sources: share defective


class EdgeConfig(_Block):
    """A supply relation seller -> buyer with its delays, costs and contract."""

    seller: str = Field(alias="from")
    buyer: str = Field(alias="to")
    order_delay: Delay = 1
    lead_time: Delay = 1
    transport_cost: NonNeg = 0.0
    capacity: NonNeg | None = None
    initial_flow: NonNeg = 0.0
    priority: Annotated[int, Field(ge=0, strict=True)] = 0
    order_share: Annotated[float, Field(gt=0)] = 1.0
    payment_terms: Annotated[int, Field(ge=0, strict=True)] | None = None
    contract: Contract | None = None
    negotiation: NegotiationConfig | None = None

    @model_validator(mode="after")
    def _terms_in_one_place(self) -> EdgeConfig:
        if self.payment_terms is not None and self.contract is not None:
            raise ValueError(
                "payment_terms is set both on the edge and in its contract; keep the contract's"
            )
        return self


# --------------------------------------------------------------------------- markets


class ConstantDemand(_Block):
    kind: Literal["constant"]
    value: NonNeg


class StepDemand(_Block):
    """``before`` units per period until period ``at`` (1-based), then ``after``."""

    kind: Literal["step"]
    before: NonNeg
    after: NonNeg
    at: Annotated[int, Field(ge=1, strict=True)]


class NormalDemand(_Block):
    """I.i.d. normal demand, clipped at zero."""

    kind: Literal["normal"]
    mean: NonNeg
    sd: NonNeg


class PoissonDemand(_Block):
    kind: Literal["poisson"]
    mean: NonNeg


class AR1Demand(_Block):
    """d_t = mean + phi (d_{t-1} - mean) + sd e_t, clipped at zero."""

    kind: Literal["ar1"]
    mean: NonNeg
    phi: Annotated[float, Field(gt=-1, lt=1)]
    sd: NonNeg


class CsvDemand(_Block):
    """Demand read from a CSV column (path relative to the scenario file), cycled."""

    kind: Literal["csv"]
    path: str
    column: str


class LinearDemand(_Block):
    """Price-responsive demand q = a - b p (uniform willingness to pay on [0, a/b])."""

    kind: Literal["linear"]
    a: Positive
    b: Annotated[float, Field(ge=1e-9, le=MAX_VALUE)]


class IsoelasticDemand(_Block):
    """Price-responsive demand q = scale p^-elasticity."""

    kind: Literal["isoelastic"]
    scale: Positive
    elasticity: Annotated[float, Field(gt=1)]


class AdvertisedLinearDemand(_Block):
    """Linear demand that advertising expands: q = (a - b p)(k_r sqrt(m_r) + k_m sqrt(m_m)),
    m_r the retailer's and m_m its manufacturer's advertising spend per period;
    ``coop`` lets the manufacturer pay a share of the retailer's advertising."""

    kind: Literal["advertised_linear"]
    a: Positive
    b: Annotated[float, Field(ge=1e-9, le=MAX_VALUE)]
    k_r: NonNeg = 1.0
    k_m: NonNeg = 1.0
    coop: bool = True


class LogitDemand(_Block):
    """Multinomial logit choice among the market's (retailer, product) options and not
    buying: option k is worth ``value + quality_value x quality + brand_value[product]
    + store_value[retailer] + promotion_value (while on promotion) + goodwill_value x
    (goodwill - 1) - price`` in money, and ``size`` consumers a period each buy the option
    with the highest worth plus a Gumbel taste shock of scale 1 / ``price_sensitivity``."""

    kind: Literal["logit"]
    size: Positive
    value: Bounded = 0.0
    price_sensitivity: Positive = 1.0
    quality_value: NonNeg = 0.0
    brand_value: dict[str, Bounded] = Field(default_factory=dict)
    store_value: dict[str, Bounded] = Field(default_factory=dict)
    promotion_value: NonNeg = 0.0
    goodwill_value: NonNeg = 0.0
    goodwill_loss: Unit = 0.5
    goodwill_recovery: Unit = 0.1


class LinearSystemDemand(_Block):
    """Differentiated linear demand over the market's options (McGuire & Staelin 1983):
    q_k = a + b (quality_value x quality_k + brand_value[product_k]) - b p_k
    + substitution x (sum of the other options' prices)."""

    kind: Literal["linear_system"]
    a: Positive
    b: Positive
    substitution: NonNeg = 0.0
    quality_value: NonNeg = 0.0
    brand_value: dict[str, Bounded] = Field(default_factory=dict)


class UniformWTP(_Block):
    """Willingness to pay uniform on [low, high]."""

    dist: Literal["uniform"]
    low: NonNeg = 0.0
    high: NonNeg

    @model_validator(mode="after")
    def _ordered(self) -> UniformWTP:
        if self.high < self.low:
            raise ValueError(f"high ({self.high}) must not be below low ({self.low})")
        return self


class NormalWTP(_Block):
    """Normal willingness to pay (negative values never buy)."""

    dist: Literal["normal"]
    mean: Bounded
    sd: NonNeg


class LognormalWTP(_Block):
    """Log-normal willingness to pay: log WTP is normal with mean ``mu`` and sd ``sigma``."""

    dist: Literal["lognormal"]
    mu: Annotated[float, Field(ge=-50, le=50, allow_inf_nan=False)]
    sigma: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False)]


class EmpiricalWTP(_Block):
    """Willingness to pay sampled with replacement from a list of observed values."""

    dist: Literal["empirical"]
    values: list[Bounded] = Field(min_length=1)


WTP = Annotated[UniformWTP | NormalWTP | LognormalWTP | EmpiricalWTP, Field(discriminator="dist")]


class Segment(_Block):
    """A group of consumers alike in taste: each wants one unit per period."""

    name: Annotated[str, Field(min_length=1)]
    size: Positive  # consumers (units of demand per period)
    wtp: WTP
    price_sensitivity: Positive = 1.0  # utility per unit of price (logit); scales money
    promotion_response: NonNeg = 0.0  # utility per unit of relative discount
    loyalty: Bounded = 0.0  # utility bonus for the retailer it bought from last (logit)
    preference: dict[str, Bounded] = Field(default_factory=dict)  # retailer -> bonus (logit)
    pantry: Annotated[int, Field(ge=0, le=1_000_000, strict=True)] = 0  # units it can store


class PopulationDemand(_Block):
    """Consumer segments choosing among the market's retailers (consumers.py)."""

    kind: Literal["population"]
    segments: list[Segment] = Field(min_length=1)
    choice: Literal["cheapest", "logit"] = "cheapest"
    on_stockout: Literal["switch", "lost"] = "switch"
    goodwill_loss: Unit = 0.5  # share of goodwill a stockout takes away
    goodwill_recovery: Unit = 0.1  # goodwill regained per period without a stockout


Demand = Annotated[
    LogitDemand
    | LinearSystemDemand
    | AdvertisedLinearDemand
    | PopulationDemand
    | ConstantDemand
    | StepDemand
    | NormalDemand
    | PoissonDemand
    | AR1Demand
    | CsvDemand
    | LinearDemand
    | IsoelasticDemand,
    Field(discriminator="kind"),
]
PRICE_RESPONSIVE = (LinearDemand, IsoelasticDemand, AdvertisedLinearDemand)
DIFFERENTIATED = (LogitDemand, LinearSystemDemand)  # consumers choose among options
EXOGENOUS = (ConstantDemand, StepDemand, NormalDemand, PoissonDemand, AR1Demand, CsvDemand)


class MarketConfig(_Block):
    """A consumer market served by one or more retailers."""

    name: str
    retailers: list[str] = Field(min_length=1)
    clearing: Literal["posted_price", "cournot"] = "posted_price"
    mode: Literal["expected", "sampled"] = "expected"
    consumers: Annotated[int, Field(ge=1, strict=True)] = 1000
    product: str | None = None
    products: list[str] | None = Field(default=None, min_length=1)
    demand: Demand

    @model_validator(mode="after")
    def _sampled_needs_population(self) -> MarketConfig:
        if self.product is not None and self.products is not None:
            raise ValueError("give either product (one) or products (several), not both")
        several = self.products is not None and len(self.products) > 1
        if several and not isinstance(self.demand, DIFFERENTIATED + EXOGENOUS):
            raise ValueError(
                "a market with several products needs demand kind 'logit' or "
                "'linear_system' (consumers choose among products) or exogenous demand"
            )
        if isinstance(self.demand, DIFFERENTIATED) and self.clearing == "cournot":
            raise ValueError("clearing 'cournot' needs demand kind linear or isoelastic")
        if self.mode == "sampled" and isinstance(self.demand, LinearSystemDemand):
            raise ValueError("mode 'sampled' needs demand kind 'linear', 'logit' or 'population'")
        if self.mode == "sampled" and isinstance(
            self.demand, IsoelasticDemand | AdvertisedLinearDemand
        ):
            raise ValueError(
                "mode 'sampled' needs demand kind 'linear' or 'population' (a WTP population)"
            )
        if self.clearing == "cournot" and not isinstance(
            self.demand, LinearDemand | IsoelasticDemand | AdvertisedLinearDemand
        ):
            raise ValueError(
                "clearing 'cournot' needs price-responsive demand (linear or isoelastic)"
            )
        return self


# --------------------------------------------------------------------------- scenario

LEVERS = (
    "information",
    "replenishment",
    "contract",
    "pricing",
    "promotion",
    "bargaining",
    "sourcing",
)


class ProductConfig(_Block):
    """A product: the member that makes it (its brand), what one unit costs to make
    (added to what its sources charge) and its quality (before the material's)."""

    name: str
    brand: str | None = None
    unit_cost: NonNeg = 0.0
    quality: Bounded = 0.0


class StrategyLevers(_Block):
    """The independent levers of a strategy; unset levers take the siloed value."""

    information: Literal["local", "shared"] = "local"
    replenishment: Literal["independent", "echelon", "vendor_managed"] = "independent"
    pricing: Literal["stackelberg", "joint"] = "stackelberg"
    promotion: Literal["independent", "joint"] = "independent"
    # buyback needs its terms (a refund tied to the retail price): name it on the edge
    contract: Literal["wholesale", "two_part_tariff", "revenue_sharing", "quantity_discount"] = (
        "wholesale"
    )
    bargaining: Literal[
        "take_it_or_leave_it", "nash", "kalai_smorodinsky", "rubinstein", "alternating_offers"
    ] = "take_it_or_leave_it"
    sourcing: Literal["own_margin", "consumer_value"] = "own_margin"


class ScenarioConfig(_Block):
    """A whole scenario, validated."""

    name: str = "scenario"
    description: str = ""
    periods: Annotated[int, Field(ge=1, strict=True)] = 100
    warmup: Annotated[int, Field(ge=0, strict=True)] = 0
    seed: Annotated[int, Field(ge=0, strict=True)] = 0
    strategy: Literal["siloed", "cooperative"] | StrategyLevers = "siloed"
    products: list[ProductConfig] = Field(
        default_factory=lambda: [ProductConfig(name="default")], min_length=1
    )
    defaults: MemberDefaults = MemberDefaults()
    members: dict[str, MemberConfig] = Field(min_length=1)
    edges: list[EdgeConfig] = Field(default_factory=list)
    markets: list[MarketConfig] = Field(default_factory=list)
    source_path: str | None = Field(default=None, exclude=True)

    @field_validator("products", mode="before")
    @classmethod
    def _product_names(cls, value: Any) -> Any:
        """A product may be given by its name alone."""
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @model_validator(mode="after")
    def _unique_products(self) -> ScenarioConfig:
        names = [p.name for p in self.products]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"product {dup[0]!r} is listed twice in products")
        return self

    @property
    def product_names(self) -> list[str]:
        return [p.name for p in self.products]


# --------------------------------------------------------------------------- loading


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.SafeLoader that refuses a key given twice in one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen[key] = True
        return super().construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _UniqueKeyLoader.construct_mapping
)


def _duplicate_path(text: str, line: int) -> str:
    """The dotted key path of the (duplicate) key on ``line`` (0-based), from indentation."""
    lines = text.splitlines()
    path: list[tuple[int, str]] = []
    for raw in lines[: line + 1]:
        stripped = raw.split("#", 1)[0].rstrip()
        if not stripped.strip() or ":" not in stripped or stripped.lstrip().startswith("-"):
            continue
        indent = len(stripped) - len(stripped.lstrip())
        key = stripped.strip().split(":", 1)[0].strip().strip("'\"")
        while path and path[-1][0] >= indent:
            path.pop()
        path.append((indent, key))
    return ".".join(k for _, k in path)


def read_yaml(path: Path, shown: str, what: str = "scenario") -> dict[str, Any]:
    """Parse one YAML file (safe loader, duplicate keys refused) into a mapping;
    every problem is a one-line :class:`ConfigError` naming ``shown``."""
    if path.is_dir():
        raise ConfigError(f"is a directory; expected a {what} YAML file", file=shown)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=shown) from None
    except (PermissionError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read: {exc.__class__.__name__}", file=shown) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        where = f" (line {mark.line + 1})" if mark else ""
        if not str(exc.problem).startswith("duplicate key"):
            raise ConfigError(
                f"YAML syntax error: unsupported tag{where}: only plain YAML data is allowed",
                file=shown,
            ) from None
        key_path = _duplicate_path(text, mark.line) if mark else ""
        raise ConfigError(
            f"{exc.problem}{where}: each key may appear once", file=shown, path=key_path
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        context = getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        if context is not None and "quoted" in (getattr(exc, "context", "") or ""):
            mark, problem = context, f"a quoted string opened here is never closed ({problem})"
        if "\t" in problem or "\\t" in problem:
            problem = "a tab character: YAML indentation must use spaces, not tabs"
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(f"YAML syntax error: {where}{problem}", file=shown) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"the top level must be a mapping of keys, got {type(data).__name__}", file=shown
        )
    return data


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Merge ``over`` onto ``base``: mappings merge key by key, anything else replaces.

    A tagged block (a decision, demand or contract block) that names a different
    ``policy``, ``kind`` or ``type`` replaces the base block as a whole, so
    switching a policy never leaves the old one's parameters behind.
    """
    out = copy.deepcopy(base)
    for key, value in over.items():
        if (
            isinstance(value, dict)
            and isinstance(out.get(key), dict)
            and not _retagged(out[key], value)
        ):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _retagged(base: dict[str, Any], over: dict[str, Any]) -> bool:
    return any(tag in over and over[tag] != base.get(tag) for tag in ("policy", "kind", "type"))


def _resolve_extends(path: Path, shown: str, chain: tuple[Path, ...]) -> dict[str, Any]:
    """Read ``path`` and deep-merge it over the files it extends. Errors name the file
    given on the command line (``shown``) and, when another, the file holding the error."""
    real = path.resolve()
    where = shown if not chain else f"{shown} (in {_relative(real, chain[0])})"
    if real in chain:
        loop = " -> ".join(_relative(p, chain[0]) for p in (*chain, real))
        raise ConfigError(f"'extends' loop: {loop}", file=shown, path="extends")
    data = read_yaml(path, where)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ConfigError("must be a file path (string)", file=where, path="extends")
    parent_path = (path.parent / parent).resolve()
    if not parent_path.exists():
        raise ConfigError(f"extended file not found: {parent}", file=where, path="extends")
    base = _resolve_extends(parent_path, shown, (*chain, real))
    return deep_merge(base, data)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root.parent))
    except ValueError:
        return str(path)


def parse_set(assignment: str) -> tuple[list[str], Any]:
    """Split ``path=value`` into its dotted path and YAML-parsed value."""
    if "=" not in assignment:
        raise ConfigError(f"{assignment!r}: expected path=value (e.g. periods=50)", path="--set")
    key, _, raw = assignment.partition("=")
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise ConfigError(f"{assignment!r}: empty key in the path", path="--set")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise ConfigError(f"{assignment!r}: the value is not valid YAML", path="--set") from None
    return key.split("."), value


def apply_set(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Replace the node at a dotted path (list items by index or by ``name``)."""
    parts, value = parse_set(assignment)
    out = copy.deepcopy(data)
    node: Any = out
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            idx = _list_index(node, part, where)
            if last:
                node[idx] = value
            else:
                node = node[idx]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if part not in node or node[part] is None:
                    node[part] = {}
                node = node[part]
        else:
            kind = {"int": "number", "float": "number", "str": "string", "bool": "boolean"}.get(
                type(node).__name__, type(node).__name__
            )
            raise ConfigError(f"cannot set a key inside a {kind} value", path=f"--set {where}")
    return out


def _list_index(node: list[Any], part: str, where: str) -> int:
    if part.lstrip("-").isdigit():
        idx = int(part)
        if not -len(node) <= idx < len(node):
            raise ConfigError(
                f"index {idx} out of range (the list has {len(node)} items)",
                path=f"--set {where}",
            )
        return idx
    for idx, item in enumerate(node):
        if isinstance(item, dict) and item.get("name") == part:
            return idx
    names = [str(item.get("name")) for item in node if isinstance(item, dict) and "name" in item]
    raise ConfigError(
        f"no item named {part!r}; items: {', '.join(names) or '(none named)'}",
        path=f"--set {where}",
    )


def _user_loc(loc: tuple[Any, ...], data: Any) -> list[Any]:
    """The pydantic location without union tags: only keys and indexes the user wrote."""
    out: list[Any] = []
    node = data
    for i, item in enumerate(loc):
        last = i == len(loc) - 1
        label = isinstance(item, str) and ("[" in item or item[:1].isupper())
        if isinstance(node, dict):
            tag = any(node.get(k) == item for k in TAG_KEYS)
            if item in node:
                out.append(item)
                node = node[item]
            elif last and not label and not tag:
                out.append(item)
        elif isinstance(node, list) and isinstance(item, int) and item < len(node):
            out.append(item)
            node = node[item]
    return out


def _loc_path(loc: tuple[Any, ...], data: Any) -> str:
    """Render a pydantic error location as a dotted key path (``edges[1].lead_time``)."""
    path = ""
    for item in _user_loc(loc, data):
        path += f"[{item}]" if isinstance(item, int) else (f".{item}" if path else str(item))
    return path


def _union_tags(loc: tuple[Any, ...], data: Any) -> str:
    """The tags a tagged block accepts (e.g. the ordering policies)."""
    import typing

    parent = _user_loc(loc, data)
    model = _walk_schema(parent[:-1], data)
    if not (isinstance(model, type) and issubclass(model, BaseModel)) or not parent:
        return ""
    field = model.model_fields.get(str(parent[-1]))
    if field is None:
        return ""
    tags = []
    for arg in _flatten_union(field.annotation):
        for key in TAG_KEYS:
            f = getattr(arg, "model_fields", {}).get(key)
            if f is not None:
                tags.extend(typing.get_args(f.annotation))
    return ", ".join(tags)


def _flatten_union(annotation: Any) -> list[Any]:
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _flatten_union(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [x for a in typing.get_args(annotation) for x in _flatten_union(a)]
    return [annotation]


_MESSAGES = {
    "greater_than_equal": "must be >= {ge}",
    "greater_than": "must be > {gt}",
    "less_than_equal": "must be <= {le}",
    "less_than": "must be < {lt}",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "float_finite_number": "must be a finite number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "dict_type": "must be a mapping (key: value)",
    "model_type": "must be a mapping (key: value)",
    "model_attributes_type": "must be a mapping (key: value)",
    "list_type": "must be a list",
    "too_short": "must have at least {min_length} item(s)",
    "literal_error": "must be one of: {expected}",
}


def _relevant(errors: list[dict[str, Any]], data: Any) -> list[dict[str, Any]]:
    """Drop the errors of union branches the input plainly did not mean (a mapping given
    where a name or a mapping is allowed is checked as a mapping, and vice versa)."""
    kept = []
    for err in errors:
        node = data
        wrong_branch = False
        for item in err["loc"]:
            if isinstance(item, str) and "[" in item and item.startswith(("literal[", "str")):
                wrong_branch = isinstance(node, dict)
                break
            if isinstance(item, str) and item[:1].isupper() and not isinstance(node, dict):
                wrong_branch = node is not None
                break
            if isinstance(node, dict):
                node = node.get(item)
            elif isinstance(node, list) and isinstance(item, int) and item < len(node):
                node = node[item]
        if not wrong_branch:
            kept.append(err)
    return kept or errors


def _friendly(err: dict[str, Any], data: Any) -> tuple[str, str]:
    loc = err["loc"]
    path = _loc_path(loc, data)
    kind = err["type"]
    got = err.get("input")
    if kind == "extra_forbidden":
        user = _user_loc(loc, data)
        allowed = _allowed_keys_at(user[:-1], data)
        hint = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        msg = f"unknown key {loc[-1]!r}"
        if hint:
            msg += f" (did you mean {hint[0]!r}?)"
        if allowed:
            msg += f"; allowed: {', '.join(allowed)}"
        return path, msg
    msg = err["msg"]
    if kind in _MESSAGES:
        with contextlib.suppress(KeyError, IndexError):
            msg = _MESSAGES[kind].format(**err.get("ctx", {}))
    if kind == "missing":
        return path, f"missing required key {loc[-1]!r}"
    if kind in ("union_tag_not_found", "union_tag_invalid"):
        ctx = err.get("ctx", {})
        tag = ctx.get("discriminator", "").strip("'")
        allowed = ctx.get("expected_tags", "")
        if kind == "union_tag_not_found":
            return path, f"missing key {tag!r} (one of: {_union_tags(loc, data)})"
        return path, f"unknown {tag} {ctx.get('tag')!r}; allowed: {allowed}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if kind not in ("missing", "union_tag_invalid", "union_tag_not_found") and not isinstance(
        got, dict | list
    ):
        msg += f" (got {got!r})"
    return path, msg


def _allowed_keys_at(path: list[Any], data: Any) -> list[str]:
    """The keys the block at a user path accepts, found by walking the schema."""
    model = _walk_schema(path, data)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or n for n, f in model.model_fields.items() if n != "source_path"]
    return []


def _walk_schema(path: list[Any], data: Any) -> Any:
    model: Any = ScenarioConfig
    node = data
    for item in path:
        if isinstance(node, dict):
            node = node.get(item)
        elif isinstance(node, list) and isinstance(item, int):
            node = node[item] if item < len(node) else None
        model = _child_model(model, item, node)
        if model is None:
            return None
    return model


def _child_model(model: Any, item: Any, node: Any) -> Any:
    import typing

    if isinstance(model, type) and issubclass(model, BaseModel):
        fields = {(f.alias or n): f for n, f in model.model_fields.items()}
        field = fields.get(item) or model.model_fields.get(item)
        if field is None:
            return None
        return _unwrap(field.annotation, node)
    origin = typing.get_origin(model)
    if origin in (list, dict):
        args = typing.get_args(model)
        return _unwrap(args[-1], node)
    return None


def _unwrap(annotation: Any, node: Any) -> Any:
    import types
    import typing

    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0], node)
    if origin in (typing.Union, types.UnionType):
        candidates = [a for a in typing.get_args(annotation) if a is not type(None)]
        models = [a for a in candidates if isinstance(a, type) and issubclass(a, BaseModel)]
        if isinstance(node, dict):
            for m in models:
                for key in TAG_KEYS:
                    f = m.model_fields.get(key)
                    if f is not None and node.get(key) in typing.get_args(f.annotation):
                        return m
        if len(candidates) == 1:
            return _unwrap(candidates[0], node)
        return models[0] if len(models) == 1 else None
    return annotation


def expand_retailers(data: dict[str, Any], *, file: str | None = None) -> dict[str, Any]:
    """``n_retailers: n`` clones the member named ``retailer`` into ``retailer_1`` ...
    ``retailer_n``, with its edges and its place in markets (identical competitors)."""
    n = data.get("n_retailers")
    if n is None:
        return data
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ConfigError(f"must be a whole number >= 1 (got {n!r})", file=file, path="n_retailers")
    members = data.get("members")
    if not isinstance(members, dict) or "retailer" not in members:
        raise ConfigError(
            "n_retailers clones the member named 'retailer', and there is none",
            file=file,
            path="n_retailers",
        )
    out = {k: v for k, v in data.items() if k != "n_retailers"}
    names = [f"retailer_{i + 1}" for i in range(n)]
    template = members["retailer"]
    out["members"] = {}
    for k, v in members.items():
        if k == "retailer":
            out["members"].update({name: copy.deepcopy(template) for name in names})
        else:
            out["members"][k] = v
    edges = []
    for e in data.get("edges", []) or []:
        if isinstance(e, dict) and e.get("to") == "retailer":
            edges.extend({**copy.deepcopy(e), "to": name} for name in names)
        else:
            edges.append(e)
    out["edges"] = edges
    markets = []
    for m in data.get("markets", []) or []:
        if isinstance(m, dict) and "retailer" in (m.get("retailers") or []):
            m = {**m, "retailers": [r for r in m["retailers"] if r != "retailer"] + names}
        markets.append(m)
    out["markets"] = markets
    return out


def validate_config(data: dict[str, Any], *, file: str | None = None) -> ScenarioConfig:
    """Validate a merged mapping into a :class:`ScenarioConfig` (and check its graph)."""
    data = expand_retailers(data, file=file)
    try:
        cfg = ScenarioConfig.model_validate({**data, "source_path": file})
    except ValidationError as exc:
        errors = _relevant(exc.errors(), data)
        path, msg = _friendly(errors[0], data)
        extra = len(errors) - 1
        if extra:
            msg += f" (and {extra} more problem{'s' if extra > 1 else ''})"
        raise ConfigError(msg, file=file, path=path) from None
    from channel_agents.network import check_scenario, compile_topology

    check_scenario(cfg)
    members = cfg.members.values()
    if len(cfg.products) > 1 or any(
        m.carries is not None or m.quality is not None or m.defect_rate is not None for m in members
    ):
        from channel_agents.products import product_map

        product_map(cfg, compile_topology(cfg))  # products that cannot flow are named here
    return cfg


def load_config(
    source: str | Path | dict[str, Any] | ScenarioConfig,
    overrides: list[str] | tuple[str, ...] = (),
) -> ScenarioConfig:
    """Load a scenario from a YAML path (or a mapping), apply ``--set`` overrides, validate."""
    if isinstance(source, ScenarioConfig):
        if not overrides:
            return source
        data = source.model_dump(by_alias=True, exclude_none=True)
        file = source.source_path
    elif isinstance(source, dict):
        data, file = copy.deepcopy(source), None
        data.pop("extends", None)
    else:
        path = Path(source)
        file = str(source)
        data = _resolve_extends(path, file, ())
    for assignment in overrides:
        try:
            data = apply_set(data, assignment)
        except ConfigError as exc:
            raise ConfigError(exc.detail, file=file, path=exc.path) from None
    return validate_config(data, file=file)
