"""The readable cvxpy model of the planning LP and MILP: the oracle the builder's sparse form is
checked against (``formulations.form.build``), written as the textbook states it.

minimize   sum_p e_p x_p + sum_d i_d n_d                (GWh/day; x in demand units, n nodes)
subject to demand:     sum_{p in c} x_p = Q_c            for every class
           capacity:   sum_{p in d} x_p l_{p,h} s_p <= rho 3600 n_d   for every hour, deployment
           power cap:  PUE (sum n_d P_idle + sum x_p l_{p,h} k_p) <= cap   for every site, hour
           inventory:  sum_{d in (site, hw)} n_d <= N      for every listed site and hardware
           min share:  sum_{p in c at s} x_p >= share_{c,s} Q_c
           failover:   per lost site f, flows w^f >= 0 on pairs elsewhere:
                       sum_{p in c} w^f_p >= sum_{p in c at f} x_p;  capacity of (x + w^f) at
                       the failover utilisation and power cap of (x + w^f, n) off site f
           MILP:       n_d <= M_d y_d, n_d >= r m_d y_d, sum_d y_d <= K, n integer, y binary
"""

from __future__ import annotations

from dataclasses import dataclass

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from formulations.coefficients import HOURS, Coefficients
from formulations.form import (CAPACITY, DEMAND, FAILOVER, INVENTORY, MAX_DEPLOYMENTS,
                               MIN_REPLICAS, MIN_SITE_SHARE, POWER_CAP)
from formulations.constraints import (SECONDS_PER_HOUR, capacity_matrix, demand_unit,
                                      inventory_matrix, milp_link_bounds, objective_weights,
                                      power_matrices)


@dataclass
class Oracle:
    problem: cp.Problem
    x: cp.Variable
    n: cp.Variable
    unit: float
    y: cp.Variable | None = None

    def solve(self, **kwargs) -> float:
        self.problem.solve(solver=cp.HIGHS, **kwargs)
        return float(self.problem.value)


def _demand(c, x, n, y, unit):
    demand = sp.csr_matrix((np.ones(c.n_pairs), (c.pair_class, np.arange(c.n_pairs))),
                           shape=(len(c.demand), c.n_pairs))
    return [demand @ x == c.demand / unit]


def _repeat(c):
    return sp.kron(np.ones((HOURS, 1)), sp.identity(c.n_deployments), format="csr")


def _capacity(c, x, n, y, unit):
    return [capacity_matrix(c, unit) @ x
            <= c.utilization_ceiling * SECONDS_PER_HOUR * (_repeat(c) @ n)]


def _power_cap(c, x, n, y, unit):
    capped = np.flatnonzero(np.isfinite(c.site_cap_kw))
    if not capped.size:
        return []
    ax, an = power_matrices(c, unit, capped)
    return [ax @ x + an @ n <= np.repeat(c.site_cap_kw[capped], HOURS)]


def _inventory(c, x, n, y, unit):
    a_inv, _ = inventory_matrix(c)
    return [a_inv @ n <= c.inventory["nodes"].to_numpy(float)] if a_inv.shape[0] else []


def _min_site_share(c, x, n, y, unit):
    if c.min_site_share is None:
        return []
    pair_site = c.dep_site[c.pair_dep]
    out = []
    for i, s in zip(*np.nonzero(c.min_site_share > 0)):
        on = ((c.pair_class == i) & (pair_site == s)).astype(float)
        out.append(on @ x >= c.min_site_share[i, s] * c.demand[i] / unit)
    return out


def _min_replicas(c, x, n, y, unit):
    return [] if y is None else [n >= cp.multiply(milp_link_bounds(c)[1], y)]


def _max_deployments(c, x, n, y, unit):
    if y is None or c.max_deployments is None:
        return []
    return [cp.sum(y) <= c.max_deployments]


def _failover(c, x, n, y, unit):
    if c.site_failover is None:
        return []
    out = []
    pair_site = c.dep_site[c.pair_dep]
    cap = capacity_matrix(c, unit)
    dep_of_row = np.arange(HOURS * c.n_deployments) % c.n_deployments
    for f in np.flatnonzero(c.site_failover):
        w = cp.Variable(c.n_pairs, nonneg=True)
        at_f = (pair_site == f).astype(float)
        out.append(w @ at_f == 0)
        for i in range(len(c.demand)):
            mine = (c.pair_class == i).astype(float)
            out.append(w @ mine >= x @ (mine * at_f))
        keep = np.flatnonzero(c.dep_site[dep_of_row] != f)
        out.append(cap[keep] @ (x + w) <= c.failover_utilization * SECONDS_PER_HOUR
                   * (_repeat(c)[keep] @ n))
        others = np.flatnonzero(np.isfinite(c.site_cap_kw) & (np.arange(len(c.site_ids)) != f))
        if others.size:
            ax, an = power_matrices(c, unit, others)
            out.append(ax @ (x + w) + an @ n <= np.repeat(c.site_cap_kw[others], HOURS))
    return out


# The oracle's rows of each registered unit a user states (tests/formulations/test_registry.py
# checks that every such unit has its entry here).
ORACLE_ROWS = {DEMAND: _demand, CAPACITY: _capacity, POWER_CAP: _power_cap,
               INVENTORY: _inventory, MIN_SITE_SHARE: _min_site_share,
               MIN_REPLICAS: _min_replicas, MAX_DEPLOYMENTS: _max_deployments,
               FAILOVER: _failover}


def build_oracle(c: Coefficients, integer: bool = False, unit: float | None = None) -> Oracle:
    unit = demand_unit(c) if unit is None else unit
    x = cp.Variable(c.n_pairs, nonneg=True)
    n = cp.Variable(c.n_deployments, nonneg=True, integer=integer)
    per_query, per_node = objective_weights(c, unit)
    y = cp.Variable(c.n_deployments, boolean=True) if integer else None
    cons = []
    if integer:  # nodes only when deployed
        cons.append(n <= cp.multiply(milp_link_bounds(c)[0], y))
    for rows in ORACLE_ROWS.values():
        cons += rows(c, x, n, y, unit)
    problem = cp.Problem(cp.Minimize(per_query @ x + per_node @ n), cons)
    return Oracle(problem, x, n, unit, y)
