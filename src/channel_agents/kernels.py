"""Compiled (numba) kernels for the period loop's arithmetic.

On a small channel each numpy call costs about a microsecond whatever its
size, so a period of some 80 small calls is dominated by call overhead. These
kernels do the same arithmetic element by element in one compiled call:

- :func:`goods_and_money`: arrivals, market clearing, fulfilment (one
  allocation class, returns, capacities), shipping, invoices, holding,
  backlog and transport costs, payments falling due and interest, and the
  period's records (phases 1 to 5 of the loop);
- :func:`place_orders`: orders onto their edges and into the pipeline, with
  their records (after phase 7);
- :func:`sterman` and :func:`s_S`: Sterman's anchoring and adjustment rule and
  the (s, S) rule.

They reproduce the numpy path bit for bit: every sum runs in the order numpy
runs it (:func:`np_sum` is numpy's pairwise summation; sums over edges run in
edge order, as a sparse incidence does), ``np_min``/``np_max`` follow
``np.minimum``/``np.maximum`` on signed zeros and NaN, and nothing is
contracted into fused multiply-adds (no ``fastmath``). The model uses them only
where that holds (see ``ChannelModel._kernel_plan``); tests/test_kernels.py
checks them against numpy.

Compiled once per machine and cached (``cache=True``) next to this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

import numpy as np
from numba import njit

_BLOCK = 128  # numpy's PW_BLOCKSIZE


@dataclass(frozen=True, slots=True)
class KernelPlan:
    """What a model's compiled period needs besides its state: the structure and the
    constant rules packed into a few arrays (each array argument of a compiled call
    costs about 0.1 microsecond), and output buffers reused every period."""

    edge_ints: np.ndarray  # [5, E] seller, buyer, lead time, order delay, payment due in
    edge_rules: np.ndarray  # [5, E] transport cost, capacity, seller in the channel,
    #                         seller keeps backlog (1/0), order share
    member_flags: np.ndarray  # [2, M] is a source, keeps backlog
    member_costs: np.ndarray  # [4, M] holding cost, backlog cost, cost of capital, advertising
    cell: np.ndarray  # [pairs] flat (retailer, product) cell of each market pair
    has_surplus: np.ndarray  # [markets] (one pair each)
    mp: np.ndarray  # [4, M, P] out: incoming, sold, owed, supply line
    ep: np.ndarray  # [3, E, P] out: shipped, returned, placed
    members: np.ndarray  # [5, M] out: revenue, holding, backlog cost, transport, interest
    invoice: np.ndarray  # [E] out
    pairs: np.ndarray  # [4, pairs] out: sold, served on arrival, spend, surplus
    goods_and_money: Callable  # the kernels (looked up when the plan is made)
    place_orders: Callable
    views: tuple = ()  # incoming, sold, owed, supply line, shipped, placed, revenue, interest

    def __post_init__(self) -> None:
        mp, ep, members = self.mp, self.ep, self.members
        views = (mp[0], mp[1], mp[2], mp[3], ep[0], ep[2], members[0], members[4])
        object.__setattr__(self, "views", views)  # (indexing costs a view per period)

    def __reduce__(self):
        """Copies (copy.deepcopy of a model) rebuild the views on the copied buffers."""
        return KernelPlan, tuple(getattr(self, f.name) for f in fields(self) if f.name != "views")


@njit(cache=True)
def np_min(a: float, b: float) -> float:
    """np.minimum(a, b): b on ties (signed zeros), NaN if either is NaN."""
    return a if (a < b or a != a) else b


@njit(cache=True)
def np_max(a: float, b: float) -> float:
    """np.maximum(a, b): b on ties (signed zeros), NaN if either is NaN."""
    return a if (a > b or a != a) else b


@njit(cache=True)
def _block_sum(a, start: int, n: int) -> float:
    """numpy's pairwise_sum for n <= 128: 8 accumulators, then the rest in order."""
    if n < 8:
        res = -0.0
        for i in range(start, start + n):
            res += a[i]
        return res
    r0 = a[start]
    r1 = a[start + 1]
    r2 = a[start + 2]
    r3 = a[start + 3]
    r4 = a[start + 4]
    r5 = a[start + 5]
    r6 = a[start + 6]
    r7 = a[start + 7]
    i = 8
    stop = n - n % 8
    while i < stop:
        j = start + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[start + i]
        i += 1
    return res


@njit(cache=True)
def _pairwise(a, start: int, n: int) -> float:
    """numpy's pairwise_sum: halves (at a multiple of 8) until blocks of <= 128."""
    if n <= _BLOCK:
        return _block_sum(a, start, n)
    return _pairwise_tree(a, start, n)


@njit(cache=True)
def _pairwise_tree(a, start: int, n: int) -> float:
    """numpy recurses; this walks the same tree with an explicit stack (numba's cache
    does not reload recursive functions reliably)."""
    f_start = np.empty(64, dtype=np.int64)
    f_n = np.empty(64, dtype=np.int64)
    f_phase = np.zeros(64, dtype=np.int64)
    values = np.empty(64)
    sp = 1
    vp = 0
    f_start[0] = start
    f_n[0] = n
    f_phase[0] = 0
    while sp > 0:
        s = f_start[sp - 1]
        k = f_n[sp - 1]
        if k <= _BLOCK:
            values[vp] = _block_sum(a, s, k)
            vp += 1
            sp -= 1
            continue
        half = k // 2
        half -= half % 8
        phase = f_phase[sp - 1]
        if phase == 0:
            f_phase[sp - 1] = 1
            f_start[sp], f_n[sp], f_phase[sp] = s, half, 0
            sp += 1
        elif phase == 1:
            f_phase[sp - 1] = 2
            f_start[sp], f_n[sp], f_phase[sp] = s + half, k - half, 0
            sp += 1
        else:
            values[vp - 2] = values[vp - 2] + values[vp - 1]
            vp -= 1
            sp -= 1
    return values[0]


@njit(cache=True)
def np_sum(a) -> float:
    """``a.sum()`` of a contiguous 1-D array, in numpy's (pairwise) order; numpy's
    reduction starts from its identity +0.0 (so a sum of -0.0 is +0.0)."""
    return 0.0 + _pairwise(a, 0, a.shape[0])


@njit(cache=True)
def row_sums(a, out) -> None:
    """``out[:] = a.sum(axis=1)`` of a C-contiguous 2-D array, in numpy's order."""
    flat = a.reshape(-1)
    p = a.shape[1]
    if p < 8:  # the common case: in order
        for i in range(a.shape[0]):
            res = -0.0
            for j in range(i * p, i * p + p):
                res += flat[j]
            out[i] = 0.0 + res
    elif p <= _BLOCK:
        for i in range(a.shape[0]):
            out[i] = 0.0 + _block_sum(flat, i * p, p)
    else:
        for i in range(a.shape[0]):
            out[i] = 0.0 + _pairwise_tree(flat, i * p, p)


@njit(cache=True)
def _edge_sums(member_of, x, out) -> None:
    """out[m] = sum of x[e] over the edges e of member m, in edge order ([E, P] -> [M, P])."""
    out[:] = 0.0
    for e in range(x.shape[0]):
        m = member_of[e]
        for p in range(x.shape[1]):
            out[m, p] += x[e, p]


@njit(cache=True)
def goods_and_money(
    t,
    pair_demand,
    # goods (logistics.py), updated in place
    stock,
    consumer_backlog,
    backlog,
    orders_ring,
    ships_ring,
    orders_pending,
    goods_in_transit,
    received_total,
    shipped_total,
    returned_total,
    # money (ledger.py), updated in place
    due,
    outstanding,
    cash,
    outside_paid,
    outside_received,
    # prices and demand knowledge
    edge_price,
    retail_price,
    surplus_per_unit,
    any_surplus,
    has_transport,
    has_advertising,
    # KernelPlan: structure, rules and output buffers
    cell,
    edge_ints,
    edge_rules,
    member_flags,
    member_costs,
    has_surplus,
    mp,
    ep,
    members,
    invoice,
    pairs,
    # records: the recorder's flat buffer, period slot (< 0: not recorded), offsets
    rec,
    row,
    offsets,
):
    """Phases 1 to 5 of a period, in the numpy path's order.

    Returns (units sold to consumers, consumer spend, invoices issued, invoices
    paid) of the period, for the model's and the ledger's running totals.
    """
    seller, buyer, lead_time, due_in = edge_ints[0], edge_ints[1], edge_ints[2], edge_ints[4]
    transport_cost, capacity, seller_in_channel = edge_rules[0], edge_rules[1], edge_rules[2]
    edge_keeps_backlog = edge_rules[3]
    is_source, keeps_backlog = member_flags[0], member_flags[1]
    holding_cost, backlog_cost = member_costs[0], member_costs[1]
    cost_of_capital, advertising = member_costs[2], member_costs[3]
    incoming, sold, owed_m, supply_line = mp[0], mp[1], mp[2], mp[3]
    shipped, returned = ep[0], ep[1]
    revenue, holding, backlog_c, transport, interest = (
        members[0],
        members[1],
        members[2],
        members[3],
        members[4],
    )
    pair_sold, pair_new, pair_spend, pair_surplus = pairs[0], pairs[1], pairs[2], pairs[3]
    n_m, n_p = stock.shape
    n_e = backlog.shape[0]
    tmp_m = np.zeros((n_m, n_p))
    tmp_e = np.empty((n_e, n_p))
    # ---- phase 1: arrivals
    ss = t % ships_ring.shape[0]
    so = t % orders_ring.shape[0]
    received = ships_ring[ss].copy()
    ships_ring[ss] = 0.0
    orders = orders_ring[so].copy()
    orders_ring[so] = 0.0
    for e in range(n_e):
        for p in range(n_p):
            goods_in_transit[e, p] -= received[e, p]
            orders_pending[e, p] -= orders[e, p]
            received_total[e, p] += received[e, p]
    _edge_sums(buyer, received, tmp_m)
    for m in range(n_m):
        for p in range(n_p):
            stock[m, p] += tmp_m[m, p]
    # ---- phase 2: consumers buy, backlog first
    demand = np.zeros((n_m, n_p))
    demand_flat = demand.reshape(-1)
    for j in range(cell.shape[0]):
        demand_flat[cell[j]] = pair_demand[j]
    new = np.empty((n_m, n_p))
    for m in range(n_m):
        keep = 1.0 if keeps_backlog[m] else 0.0
        for p in range(n_p):
            from_backlog = np_min(stock[m, p], consumer_backlog[m, p])
            nw = np_min(stock[m, p] - from_backlog, demand[m, p])
            new[m, p] = nw
            s = from_backlog + nw
            sold[m, p] = s
            stock[m, p] -= s
            consumer_backlog[m, p] -= from_backlog
            consumer_backlog[m, p] += (demand[m, p] - nw) * keep
    units_sold = np_sum(sold.reshape(-1))
    sold_flat = sold.reshape(-1)
    new_flat = new.reshape(-1)
    price_flat = retail_price.reshape(-1)
    for j in range(cell.shape[0]):
        c = cell[j]
        pair_sold[j] = sold_flat[c]
        pair_new[j] = new_flat[c]
        pair_spend[j] = sold_flat[c] * price_flat[c]
        if any_surplus:
            pair_surplus[j] = pair_sold[j] * surplus_per_unit[j] if has_surplus[j] else 0.0
        else:
            pair_surplus[j] = 0.0
    for m in range(n_m):
        for p in range(n_p):
            tmp_m[m, p] = sold[m, p] * retail_price[m, p]
    row_sums(tmp_m, revenue)
    for m in range(n_m):
        cash[m] += revenue[m]
    spend = np_sum(revenue)
    # ---- phase 3: fulfilment (one allocation class)
    owed = np.empty((n_e, n_p))
    any_negative = False
    for e in range(n_e):
        for p in range(n_p):
            o = backlog[e, p] + orders[e, p]
            owed[e, p] = o
            if o < 0:
                any_negative = True
    returned[:] = 0.0
    if any_negative:
        for e in range(n_e):
            for p in range(n_p):
                tmp_e[e, p] = np_max(-owed[e, p], 0.0)  # wanted back
                owed[e, p] = np_max(owed[e, p], 0.0)
        per_buyer = np.empty((n_m, n_p))
        _edge_sums(buyer, tmp_e, per_buyer)
        ratio = np.empty((n_m, n_p))
        for m in range(n_m):
            for p in range(n_p):
                have = np_max(stock[m, p], 0.0)
                ratio[m, p] = have / per_buyer[m, p] if per_buyer[m, p] > have else 1.0
        for e in range(n_e):
            for p in range(n_p):
                returned[e, p] = tmp_e[e, p] * ratio[buyer[e], p]
        _edge_sums(buyer, returned, tmp_m)
        for m in range(n_m):
            for p in range(n_p):
                stock[m, p] -= tmp_m[m, p]
        _edge_sums(seller, returned, tmp_m)
        for m in range(n_m):
            for p in range(n_p):
                stock[m, p] += tmp_m[m, p]
            if is_source[m]:
                stock[m, :] = 0.0
        for e in range(n_e):
            for p in range(n_p):
                returned_total[e, p] += returned[e, p]
    total = np.empty((n_m, n_p))
    _edge_sums(seller, owed, total)
    ratio = np.ones((n_m, n_p))
    for m in range(n_m):
        for p in range(n_p):
            available = np.inf if is_source[m] else stock[m, p] + 0.0
            available = np_max(available, 0.0)
            if total[m, p] > available:
                ratio[m, p] = available / total[m, p]
    for e in range(n_e):
        for p in range(n_p):
            s = owed[e, p] * ratio[seller[e], p]
            s = np_min(s, capacity[e])
            shipped[e, p] = s
            backlog[e, p] = (owed[e, p] - s) * edge_keeps_backlog[e]
    _edge_sums(seller, shipped, tmp_m)
    for m in range(n_m):
        for p in range(n_p):
            stock[m, p] -= tmp_m[m, p]
        if is_source[m]:
            stock[m, :] = 0.0
    # shipping: goods arrive in t + lead_time
    n_ships = ships_ring.shape[0]
    for e in range(n_e):
        slot = (t + lead_time[e]) % n_ships
        for p in range(n_p):
            ships_ring[slot, e, p] += shipped[e, p]
            goods_in_transit[e, p] += shipped[e, p]
            shipped_total[e, p] += shipped[e, p]
    # invoices
    for e in range(n_e):
        for p in range(n_p):
            tmp_e[e, p] = (shipped[e, p] - returned[e, p]) * edge_price[e, p]
    row_sums(tmp_e, invoice)
    horizon = due.shape[0]
    for e in range(n_e):
        due[(t + due_in[e]) % horizon, e] += invoice[e]
        outstanding[e] += invoice[e]
    issued = np_sum(invoice)
    # ---- phase 4: costs on the stock and backlog after shipping
    _edge_sums(seller, backlog, owed_m)
    for m in range(n_m):
        for p in range(n_p):
            owed_m[m, p] += consumer_backlog[m, p]
    row_sums(stock, holding)
    row_sums(owed_m, backlog_c)
    transport[:] = 0.0
    if has_transport:
        per_edge = np.empty(n_e)
        row_sums(shipped, per_edge)
        for e in range(n_e):
            transport[seller[e]] += transport_cost[e] * per_edge[e]
    for m in range(n_m):
        holding[m] = holding_cost[m] * holding[m]
        backlog_c[m] = backlog_cost[m] * backlog_c[m]
        cost = holding[m] + backlog_c[m] + transport[m]
        cash[m] -= cost
        outside_paid[m] += cost
        if has_advertising:
            cash[m] -= advertising[m]
            outside_paid[m] += advertising[m]
    # ---- phase 5: invoices falling due are paid; interest on negative cash
    slot = t % horizon
    paid = due[slot].copy()
    due[slot] = 0.0
    for e in range(n_e):
        outstanding[e] -= paid[e]
    paid_sum = np_sum(paid)
    to_buyers = np.zeros(n_m)
    to_sellers = np.zeros(n_m)
    to_sources = np.zeros(n_m)
    for e in range(n_e):
        to_buyers[buyer[e]] += paid[e]
        if seller_in_channel[e] > 0:
            to_sellers[seller[e]] += paid[e]
        else:
            to_sources[buyer[e]] += paid[e]
    all_paid = True
    for m in range(n_m):
        cash[m] -= to_buyers[m]
        cash[m] += to_sellers[m]
        if not to_sources[m] >= 0:
            all_paid = False
    if all_paid:
        for m in range(n_m):
            outside_paid[m] += to_sources[m]
    else:
        out = np.zeros(n_m)
        back = np.zeros(n_m)
        for e in range(n_e):
            source_paid = paid[e] if seller_in_channel[e] <= 0 else 0.0
            out[buyer[e]] += np_max(source_paid, 0.0)
            back[buyer[e]] += np_max(-source_paid, 0.0)
        for m in range(n_m):
            outside_paid[m] += out[m]
            outside_received[m] += back[m]
    any_interest = False
    for m in range(n_m):
        interest[m] = cost_of_capital[m] * np_max(-cash[m], 0.0)
        if interest[m] != 0:
            any_interest = True
    if any_interest:
        for m in range(n_m):
            cash[m] -= interest[m]
            outside_paid[m] += interest[m]
    # ---- for the decisions: orders and demand received, supply lines
    _edge_sums(seller, orders, incoming)
    for m in range(n_m):
        for p in range(n_p):
            incoming[m, p] += demand[m, p]
    for e in range(n_e):
        for p in range(n_p):
            tmp_e[e, p] = orders_pending[e, p] + backlog[e, p] + goods_in_transit[e, p]
    _edge_sums(buyer, tmp_e, supply_line)
    # ---- records (order of metrics.KERNEL_RECORDS)
    if row >= 0:
        _put(rec, offsets[0], row, shipped)
        _put(rec, offsets[1], row, invoice)
        _put(rec, offsets[2], row, incoming)
        _put(rec, offsets[3], row, stock)
        _put(rec, offsets[4], row, owed_m)
        _put(rec, offsets[5], row, sold)
        _put(rec, offsets[6], row, holding)
        _put(rec, offsets[7], row, backlog_c)
        _put(rec, offsets[8], row, transport)
        _put(rec, offsets[9], row, interest)
        _put(rec, offsets[10], row, cash)
        _put(rec, offsets[11], row, revenue)
        _put(rec, offsets[12], row, advertising)
        _put(rec, offsets[13], row, pair_demand)
        _put(rec, offsets[14], row, pair_sold)
        _put(rec, offsets[15], row, pair_new)
        _put(rec, offsets[16], row, pair_spend)
        _put(rec, offsets[17], row, pair_surplus)
    return units_sold, spend, issued, paid_sum


@njit(cache=True)
def _put(rec, offset, row, values) -> None:
    """Record ``values`` for period slot ``row`` in the recorder's flat buffer, where the
    quantity's [block, *shape] array starts at ``offset``."""
    flat = values.reshape(-1)
    start = offset + row * flat.shape[0]
    for i in range(flat.shape[0]):
        rec[start + i] = flat[i]


@njit(cache=True)
def place_orders(t, order, edge_ints, edge_rules, orders_ring, orders_pending, placed, edge_price, rec, row, offsets):  # fmt: skip
    """Each edge's order (its buyer's order x the edge's share) into the order pipeline;
    records it and the period's edge prices (order of metrics.KERNEL_RECORDS, after the
    goods-and-money records)."""
    buyer, order_delay, order_share = edge_ints[1], edge_ints[3], edge_rules[4]
    n_e, n_p = placed.shape
    horizon = orders_ring.shape[0]
    for e in range(n_e):
        slot = (t + order_delay[e]) % horizon
        for p in range(n_p):
            q = order[buyer[e], p] * order_share[e]
            placed[e, p] = q
            orders_ring[slot, e, p] += q
            orders_pending[e, p] += q
    if row >= 0:
        _put(rec, offsets[18], row, placed)
        _put(rec, offsets[19], row, edge_price)


@njit(cache=True)
def sterman(incoming, stock, backlog, supply_line, expected, theta, alpha_s, beta, s_prime):
    """Sterman's rule in place of numpy's, bit for bit: updates ``expected`` and returns
    the orders (all [members, products]; parameters [members])."""
    n, n_p = incoming.shape
    order = np.empty((n, n_p))
    for i in range(n):
        th = theta[i]
        for p in range(n_p):
            ex = th * incoming[i, p] + (1.0 - th) * expected[i, p]
            expected[i, p] = ex
            net = stock[i, p] - backlog[i, p]
            q = ex + alpha_s[i] * (s_prime[i] - net - beta[i] * supply_line[i, p])
            order[i, p] = np_max(q, 0.0)
    return order


@njit(cache=True)
def s_S(stock, backlog, supply_line, s, S):
    """(s, S) in place of numpy's, bit for bit: order up to S where the inventory
    position (stock - backlog + supply line) is at or below s ([members, products];
    s and S [members])."""
    n, n_p = stock.shape
    order = np.empty((n, n_p))
    for i in range(n):
        for p in range(n_p):
            position = (stock[i, p] - backlog[i, p]) + supply_line[i, p]
            order[i, p] = S[i] - position if position <= s[i] else 0.0
    return order
