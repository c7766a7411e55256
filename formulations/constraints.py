"""The arithmetic the formulation builder (:mod:`formulations.form`) assembles its blocks from:
sparse matrices and bounds over coefficient arrays, no solver, no I/O."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from formulations.coefficients import HOURS, SECONDS_PER_HOUR, Coefficients  # noqa: F401 (re-exported)


def capacity_matrix(c: Coefficients, unit: float) -> sp.csr_matrix:
    """(24 D) x P: node-seconds each pair needs in each hour per unit of x."""
    load = c.hourly_load()  # P x 24
    hours = np.repeat(np.arange(HOURS)[None, :], c.n_pairs, axis=0)
    rows = hours * c.n_deployments + c.pair_dep[:, None]
    values = load * c.node_seconds[:, None] * unit
    cols = np.repeat(np.arange(c.n_pairs)[:, None], HOURS, axis=1)
    return sp.csr_matrix((values.ravel(), (rows.ravel(), cols.ravel())),
                         shape=(HOURS * c.n_deployments, c.n_pairs))


def power_matrices(c: Coefficients, unit: float, sites: np.ndarray):
    """Facility kW per unit of x (rows: site-hour) and per node, for the given sites."""
    load = c.hourly_load()
    pair_site = c.dep_site[c.pair_dep]
    site_row = {s: i for i, s in enumerate(sites)}
    mask = np.isin(pair_site, sites)
    p_idx = np.flatnonzero(mask)
    r = np.array([site_row[s] for s in pair_site[mask]], dtype=int)
    rows = (r[:, None] * HOURS + np.arange(HOURS)[None, :])
    pue = c.site_pue[pair_site[mask]]
    values = load[mask] * (c.dynamic_kwh[mask] * pue * unit)[:, None]  # kWh in 1 h = kW
    ax = sp.csr_matrix((values.ravel(), (rows.ravel(), np.repeat(p_idx, HOURS))),
                       shape=(len(sites) * HOURS, c.n_pairs))
    dep_mask = np.isin(c.dep_site, sites)
    d_idx = np.flatnonzero(dep_mask)
    rd = np.array([site_row[s] for s in c.dep_site[dep_mask]], dtype=int)
    drows = (rd[:, None] * HOURS + np.arange(HOURS)[None, :]).ravel()
    dvalues = np.repeat(c.dep_idle_kw[dep_mask] * c.site_pue[c.dep_site[dep_mask]], HOURS)
    an = sp.csr_matrix((dvalues, (drows, np.repeat(d_idx, HOURS))),
                       shape=(len(sites) * HOURS, c.n_deployments))
    return ax, an


def inventory_matrix(c: Coefficients) -> tuple[sp.csr_matrix, pd.DataFrame]:
    if c.inventory.empty:
        return sp.csr_matrix((0, c.n_deployments)), pd.DataFrame()
    row_of = {(int(r.site_idx), r.hardware): i for i, r in enumerate(c.inventory.itertuples())}
    rows, cols = [], []
    for d, (s, hw) in enumerate(zip(c.dep_site, c.dep_hardware)):
        i = row_of.get((int(s), hw))
        if i is not None:
            rows.append(i)
            cols.append(d)
    a = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(c.inventory), c.n_deployments))
    names = pd.DataFrame({"constraint": "inventory",
                          "site": [c.site_ids[int(s)] for s in c.inventory["site_idx"]],
                          "hardware": c.inventory["hardware"].to_numpy(),
                          "nodes": c.inventory["nodes"].to_numpy()})
    return a, names


def objective_weights(c: Coefficients, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """Objective per unit of x and per node (GWh/day, kt CO2/day or million USD/day)."""
    per_query, per_node = c.energy_weights(objective=True)
    return per_query * unit, per_node


def peak_nodes_bound(c: Coefficients) -> np.ndarray:
    """Nodes a deployment could ever need: all its eligible demand at the peak hour (big-M)."""
    peak = c.profile.max(axis=1)[c.pair_class] / HOURS
    need = c.demand[c.pair_class] * peak * c.node_seconds / c.busy_seconds_per_node_hour
    bound = np.bincount(c.pair_dep, weights=need, minlength=c.n_deployments)
    return np.ceil(bound) + np.ceil(c.min_replicas * c.dep_nodes_per_replica) + 1


def demand_unit(c: Coefficients) -> float:
    """Scale x so that the largest class is about 1,000 units (keeps HiGHS well conditioned)."""
    return float(max(c.demand.max() / 1e3, 1.0))


def milp_link_bounds(c: Coefficients) -> tuple[np.ndarray, np.ndarray]:
    """Per deployment: M (most nodes it could ever need, capped by inventory) and the minimum
    nodes when deployed (r replicas)."""
    big_m = peak_nodes_bound(c)
    inventory_cap = np.full(c.n_deployments, np.inf)
    for r in c.inventory.itertuples():
        mask = (c.dep_site == r.site_idx) & (c.dep_hardware == r.hardware)
        inventory_cap[mask] = r.nodes
    big_m = np.minimum(big_m, np.where(np.isfinite(inventory_cap), inventory_cap, big_m))
    return big_m, np.ceil(c.min_replicas * c.dep_nodes_per_replica - 1e-9)


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
