"""Altair charts of a run (or of two runs side by side), as Vega-Lite specs.

Each chart is an Altair chart over *named* datasets. Building an Altair chart
costs far more than drawing it (schema look-ups for every encoding: ~50 ms a
chart), so the chart is built once per structure (its tiers, strategies,
size, which layers it has) and cached as a spec template; each period only
the datasets change (``spec["datasets"]``). A page of seven charts of a
200-member channel is rebuilt in milliseconds this way.

Colours are CSS hex strings (Altair draws nothing for matplotlib names such as
``tab:green``). Tiers are listed top of the chain first, so legends read like
the channel: manufacturer, wholesaler, ..., retailer.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import altair as alt
import pandas as pd

from channel_agents.config import ROLES

ROLE_COLORS = {
    "source": "#7f7f7f",
    "supplier": "#8c564b",
    "manufacturer": "#1f77b4",
    "wholesaler": "#ff7f0e",
    "distributor": "#9467bd",
    "retailer": "#2ca02c",
    "market": "#17becf",
}
STRATEGY_COLORS = {"siloed": "#d62728", "cooperative": "#2ca02c", "custom levers": "#1f77b4"}
BACKLOG_COLOR = "#d62728"
DEMAND_COLOR = "#000000"
#: above this many members the drawing leaves out node and edge labels (tooltips keep them)
LABEL_LIMIT = 40
VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"
#: validate each new template against the Vega-Lite schema (the tests switch this on)
VALIDATE = False
_TEMPLATES: OrderedDict[tuple, dict[str, Any]] = OrderedDict()
_MAX_TEMPLATES = 256


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """JSON-safe rows (NaN -> null, numpy scalars -> Python numbers)."""
    if df.empty:
        return []
    return json.loads(df.to_json(orient="records", double_precision=6))


def _spec(
    key: tuple,
    build: Callable[[], alt.TopLevelMixin],
    data: dict[str, pd.DataFrame],
    title: str | None = None,
) -> dict[str, Any]:
    """The chart's spec: its cached template (built on first use) with this data."""
    template = _TEMPLATES.get(key)
    if template is None:
        template = build().to_dict(validate=VALIDATE)
        template["$schema"] = VEGA_LITE_SCHEMA
        _TEMPLATES[key] = template
        if len(_TEMPLATES) > _MAX_TEMPLATES:
            _TEMPLATES.popitem(last=False)
    else:
        _TEMPLATES.move_to_end(key)
    spec = dict(template)
    spec["datasets"] = {name: _records(df) for name, df in data.items()}
    if title is not None:
        spec["title"] = title
    return spec


def _data(name: str) -> alt.NamedData:
    return alt.NamedData(name)


def _role_scale(roles: list[str] | tuple[str, ...]) -> alt.Scale:
    domain = list(roles)
    return alt.Scale(domain=domain, range=[ROLE_COLORS.get(r, "#333333") for r in domain])


def _strategy_scale(labels: tuple[str, ...]) -> alt.Scale:
    domain = list(dict.fromkeys(labels))
    return alt.Scale(domain=domain, range=[STRATEGY_COLORS.get(s, "#1f77b4") for s in domain])


def _roles_in(frame: pd.DataFrame, order: tuple[str, ...] = ROLES) -> tuple[str, ...]:
    """The roles present in ``frame``, in chain order (``order``, then the usual order)."""
    present = set(frame["role"])
    ranked = [r for r in order if r in present]
    return (*ranked, *(r for r in ROLES if r in present and r not in ranked))


def empty_chart(message: str, width: int = 360, height: int = 60) -> dict[str, Any]:
    def build() -> alt.Chart:
        return (
            alt.Chart(_data("message"))
            .mark_text(fontSize=13, color="#555")
            .encode(text="text:N")
            .properties(width=width, height=height)
        )

    return _spec(("empty", width, height), build, {"message": pd.DataFrame({"text": [message]})})


# ---------------------------------------------------------------------------- the channel
def channel_chart(
    nodes: pd.DataFrame,
    edges: pd.DataFrame,
    markets: pd.DataFrame,
    *,
    title: str = "",
    width: int = 620,
    height: int = 300,
    role_order: tuple[str, ...] = ROLES,
) -> dict[str, Any]:
    """The supply graph in tiers: members coloured by role and sized by stock, a red ring
    sized by backlog, edges labelled with their price and contract (width: units shipped
    last period), consumer markets on the right (links labelled with the retail price)."""
    labels = len(nodes) <= LABEL_LIMIT
    has_edges, has_markets = len(edges) > 0, len(markets) > 0
    roles = (*_roles_in(nodes, role_order), *(("market",) if has_markets else ()))
    data: dict[str, pd.DataFrame] = {
        "nodes": nodes,
        "owing": nodes[["x", "y", "backlog", "name", "role"]],
    }
    if labels:
        data["node_labels"] = nodes.assign(
            state=[
                ""
                if r == "source"
                else f"stock {s:.0f}" + (f", backlog {b:.0f}" if b > 1e-9 else "")
                for r, s, b in zip(nodes["role"], nodes["stock"], nodes["backlog"], strict=True)
            ]
        )[["x", "y", "name", "state"]]
    if has_edges:
        data["edges"] = edges
        if labels:
            data["edge_labels"] = pd.DataFrame(
                {
                    "mx": (edges["x"] + edges["x2"]) / 2,
                    "my": (edges["y"] + edges["y2"]) / 2,
                    "label": edges["label"],
                }
            )
    if has_markets:
        data["links"] = markets
        data["spots"] = (
            markets.groupby("market", as_index=False, sort=False)
            .agg(
                x2=("x2", "first"),
                y2=("y2", "first"),
                demand=("demand", "first"),
                sold=("sold", "first"),
                surplus=("surplus", "first"),
            )  # fmt: skip
            .assign(role="market")
        )
        if labels:
            data["link_labels"] = pd.DataFrame(
                {
                    "mx": (markets["x"] + markets["x2"]) / 2,
                    "my": (markets["y"] + markets["y2"]) / 2,
                    "text": [f"p={p:.4g}" for p in markets["retail_price"]],
                }
            )

    def build() -> alt.LayerChart:
        pad_x = alt.Scale(domain=[-0.08, 1.1], nice=False)
        pad_y = alt.Scale(domain=[-0.02, 1.04], nice=False)
        x = alt.X("x:Q", scale=pad_x, axis=None)
        y = alt.Y("y:Q", scale=pad_y, axis=None)
        layers: list[alt.Chart] = []
        if has_edges:
            layers.append(
                alt.Chart(_data("edges"))
                .mark_rule(color="#999", opacity=0.7)
                .encode(
                    x=x,
                    y=y,
                    x2="x2:Q",
                    y2="y2:Q",
                    strokeWidth=alt.StrokeWidth(
                        "flow:Q", scale=alt.Scale(range=[1, 5]), legend=None
                    ),
                    tooltip=[
                        alt.Tooltip("seller:N"),
                        alt.Tooltip("buyer:N"),
                        alt.Tooltip("contract:N"),
                        alt.Tooltip("price:Q", format=".4g"),
                        alt.Tooltip("fee:Q", format=".4g"),
                        alt.Tooltip("flow:Q", title="shipped last period", format=".4g"),
                        alt.Tooltip("in_transit:Q", format=".4g"),
                        alt.Tooltip("owed:Q", title="backlog owed", format=".4g"),
                    ],
                )  # fmt: skip
            )
            if labels:
                layers.append(
                    alt.Chart(_data("edge_labels"))
                    .mark_text(fontSize=10, dy=-7, color="#333")
                    .encode(
                        x=alt.X("mx:Q", scale=pad_x, axis=None),
                        y=alt.Y("my:Q", scale=pad_y, axis=None),
                        text="label:N",
                    )  # fmt: skip
                )
        if has_markets:
            layers.append(
                alt.Chart(_data("links"))
                .mark_rule(color="#17becf", strokeDash=[4, 3])
                .encode(x=x, y=y, x2="x2:Q", y2="y2:Q")
            )
            if labels:
                layers.append(
                    alt.Chart(_data("link_labels"))
                    .mark_text(fontSize=10, dy=-7, color="#333")
                    .encode(
                        x=alt.X("mx:Q", scale=pad_x, axis=None),
                        y=alt.Y("my:Q", scale=pad_y, axis=None),
                        text="text:N",
                    )  # fmt: skip
                )
            layers.append(
                alt.Chart(_data("spots"))
                .mark_point(shape="diamond", filled=True, size=260 if labels else 80)
                .encode(
                    x=alt.X("x2:Q", scale=pad_x, axis=None),
                    y=alt.Y("y2:Q", scale=pad_y, axis=None),
                    color=alt.Color("role:N", scale=_role_scale(roles), legend=None),
                    tooltip=[
                        alt.Tooltip("market:N"),
                        alt.Tooltip("demand:Q", format=".4g"),
                        alt.Tooltip("sold:Q", format=".4g"),
                        alt.Tooltip("surplus:Q", title="consumer surplus", format=".4g"),
                    ],
                )  # fmt: skip
            )
            if labels:
                layers.append(
                    alt.Chart(_data("spots"))
                    .mark_text(fontSize=11, dy=16)
                    .encode(
                        x=alt.X("x2:Q", scale=pad_x, axis=None),
                        y=alt.Y("y2:Q", scale=pad_y, axis=None),
                        text="market:N",
                    )  # fmt: skip
                )
        tooltip = [
            alt.Tooltip("name:N"), alt.Tooltip("role:N"),
            alt.Tooltip("stock:Q", format=".4g"), alt.Tooltip("backlog:Q", format=".4g"),
            alt.Tooltip("cash:Q", format=",.0f"),
            alt.Tooltip("price:Q", title="selling price", format=".4g"),
            alt.Tooltip("unit_cost:Q", title="purchase price", format=".4g"),
            alt.Tooltip("last_order:Q", title="order placed", format=".4g"),
            alt.Tooltip("incoming:Q", title="orders received", format=".4g"),
            alt.Tooltip("profit:Q", title="profit last period", format=",.1f"),
        ]  # fmt: skip
        layers.append(
            alt.Chart(_data("owing"))
            .mark_point(filled=False, color=BACKLOG_COLOR, strokeWidth=2.5)
            .encode(
                x=x,
                y=y,
                size=alt.Size(
                    "backlog:Q",
                    scale=alt.Scale(type="sqrt", domainMin=0, range=[0, 1600 if labels else 300]),
                    legend=None,
                ),
                opacity=alt.condition(alt.datum.backlog > 1e-9, alt.value(1.0), alt.value(0.0)),
            )
        )
        layers.append(
            alt.Chart(_data("nodes"))
            .mark_circle(opacity=0.95, stroke="#333", strokeWidth=0.5)
            .encode(
                x=x,
                y=y,
                color=alt.Color(
                    "role:N",
                    scale=_role_scale(roles),
                    legend=alt.Legend(title="role", orient="bottom"),
                ),
                size=alt.Size(
                    "stock:Q",
                    scale=alt.Scale(type="sqrt", range=[40, 900 if labels else 120]),
                    legend=None,
                ),
                tooltip=tooltip,
            )
        )
        if labels:
            layers.append(
                alt.Chart(_data("node_labels"))
                .mark_text(fontSize=11, dy=-24, fontWeight="bold")
                .encode(x=x, y=y, text="name:N")
            )
            layers.append(
                alt.Chart(_data("node_labels"))
                .mark_text(fontSize=10, dy=26, color="#444")
                .encode(x=x, y=y, text="state:N")
            )
        return (
            alt.layer(*layers)
            .resolve_scale(size="independent")
            .properties(width=width, height=height)
            .configure_view(strokeWidth=0)
        )

    key = ("channel", labels, has_edges, has_markets, roles, width, height)
    return _spec(key, build, data, title=title or None)


# ---------------------------------------------------------------------------- time series
PERIOD = alt.X("period:Q", axis=alt.Axis(format="d", tickMinStep=1), title="period")


def _by_role(members: pd.DataFrame, column: str, how: str = "sum") -> pd.DataFrame:
    return members.groupby(["strategy", "period", "role"], as_index=False)[column].agg(how)


def _strategies(frame: pd.DataFrame) -> tuple[str, ...]:
    return tuple(dict.fromkeys(frame["strategy"]))


def _facet(chart: alt.Chart, strategies: tuple[str, ...], width: int, height: int):
    if len(strategies) > 1:
        return chart.properties(width=width // 2 - 40, height=height).facet(
            column=alt.Column("strategy:N", title=None, sort=list(strategies))
        )
    return chart.properties(width=width, height=height)


def orders_chart(
    members: pd.DataFrame,
    markets: pd.DataFrame,
    width: int = 620,
    height: int = 200,
    role_order: tuple[str, ...] = ROLES,
) -> dict[str, Any]:
    """Orders placed by each tier (sum over its members) against end demand: the bullwhip."""
    if members.empty:
        return empty_chart("Step the model to see orders by tier", width)
    strategies = _strategies(members)
    df = _by_role(members, "orders")
    demand = markets.groupby(["strategy", "period"], as_index=False)["demand"].sum()
    demand = demand.rename(columns={"demand": "orders"}).assign(role="end demand")
    data = pd.concat([df, demand], ignore_index=True)
    domain = (*_roles_in(df, role_order), "end demand")

    def build():
        chart = (
            alt.Chart(_data("orders"))
            .mark_line(interpolate="step-after")
            .encode(
                x=PERIOD,
                y=alt.Y("orders:Q", title="units ordered"),
                color=alt.Color(
                    "role:N",
                    scale=alt.Scale(
                        domain=list(domain),
                        range=[ROLE_COLORS.get(r, DEMAND_COLOR) for r in domain],
                    ),
                    title="tier",
                ),
                strokeDash=alt.condition(
                    alt.datum.role == "end demand", alt.value([4, 3]), alt.value([1, 0])
                ),
                tooltip=["strategy:N", "period:Q", "role:N", alt.Tooltip("orders:Q", format=".4g")],
            )
        )
        return _facet(chart, strategies, width, height)

    return _spec(
        ("orders", domain, strategies, width, height),
        build,
        {"orders": data},
        title="Orders by tier (the bullwhip) and end demand (dashed)",
    )


def prices_chart(
    members: pd.DataFrame, width: int = 620, height: int = 150, role_order: tuple[str, ...] = ROLES
) -> dict[str, Any]:
    """Selling price and margin (price - purchase price) of each tier (mean over members)."""
    if members.empty or "price" not in members:
        return empty_chart("Step the model to see prices and margins", width)
    strategies = _strategies(members)
    df = members.groupby(["strategy", "period", "role"], as_index=False)[["price", "margin"]].mean()
    long = df.melt(["strategy", "period", "role"], ["price", "margin"], "measure", "value")
    long = long.dropna(subset=["value"])
    if long.empty:
        return empty_chart("No prices in this scenario", width)
    roles = _roles_in(long, role_order)

    def build():
        w = width // 2 - 40 if len(strategies) > 1 else width
        return (
            alt.Chart(_data("prices"))
            .mark_line()
            .encode(
                x=PERIOD,
                y=alt.Y("value:Q", title=None),
                color=alt.Color("role:N", scale=_role_scale(roles), title="tier"),
                tooltip=[
                    "strategy:N",
                    "period:Q",
                    "role:N",
                    "measure:N",
                    alt.Tooltip("value:Q", format=".4g"),
                ],  # fmt: skip
            )
            .properties(width=w, height=height)
            .facet(
                row=alt.Row("measure:N", title=None, sort=["price", "margin"]),
                column=alt.Column("strategy:N", title=None, sort=list(strategies)),
            )
            .resolve_scale(y="independent")
        )

    return _spec(
        ("prices", roles, strategies, width, height),
        build,
        {"prices": long},
        title="Prices and margins (price - purchase price) by tier",
    )


def consumer_chart(
    markets: pd.DataFrame, width: int = 620, height: int = 150, has_surplus: bool = True
) -> dict[str, Any]:
    """Consumer surplus per period and the price consumers paid; with siloed and
    cooperative side by side, the surplus gap between them is shaded. ``has_surplus``
    False (demand that does not respond to price, as in the beer game): a note instead."""
    if not has_surplus:
        return empty_chart(
            "No consumer surplus here: demand in this scenario does not respond to price", width
        )
    if markets.empty:
        return empty_chart("Step the model to see consumer surplus and prices paid", width)
    strategies = _strategies(markets)
    per = markets.groupby(["strategy", "period"], as_index=False)[
        ["surplus", "spend", "sold"]
    ].sum()
    sold = per["sold"].where(per["sold"] > 0)
    per["price_paid"] = per["spend"] / sold
    gap = set(strategies) >= {"siloed", "cooperative"}
    data = {"per": per}
    title = "Consumer surplus per period and the price consumers paid"
    if gap:
        wide = per.pivot(index="period", columns="strategy", values="surplus").reset_index()
        wide["gap"] = wide["cooperative"] - wide["siloed"]
        data["gap"] = wide[["period", "siloed", "cooperative", "gap"]]
        mean_gap = float(wide["gap"].mean())
        title = (
            f"Consumer surplus: cooperative - siloed gap (shaded), mean {mean_gap:+.4g} per period"
        )

    def build():
        scale = _strategy_scale(strategies)
        layers: list[alt.Chart] = []
        if gap:
            layers.append(
                alt.Chart(_data("gap"))
                .mark_area(opacity=0.25, color="#2ca02c", interpolate="step-after")
                .encode(
                    x=PERIOD,
                    y="siloed:Q",
                    y2="cooperative:Q",
                    tooltip=["period:Q", alt.Tooltip("gap:Q", title="surplus gap", format=".4g")],
                )
            )
        layers.append(
            alt.Chart(_data("per"))
            .mark_line(interpolate="step-after")
            .encode(
                x=PERIOD,
                y=alt.Y("surplus:Q", title="consumer surplus"),
                color=alt.Color("strategy:N", scale=scale),
                tooltip=["strategy:N", "period:Q", alt.Tooltip("surplus:Q", format=".4g")],
            )
        )
        surplus = alt.layer(*layers).properties(width=width, height=height)
        price = (
            alt.Chart(_data("per"))
            .mark_line()
            .encode(
                x=PERIOD,
                y=alt.Y("price_paid:Q", title="price paid", scale=alt.Scale(zero=False)),
                color=alt.Color("strategy:N", scale=scale),
                tooltip=["strategy:N", "period:Q", alt.Tooltip("price_paid:Q", format=".4g")],
            )
            .properties(width=width, height=height * 2 // 3)
        )
        return alt.vconcat(surplus, price)

    return _spec(("consumer", strategies, gap, width, height), build, data, title=title)


def stock_chart(
    members: pd.DataFrame, width: int = 620, height: int = 170, role_order: tuple[str, ...] = ROLES
) -> dict[str, Any]:
    """Stock (solid) and backlog (dashed) of each tier, summed over its members."""
    if members.empty:
        return empty_chart("Step the model to see stock and backlog", width)
    strategies = _strategies(members)
    df = members.groupby(["strategy", "period", "role"], as_index=False)[["stock", "backlog"]].sum()
    long = df.melt(["strategy", "period", "role"], ["stock", "backlog"], "measure", "units")
    roles = _roles_in(long, role_order)

    def build():
        chart = (
            alt.Chart(_data("stock"))
            .mark_line()
            .encode(
                x=PERIOD,
                y=alt.Y("units:Q"),
                color=alt.Color("role:N", scale=_role_scale(roles), title="tier"),
                strokeDash=alt.StrokeDash(
                    "measure:N",
                    scale=alt.Scale(domain=["stock", "backlog"], range=[[1, 0], [5, 3]]),
                    title=None,
                ),
                tooltip=[
                    "strategy:N",
                    "period:Q",
                    "role:N",
                    "measure:N",
                    alt.Tooltip("units:Q", format=".4g"),
                ],  # fmt: skip
            )
        )
        return _facet(chart, strategies, width, height)

    return _spec(
        ("stock", roles, strategies, width, height),
        build,
        {"stock": long},
        title="Stock (solid) and backlog (dashed) by tier",
    )


def cash_chart(
    members: pd.DataFrame, width: int = 620, height: int = 150, role_order: tuple[str, ...] = ROLES
) -> dict[str, Any]:
    """Cash of each tier (sum over its members)."""
    if members.empty:
        return empty_chart("Step the model to see cash", width)
    strategies = _strategies(members)
    df = _by_role(members, "cash")
    roles = _roles_in(df, role_order)

    def build():
        chart = (
            alt.Chart(_data("cash"))
            .mark_line()
            .encode(
                x=PERIOD,
                y=alt.Y("cash:Q"),
                color=alt.Color("role:N", scale=_role_scale(roles), title="tier"),
                tooltip=["strategy:N", "period:Q", "role:N", alt.Tooltip("cash:Q", format=",.0f")],
            )
        )
        return _facet(chart, strategies, width, height)

    return _spec(
        ("cash", roles, strategies, width, height), build, {"cash": df}, title="Cash by tier"
    )


# ---------------------------------------------------------------------------- negotiation
def negotiation_chart(view: dict[str, Any], width: int = 460, height: int = 300) -> dict[str, Any]:
    """Payoff space of a bargain: the frontier, the offers round by round, the agreement,
    and the Nash and Kalai-Smorodinsky points."""
    has_frontier, has_offers = bool(view["frontier"]), bool(view["offers"])
    points = []
    for key, label in (("nash", "Nash"), ("kalai_smorodinsky", "Kalai-Smorodinsky")):
        if view.get(key):
            points.append({**view[key], "point": label})
    if view["agreed"]:
        points.append(
            {
                "terms": view["terms"],
                "seller_payoff": view["seller_payoff"],
                "buyer_payoff": view["buyer_payoff"],
                "point": "agreement",
            }
        )
    d_s, d_b = view["disagreement"]
    points.append(
        {"terms": None, "seller_payoff": d_s, "buyer_payoff": d_b, "point": "disagreement"}
    )
    data = {"points": pd.DataFrame(points)}
    if has_frontier:
        data["frontier"] = pd.DataFrame(view["frontier"])
    if has_offers:
        data["offers"] = pd.DataFrame(view["offers"])
    seller, buyer = view["seller"], view["buyer"]

    def build():
        x = alt.X("seller_payoff:Q", title=f"{seller} (seller) payoff")
        y = alt.Y("buyer_payoff:Q", title=f"{buyer} (buyer) payoff")
        layers: list[alt.Chart] = []
        if has_frontier:
            layers.append(
                alt.Chart(_data("frontier"))
                .mark_line(color="#999")
                .encode(
                    x=x,
                    y=y,
                    order="terms:Q",
                    tooltip=[alt.Tooltip("terms:Q", title="price", format=".4g")],
                )  # fmt: skip
            )
        if has_offers:
            layers.append(
                alt.Chart(_data("offers"))
                .mark_line(color="#bbb", strokeDash=[3, 3])
                .encode(x=x, y=y, order="round:Q")
            )
            layers.append(
                alt.Chart(_data("offers"))
                .mark_point(size=70, filled=True)
                .encode(
                    x=x,
                    y=y,
                    color=alt.Color(
                        "proposer:N",
                        scale=alt.Scale(domain=["seller", "buyer"], range=["#1f77b4", "#2ca02c"]),
                        title="offer by",
                    ),
                    tooltip=[
                        "round:Q",
                        "proposer:N",
                        alt.Tooltip("terms:Q", format=".4g"),
                        alt.Tooltip("seller_payoff:Q", format=".4g"),
                        alt.Tooltip("buyer_payoff:Q", format=".4g"),
                    ],  # fmt: skip
                )
            )
            layers.append(
                alt.Chart(_data("offers"))
                .mark_text(dx=9, dy=-6, fontSize=10)
                .encode(x=x, y=y, text="round:Q")
            )
        domain = ["agreement", "Nash", "Kalai-Smorodinsky", "disagreement"]
        layers.append(
            alt.Chart(_data("points"))
            .mark_point(size=220, strokeWidth=2.5)
            .encode(
                x=x,
                y=y,
                shape=alt.Shape(
                    "point:N",
                    scale=alt.Scale(
                        domain=domain, range=["diamond", "cross", "triangle-up", "square"]
                    ),
                    title=None,
                ),
                color=alt.Color(
                    "point:N",
                    scale=alt.Scale(
                        domain=domain, range=["#d62728", "#9467bd", "#ff7f0e", "#7f7f7f"]
                    ),
                    title=None,
                ),
                tooltip=[
                    "point:N",
                    alt.Tooltip("terms:Q", title="price", format=".4g"),
                    alt.Tooltip("seller_payoff:Q", format=".4g"),
                    alt.Tooltip("buyer_payoff:Q", format=".4g"),
                ],  # fmt: skip
            )
        )
        return (
            alt.layer(*layers)
            .resolve_scale(color="independent", shape="independent")
            .properties(width=width, height=height)
        )

    return _spec(
        ("negotiation", has_frontier, has_offers, seller, buyer, width, height),
        build,
        data,
        title="Offers round by round, the agreement, the Nash and Kalai-Smorodinsky points",
    )


# ---------------------------------------------------------------------------- classroom
def debrief_chart(orders: pd.DataFrame, width: int = 300, height: int = 160) -> dict[str, Any]:
    """Each team's orders by member (tier) against the cooperative benchmark (black, dashed)."""
    if orders.empty:
        return empty_chart("No games to debrief yet", width)
    members = tuple(dict.fromkeys(orders["member"]))  # chain order, as the model lists them
    teams = tuple(dict.fromkeys(orders["team"]))
    teams = (  # benchmarks last in the legend
        *(t for t in teams if not t.startswith("benchmark")),
        *(t for t in teams if t.startswith("benchmark")),
    )
    data = orders[["team", "game", "member", "role", "period", "orders", "by"]]

    def build():
        palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
                   "#bcbd22", "#17becf"]  # fmt: skip
        others = [t for t in teams if not t.startswith("benchmark")]
        colors = {t: palette[i % len(palette)] for i, t in enumerate(others)}
        colors.update({t: "#000000" for t in teams if t.startswith("benchmark")})
        return (
            alt.Chart(_data("orders"))
            .mark_line(interpolate="step-after")
            .encode(
                x=PERIOD,
                y=alt.Y("orders:Q", title="units ordered"),
                color=alt.Color(
                    "team:N",
                    scale=alt.Scale(domain=list(teams), range=[colors[t] for t in teams]),
                    title="team",
                ),
                strokeDash=alt.condition(
                    alt.datum.game == "benchmark", alt.value([5, 3]), alt.value([1, 0])
                ),
                tooltip=[
                    "team:N",
                    "member:N",
                    "period:Q",
                    alt.Tooltip("orders:Q", format=".4g"),
                    "by:N",
                ],  # fmt: skip
            )
            .properties(width=width, height=height)
            .facet(facet=alt.Facet("member:N", sort=list(members), title=None), columns=2)
        )

    return _spec(
        ("debrief", teams, members, width, height),
        build,
        {"orders": data},
        title="Orders by tier: each team against the cooperative benchmark (black, dashed)",
    )


def seat_chart(history: pd.DataFrame, width: int = 420, height: int = 180) -> dict[str, Any]:
    """A student's own orders against the orders (or demand) they received."""
    if history.empty:
        return empty_chart("Your orders will appear here", width)
    long = history.melt("period", ["incoming", "order"], "series", "units")
    long["series"] = long["series"].map({"incoming": "orders received", "order": "your order"})

    def build():
        return (
            alt.Chart(_data("seat"))
            .mark_line(point=True, interpolate="step-after")
            .encode(
                x=PERIOD,
                y="units:Q",
                color=alt.Color(
                    "series:N",
                    scale=alt.Scale(
                        domain=["orders received", "your order"], range=["#7f7f7f", "#1f77b4"]
                    ),  # fmt: skip
                    title=None,
                ),
                tooltip=["period:Q", "series:N", alt.Tooltip("units:Q", format=".4g")],
            )
            .properties(width=width, height=height)
        )

    return _spec(
        ("seat", width, height),
        build,
        {"seat": long},
        title="Your orders and the orders you received",
    )
