"""The LP/MILP with load variables: its size grows with pairs, not pairs x hours.

The LP of :mod:`formulations.lp` puts every pair in 24 hourly capacity rows (and 24 power-cap
rows when its site is capped): ~37 nonzeros per pair. Here classes are grouped by their diurnal
profile (classes with the same 24-hour shape share a group g), and for each (deployment d, group
g) that has pairs a load variable carries the group's daily busy node-hours there:

    load:      sum_{p in (d, g)} s_p u / 3600 x_p - L_{d,g} = 0           (one row per (d, g))
    capacity:  sum_g f_g(h) L_{d,g} - rho n_d <= 0                       (hours kept, see below)
    energy:    sum_{p in (s, g)} PUE_s k_p u x_p - E_{s,g} = 0             (capped sites only)
    power cap: sum_g f_g(h) E_{s,g} + sum_{d in s} PUE_s P_idle,d n_d <= cap_s
    demand and inventory rows as in the LP,

with f_g(h) = profile_g(h) / 24. A pair enters its demand row, its load row and, at a capped site,
its energy row: 2-3 nonzeros instead of ~37. Substituting L and E back gives exactly the rows of
the LP, so the two have the same optimum (a test checks it to 1e-6 relative).

Hours that cannot bind are dropped, with a proof: L, E >= 0, so the row of hour h is implied by
the row of hour h' when f_g(h) <= f_g(h') for every group g present in the row (the idle term of
a power row is the same every hour). Only such dominated hours are dropped (among equal hours
the first is kept); :func:`dropped_hours_implied` re-checks the rule on the built form.

Columns are ``[x (P), n (D), L (K), E (M)]`` and, for the MILP, ``y (D)`` after them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from formulations.constraints import SECONDS_PER_HOUR, inventory_matrix, objective_weights
from formulations.lp import demand_unit
from formulations.coefficients import HOURS, Coefficients


@dataclass(frozen=True)
class AggregatedForm:
    """min cost @ v  s.t.  row_lower <= A v <= row_upper,  col_lower <= v <= col_upper."""

    a: sp.csc_matrix
    cost: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    n_pairs: int
    n_deployments: int
    unit: float
    row_groups: dict[str, slice]
    col_groups: dict[str, slice]
    capacity_keys: np.ndarray  # (rows, 2): deployment, hour of each kept capacity row
    power_keys: np.ndarray  # (rows, 2): index into the capped sites, hour of each power row
    capped_sites: np.ndarray  # site indices with a finite cap
    class_group: np.ndarray  # C: profile group of each class
    group_profile: np.ndarray  # G x 24
    load_keys: np.ndarray  # (K, 2): deployment, group of each load variable
    energy_keys: np.ndarray  # (M, 2): index into the capped sites, group of each energy variable
    integrality: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.a.shape

    def nonzeros_per_pair(self) -> float:
        return self.a.nnz / max(self.n_pairs, 1)


def profile_groups(profile: np.ndarray, decimals: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """Group classes whose 24-hour profiles are equal (to ``decimals``): (class -> group,
    G x 24 profiles)."""
    rounded = np.round(np.asarray(profile, float), decimals)
    unique, inverse = np.unique(rounded, axis=0, return_inverse=True)
    inverse = np.asarray(inverse).ravel()
    # Representative profile of each group: the first class's own (unrounded) values.
    first = np.full(unique.shape[0], -1)
    for i in range(inverse.size - 1, -1, -1):
        first[inverse[i]] = i
    return inverse, np.asarray(profile, float)[first]


def undominated_hours(shares: np.ndarray) -> np.ndarray:
    """Hours whose row is not implied by another's, for rows sum_g shares[g, h] v_g (v >= 0):
    h is dropped when some h' has shares[:, h] <= shares[:, h'] in every group (strictly
    somewhere, or an equal column earlier). Returns a boolean mask over hours."""
    s = np.asarray(shares, float)
    if s.shape[0] == 0:
        return np.zeros(HOURS, dtype=bool)
    le = np.all(s[:, :, None] <= s[:, None, :], axis=0)  # le[h, h']: column h <= column h'
    eq = le & le.T
    order = np.arange(HOURS)
    dominated = (le & ~eq) | (eq & (order[None, :] < order[:, None]))
    np.fill_diagonal(dominated, False)
    return ~dominated.any(axis=1)


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


def aggregated_form(c: Coefficients, unit: float | None = None, integer: bool = False,
                    prune_hours: bool = True, pair_bounds: bool = True) -> AggregatedForm:
    """Sparse arrays of the LP (``integer``: the MILP with y, link and minimum replicas) with
    load variables per (deployment, profile group) and energy variables per (capped site,
    group). No dense pairs x hours intermediate is built."""
    unit = demand_unit(c) if unit is None else unit
    p, d = c.n_pairs, c.n_deployments
    n_classes = len(c.demand)
    class_group, group_profile = profile_groups(c.profile)
    g_count = group_profile.shape[0]
    shares = group_profile / HOURS  # G x 24
    pair_group = class_group[c.pair_class]
    pair_site = c.dep_site[c.pair_dep]

    # Load variables: one per (deployment, group) with pairs.
    load_code = c.pair_dep.astype(np.int64) * g_count + pair_group
    load_codes, pair_load = np.unique(load_code, return_inverse=True)
    pair_load = np.asarray(pair_load).ravel()
    k = load_codes.size
    load_keys = np.stack([load_codes // g_count, load_codes % g_count], axis=1)

    capped = np.flatnonzero(np.isfinite(c.site_cap_kw))
    site_row = np.full(len(c.site_ids) or int(c.dep_site.max()) + 1, -1)
    site_row[capped] = np.arange(capped.size)
    pair_capped = site_row[pair_site] >= 0
    energy_code = site_row[pair_site[pair_capped]].astype(np.int64) * g_count \
        + pair_group[pair_capped]
    energy_codes, pair_energy = np.unique(energy_code, return_inverse=True)
    pair_energy = np.asarray(pair_energy).ravel()
    m = energy_codes.size
    energy_keys = np.stack([energy_codes // g_count, energy_codes % g_count], axis=1)

    n_y = d if integer else 0
    col_x, col_n, col_l, col_e = 0, p, p + d, p + d + k
    col_y = p + d + k + m
    n_cols = col_y + n_y
    rows_i, cols_i, vals = [], [], []
    lower, upper, groups = [], [], {}
    start = 0

    def add(name, r, cidx, v, lo, hi):
        nonlocal start
        rows_i.append(np.asarray(r, np.int64) + start)
        cols_i.append(np.asarray(cidx, np.int64))
        vals.append(np.asarray(v, float))
        lower.append(np.asarray(lo, float))
        upper.append(np.asarray(hi, float))
        groups[name] = slice(start, start + len(lower[-1]))
        start += len(lower[-1])

    pair_idx = np.arange(p)
    add("demand", c.pair_class, col_x + pair_idx, np.ones(p), c.demand / unit, c.demand / unit)
    add("load", np.concatenate([pair_load, np.arange(k)]),
        np.concatenate([col_x + pair_idx, col_l + np.arange(k)]),
        np.concatenate([c.node_seconds * unit / SECONDS_PER_HOUR, -np.ones(k)]),
        np.zeros(k), np.zeros(k))

    # Capacity rows: per deployment, the undominated hours of its groups.
    member = sp.csr_matrix((np.ones(k), (load_keys[:, 0], load_keys[:, 1])), shape=(d, g_count))
    keep = _kept_hours(member, shares) if prune_hours else np.ones((d, HOURS), dtype=bool)
    capacity_keys = np.argwhere(keep)  # sorted by deployment, then hour
    row_of = -np.ones((d, HOURS), dtype=np.int64)
    row_of[capacity_keys[:, 0], capacity_keys[:, 1]] = np.arange(len(capacity_keys))
    # Each load variable enters the kept rows of its deployment.
    lk_rep, hours_of = np.nonzero(keep[load_keys[:, 0]])
    r_cap = row_of[load_keys[lk_rep, 0], hours_of]
    v_cap = shares[load_keys[lk_rep, 1], hours_of]
    n_rows = len(capacity_keys)
    add("capacity", np.concatenate([r_cap, np.arange(n_rows)]),
        np.concatenate([col_l + lk_rep, col_n + capacity_keys[:, 0]]),
        np.concatenate([v_cap, np.full(n_rows, -c.utilization_ceiling)]),
        np.full(n_rows, -np.inf), np.zeros(n_rows))

    power_keys = np.zeros((0, 2), dtype=np.int64)
    if capped.size:
        pidx = np.flatnonzero(pair_capped)
        pue_pair = c.site_pue[pair_site[pidx]]
        add("energy", np.concatenate([pair_energy, np.arange(m)]),
            np.concatenate([col_x + pidx, col_e + np.arange(m)]),
            np.concatenate([c.dynamic_kwh[pidx] * pue_pair * unit, -np.ones(m)]),
            np.zeros(m), np.zeros(m))
        smember = sp.csr_matrix((np.ones(m), (energy_keys[:, 0], energy_keys[:, 1])),
                                shape=(capped.size, g_count))
        skeep = _kept_hours(smember, shares) if prune_hours else \
            np.ones((capped.size, HOURS), dtype=bool)
        # A capped site without load still has its idle rows (one suffices: hours are equal).
        for i in np.flatnonzero(~skeep.any(axis=1)):
            skeep[i, 0] = True
        power_keys = np.argwhere(skeep)
        prow = -np.ones((capped.size, HOURS), dtype=np.int64)
        prow[power_keys[:, 0], power_keys[:, 1]] = np.arange(len(power_keys))
        ek_rep, e_hours = np.nonzero(skeep[energy_keys[:, 0]])
        r_e = prow[energy_keys[ek_rep, 0], e_hours]
        v_e = shares[energy_keys[ek_rep, 1], e_hours]
        # Idle power of every node at a capped site, in each of the site's kept rows.
        dep_row = site_row[c.dep_site]
        dcap = np.flatnonzero(dep_row >= 0)
        d_sel, d_hours = np.nonzero(skeep[dep_row[dcap]])
        d_rep = dcap[d_sel]
        r_d = prow[dep_row[d_rep], d_hours]
        v_d = c.dep_idle_kw[d_rep] * c.site_pue[c.dep_site[d_rep]]
        add("power_cap", np.concatenate([r_e, r_d]),
            np.concatenate([col_e + ek_rep, col_n + d_rep]), np.concatenate([v_e, v_d]),
            np.full(len(power_keys), -np.inf), c.site_cap_kw[capped][power_keys[:, 0]])

    a_inv, _ = inventory_matrix(c)
    if a_inv.shape[0]:
        coo = a_inv.tocoo()
        add("inventory", coo.row, col_n + coo.col, coo.data, np.full(a_inv.shape[0], -np.inf),
            c.inventory["nodes"].to_numpy(float))
    integrality = None
    if integer:
        from formulations.milp import milp_link_bounds
        big_m, min_nodes = milp_link_bounds(c)
        dd = np.arange(d)
        if not pair_bounds:
            # n_d <= M_d y_d. With the pair bounds it is redundant for the optimum (y_d = 0
            # forces x = 0 at d, and then n_d = 0 only lowers the cost), and its big M (up to
            # 1e5) is what scales the matrix badly, so it is left out.
            add("link", np.concatenate([dd, dd]), np.concatenate([col_n + dd, col_y + dd]),
                np.concatenate([np.ones(d), -big_m]), np.full(d, -np.inf), np.zeros(d))
        add("min_replicas", np.concatenate([dd, dd]), np.concatenate([col_n + dd, col_y + dd]),
            np.concatenate([np.ones(d), -min_nodes]), np.zeros(d), np.full(d, np.inf))
        if pair_bounds:
            # x_p <= Q_c y_d: no pair serves more than its class's demand, and only where its
            # deployment is open. Valid for every integer point; the LP relaxation then pays
            # the minimum replicas (n_d >= m_d y_d >= m_d x_p / Q_c) it otherwise ignores.
            add("pair_bound", np.concatenate([pair_idx, pair_idx]),
                np.concatenate([col_x + pair_idx, col_y + c.pair_dep]),
                np.concatenate([np.ones(p), -c.demand[c.pair_class] / unit]),
                np.full(p, -np.inf), np.zeros(p))
        if c.max_deployments is not None:
            add("max_deployments", np.zeros(d), col_y + dd, np.ones(d), [-np.inf],
                [float(c.max_deployments)])
        integrality = np.zeros(n_cols, dtype=int)
        integrality[col_n:col_n + d] = 1
        integrality[col_y:col_y + d] = 1

    a = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows_i), np.concatenate(cols_i))),
                      shape=(start, n_cols))
    per_query, per_node = objective_weights(c, unit)
    cost = np.zeros(n_cols)
    cost[col_x:col_x + p] = per_query
    cost[col_n:col_n + d] = per_node
    col_upper = np.full(n_cols, np.inf)
    if integer:
        col_upper[col_y:] = 1.0
    col_groups = {"x": slice(col_x, col_x + p), "n": slice(col_n, col_n + d),
                  "load": slice(col_l, col_l + k), "energy": slice(col_e, col_e + m)}
    if integer:
        col_groups["y"] = slice(col_y, col_y + d)
    _ = n_classes
    return AggregatedForm(
        a=a, cost=cost, row_lower=np.concatenate(lower), row_upper=np.concatenate(upper),
        col_lower=np.zeros(n_cols), col_upper=col_upper, n_pairs=p, n_deployments=d, unit=unit,
        row_groups=groups, col_groups=col_groups, capacity_keys=capacity_keys,
        power_keys=power_keys, capped_sites=capped, class_group=class_group,
        group_profile=group_profile, load_keys=load_keys, energy_keys=energy_keys,
        integrality=integrality)


def dropped_hours_implied(form: AggregatedForm) -> bool:
    """Re-check the proof on the built form: every dropped (deployment, hour) capacity row is
    dominated, group by group, by a kept row of the same deployment (and likewise for power)."""
    shares = form.group_profile / HOURS

    def check(keys_var: np.ndarray, kept: np.ndarray, entities: int) -> bool:
        kept_mask = np.zeros((entities, HOURS), dtype=bool)
        kept_mask[kept[:, 0], kept[:, 1]] = True
        for e in np.unique(keys_var[:, 0]):
            s = shares[keys_var[keys_var[:, 0] == e, 1]]  # groups x 24
            for h in np.flatnonzero(~kept_mask[e]):
                if not np.any(np.all(s[:, [h]] <= s[:, kept_mask[e]], axis=0)):
                    return False
        return True

    ok = check(form.load_keys, form.capacity_keys, form.n_deployments)
    if form.capped_sites.size:
        ok &= check(form.energy_keys, form.power_keys, form.capped_sites.size)
    return bool(ok)


def full_duals(form: AggregatedForm, row_dual: np.ndarray) -> dict[str, np.ndarray]:
    """Row duals of the aggregated form mapped onto the rows of :mod:`formulations.lp`, in cvxpy's
    sign convention (>= 0 for a binding <= row). A dropped hour's row is implied by a kept one,
    so its dual is 0 in an optimal dual solution of the full LP.

    capacity: 24 D values (hour-major, per node-second as in the LP's rows); power_cap: 24 per
    capped site (per kW); demand per class; inventory per row."""
    d = form.n_deployments
    out = {"demand": -row_dual[form.row_groups["demand"]]}
    cap = np.zeros(HOURS * d)
    keys = form.capacity_keys
    cap[keys[:, 1] * d + keys[:, 0]] = -row_dual[form.row_groups["capacity"]] / SECONDS_PER_HOUR
    out["capacity"] = cap
    if "power_cap" in form.row_groups:
        power = np.zeros(form.capped_sites.size * HOURS)
        pk = form.power_keys
        power[pk[:, 0] * HOURS + pk[:, 1]] = -row_dual[form.row_groups["power_cap"]]
        out["power_cap"] = power
    if "inventory" in form.row_groups:
        out["inventory"] = -row_dual[form.row_groups["inventory"]]
    return out
