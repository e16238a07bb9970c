"""What the page simulates: one run, or two side by side, stepped period by period.

A :class:`Run` wraps one :class:`~channel_agents.model.ChannelModel` and reads
what the charts need from it after each period (series, prices, the state of
members, edges and markets). A :class:`Session` holds the runs the page shows
(one strategy, or siloed and cooperative on the same scenario and seed) and
steps them together. Changing a setting rebuilds the runs and replays them to
the period shown (the model is deterministic for a seed), so switching the
strategy mid-run re-runs the model and the charts change in place.

No Solara here: the page (app.py) and the tests drive these objects directly.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd

from channel_agents.config import ConfigError, NegotiationConfig, ScenarioConfig
from channel_agents.model import ChannelModel
from channel_agents.viz.layout import Layout, role_order, tiered_layout
from channel_agents.viz.scenarios import Settings, base_config, build_config

#: periods the time-series charts show (the most recent ones)
WINDOW = 200


class Run:
    """One model run, with what the charts read from it after each period."""

    def __init__(self, cfg: ScenarioConfig, seed: int | None, label: str, summary_warmup: int = 0):
        self.label = label
        self.summary_warmup = summary_warmup  # the scenario's warm-up: left out of key numbers
        self.config = cfg
        self.model = ChannelModel(cfg, rng=seed, keep_series=True)
        self.horizon = cfg.warmup + cfg.periods
        self.layout: Layout = tiered_layout(self.model)
        topo = self.model.topology
        self.role_order = role_order(tuple(topo.roles), tuple(int(d) for d in topo.depth))
        self._m = topo.n_members
        self._sales_count = np.bincount(topo.seller, minlength=self._m)
        self._supply_count = np.bincount(topo.buyer, minlength=self._m)
        self._periods: list[int] = []
        self._sell: list[np.ndarray] = []
        self._buy: list[np.ndarray] = []
        self._shipped_before = self.model.logistics.shipped_total.sum(axis=1).copy()
        self.edge_flow = np.zeros(topo.n_edges)  # units shipped on each edge last period
        self._frames: dict[str, Any] = {}

    # ------------------------------------------------------------------ stepping
    @property
    def period(self) -> int:
        return int(self.model.period)

    @property
    def done(self) -> bool:
        return self.period >= self.horizon

    def step(self) -> bool:
        """Advance one period (False when the run is over)."""
        if self.done:
            return False
        self.model.step()
        sell, buy = self.prices()
        self._periods.append(self.period)
        self._sell.append(sell)
        self._buy.append(buy)
        shipped = self.model.logistics.shipped_total.sum(axis=1)
        self.edge_flow = shipped - self._shipped_before
        self._shipped_before = shipped.copy()
        self._frames.clear()
        return True

    def run_to(self, period: int) -> None:
        while self.period < min(period, self.horizon):
            self.step()

    # ------------------------------------------------------------------ reading
    def prices(self) -> tuple[np.ndarray, np.ndarray]:
        """Each member's mean selling price and mean purchase price now (NaN where none)."""
        m, topo = self.model, self.model.topology
        edge = m.edge_price.mean(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            sell = np.bincount(topo.seller, weights=edge, minlength=self._m) / self._sales_count
            buy = np.bincount(topo.buyer, weights=edge, minlength=self._m) / self._supply_count
        retail = m.is_retailer
        sell[retail] = m.retail_price[retail].mean(axis=1)
        return sell, buy

    def _full(self, kind: str) -> pd.DataFrame:
        """The model's whole series (``members``) or market series, once per period."""
        key = f"full_{kind}"
        if key not in self._frames:
            self._frames[key] = (
                self.model.series() if kind == "members" else self.model.market_series()
            )
        return self._frames[key]

    def members(self) -> pd.DataFrame:
        """One row per recorded period and channel member: the model's series plus prices."""
        if "members" not in self._frames:
            df = self._full("members")
            if len(df):
                df = df[df["period"] > self.period - WINDOW]
            topo = self.model.topology
            channel = np.flatnonzero(~topo.is_source)
            if self._periods:
                keep = [i for i, p in enumerate(self._periods) if p > self.period - WINDOW]
                sell = np.array([self._sell[i][channel] for i in keep]).reshape(-1)
                buy = np.array([self._buy[i][channel] for i in keep]).reshape(-1)
                prices = pd.DataFrame(
                    {
                        "period": np.repeat([self._periods[i] for i in keep], len(channel)),
                        "member": np.tile(np.array(topo.names, dtype=object)[channel], len(keep)),
                        "price": sell,
                        "unit_cost": buy,
                    }
                )
                df = df.merge(prices, on=["period", "member"], how="left")
                df["margin"] = df["price"] - df["unit_cost"]
            df = df.assign(strategy=self.label)
            self._frames["members"] = df
        return self._frames["members"]

    def markets(self) -> pd.DataFrame:
        """One row per recorded period and market (demand, sold, spend, surplus)."""
        if "markets" not in self._frames:
            df = self._full("markets")
            if len(df):
                df = df[df["period"] > self.period - WINDOW]
            df = df.assign(strategy=self.label)
            self._frames["markets"] = df
        return self._frames["markets"]

    def summary(self) -> dict[str, Any]:
        if "summary" not in self._frames:
            self._frames["summary"] = self.model.summary()
        return self._frames["summary"]

    def key_numbers(self) -> dict[str, float | None]:
        """The summary strip: per-period means (team cost: total) over the periods run so
        far after the scenario's warm-up (over every period run while still warming up),
        as ``channel-agents run`` would report them."""
        first = self.summary_warmup + 1 if self.period > self.summary_warmup else 1
        out: dict[str, float | None] = {"period": self.period, "horizon": self.horizon,
                                        "from": first}  # fmt: skip
        keys = ("consumer_surplus", "retail_price", "units_sold", "fill_rate", "channel_profit",
                "team_cost", "bullwhip")  # fmt: skip
        out.update(dict.fromkeys(keys))
        if self.period < 1:
            return out
        mem, mk = self._full("members"), self._full("markets")
        mem, mk = mem[mem["period"] >= first], mk[mk["period"] >= first]
        n = max(int(mk["period"].nunique()) if len(mk) else mem["period"].nunique(), 1)
        sold, spend = float(mk["sold"].sum()), float(mk["spend"].sum())
        demand = float(mk["demand"].sum())
        if bool(self.model.markets.has_surplus.any()):
            out["consumer_surplus"] = float(mk["surplus"].sum()) / n
        out["retail_price"] = spend / sold if sold > 1e-12 else None
        out["units_sold"] = sold / n
        out["fill_rate"] = float(mk["served_on_arrival"].sum()) / demand if demand > 1e-12 else None
        out["channel_profit"] = float(mem["profit"].sum()) / n
        out["team_cost"] = float((mem["holding_cost"] + mem["backlog_cost"]).sum())
        end = mk.groupby("period")["demand"].sum()
        var_d = float(end.var(ddof=0)) if len(end) > 1 else 0.0
        if var_d > 1e-12:
            var_o = mem.groupby("member")["orders"].var(ddof=0)
            out["bullwhip"] = float(var_o.max() / var_d)
        return out

    def node_states(self) -> pd.DataFrame:
        """One row per member: position and state (for the channel drawing and tooltips)."""
        m, topo, lay = self.model, self.model.topology, self.layout
        lg = m.logistics
        sell, buy = self.prices()
        owed = lg.consumer_backlog.sum(axis=1) + lg.by_seller @ lg.backlog.sum(axis=1)
        frame = pd.DataFrame(
            {
                "name": list(topo.names),
                "role": list(topo.roles),
                "x": lay.member_x,
                "y": lay.member_y,
                "stock": lg.stock.sum(axis=1),
                "backlog": owed,
                "cash": m.ledger.cash.astype(float),
                "price": np.where(np.isfinite(sell), sell, np.nan),
                "unit_cost": np.where(np.isfinite(buy), buy, np.nan),
            }
        )
        last = self.members()
        last = last[last["period"] == self.period] if len(last) else last
        cols = {"orders": "last_order", "incoming": "incoming", "profit": "profit"}
        if len(last):
            rec = last.set_index("member")[list(cols)].rename(columns=cols)
            frame = frame.join(rec, on="name")
        else:
            for c in cols.values():
                frame[c] = np.nan
        return frame

    def edge_states(self) -> pd.DataFrame:
        """One row per supply edge: ends, price and contract, goods in transit, last flow."""
        m, topo, lay = self.model, self.model.topology, self.layout
        lg, book = m.logistics, m.contracts
        rows = []
        for i in range(topo.n_edges):
            s, b = int(topo.seller[i]), int(topo.buyer[i])
            kind = str(book.kind[i])
            price = float(m.edge_price[i].mean())
            fee = float(np.nan_to_num(book.fixed_fee[i])) if kind == "two_part_tariff" else 0.0
            label = f"{price:.3g}" if price or fee else ""
            if topo.is_source[s]:
                contract = "source (unit cost)"
            else:
                contract = kind.replace("_", " ")
                if fee:
                    label += f" +F{fee:.0f}"
                if i in m.agreements and m.agreements[i].agreed:
                    contract += f" ({m.agreements[i].protocol.replace('_', ' ')})"
            rows.append(
                {
                    "edge": i,
                    "seller": topo.names[s],
                    "buyer": topo.names[b],
                    "x": float(lay.member_x[s]),
                    "y": float(lay.member_y[s]),
                    "x2": float(lay.member_x[b]),
                    "y2": float(lay.member_y[b]),
                    "price": price,
                    "fee": fee,
                    "contract": contract,
                    "label": label,
                    "in_transit": float(lg.goods_in_transit[i].sum()),
                    "owed": float(lg.backlog[i].sum()),
                    "flow": float(self.edge_flow[i]),
                }
            )
        return pd.DataFrame(rows)

    def market_states(self) -> pd.DataFrame:
        """One row per (market, retailer) link: positions, retail price, the market's
        demand, sales and consumer surplus last period."""
        m, lay = self.model, self.layout
        index = {n: i for i, n in enumerate(m.topology.names)}
        pairs = [
            (j, market.name, index[r])
            for j, market in enumerate(m.config.markets)
            for r in market.retailers
        ]
        if not pairs:
            return pd.DataFrame()
        js = np.array([p[0] for p in pairs])
        ks = np.array([p[2] for p in pairs])
        frame = pd.DataFrame(
            {
                "market": [p[1] for p in pairs],
                "retailer": [m.topology.names[k] for k in ks],
                "x": lay.member_x[ks],
                "y": lay.member_y[ks],
                "x2": lay.market_x[js],
                "y2": lay.market_y[js],
                "retail_price": m.retail_price[ks].mean(axis=1),
            }
        )
        mk = self.markets()
        last = mk[mk["period"] == self.period] if len(mk) else mk
        cols = ["demand", "sold", "surplus"]
        if len(last):
            frame = frame.join(last.set_index("market")[cols], on="market")
        else:
            for c in cols:
                frame[c] = np.nan
        return frame

    # ------------------------------------------------------------------ negotiation
    def negotiated_edges(self) -> dict[int, str]:
        """Edges with a bargained agreement: edge index -> "seller → buyer"."""
        topo = self.model.topology
        return {
            i: f"{topo.names[topo.seller[i]]} → {topo.names[topo.buyer[i]]}"
            for i in sorted(self.model.agreements)
        }

    def negotiation(self, edge: int) -> dict[str, Any] | None:
        """The offers, the agreement and the Nash and Kalai-Smorodinsky points of ``edge``."""
        return negotiation_view(self.model, edge)


def negotiation_view(model: ChannelModel, edge: int) -> dict[str, Any] | None:
    """Everything the negotiation panel draws for one edge, or None if it has no agreement.

    The bargaining problem is rebuilt as the model poses it for a wholesale price
    (model.py, ``_agree_unit_terms``): the seller earns (w - c) q(w), the buyer its
    best-response profit, w between the seller's marginal cost c and its
    take-it-or-leave-it price. The Nash (same power as the edge) and
    Kalai-Smorodinsky points are solved on these payoffs with the package's own
    protocols, and the payoff frontier is sampled for the drawing.
    """
    from channel_agents.anticipation import UpstreamMember
    from channel_agents.negotiation import KalaiSmorodinsky, Nash, Party

    agreement = model.agreements.get(edge)
    if agreement is None:
        return None
    cfg, topo = model.config, model.topology
    neg = cfg.edges[edge].negotiation or NegotiationConfig(protocol=model.levers.bargaining)
    s, b = int(topo.seller[edge]), int(topo.buyer[edge])
    response = model.responses[b]
    out: dict[str, Any] = {
        "edge": edge,
        "seller": topo.names[s],
        "buyer": topo.names[b],
        "protocol": agreement.protocol,
        "agreed": bool(agreement.agreed),
        "terms": agreement.terms,
        "seller_payoff": float(agreement.seller_payoff),
        "buyer_payoff": float(agreement.buyer_payoff),
        "rounds": int(agreement.rounds),
        "offers": [
            {
                "round": o.round,
                "proposer": o.proposer,
                "terms": float(o.terms),
                "seller_payoff": float(o.seller_payoff),
                "buyer_payoff": float(o.buyer_payoff),
            }
            for o in agreement.history
        ],
        "disagreement": (float(neg.disagreement_seller), float(neg.disagreement_buyer)),
        "power": float(neg.power),
        "frontier": [],
        "nash": None,
        "kalai_smorodinsky": None,
    }
    if response is None:
        return out
    # the seller's marginal cost: what it pays per unit plus the edge's transport
    supply = topo.supply_edges[s]
    weights = model.order_share[supply, 0]
    unit_cost = float((model.edge_price[supply, 0] * weights).sum()) if len(supply) else 0.0
    cost = unit_cost + float(model.transport_cost[edge])
    hi = float(UpstreamMember([response]).price(np.array([cost]))[0])
    if not hi > cost:
        return out
    seller = Party(
        lambda w: (w - cost) * response.quantity(w),
        neg.disagreement_seller,
        neg.discount_seller,
        neg.seller_concession,
    )
    buyer = Party(
        lambda w: response.profit(w),
        neg.disagreement_buyer,
        neg.discount_buyer,
        neg.buyer_concession,
    )
    grid = np.linspace(cost, hi, 81)
    us = np.asarray(seller.payoff(grid), dtype=float)
    ub = np.asarray(buyer.payoff(grid), dtype=float)
    out["frontier"] = [
        {"terms": float(w), "seller_payoff": float(a), "buyer_payoff": float(c)}
        for w, a, c in zip(grid, us, ub, strict=True)
    ]
    out["bounds"] = (cost, hi)
    for key, protocol in (
        ("nash", Nash(power=neg.power)),
        ("kalai_smorodinsky", KalaiSmorodinsky()),
    ):
        try:
            a = protocol.negotiate(seller, buyer, cost, hi)
        except (ValueError, ConfigError):
            continue
        if a.agreed:
            out[key] = {
                "terms": float(a.terms),
                "seller_payoff": float(a.seller_payoff),
                "buyer_payoff": float(a.buyer_payoff),
            }
    return out


# ---------------------------------------------------------------------------- session
COMPARE_ARMS = ("siloed", "cooperative")


class Session:
    """The runs the page shows, stepped together; rebuilt when a setting changes."""

    def __init__(self, settings: Settings, compare: bool = False):
        self.lock = threading.RLock()
        self.settings = settings
        self.compare = compare
        self.error: str | None = None
        self.runs: list[Run] = self._build(settings, compare)
        self.version = 0

    @staticmethod
    def _build(settings: Settings, compare: bool) -> list[Run]:
        arms = COMPARE_ARMS if compare else (settings.strategy,)
        label = {"custom": "custom levers"}
        warmup = base_config(settings.preset).warmup
        return [
            Run(build_config(settings, arm), settings.seed, label.get(arm, arm), warmup)
            for arm in arms
        ]

    @property
    def period(self) -> int:
        return self.runs[0].period

    @property
    def horizon(self) -> int:
        return self.runs[0].horizon

    @property
    def done(self) -> bool:
        return all(r.done for r in self.runs)

    def step(self, n: int = 1) -> bool:
        """Advance every run ``n`` periods (False if nothing moved)."""
        moved = False
        with self.lock:
            for _ in range(n):
                stepped = [r.step() for r in self.runs]
                if not any(stepped):
                    break
                moved = True
            if moved:
                self.version += 1
        return moved

    def apply(self, settings: Settings, compare: bool | None = None, keep_period: bool = True):
        """Rebuild the runs for new settings; replay them to the period shown.

        On a bad setting (a :class:`ConfigError`) the runs stay as they were and
        :attr:`error` holds the message for the page.
        """
        compare = self.compare if compare is None else compare
        with self.lock:
            target = self.period if keep_period else 0
            try:
                runs = self._build(settings, compare)
            except ConfigError as exc:
                self.error = str(exc)
                self.version += 1
                return False
            except Exception as exc:  # a model that cannot start: say why, keep the page
                self.error = f"this scenario cannot run with these settings: {exc}"
                self.version += 1
                return False
            for r in runs:
                r.run_to(target)
            self.runs, self.settings, self.compare, self.error = runs, settings, compare, None
            self.version += 1
            return True

    def reset(self) -> None:
        self.apply(self.settings, self.compare, keep_period=False)

    def surplus_gap(self) -> pd.DataFrame:
        """Per period: consumer surplus of each arm and the gap (cooperative - siloed)."""
        frames = []
        for r in self.runs:
            mk = r.markets()
            if len(mk):
                frames.append(mk.groupby(["strategy", "period"], as_index=False)["surplus"].sum())
        if len(frames) < 2:
            return pd.DataFrame(columns=["period", "siloed", "cooperative", "gap"])
        wide = pd.concat(frames).pivot(index="period", columns="strategy", values="surplus")
        wide = wide.reset_index()
        wide["gap"] = wide["cooperative"] - wide["siloed"]
        return wide
