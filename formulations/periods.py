"""Time as a coordinate: the planning form over a horizon of periods (issue 23).

``build_periods(cs, horizon, options)`` builds each period's form with :func:`build` (the same
candidates; the period's demand, day profile, caps and site weights; no static inventory), stacks
them block-diagonally and permutes rows and columns so that every block name stays one
contiguous :class:`Block` whose coordinates gain a ``period`` column: duals, plan tables and the
diagnosis read a roadmap's blocks as they read a single solve's. The time coupling is added as
blocks of the same kind (Temoa-style vintage cohorts):

    cohort k = (site, hardware, vintage): an installed vintage (N_k nodes) or the order cohort
    of one arrival period a. Alive from its first period f_k to its last l_k (the end of its
    lifetime or of the horizon), 0 after: there is no column after l_k.

    installed, t = f_k:   alive[t,k] + retired[t,k]             = N_k
    ordered,   t = a:     alive[t,k] - order[k]                  = 0
    t > f_k:              alive[t,k] - alive[t-1,k] + retired[t,k] = 0
    link (t, s, h):       sum_{d at (s, h)} n[d,t] + spare[t,s,h] - sum_{k at (s,h)} alive[t,k] = 0
    build limit (h, a):   sum_s order[s,h,a] <= B_{h,a}

Orders exist only for arrivals the lead time and the first delivery allow (the planner side
computes them from dates); ``retired`` only where early retirement is allowed and spare nodes are warm (an unused node that
is off costs nothing, so retiring it early gains nothing). Spare nodes are
installed but unused: with ``idle_warm`` they draw idle power x PUE (in the objective and in the
site's power-cap rows), otherwise nothing. Each period's objective is its daily objective x its
days x its discount factor; an order costs its capex x the discount factor of its arrival.
Orders and retirements also carry a tie-breaking cost (``TIE`` of a node-day's objective) so
that nothing is bought or retired for nothing; the reported objective leaves it out.

With one period, no lead time, no capex, orders unlimited where the site lists no inventory
and the installed base equal to the inventory, the form is the single solve's plus the cohort
columns, and its optimum is the same.

Columns: the stacked period blocks (x, n, load, energy, y, ...), then order, alive, retired,
spare, unmet (elastic: priced unmet demand per class and period). Rows: the stacked period
blocks, then cohort, link, build_limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import scipy.sparse as sp

from formulations.coefficients import HOURS, Coefficients, objective_site_weight
from formulations.constraints import demand_unit
from formulations.form import Block, Form, Options, build

TIE = 1e-6  # an order's or retirement's tie-breaking cost, relative to a node-day's objective


@dataclass(frozen=True)
class Horizon:
    """The time data of a roadmap as plain arrays (the planner side derives it from dates).

    ``cohorts``: installed vintages (site_idx, hardware, nodes, vintage, first, last: period
    indices, last inclusive). ``orders``: every order cohort that may exist (site_idx, hardware,
    arrival, ordered: period indices, last: inclusive end of its life, capex: objective units
    per node before discounting). ``build_limit``: (hardware, arrival, nodes)."""

    period_ids: tuple[str, ...]
    days: np.ndarray
    discount: np.ndarray
    cohorts: pd.DataFrame
    orders: pd.DataFrame
    build_limit: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["hardware", "arrival", "nodes"]))
    idle_kw: dict = field(default_factory=dict)  # hardware -> idle kW per node
    idle_warm: bool = False
    retire: bool = True

    @property
    def n_periods(self) -> int:
        return len(self.period_ids)


def period_weights(cs: list[Coefficients], h: Horizon) -> np.ndarray:
    """What one unit of a period's daily objective is worth in the horizon's objective."""
    return np.asarray(h.days, float) * np.asarray(h.discount, float)


def site_factor(c: Coefficients, objective: bool = True) -> np.ndarray:
    """Per site: objective (or kWh, ``objective=False``) per facility kWh of IT energy."""
    factor = c.site_pue * c.site_overhead
    if objective:
        factor = factor * objective_site_weight(c.site_weight, c.dep_fixed_per_day is not None)
    return factor


def build_periods(cs: list[Coefficients], h: Horizon, options: Options = Options(),
                  unmet_price: float | None = None) -> Form:
    """The labelled sparse form of the roadmap (see the module docstring)."""
    t_count = len(cs)
    if t_count != h.n_periods:
        raise ValueError(f"{t_count} periods of coefficients for a horizon of {h.n_periods}")
    unit = float(options.unit) if options.unit is not None else max(demand_unit(c) for c in cs)
    o = replace(options, unit=unit)
    forms = [build(c, o) for c in cs]
    weights = period_weights(cs, h)
    col_off = np.concatenate([[0], np.cumsum([f.shape[1] for f in forms])])
    row_off = np.concatenate([[0], np.cumsum([f.shape[0] for f in forms])])
    a = sp.block_diag([f.a for f in forms], format="csc")
    cost = np.concatenate([f.cost * w for f, w in zip(forms, weights)])
    col_lo = np.concatenate([f.col_lower for f in forms])
    col_hi = np.concatenate([f.col_upper for f in forms])
    row_lo = np.concatenate([f.row_lower for f in forms])
    row_hi = np.concatenate([f.row_upper for f in forms])
    integer = np.concatenate([f.integrality if f.integrality is not None
                              else np.zeros(f.shape[1], int) for f in forms])
    col_perm, cols = _stack_blocks([f.cols for f in forms], col_off, h.period_ids)
    row_perm, rows = _stack_blocks([f.rows for f in forms], row_off, h.period_ids)
    col_period = np.repeat(np.arange(t_count), np.diff(col_off))[col_perm]
    row_period = np.repeat(np.arange(t_count), np.diff(row_off))[row_perm]
    a = a[row_perm][:, col_perm].tocsc()
    cost, col_lo, col_hi, integer = cost[col_perm], col_lo[col_perm], col_hi[col_perm], \
        integer[col_perm]
    row_lo, row_hi = row_lo[row_perm], row_hi[row_perm]

    c0 = cs[0]
    p_count, d_count = c0.n_pairs, c0.n_deployments
    n_col = cols["n"].index.start  # n[d, t] at n_col + t * D + d
    per_node_day = np.array([c.energy_weights(objective=True)[1] for c in cs])  # T x D
    tie = TIE * float(np.max(np.abs(per_node_day))) if per_node_day.size else TIE

    # --- coupling columns -------------------------------------------------------------------
    new = _Columns(a.shape[1])
    orders = h.orders.reset_index(drop=True)
    cohorts = h.cohorts.reset_index(drop=True)
    capex = orders["capex"].to_numpy(float) * np.asarray(h.discount, float)[
        orders["arrival"].to_numpy(int)] if len(orders) else np.zeros(0)
    o_start = new.add("order", len(orders), capex + tie, integer=o.integer, coords=pd.DataFrame({
        "site": orders["site_idx"].to_numpy(int), "hardware": orders["hardware"].to_numpy(),
        "period": [h.period_ids[i] for i in orders["arrival"]],
        "ordered": [h.period_ids[i] for i in orders["ordered"]]}), period=orders["arrival"])
    # every cohort: installed ones first, then the order cohorts
    k_site = np.concatenate([cohorts["site_idx"].to_numpy(int), orders["site_idx"].to_numpy(int)])
    k_hw = np.concatenate([cohorts["hardware"].to_numpy(object),
                           orders["hardware"].to_numpy(object)])
    k_first = np.concatenate([cohorts["first"].to_numpy(int), orders["arrival"].to_numpy(int)])
    k_last = np.concatenate([cohorts["last"].to_numpy(int), orders["last"].to_numpy(int)])
    k_label = [f"installed {v}" for v in cohorts["vintage"]] + \
        [f"arrives {h.period_ids[i]}" for i in orders["arrival"]]
    n_installed = len(cohorts)
    alive_k, alive_t = _expand(k_first, k_last)
    a_start = new.add("alive", alive_k.size, 0.0, integer=o.integer, coords=pd.DataFrame({
        "period": [h.period_ids[t] for t in alive_t], "site": k_site[alive_k],
        "hardware": k_hw[alive_k], "cohort": np.array(k_label, dtype=object)[alive_k]
        if alive_k.size else []}), period=alive_t)
    alive_of = {(int(k), int(t)): a_start + i for i, (k, t) in enumerate(zip(alive_k, alive_t))}
    # retirements: installed cohorts from their first period, order cohorts after arrival; only
    # where a spare node costs something (warm), else retiring one gains nothing
    if h.retire and h.idle_warm:
        r_mask = (alive_k < n_installed) | (alive_t > k_first[alive_k])
    else:
        r_mask = np.zeros(alive_k.size, bool)
    r_k, r_t = alive_k[r_mask], alive_t[r_mask]
    r_start = new.add("retired", r_k.size, tie, integer=o.integer, coords=pd.DataFrame({
        "period": [h.period_ids[t] for t in r_t], "site": k_site[r_k], "hardware": k_hw[r_k],
        "cohort": np.array(k_label, dtype=object)[r_k] if r_k.size else []}), period=r_t)
    retired_of = {(int(k), int(t)): r_start + i for i, (k, t) in enumerate(zip(r_k, r_t))}
    # link keys: every (t, site, hardware) with a deployment or a live cohort
    dep_keys = {(int(s), str(hw)) for s, hw in zip(c0.dep_site, c0.dep_hardware)}
    keys = sorted(dep_keys | {(int(s), str(hw)) for s, hw in zip(k_site, k_hw)})
    key_index = {k: i for i, k in enumerate(keys)}
    link_t = np.repeat(np.arange(t_count), len(keys))
    link_key = np.tile(np.arange(len(keys)), t_count)
    link_site = np.array([keys[i][0] for i in link_key], dtype=int)
    link_hw = np.array([keys[i][1] for i in link_key], dtype=object)
    spare_cost = np.zeros(link_t.size)
    if h.idle_warm:
        for i, (t, s, hw) in enumerate(zip(link_t, link_site, link_hw)):
            spare_cost[i] = (h.idle_kw.get(hw, 0.0) * HOURS * site_factor(cs[t])[s] / 1e6
                             * weights[t])
    s_start = new.add("spare", link_t.size, spare_cost, coords=pd.DataFrame({
        "period": [h.period_ids[t] for t in link_t], "site": link_site, "hardware": link_hw}),
        period=link_t)
    u_start = None
    if unmet_price is not None:
        c_count = len(c0.demand)
        ut = np.repeat(np.arange(t_count), c_count)
        uc = np.tile(np.arange(c_count), t_count)
        u_start = new.add("unmet", ut.size, unmet_price * weights[ut] / weights.max(),
                          coords=pd.DataFrame({"period": [h.period_ids[t] for t in ut],
                                               "class": c0.classes["id"].to_numpy()[uc]}),
                          period=ut)

    # --- coupling rows ----------------------------------------------------------------------
    r_rows, r_cols, r_vals, lo, hi, row_coords, r_period = [], [], [], [], [], [], []
    blocks: dict[str, tuple[int, int, pd.DataFrame]] = {}
    n_rows0 = a.shape[0]

    def add_row(entries, lower, upper, coords, period):
        i = len(lo)
        for col, val in entries:
            r_rows.append(i)
            r_cols.append(col)
            r_vals.append(val)
        lo.append(lower)
        hi.append(upper)
        row_coords.append(coords)
        r_period.append(period)

    begin = len(lo)
    for k in range(len(k_first)):
        for t in range(k_first[k], k_last[k] + 1):
            entries = [(alive_of[(k, t)], 1.0)]
            if (k, t) in retired_of:
                entries.append((retired_of[(k, t)], 1.0))
            rhs = 0.0
            if t > k_first[k]:
                entries.append((alive_of[(k, t - 1)], -1.0))
            elif k < n_installed:
                rhs = float(cohorts["nodes"].iloc[k])
            else:
                entries.append((o_start + (k - n_installed), -1.0))
            add_row(entries, rhs, rhs, {"period": h.period_ids[t], "site": int(k_site[k]),
                                        "hardware": k_hw[k], "cohort": k_label[k]}, t)
    blocks["cohort"] = (begin, len(lo))
    begin = len(lo)
    alive_by_key: dict[tuple, list[int]] = {}
    for (k, t), col in alive_of.items():
        alive_by_key.setdefault((t, key_index[(int(k_site[k]), str(k_hw[k]))]), []).append(col)
    deps_by_key: dict[int, np.ndarray] = {}
    for d, (s, hw) in enumerate(zip(c0.dep_site, c0.dep_hardware)):
        deps_by_key.setdefault(key_index[(int(s), str(hw))], []).append(d)
    for i, (t, key) in enumerate(zip(link_t, link_key)):
        entries = [(n_col + t * d_count + d, 1.0) for d in deps_by_key.get(key, [])]
        entries.append((s_start + i, 1.0))
        entries += [(col, -1.0) for col in alive_by_key.get((int(t), int(key)), [])]
        add_row(entries, 0.0, 0.0, {"period": h.period_ids[t], "site": int(link_site[i]),
                                    "hardware": link_hw[i]}, int(t))
    blocks["link"] = (begin, len(lo))
    begin = len(lo)
    for lim in h.build_limit.itertuples():
        sel = np.flatnonzero((orders["hardware"].to_numpy() == lim.hardware)
                             & (orders["arrival"].to_numpy(int) == int(lim.arrival)))
        add_row([(o_start + j, 1.0) for j in sel], -np.inf, float(lim.nodes),
                {"period": h.period_ids[int(lim.arrival)], "hardware": lim.hardware,
                 "nodes": float(lim.nodes)}, int(lim.arrival))
    blocks["build_limit"] = (begin, len(lo))

    n_new_rows = len(lo)
    total_cols = new.n
    if total_cols > a.shape[1]:
        a = sp.hstack([a, sp.csc_matrix((a.shape[0], total_cols - a.shape[1]))]).tocsc()
    a = sp.vstack([a, sp.csr_matrix((r_vals, (r_rows, r_cols)),
                                    shape=(n_new_rows, total_cols))]).tocsc()
    extra = []
    if h.idle_warm and "power_cap" in rows:  # spare nodes draw idle power at capped sites
        pc = rows["power_cap"]
        site_ids = np.array(c0.site_ids, dtype=object)
        pc_key = {}
        for j, (period, site) in enumerate(zip(pc.coords["period"], pc.coords["site"])):
            pc_key.setdefault((period, site), []).append(pc.index.start + j)
        for i, (t, s, hw) in enumerate(zip(link_t, link_site, link_hw)):
            for row in pc_key.get((h.period_ids[t], site_ids[s]), []):
                extra.append((row, s_start + i, h.idle_kw.get(hw, 0.0) * cs[t].site_pue[s]))
    if unmet_price is not None:
        dem = rows["demand"]
        c_count = len(c0.demand)
        for j in range(t_count * c_count):
            extra.append((dem.index.start + j, u_start + j, 1.0))
    if extra:
        e = np.array(extra, dtype=float)
        a = (a + sp.csc_matrix((e[:, 2], (e[:, 0].astype(int), e[:, 1].astype(int))),
                               shape=a.shape)).tocsc()
    for name, (b0, b1) in blocks.items():
        coords = pd.DataFrame(row_coords[b0:b1]) if b1 > b0 else pd.DataFrame(
            columns=["period"])
        rows[name] = Block(name, slice(n_rows0 + b0, n_rows0 + b1),
                           coords.reset_index(drop=True).assign(constraint=name))
    cols.update(new.blocks)
    integrality = np.concatenate([integer, new.integer])
    meta = {"col_period": np.concatenate([col_period, new.period]),
            "row_period": np.concatenate([row_period, np.asarray(r_period, int)]),
            "period_meta": [f.meta for f in forms], "n_periods": t_count,
            "pairs_per_period": p_count, "deployments_per_period": d_count,
            "link_keys": keys, "tie": tie, "weights": weights}
    return Form(a=a, cost=np.concatenate([cost, new.cost]),
                row_lower=np.concatenate([row_lo, np.asarray(lo, float)]),
                row_upper=np.concatenate([row_hi, np.asarray(hi, float)]),
                col_lower=np.concatenate([col_lo, new.lower]),
                col_upper=np.concatenate([col_hi, new.upper]), unit=unit, rows=rows,
                cols=cols, n_pairs=p_count * t_count, n_deployments=d_count * t_count,
                integrality=integrality if integrality.any() else None, options=o, meta=meta)


def _stack_blocks(per_period: list[dict[str, Block]], offsets: np.ndarray,
                  period_ids: tuple[str, ...]) -> tuple[np.ndarray, dict[str, Block]]:
    """Permutation putting each block name's rows (columns) of every period together, period
    by period, and the stacked blocks with a ``period`` coordinate."""
    names = list(dict.fromkeys(name for blocks in per_period for name in blocks))
    perm, out, pos = [], {}, 0
    for name in names:
        idx, coords, first = [], [], None
        for t, blocks in enumerate(per_period):
            b = blocks.get(name)
            if b is None:
                continue
            first = first or b
            idx.append(np.arange(b.index.start, b.index.stop) + offsets[t])
            coords.append(b.coords.assign(period=period_ids[t]))
        idx = np.concatenate(idx) if idx else np.zeros(0, int)
        out[name] = Block(name, slice(pos, pos + idx.size),
                          pd.concat(coords, ignore_index=True), first.report_unit,
                          first.report_scale)
        perm.append(idx)
        pos += idx.size
    return (np.concatenate(perm) if perm else np.zeros(0, int)).astype(np.int64), out


def _expand(first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cohort, period) of every live cohort-period, cohort-major."""
    lengths = np.maximum(last - first + 1, 0)
    k = np.repeat(np.arange(first.size), lengths)
    t = (np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
         + np.repeat(first, lengths)) if lengths.sum() else np.zeros(0, int)
    return k.astype(int), np.asarray(t, int)


class _Columns:
    """Coupling columns appended after the stacked period blocks."""

    def __init__(self, start: int):
        self.n = start
        self.blocks: dict[str, Block] = {}
        self._cost, self._lo, self._hi, self._int, self._period = [], [], [], [], []

    def add(self, name: str, count: int, cost, integer: bool = False,
            coords: pd.DataFrame | None = None, period=None) -> int:
        start = self.n
        self.blocks[name] = Block(name, slice(start, start + count),
                                  coords if coords is not None else pd.DataFrame(
                                      index=range(count)))
        self._cost.append(np.broadcast_to(np.asarray(cost, float), count))
        self._lo.append(np.zeros(count))
        self._hi.append(np.full(count, np.inf))
        self._int.append(np.full(count, int(integer)))
        self._period.append(np.asarray(period if period is not None else np.full(count, -1),
                                       int).reshape(count))
        self.n += count
        return start

    def _cat(self, parts, dtype=float):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    @property
    def cost(self):
        return self._cat(self._cost)

    @property
    def lower(self):
        return self._cat(self._lo)

    @property
    def upper(self):
        return self._cat(self._hi)

    @property
    def integer(self):
        return self._cat(self._int, int)

    @property
    def period(self):
        return self._cat(self._period, int)
