"""The robust LP: minimise the CVaR of fleet energy over sampled coefficient scenarios, with the
capacity and power-cap rows held at a chance level (issue 14).

Scenarios k = 1..K are multipliers m_{k,p} on each pair's node-seconds and energy above idle
(sampled by :mod:`planner.uncertainty`; idle power and PUE are exact). With e_p, i_d the
objective weights of :mod:`formulations.lp`:

minimize   t + 1/((1-alpha) K) sum_k u_k  +  w * 1/K sum_k E_k        (CVaR_alpha of E)
           E_k = sum_p e_p m_{k,p} x_p + sum_d i_d n_d
subject to u_k >= E_k - t,  u_k >= 0                                   (Rockafellar-Uryasev)
           demand, inventory                                           (as the LP)
           capacity:  sum_{p in d} x_p l_{p,h} s_p q_p <= rho 3600 n_d  (q_p: the beta-quantile
                      of m_p; exact chance constraint for a deployment serving one class,
                      conservative when it serves several with positively correlated errors)
           power cap, nominal:  as the LP, every hour
           power cap, robust:   tau_{s,h} + 1/((1-beta) K) sum_k v_{s,h,k} <= cap_s
                                v_{s,h,k} >= P_{s,h,k}(x, n) - tau_{s,h},  v >= 0
                      (CVaR_beta of the site-hour's facility power under the cap: a convex,
                      conservative stand-in for P(power <= cap) >= beta; only the hours in
                      ``cap_hours``, the driver adds violated hours lazily)

``w`` (default 1e-3) breaks ties among plans of equal CVaR by their mean. Everything is built
from arrays: no I/O, no solver calls.
"""

from __future__ import annotations

from dataclasses import replace

import cvxpy as cp
import numpy as np
import pandas as pd
import scipy.sparse as sp

from formulations.constraints import (define_capacity, define_demand, define_inventory,
                                      define_power_cap, objective_weights, power_matrices)
from formulations.lp import Built, demand_unit
from formulations.coefficients import HOURS, Coefficients

MEAN_WEIGHT = 1e-3


def build_robust(c: Coefficients, scenarios: np.ndarray, risk_level: float,
                 capacity_multiplier: np.ndarray, confidence: float,
                 cap_hours: dict[int, list[int]] | None = None, unit: float | None = None,
                 mean_weight: float = MEAN_WEIGHT) -> Built:
    """The robust LP over K scenarios (``scenarios``: K x P multipliers). ``cap_hours`` maps a
    capped site index to the hours whose robust cap row is built (None: every hour)."""
    unit = demand_unit(c) if unit is None else unit
    k = scenarios.shape[0]
    x = cp.Variable(c.n_pairs, nonneg=True, name="x")
    n = cp.Variable(c.n_deployments, nonneg=True, name="n")
    per_query, per_node = objective_weights(c, unit)
    constraints, rows = {}, {}
    constraints["demand"], rows["demand"] = define_demand(c, x, unit)
    inflated = replace(c, node_seconds=c.node_seconds * capacity_multiplier)
    constraints["capacity"], rows["capacity"] = define_capacity(inflated, x, n, unit)
    cap, cap_rows = define_power_cap(c, x, n, unit)
    if cap is not None:
        constraints["power_cap"], rows["power_cap"] = cap, cap_rows
    inv, inv_rows = define_inventory(c, n)
    if inv is not None:
        constraints["inventory"], rows["inventory"] = inv, inv_rows

    # CVaR of the objective over the scenarios.
    t = cp.Variable(name="t")
    u = cp.Variable(k, nonneg=True, name="u")
    scen = sp.csr_matrix(scenarios * per_query[None, :])  # K x P
    energy = scen @ x + per_node @ n  # K (idle is exact)
    constraints["cvar_energy"] = u >= energy - t
    rows["cvar_energy"] = pd.DataFrame({"constraint": "cvar_energy", "scenario": np.arange(k)})

    # Robust power-cap rows (CVaR of each chosen site-hour's power under its cap).
    capped = np.flatnonzero(np.isfinite(c.site_cap_kw))
    robust_rows = []
    for s in capped:
        hours = range(HOURS) if cap_hours is None else cap_hours.get(int(s), [])
        hours = list(hours)
        if not hours:
            continue
        ax, an = power_matrices(c, unit, np.array([s]))
        ax, an = ax.tocsr(), an.tocsr()
        for h in hours:
            a_row = ax[h].toarray().ravel()
            a_scen = sp.csr_matrix(scenarios * a_row[None, :])  # K x P
            tau = cp.Variable()
            v = cp.Variable(k, nonneg=True)
            power = a_scen @ x + an[h] @ n
            robust_rows.append(v >= power - tau)
            robust_rows.append(tau + cp.sum(v) / ((1 - confidence) * k) <= c.site_cap_kw[s])
    if robust_rows:
        constraints["robust_power_cap"] = robust_rows
    objective = t + cp.sum(u) / ((1 - risk_level) * k) + mean_weight * cp.sum(energy) / k
    flat = []
    for con in constraints.values():
        flat.extend(con if isinstance(con, list) else [con])
    problem = cp.Problem(cp.Minimize(objective), flat)
    # Only single constraints keep a name for duals; the robust cap list is left out.
    named = {k_: v_ for k_, v_ in constraints.items() if not isinstance(v_, list)}
    return Built(problem, x, n, unit, named, rows, name="robust")
