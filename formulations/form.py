"""The one formulation: a pure function from :class:`Coefficients` to a labelled sparse form.

``build(c, Options(...))`` returns ``min cost @ v  s.t.  row_lower <= A v <= row_upper,
col_lower <= v <= col_upper`` (some columns integer) with every row and column in a named
block that carries its coordinates (class, site, hour, deployment, hardware, scenario ...), so
duals, slacks and violations come back labelled and nothing downstream re-derives row order.

The LP, the MILP, the elastic LP of the infeasibility diagnosis and the robust (CVaR) LP are
options of the same builder, and each constraint type is one ``define_*`` function in
:data:`CONSTRAINTS`, with a mask (whether it applies to these options) like PyPSA's
``define_*`` constraints. A constraint type is one :class:`Constraint` unit (rows, mask,
re-check); adding one is described in docs/extending.md.

Two shapes of the capacity and power-cap rows:

* hourly (``aggregated=False``): every pair sits in the 24 hourly capacity rows of its
  deployment (hour-major) and, at a capped site, in 24 power rows: the textbook LP (~37
  nonzeros per pair). The lazy MILP keeps only some of these rows (``capacity_rows``,
  ``power_rows``).
* aggregated (``aggregated=True``): load variables per (deployment, profile group) and energy
  variables per (capped site, group) carry the daily node-hours and kWh; hours that cannot bind
  are dropped with a proof (:func:`undominated_hours`). 2-3 nonzeros per pair, the same optimum:

      load:      sum_{p in (d, g)} s_p u x_p / S - L_{d,g} = 0     (S = load_seconds)
      capacity:  sum_g f_g(h) L_{d,g} - rho (3600 / S) n_d <= 0     (kept hours only)
      energy:    sum_{p in (s, g)} PUE_s k_p u x_p - E_{s,g} = 0    (capped sites only)
      power cap: sum_g f_g(h) E_{s,g} + sum_{d in s} PUE_s P_idle,d n_d <= cap_s

  with f_g(h) = profile_g(h) / 24; substituting L and E back gives the hourly rows exactly. An
  hour's row is dropped only when another kept hour's row implies it (L, E >= 0 and every
  group's share no larger); :func:`dropped_hours_implied` re-checks that on a built form.

Columns, in order: x (P pairs, demand units), n (D nodes), then load and energy (aggregated),
y (D binaries, MILP), the blocks a constraint unit adds (failover flows, per pair: a ``pair``
coordinate), the robust LP's t, u, tau, v, and slack columns (elastic).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

from formulations import checks
from formulations.coefficients import HOURS, Coefficients
from formulations.constraints import (SECONDS_PER_HOUR, capacity_matrix, demand_unit,
                                      inventory_matrix, milp_link_bounds, objective_weights,
                                      power_matrices, profile_groups, undominated_hours)

ELASTIC_ENERGY_WEIGHT = 1e-6  # the elastic LP minimises violation first, energy a distant second
MEAN_WEIGHT = 1e-3  # robust LP: the mean's weight beside the CVaR (breaks ties among equal CVaR)


@dataclass(frozen=True)
class Robust:
    """The scenario data of the robust LP (issue 14): K x P multipliers on node-seconds and
    energy above idle, the CVaR level of the objective, the per-pair capacity multiplier (a
    quantile of the multipliers), the power cap's CVaR level and its site-hours."""

    scenarios: np.ndarray
    risk_level: float
    capacity_multiplier: np.ndarray
    confidence: float
    cap_hours: dict[int, list[int]] | None = None  # capped site -> hours (None: all)
    mean_weight: float = MEAN_WEIGHT


@dataclass(frozen=True)
class Options:
    """Which variant of the formulation to build."""

    integer: bool = False  # MILP: integer n, binary y, minimum replicas, max deployments
    aggregated: bool = False  # load/energy variables per profile group, dominated hours dropped
    elastic: bool = False  # priced slack on every elastic row block (diagnosis of infeasibility)
    robust: Robust | None = None  # the CVaR LP over coefficient scenarios
    unit: float | None = None  # demand unit of x (default: largest class ~ 1,000 units)
    capacity_rows: np.ndarray | None = None  # hourly form: keep only these capacity rows
    power_rows: np.ndarray | None = None  # hourly form: keep only these power-cap rows
    prune_hours: bool = True  # aggregated form: drop dominated hours
    pair_bounds: bool | None = None  # MILP: x_p <= Q_c y_d instead of n <= M y (default:
    #                                   aggregated form yes, hourly form no)


@dataclass(frozen=True)
class Block:
    """A named range of rows or columns and the coordinates of each (one DataFrame row each)."""

    name: str
    index: slice
    coords: pd.DataFrame
    report_unit: str | None = None  # a user-facing constraint: its rows' unit in the plan's
    report_scale: float = 1.0  # constraint table, and the factor from row units to that unit
    kind: "Constraint | None" = None  # the unit that built these rows (slack: that it relaxes)
    row_scale: float = 1.0  # these rows are the hourly form's rows divided by row_scale
    defined_by: str | None = None  # a column block defined by an equality row block: its i-th
    #                                column has -1 in that block's i-th row (load, energy)

    @property
    def size(self) -> int:
        return self.index.stop - self.index.start


@dataclass(frozen=True)
class Form:
    """min cost @ v  s.t.  row_lower <= A v <= row_upper,  col_lower <= v <= col_upper."""

    a: sp.csc_matrix
    cost: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    unit: float
    rows: dict[str, Block]
    cols: dict[str, Block]
    n_pairs: int
    n_deployments: int
    integrality: np.ndarray | None = None  # per column, 1 = integer
    options: Options = field(default_factory=Options)
    meta: dict = field(default_factory=dict)  # aggregated form: profile groups and kept hours

    @property
    def shape(self) -> tuple[int, int]:
        return self.a.shape

    @property
    def row_groups(self) -> dict[str, slice]:
        return {name: b.index for name, b in self.rows.items()}

    @property
    def col_groups(self) -> dict[str, slice]:
        return {name: b.index for name, b in self.cols.items()}

    def nonzeros_per_pair(self) -> float:
        return self.a.nnz / max(self.n_pairs, 1)


class _Builder:
    """Accumulates column blocks, then row blocks as COO triplets over absolute columns."""

    def __init__(self, c: Coefficients, options: Options, unit: float):
        self.c, self.o, self.unit = c, options, unit
        self.cols: dict[str, Block] = {}
        self.rows: dict[str, Block] = {}
        self.cost, self.col_lo, self.col_hi, self.integer = [], [], [], []
        self.r, self.k, self.v, self.row_lo, self.row_hi = [], [], [], [], []
        self.n_cols = self.n_rows = 0
        self.elastic_rows: list[tuple] = []  # block, price, sign, shared-by coordinate
        self.meta: dict = {}
        self.kind: Constraint | None = None  # the unit whose define_* is running

    def add_cols(self, name: str, count: int, cost=0.0, lower=0.0, upper=np.inf,
                 integer: bool = False, coords: pd.DataFrame | None = None) -> int:
        start = self.n_cols
        self.cols[name] = Block(name, slice(start, start + count),
                                coords if coords is not None else pd.DataFrame(index=range(count)))
        self.cost.append(np.broadcast_to(np.asarray(cost, float), count))
        self.col_lo.append(np.broadcast_to(np.asarray(lower, float), count))
        self.col_hi.append(np.broadcast_to(np.asarray(upper, float), count))
        self.integer.append(np.full(count, int(integer)))
        self.n_cols += count
        return start

    def add_rows(self, name: str, rows, cols, values, lower, upper, coords: pd.DataFrame,
                 elastic_price: float | None = None, elastic_sign: int = -1,
                 elastic_by: str | None = None, report_unit: str | None = None,
                 report_scale: float = 1.0, row_scale: float = 1.0) -> None:
        """Rows of one block; ``elastic_price``: in the elastic LP a slack column relaxes the
        rows (``elastic_sign`` -1: a <= row may exceed its upper bound; +1: a >= row its lower)
        at this price per unit of violation, one slack per row or, with ``elastic_by``, one per
        value of that coordinate (a site's cap: the least raise that works in every hour)."""
        lower = np.asarray(lower, float)
        count = lower.size
        self.r.append(np.asarray(rows, np.int64) + self.n_rows)
        self.k.append(np.asarray(cols, np.int64))
        self.v.append(np.asarray(values, float))
        self.row_lo.append(lower)
        self.row_hi.append(np.asarray(upper, float))
        self.rows[name] = Block(name, slice(self.n_rows, self.n_rows + count),
                                coords.reset_index(drop=True).assign(constraint=name),
                                report_unit, report_scale, self.kind, row_scale)
        if elastic_price is not None and count:
            self.elastic_rows.append((name, elastic_price, elastic_sign, elastic_by))
        self.n_rows += count

    def col0(self, name: str) -> int:
        return self.cols[name].index.start

    def form(self) -> Form:
        if self.o.elastic:  # one slack column per row of every elastic block
            for name, price, sign, by in self.elastic_rows:
                block = self.rows[name]
                coords = block.coords.drop(columns="constraint")
                if by is None:
                    slack_of = np.arange(block.size)
                else:
                    keys, slack_of = np.unique(coords[by].to_numpy(), return_inverse=True)
                    coords = pd.DataFrame({by: keys})
                start = self.add_cols(f"slack_{name}", len(coords), cost=price, coords=coords)
                self.cols[f"slack_{name}"] = replace(self.cols[f"slack_{name}"], kind=block.kind)
                self.r.append(np.arange(block.index.start, block.index.stop))
                self.k.append(start + np.asarray(slack_of).ravel())
                self.v.append(np.full(block.size, float(sign)))
        a = sp.csc_matrix((np.concatenate(self.v) if self.v else np.zeros(0),
                           (np.concatenate(self.r) if self.r else np.zeros(0, int),
                            np.concatenate(self.k) if self.k else np.zeros(0, int))),
                          shape=(self.n_rows, self.n_cols))
        integrality = np.concatenate(self.integer).astype(int)
        return Form(a=a, cost=np.concatenate(self.cost).astype(float),
                    row_lower=np.concatenate(self.row_lo) if self.row_lo else np.zeros(0),
                    row_upper=np.concatenate(self.row_hi) if self.row_hi else np.zeros(0),
                    col_lower=np.concatenate(self.col_lo).astype(float),
                    col_upper=np.concatenate(self.col_hi).astype(float), unit=self.unit,
                    rows=self.rows, cols=self.cols, n_pairs=self.c.n_pairs,
                    n_deployments=self.c.n_deployments,
                    integrality=integrality if integrality.any() else None,
                    options=self.o, meta=self.meta)


# --- columns ---------------------------------------------------------------------------------

def define_columns(b: _Builder) -> None:
    """x per pair, n per deployment; the aggregated form's load and energy variables."""
    c, o = b.c, b.o
    per_query, per_node = objective_weights(c, b.unit)
    if o.elastic:
        per_query, per_node = per_query * ELASTIC_ENERGY_WEIGHT, per_node * ELASTIC_ENERGY_WEIGHT
    if o.robust is not None:  # only the mean term; the CVaR columns carry the rest
        r = o.robust
        per_query = r.mean_weight * r.scenarios.mean(axis=0) * per_query
        per_node = r.mean_weight * per_node
    b.add_cols("x", c.n_pairs, per_query,
               coords=pd.DataFrame({"class": c.pair_class, "deployment": c.pair_dep,
                                    "pair": np.arange(c.n_pairs)}))
    b.add_cols("n", c.n_deployments, per_node, integer=o.integer,
               coords=pd.DataFrame({"deployment": np.arange(c.n_deployments)}))
    if o.aggregated:
        _aggregated_columns(b)


def _aggregated_columns(b: _Builder) -> None:
    c = b.c
    class_group, group_profile = profile_groups(c.profile)
    g_count = group_profile.shape[0]
    pair_group = class_group[c.pair_class]
    load_codes, pair_load = np.unique(c.pair_dep.astype(np.int64) * g_count + pair_group,
                                      return_inverse=True)
    load_keys = np.stack([load_codes // g_count, load_codes % g_count], axis=1)
    capped = np.flatnonzero(np.isfinite(c.site_cap_kw))
    site_row = np.full(len(c.site_ids) or int(c.dep_site.max()) + 1, -1)
    site_row[capped] = np.arange(capped.size)
    pair_site = c.dep_site[c.pair_dep]
    pair_capped = site_row[pair_site] >= 0
    energy_codes, pair_energy = np.unique(
        site_row[pair_site[pair_capped]].astype(np.int64) * g_count + pair_group[pair_capped],
        return_inverse=True)
    energy_keys = np.stack([energy_codes // g_count, energy_codes % g_count], axis=1)
    b.meta.update(load_seconds=load_seconds(c, b.unit), class_group=class_group,
                  group_profile=group_profile, load_keys=load_keys,
                  energy_keys=energy_keys, capped_sites=capped, site_row=site_row,
                  pair_load=np.asarray(pair_load).ravel(), pair_capped=pair_capped,
                  pair_energy=np.asarray(pair_energy).ravel(),
                  capacity_keys=np.zeros((0, 2), np.int64), power_keys=np.zeros((0, 2), np.int64))
    b.add_cols("load", len(load_keys), coords=pd.DataFrame(
        {"deployment": load_keys[:, 0], "profile_group": load_keys[:, 1]}))
    b.add_cols("energy", len(energy_keys), coords=pd.DataFrame(
        {"site": capped[energy_keys[:, 0]], "profile_group": energy_keys[:, 1]}))
    for name in ("load", "energy"):
        b.cols[name] = replace(b.cols[name], defined_by=name)


# --- constraints -----------------------------------------------------------------------------

def define_demand(b: _Builder) -> None:
    """Every class's queries/day are served: sum over its pairs of x equals its demand."""
    c = b.c
    q = c.demand / b.unit
    b.add_rows("demand", c.pair_class, b.col0("x") + np.arange(c.n_pairs), np.ones(c.n_pairs),
               q, q, pd.DataFrame({"class": c.classes["id"].to_numpy()}))


def load_seconds(c: Coefficients, unit: float) -> float:
    """Seconds in one unit of the aggregated form's load variables: node-hours (3600), unless a
    unit of x keeps no node busy for an hour (a fleet of a few queries a day), where node-hours
    would put the loads under HiGHS's absolute tolerances: node-seconds (1) then. Node-hours
    keep the load rows' coefficients near 1-100 on real fleets; node-seconds there (~1e5)
    scale the MILP badly enough for HiGHS to stop at a wrong 'optimum'."""
    largest = float(np.max(c.node_seconds)) * unit if c.n_pairs else 0.0
    return SECONDS_PER_HOUR if largest >= SECONDS_PER_HOUR else 1.0


def define_load(b: _Builder) -> None:
    """Aggregated form: L_{d,g} = daily busy node-time of group g's pairs at deployment d, in
    units of :func:`load_seconds`."""
    c, m = b.c, b.meta
    k = len(m["load_keys"])
    p = np.arange(c.n_pairs)
    b.add_rows("load", np.concatenate([m["pair_load"], np.arange(k)]),
               np.concatenate([b.col0("x") + p, b.col0("load") + np.arange(k)]),
               np.concatenate([c.node_seconds * b.unit / m["load_seconds"], -np.ones(k)]),
               np.zeros(k), np.zeros(k), b.cols["load"].coords)


def define_capacity(b: _Builder) -> None:
    """In every hour a deployment's busy node-seconds stay under the utilization ceiling."""
    c, o = b.c, b.o
    node_seconds = c.node_seconds if o.robust is None else \
        c.node_seconds * o.robust.capacity_multiplier  # the pair's quantile (robust LP)
    if o.aggregated:
        return _aggregated_capacity(b)
    d = c.n_deployments
    keep = np.arange(HOURS * d) if o.capacity_rows is None else np.asarray(o.capacity_rows, int)
    ax = capacity_matrix(replace(c, node_seconds=node_seconds), b.unit)[keep].tocoo()
    rho = c.busy_seconds_per_node_hour
    b.add_rows("capacity", np.concatenate([ax.row, np.arange(keep.size)]),
               np.concatenate([b.col0("x") + ax.col, b.col0("n") + keep % d]),
               np.concatenate([ax.data, np.full(keep.size, -rho)]),
               np.full(keep.size, -np.inf), np.zeros(keep.size),
               pd.DataFrame({"hour": keep // d, "deployment": keep % d}))


def _aggregated_capacity(b: _Builder) -> None:
    c, m = b.c, b.meta
    d, load_keys = c.n_deployments, m["load_keys"]
    shares = m["group_profile"] / HOURS
    member = sp.csr_matrix((np.ones(len(load_keys)), (load_keys[:, 0], load_keys[:, 1])),
                           shape=(d, shares.shape[0]))
    keep = _kept_hours(member, shares) if b.o.prune_hours else np.ones((d, HOURS), dtype=bool)
    keys = np.argwhere(keep)  # sorted by deployment, then hour
    row_of = -np.ones((d, HOURS), dtype=np.int64)
    row_of[keys[:, 0], keys[:, 1]] = np.arange(len(keys))
    lk, hours = np.nonzero(keep[load_keys[:, 0]])
    n_rows = len(keys)
    m["capacity_keys"] = keys
    b.add_rows("capacity", np.concatenate([row_of[load_keys[lk, 0], hours], np.arange(n_rows)]),
               np.concatenate([b.col0("load") + lk, b.col0("n") + keys[:, 0]]),
               np.concatenate([shares[load_keys[lk, 1], hours],
                               np.full(n_rows, -c.busy_seconds_per_node_hour / m["load_seconds"])]),
               np.full(n_rows, -np.inf), np.zeros(n_rows),
               pd.DataFrame({"deployment": keys[:, 0], "hour": keys[:, 1]}),
               row_scale=m["load_seconds"])


def define_power_cap(b: _Builder) -> None:
    """Facility power of each capped site stays under its cap in every hour (PUE included)."""
    c, o = b.c, b.o
    capped = np.flatnonzero(np.isfinite(c.site_cap_kw))
    if capped.size == 0:
        return
    if o.aggregated:
        return _aggregated_power_cap(b, capped)
    ax, an = power_matrices(c, b.unit, capped)
    keep = np.arange(ax.shape[0]) if o.power_rows is None else np.asarray(o.power_rows, int)
    ax, an = ax.tocsr()[keep].tocoo(), an.tocsr()[keep].tocoo()
    cap = np.repeat(c.site_cap_kw[capped], HOURS)[keep]
    b.add_rows("power_cap", np.concatenate([ax.row, an.row]),
               np.concatenate([b.col0("x") + ax.col, b.col0("n") + an.col]),
               np.concatenate([ax.data, an.data]), np.full(keep.size, -np.inf), cap,
               pd.DataFrame({"site": np.array(c.site_ids)[capped[keep // HOURS]],
                             "hour": keep % HOURS, "cap_kw": cap}), elastic_price=1.0,
               elastic_by="site")


def _aggregated_power_cap(b: _Builder, capped: np.ndarray) -> None:
    c, m = b.c, b.meta
    shares = m["group_profile"] / HOURS
    energy_keys, site_row = m["energy_keys"], m["site_row"]
    pidx = np.flatnonzero(m["pair_capped"])
    k = len(energy_keys)
    pair_site = c.dep_site[c.pair_dep]
    b.add_rows("energy", np.concatenate([m["pair_energy"], np.arange(k)]),
               np.concatenate([b.col0("x") + pidx, b.col0("energy") + np.arange(k)]),
               np.concatenate([c.dynamic_kwh[pidx] * c.site_pue[pair_site[pidx]] * b.unit,
                               -np.ones(k)]), np.zeros(k), np.zeros(k), b.cols["energy"].coords)
    member = sp.csr_matrix((np.ones(k), (energy_keys[:, 0], energy_keys[:, 1])),
                           shape=(capped.size, shares.shape[0]))
    keep = _kept_hours(member, shares) if b.o.prune_hours else \
        np.ones((capped.size, HOURS), dtype=bool)
    for i in np.flatnonzero(~keep.any(axis=1)):  # an unloaded capped site keeps its idle row
        keep[i, 0] = True
    keys = np.argwhere(keep)
    m["power_keys"] = keys
    prow = -np.ones((capped.size, HOURS), dtype=np.int64)
    prow[keys[:, 0], keys[:, 1]] = np.arange(len(keys))
    ek, e_hours = np.nonzero(keep[energy_keys[:, 0]])
    dep_row = site_row[c.dep_site]
    dcap = np.flatnonzero(dep_row >= 0)
    d_sel, d_hours = np.nonzero(keep[dep_row[dcap]])
    d_rep = dcap[d_sel]
    cap = c.site_cap_kw[capped][keys[:, 0]]
    b.add_rows("power_cap",
               np.concatenate([prow[energy_keys[ek, 0], e_hours], prow[dep_row[d_rep], d_hours]]),
               np.concatenate([b.col0("energy") + ek, b.col0("n") + d_rep]),
               np.concatenate([shares[energy_keys[ek, 1], e_hours],
                               c.dep_idle_kw[d_rep] * c.site_pue[c.dep_site[d_rep]]]),
               np.full(len(keys), -np.inf), cap,
               pd.DataFrame({"site": np.array(c.site_ids)[capped[keys[:, 0]]],
                             "hour": keys[:, 1], "cap_kw": cap}), elastic_price=1.0,
               elastic_by="site")


def define_inventory(b: _Builder) -> None:
    """Nodes of each hardware at each site stay within what is installed there."""
    c = b.c
    a_inv, coords = inventory_matrix(c)
    if a_inv.shape[0] == 0:
        return
    coo = a_inv.tocoo()
    b.add_rows("inventory", coo.row, b.col0("n") + coo.col, coo.data,
               np.full(a_inv.shape[0], -np.inf), c.inventory["nodes"].to_numpy(float),
               coords.drop(columns="constraint"), elastic_price=1e3)


def define_min_site_share(b: _Builder) -> None:
    """A class serves at least a share of its queries at a site (data residency, resilience):
    sum over the class's pairs at site s of x >= share_{c,s} Q_c. Input:
    ``classes[].min_site_share: {site: share}``."""
    c = b.c
    share = c.min_site_share
    if share is None:
        return
    cls, site = np.nonzero(share > 0)
    if cls.size == 0:
        return
    row_of = -np.ones(share.shape, dtype=np.int64)
    row_of[cls, site] = np.arange(cls.size)
    pair_row = row_of[c.pair_class, c.dep_site[c.pair_dep]]
    p = np.flatnonzero(pair_row >= 0)
    b.add_rows("min_site_share", pair_row[p], b.col0("x") + p, np.ones(p.size),
               share[cls, site] * c.demand[cls] / b.unit, np.full(cls.size, np.inf),
               pd.DataFrame({"class": c.classes["id"].to_numpy()[cls],
                             "site": np.array(c.site_ids)[site]}),
               elastic_price=1.0 / max(c.demand.max() / b.unit, 1.0), elastic_sign=1,
               report_unit="queries/day", report_scale=b.unit)


def define_failover(b: _Builder) -> None:
    """N-1 site failover: if a site with ``failover`` is lost, the other sites absorb its
    classes within their caps and inventories at the failover utilisation u_f. Per lost site f
    a flow column w^f_p >= 0 for every pair p at another site (queries/day re-routed there;
    no cost: it is a scenario, not the day's plan) and the rows

        absorb:    sum_{p of c, site != f} w^f_p - sum_{p of c at f} x_p >= 0     (f, class)
        capacity:  sum_p l_{p,h} s_p u (x_p + w^f_p) - u_f 3600 n_d <= 0     (f, d not at f, h)
        power cap: PUE_s (sum_d P_idle n_d + sum_p l_{p,h} k_p u (x_p + w^f_p)) <= cap_s
                   (f, capped s != f, h)

    The nodes are the plan's own (a lost site's load runs on nodes already installed) and
    inventories therefore hold. Hourly rows in every form (they are few next to the plan's: a
    failover site is a choice the user makes); in the robust LP they hold at the point
    coefficients. Input: ``sites[].failover: true`` and ``options.failover_utilization``."""
    c = b.c
    lost = np.flatnonzero(c.site_failover)
    if lost.size == 0:
        return
    pair_site = c.dep_site[c.pair_dep]
    layer = np.concatenate([np.full(int(np.sum(pair_site != f)), f) for f in lost])
    pair = np.concatenate([np.flatnonzero(pair_site != f) for f in lost])
    w0 = b.add_cols("failover_flow", pair.size, 0.0, coords=pd.DataFrame(
        {"layer": layer, "pair": pair, "class": c.pair_class[pair],
         "deployment": c.pair_dep[pair]}))
    b.meta.setdefault("layers", {})["failover_flow"] = len(c.site_ids)
    w = np.arange(pair.size)
    n_classes = len(c.demand)
    f_row = np.full(len(c.site_ids), -1)
    f_row[lost] = np.arange(lost.size)
    at_f = np.concatenate([np.flatnonzero(pair_site == f) for f in lost])
    at_f_layer = pair_site[at_f]
    b.add_rows("failover_absorb",
               np.concatenate([f_row[layer] * n_classes + c.pair_class[pair],
                               f_row[at_f_layer] * n_classes + c.pair_class[at_f]]),
               np.concatenate([w0 + w, b.col0("x") + at_f]),
               np.concatenate([np.ones(w.size), -np.ones(at_f.size)]),
               np.zeros(lost.size * n_classes), np.full(lost.size * n_classes, np.inf),
               pd.DataFrame({"site": np.repeat(np.array(c.site_ids)[lost], n_classes),
                             "class": np.tile(c.classes["id"].to_numpy(), lost.size)}),
               elastic_price=1.0 / max(c.demand.max() / b.unit, 1.0), elastic_sign=1,
               report_unit="queries/day", report_scale=b.unit)
    cap = capacity_matrix(c, b.unit).tocsc()  # (24 D) x P, rows hour-major
    d = c.n_deployments
    rho_f = c.failover_utilization * SECONDS_PER_HOUR
    rows, cols, vals, coords = [], [], [], []
    n_rows = 0
    for i, f in enumerate(lost):
        keep = np.flatnonzero(c.dep_site[np.arange(HOURS * d) % d] != f)
        ax = cap[keep].tocoo()
        on = layer == f
        aw = cap[keep][:, pair[on]].tocoo()
        rows += [n_rows + ax.row, n_rows + aw.row, n_rows + np.arange(keep.size)]
        cols += [b.col0("x") + ax.col, w0 + np.flatnonzero(on)[aw.col], b.col0("n") + keep % d]
        vals += [ax.data, aw.data, np.full(keep.size, -rho_f)]
        coords.append(pd.DataFrame({"site": c.site_ids[f], "hour": keep // d,
                                    "deployment": keep % d}))
        n_rows += keep.size
    b.add_rows("failover_capacity", np.concatenate(rows), np.concatenate(cols),
               np.concatenate(vals), np.full(n_rows, -np.inf), np.zeros(n_rows),
               pd.concat(coords, ignore_index=True))
    rows, cols, vals, coords, upper = [], [], [], [], []
    n_rows = 0
    for f in lost:
        capped = np.flatnonzero(np.isfinite(c.site_cap_kw) & (np.arange(len(c.site_ids)) != f))
        if capped.size == 0:
            continue
        ax, an = power_matrices(c, b.unit, capped)
        on = layer == f
        aw, ax, an = ax.tocsc()[:, pair[on]].tocoo(), ax.tocoo(), an.tocoo()
        rows += [n_rows + ax.row, n_rows + aw.row, n_rows + an.row]
        cols += [b.col0("x") + ax.col, w0 + np.flatnonzero(on)[aw.col], b.col0("n") + an.col]
        vals += [ax.data, aw.data, an.data]
        k = capped.size * HOURS
        upper.append(np.repeat(c.site_cap_kw[capped], HOURS))
        coords.append(pd.DataFrame({"site": c.site_ids[f],
                                    "capped_site": np.repeat(np.array(c.site_ids)[capped], HOURS),
                                    "hour": np.tile(np.arange(HOURS), capped.size),
                                    "cap_kw": upper[-1]}))
        n_rows += k
    if n_rows:
        b.add_rows("failover_power", np.concatenate(rows), np.concatenate(cols),
                   np.concatenate(vals), np.full(n_rows, -np.inf), np.concatenate(upper),
                   pd.concat(coords, ignore_index=True))


def _nodes_vs_deployed(b: _Builder, name: str, per_y: np.ndarray, sense: int) -> None:
    """One row per deployment: n_d - per_y_d y_d <= 0 (sense -1) or >= 0 (sense +1)."""
    d = np.arange(b.c.n_deployments)
    zero, inf = np.zeros(d.size), np.full(d.size, np.inf)
    b.add_rows(name, np.concatenate([d, d]), np.concatenate([b.col0("n") + d, b.col0("y") + d]),
               np.concatenate([np.ones(d.size), -per_y]), -inf if sense < 0 else zero,
               zero if sense < 0 else inf, pd.DataFrame({"deployment": d}))


def define_link(b: _Builder) -> None:
    """MILP: n_d <= M_d y_d (a deployment has nodes only when deployed)."""
    _nodes_vs_deployed(b, "link", milp_link_bounds(b.c)[0], -1)


def define_min_replicas(b: _Builder) -> None:
    """MILP: n_d >= r x nodes per replica x y_d (at least r replicas when deployed)."""
    _nodes_vs_deployed(b, "min_replicas", milp_link_bounds(b.c)[1], +1)


def define_pair_bound(b: _Builder) -> None:
    """MILP: x_p <= Q_c y_d. Valid for every integer point; with it n <= M y is redundant for
    the optimum and its big M (up to 1e5, badly scaled) is left out, and the LP relaxation pays
    the minimum replicas (n_d >= m_d y_d >= m_d x_p / Q_c) it otherwise ignores."""
    c = b.c
    p = np.arange(c.n_pairs)
    b.add_rows("pair_bound", np.concatenate([p, p]),
               np.concatenate([b.col0("x") + p, b.col0("y") + c.pair_dep]),
               np.concatenate([np.ones(p.size), -c.demand[c.pair_class] / b.unit]),
               np.full(p.size, -np.inf), np.zeros(p.size),
               pd.DataFrame({"class": c.pair_class, "deployment": c.pair_dep}))


def define_max_deployments(b: _Builder) -> None:
    """MILP: at most K distinct deployments."""
    c = b.c
    d = c.n_deployments
    b.add_rows("max_deployments", np.zeros(d), b.col0("y") + np.arange(d), np.ones(d),
               [-np.inf], [float(c.max_deployments)], pd.DataFrame({"limit": [c.max_deployments]}))


def define_cvar_energy(b: _Builder) -> None:
    """Robust LP: u_k >= E_k - t with E_k the fleet objective in scenario k (Rockafellar-
    Uryasev); the objective t + sum u / ((1 - alpha) K) is CVaR_alpha of the energy."""
    c, r = b.c, b.o.robust
    k = r.scenarios.shape[0]
    per_query, per_node = objective_weights(c, b.unit)
    t = b.add_cols("t", 1, 1.0, lower=-np.inf)
    u = b.add_cols("u", k, 1.0 / ((1 - r.risk_level) * k),
                   coords=pd.DataFrame({"scenario": np.arange(k)}))
    scen = sp.coo_matrix(r.scenarios * per_query[None, :])
    rows = np.concatenate([scen.row, np.repeat(np.arange(k), c.n_deployments), np.arange(k),
                           np.arange(k)])
    cols = np.concatenate([b.col0("x") + scen.col, np.tile(b.col0("n") + np.arange(
        c.n_deployments), k), np.full(k, t), u + np.arange(k)])
    vals = np.concatenate([-scen.data, np.tile(-per_node, k), np.ones(k), np.ones(k)])
    b.add_rows("cvar_energy", rows, cols, vals, np.zeros(k), np.full(k, np.inf),
               pd.DataFrame({"scenario": np.arange(k)}))


def define_robust_power_cap(b: _Builder) -> None:
    """Robust LP: CVaR_beta of each chosen site-hour's facility power stays under the cap:
    tau + sum_k v_k / ((1 - beta) K) <= cap,  v_k >= P_k(x, n) - tau,  v >= 0."""
    c, r = b.c, b.o.robust
    k = r.scenarios.shape[0]
    rows, cols, vals, lo, hi, coords = [], [], [], [], [], []
    row = 0
    for s in np.flatnonzero(np.isfinite(c.site_cap_kw)):
        hours = list(range(HOURS) if r.cap_hours is None else r.cap_hours.get(int(s), []))
        if not hours:
            continue
        ax, an = power_matrices(c, b.unit, np.array([s]))
        ax, an = ax.tocsr(), an.tocsr()
        for h in hours:
            tau = b.add_cols(f"tau[{s},{h}]", 1, lower=-np.inf)
            v = b.add_cols(f"v[{s},{h}]", k)
            scen = sp.coo_matrix(r.scenarios * ax[h].toarray().ravel()[None, :])
            idle = an[h].tocoo()
            # v_k - P_k + tau >= 0
            rows += [row + scen.row, row + np.repeat(np.arange(k), idle.nnz), row + np.arange(k),
                     row + np.arange(k)]
            cols += [b.col0("x") + scen.col, np.tile(b.col0("n") + idle.col, k), np.full(k, tau),
                     v + np.arange(k)]
            vals += [-scen.data, np.tile(-idle.data, k), np.ones(k), np.ones(k)]
            lo.append(np.zeros(k))
            hi.append(np.full(k, np.inf))
            # tau + sum v / ((1 - beta) K) <= cap
            rows += [np.array([row + k]), np.full(k, row + k)]
            cols += [np.array([tau]), v + np.arange(k)]
            vals += [np.ones(1), np.full(k, 1.0 / ((1 - r.confidence) * k))]
            lo.append([-np.inf])
            hi.append([c.site_cap_kw[s]])
            coords.append(pd.DataFrame({"site": c.site_ids[s], "hour": h,
                                        "scenario": list(range(k)) + [-1]}))
            row += k + 1
    if row:
        b.add_rows("robust_power_cap", np.concatenate(rows), np.concatenate(cols),
                   np.concatenate(vals), np.concatenate(lo), np.concatenate(hi),
                   pd.concat(coords, ignore_index=True))


@dataclass(frozen=True)
class Constraint:
    """A constraint type as one unit: its name, its ``define_*`` (the rows, and any columns
    they need), its mask (whether it applies to these options and coefficients, as PyPSA's
    ``define_*`` with masks) and, for a rule a user states, its independent re-check
    (:mod:`formulations.checks`). Rows of a type without ``check`` are devices of the
    formulation (load and energy definitions, the MILP's link rows, the robust LP's CVaR
    rows): they restate rules that are checked, in another shape.

    The unit object itself is the key of everything planner-side that belongs to the type (its
    diagnosis text and its plain-words sentence, ``planner.solve.explain``), and every row block
    it builds carries it (:attr:`Block.kind`), so no module matches the type by its name."""

    name: str
    define: Callable[[_Builder], None]
    applies: Callable[[Options, Coefficients], bool]
    check: Callable | None = None  # (coefficients, PlanValues) -> violated rows

    def __repr__(self) -> str:
        return f"Constraint({self.name!r})"


def _milp(o: Options) -> bool:
    return o.integer


def _pair_bounds(o: Options) -> bool:
    return o.aggregated if o.pair_bounds is None else o.pair_bounds


def _always(o: Options, c: Coefficients) -> bool:
    return True


DEMAND = Constraint("demand", define_demand, _always, checks.check_demand)
LOAD = Constraint("load", define_load, lambda o, c: o.aggregated)
CAPACITY = Constraint("capacity", define_capacity, _always, checks.check_capacity)
POWER_CAP = Constraint("power_cap", define_power_cap, _always, checks.check_power_cap)
INVENTORY = Constraint("inventory", define_inventory, _always, checks.check_inventory)
MIN_SITE_SHARE = Constraint("min_site_share", define_min_site_share, _always,
                            checks.check_min_site_share)
LINK = Constraint("link", define_link, lambda o, c: _milp(o) and not _pair_bounds(o))
MIN_REPLICAS = Constraint("min_replicas", define_min_replicas, lambda o, c: _milp(o),
                          checks.check_min_replicas)
PAIR_BOUND = Constraint("pair_bound", define_pair_bound,
                        lambda o, c: _milp(o) and _pair_bounds(o))
MAX_DEPLOYMENTS = Constraint("max_deployments", define_max_deployments,
                             lambda o, c: _milp(o) and c.max_deployments is not None,
                             checks.check_max_deployments)
FAILOVER = Constraint("failover", define_failover,
                      lambda o, c: c.site_failover is not None and bool(np.any(c.site_failover)),
                      checks.check_failover)
CVAR_ENERGY = Constraint("cvar_energy", define_cvar_energy, lambda o, c: o.robust is not None)
ROBUST_POWER_CAP = Constraint("robust_power_cap", define_robust_power_cap,
                              lambda o, c: o.robust is not None
                              and np.isfinite(c.site_cap_kw).any())

CONSTRAINTS: list[Constraint] = [
    DEMAND, LOAD, CAPACITY, POWER_CAP, INVENTORY, MIN_SITE_SHARE, LINK, MIN_REPLICAS,
    PAIR_BOUND, MAX_DEPLOYMENTS, FAILOVER, CVAR_ENERGY, ROBUST_POWER_CAP,
]
# Rules every plan is re-checked against besides the registered units' own checks.
PLAN_CHECKS = (checks.check_nonnegativity, checks.check_integrality)


def checked() -> list[Constraint]:
    """The registered units a user states: each has a re-check, an oracle row and an
    explanation, and every solve path honours it (tests/formulations/test_registry.py)."""
    return [u for u in CONSTRAINTS if u.check is not None]


def unit_of(block: "Block") -> Constraint | None:
    """The constraint unit that built a row block (or whose rows a slack column relaxes)."""
    return block.kind


def build(c: Coefficients, options: Options = Options()) -> Form:
    """The labelled sparse form of the planning problem for these options."""
    if options.robust is not None and (options.integer or options.aggregated):
        raise ValueError("the robust LP is built over the hourly continuous form only")
    unit = demand_unit(c) if options.unit is None else float(options.unit)
    b = _Builder(c, options, unit)
    define_columns(b)
    if options.integer:
        b.add_cols("y", c.n_deployments, 0.0, upper=1.0, integer=True,
                   coords=pd.DataFrame({"deployment": np.arange(c.n_deployments)}))
    for constraint in CONSTRAINTS:
        if constraint.applies(options, c):
            b.kind = constraint
            constraint.define(b)
    b.kind = None
    return b.form()


# --- plans as column vectors ---------------------------------------------------------------

def pair_flows(form: Form, values: np.ndarray) -> dict[str, np.ndarray]:
    """The values of every pair column block other than x (a constraint unit's own per-pair
    columns, e.g. failover flows) as dense layers x pairs arrays, by their ``layer`` and
    ``pair`` coordinates (demand units, like x)."""
    out = {}
    for name, block in form.cols.items():
        if name == "x" or "pair" not in block.coords.columns:
            continue
        dense = np.zeros((form.meta.get("layers", {}).get(name, 1), form.n_pairs))
        layer = block.coords["layer"].to_numpy(int) if "layer" in block.coords else 0
        dense[layer, block.coords["pair"].to_numpy(int)] = values[block.index]
        out[name] = dense
    return out


def map_flows(flows: dict[str, np.ndarray] | None, pair_idx: np.ndarray, n_pairs: int | None
              ) -> dict[str, np.ndarray]:
    """Flows of a restricted problem (pairs ``pair_idx`` of the whole) onto the whole one
    (``n_pairs`` given), or the whole's onto the restricted (``n_pairs`` None)."""
    out = {}
    for name, dense in (flows or {}).items():
        if n_pairs is None:
            out[name] = dense[:, pair_idx]
        else:
            whole = np.zeros((dense.shape[0], n_pairs))
            whole[:, pair_idx] = dense
            out[name] = whole
    return out


def plan_vector(form: Form, x: np.ndarray, n: np.ndarray,
                flows: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Every column of ``form`` from a plan: x, n, y = (n > 0), the flows of other pair blocks
    (:func:`pair_flows`), and the aggregated form's load and energy from their defining rows."""
    cg = form.col_groups
    v = np.zeros(form.a.shape[1])
    v[cg["x"]] = x
    v[cg["n"]] = n
    if "y" in cg:
        v[cg["y"]] = (np.asarray(n) > 0.5).astype(float)
    for name, dense in (flows or {}).items():
        if name in form.cols:
            block = form.cols[name]
            layer = block.coords["layer"].to_numpy(int) if "layer" in block.coords else 0
            v[block.index] = dense[layer, block.coords["pair"].to_numpy(int)]
    # L and E are defined by equality rows: -1 on their own column; solve each directly.
    for name in ("load", "energy"):
        if name in form.rows:
            v[cg[name]] = form.a[form.rows[name].index] @ v  # the -1 column is still 0 here
    return v


def _kept_hours(member: sp.csr_matrix, shares: np.ndarray) -> np.ndarray:
    """For each row of ``member`` (entities x groups, nonzero = present), the undominated hours
    of its groups (boolean, entities x 24); computed once per distinct group set."""
    member = member.tocsr()
    member.sort_indices()
    keep = np.zeros((member.shape[0], HOURS), dtype=bool)
    cache: dict[bytes, np.ndarray] = {}
    for i in range(member.shape[0]):
        groups = member.indices[member.indptr[i]:member.indptr[i + 1]]
        if groups.size == 0:
            continue
        key = groups.tobytes()
        if key not in cache:
            cache[key] = undominated_hours(shares[groups])
        keep[i] = cache[key]
    return keep


def dropped_hours_implied(form: Form) -> bool:
    """Re-check the pruning proof on a built aggregated form: every dropped (deployment, hour)
    capacity row is dominated, group by group, by a kept row of the same deployment (and
    likewise for power)."""
    shares = form.meta["group_profile"] / HOURS

    def check(keys_var: np.ndarray, kept: np.ndarray, entities: int) -> bool:
        kept_mask = np.zeros((entities, HOURS), dtype=bool)
        kept_mask[kept[:, 0], kept[:, 1]] = True
        for e in np.unique(keys_var[:, 0]):
            s = shares[keys_var[keys_var[:, 0] == e, 1]]
            for h in np.flatnonzero(~kept_mask[e]):
                if not np.any(np.all(s[:, [h]] <= s[:, kept_mask[e]], axis=0)):
                    return False
        return True

    m = form.meta
    ok = check(m["load_keys"], m["capacity_keys"], form.n_deployments)
    if m["capped_sites"].size:
        ok &= check(m["energy_keys"], m["power_keys"], m["capped_sites"].size)
    return bool(ok)
