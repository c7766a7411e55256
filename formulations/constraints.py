"""Constraint builders shared by the formulations: verbs over coefficient arrays, no I/O.

Each returns (constraint, rows) where ``rows`` is a DataFrame naming every row of the constraint
(class, site, hour, ...) so that duals and slacks can be reported in named units.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd
import scipy.sparse as sp

from formulations.coefficients import HOURS, Coefficients

SECONDS_PER_HOUR = 3600.0


def define_demand(c: Coefficients, x: cp.Variable, unit: float):
    """Every class's queries/day are served: sum over its pairs of x equals its demand."""
    a = sp.csr_matrix((np.ones(c.n_pairs), (c.pair_class, np.arange(c.n_pairs))),
                      shape=(len(c.demand), c.n_pairs))
    rows = pd.DataFrame({"constraint": "demand", "class": c.classes["id"].to_numpy()})
    return a @ x == c.demand / unit, rows


def capacity_matrix(c: Coefficients, unit: float) -> sp.csr_matrix:
    """(24 D) x P: node-seconds each pair needs in each hour per unit of x."""
    load = c.hourly_load()  # P x 24
    hours = np.repeat(np.arange(HOURS)[None, :], c.n_pairs, axis=0)
    rows = hours * c.n_deployments + c.pair_dep[:, None]
    values = load * c.node_seconds[:, None] * unit
    cols = np.repeat(np.arange(c.n_pairs)[:, None], HOURS, axis=1)
    return sp.csr_matrix((values.ravel(), (rows.ravel(), cols.ravel())),
                         shape=(HOURS * c.n_deployments, c.n_pairs))


def define_capacity(c: Coefficients, x: cp.Variable, n, unit: float):
    """In every hour a deployment's busy node-seconds stay under the utilization ceiling."""
    a = capacity_matrix(c, unit)
    repeat = sp.kron(np.ones((HOURS, 1)), sp.identity(c.n_deployments), format="csr")
    rhs = c.utilization_ceiling * SECONDS_PER_HOUR * (repeat @ n)
    rows = pd.DataFrame({"constraint": "capacity",
                         "hour": np.repeat(np.arange(HOURS), c.n_deployments),
                         "deployment": np.tile(np.arange(c.n_deployments), HOURS)})
    return a @ x <= rhs, rows


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


def define_power_cap(c: Coefficients, x: cp.Variable, n, unit: float, slack=None):
    """Facility power of each capped site stays under its cap in every hour (PUE included)."""
    sites = np.flatnonzero(np.isfinite(c.site_cap_kw))
    if sites.size == 0:
        return None, pd.DataFrame()
    ax, an = power_matrices(c, unit, sites)
    cap = np.repeat(c.site_cap_kw[sites], HOURS)
    lhs = ax @ x + an @ n
    if slack is not None:
        lhs = lhs - slack
    rows = pd.DataFrame({"constraint": "power_cap",
                         "site": np.repeat(np.array(c.site_ids)[sites], HOURS),
                         "hour": np.tile(np.arange(HOURS), sites.size), "cap_kw": cap})
    return lhs <= cap, rows


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


def define_inventory(c: Coefficients, n, slack=None):
    """Nodes of each hardware at each site stay within what is installed there."""
    a, rows = inventory_matrix(c)
    if a.shape[0] == 0:
        return None, rows
    lhs = a @ n if slack is None else a @ n - slack
    return lhs <= c.inventory["nodes"].to_numpy(float), rows


def objective_weights(c: Coefficients, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """Objective per unit of x and per node (GWh/day, kt CO2/day or million USD/day)."""
    per_query, per_node = c.energy_weights(objective=True)
    return per_query * unit, per_node


def peak_nodes_bound(c: Coefficients) -> np.ndarray:
    """Nodes a deployment could ever need: all its eligible demand at the peak hour (big-M)."""
    peak = c.profile.max(axis=1)[c.pair_class] / HOURS
    need = c.demand[c.pair_class] * peak * c.node_seconds / (c.utilization_ceiling
                                                             * SECONDS_PER_HOUR)
    bound = np.bincount(c.pair_dep, weights=need, minlength=c.n_deployments)
    return np.ceil(bound) + np.ceil(c.min_replicas * c.dep_nodes_per_replica) + 1
