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


def build_oracle(c: Coefficients, integer: bool = False, unit: float | None = None) -> Oracle:
    unit = demand_unit(c) if unit is None else unit
    x = cp.Variable(c.n_pairs, nonneg=True)
    n = cp.Variable(c.n_deployments, nonneg=True, integer=integer)
    per_query, per_node = objective_weights(c, unit)
    demand = sp.csr_matrix((np.ones(c.n_pairs), (c.pair_class, np.arange(c.n_pairs))),
                           shape=(len(c.demand), c.n_pairs))
    cons = [demand @ x == c.demand / unit]
    repeat = sp.kron(np.ones((HOURS, 1)), sp.identity(c.n_deployments), format="csr")
    cons.append(capacity_matrix(c, unit) @ x
                <= c.utilization_ceiling * SECONDS_PER_HOUR * (repeat @ n))
    capped = np.flatnonzero(np.isfinite(c.site_cap_kw))
    if capped.size:
        ax, an = power_matrices(c, unit, capped)
        cons.append(ax @ x + an @ n <= np.repeat(c.site_cap_kw[capped], HOURS))
    a_inv, _ = inventory_matrix(c)
    if a_inv.shape[0]:
        cons.append(a_inv @ n <= c.inventory["nodes"].to_numpy(float))
    if c.min_site_share is not None:
        pair_site = c.dep_site[c.pair_dep]
        for i, s in zip(*np.nonzero(c.min_site_share > 0)):
            on = ((c.pair_class == i) & (pair_site == s)).astype(float)
            cons.append(on @ x >= c.min_site_share[i, s] * c.demand[i] / unit)
    if c.site_failover is not None:
        pair_site = c.dep_site[c.pair_dep]
        cap = capacity_matrix(c, unit)
        dep_of_row = np.arange(HOURS * c.n_deployments) % c.n_deployments
        for f in np.flatnonzero(c.site_failover):
            w = cp.Variable(c.n_pairs, nonneg=True)
            at_f = (pair_site == f).astype(float)
            cons.append(w @ at_f == 0)
            for i in range(len(c.demand)):
                mine = (c.pair_class == i).astype(float)
                cons.append(w @ mine >= x @ (mine * at_f))
            keep = np.flatnonzero(c.dep_site[dep_of_row] != f)
            cons.append(cap[keep] @ (x + w) <= c.failover_utilization * SECONDS_PER_HOUR
                        * (repeat[keep] @ n))
            others = np.flatnonzero(np.isfinite(c.site_cap_kw)
                                    & (np.arange(len(c.site_ids)) != f))
            if others.size:
                ax, an = power_matrices(c, unit, others)
                cons.append(ax @ (x + w) + an @ n <= np.repeat(c.site_cap_kw[others], HOURS))
    y = None
    if integer:
        y = cp.Variable(c.n_deployments, boolean=True)
        big_m, min_nodes = milp_link_bounds(c)
        cons += [n <= cp.multiply(big_m, y), n >= cp.multiply(min_nodes, y)]
        if c.max_deployments is not None:
            cons.append(cp.sum(y) <= c.max_deployments)
    problem = cp.Problem(cp.Minimize(per_query @ x + per_node @ n), cons)
    return Oracle(problem, x, n, unit, y)
