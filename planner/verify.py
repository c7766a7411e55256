"""Independent re-check of a plan against every constraint, in plain numpy (no cvxpy objects).

It recomputes loads from the coefficient arrays directly, so a modelling slip in a formulation
(a wrong sign, a missing hour) shows up as a violation here instead of a silently wrong plan.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.coefficients import HOURS, Coefficients

REL_TOL = 1e-5


def hourly_node_seconds(c: Coefficients, x: np.ndarray) -> np.ndarray:
    """D x 24 busy node-seconds (x in queries/day)."""
    out = np.zeros((c.n_deployments, HOURS))
    for p in range(c.n_pairs):  # plain loop on purpose: independent of the vectorized builders
        out[c.pair_dep[p]] += x[p] * c.profile[c.pair_class[p]] / HOURS * c.node_seconds[p]
    return out


def hourly_site_power_kw(c: Coefficients, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """S x 24 facility power (kW): idle of provisioned nodes plus load-dependent power, x PUE."""
    power = np.zeros((len(c.site_ids), HOURS))
    for d in range(c.n_deployments):
        power[c.dep_site[d]] += n[d] * c.dep_idle_kw[d] * c.site_pue[c.dep_site[d]]
    for p in range(c.n_pairs):
        s = c.dep_site[c.pair_dep[p]]
        power[s] += (x[p] * c.profile[c.pair_class[p]] / HOURS * c.dynamic_kwh[p]
                     * c.site_pue[s])
    return power


def daily_objective(c: Coefficients, x: np.ndarray, n: np.ndarray) -> float:
    """GWh/day (kt CO2/day, million USD/day) of a plan, recomputed."""
    total = 0.0
    for p in range(c.n_pairs):
        s = c.dep_site[c.pair_dep[p]]
        total += x[p] * c.dynamic_kwh[p] * c.site_pue[s] * c.site_overhead[s] * c.site_weight[s]
    for d in range(c.n_deployments):
        s = c.dep_site[d]
        total += n[d] * c.dep_idle_kw[d] * HOURS * c.site_pue[s] * c.site_overhead[s] * c.site_weight[s]
        if c.dep_fixed_per_day is not None:
            total += n[d] * c.dep_fixed_per_day[d]
    return total / 1e6


def verify_plan(c: Coefficients, x: np.ndarray, n: np.ndarray, integer: bool = False
                ) -> pd.DataFrame:
    """Every violated constraint row (empty when the plan is feasible)."""
    problems = []
    if np.any(x < -REL_TOL * max(1.0, c.demand.max())) or np.any(n < -1e-6):
        problems.append({"constraint": "nonnegativity", "where": "x or n", "excess": float(
            min(x.min(), n.min()))})
    served = np.bincount(c.pair_class, weights=x, minlength=len(c.demand))
    for i, (got, want) in enumerate(zip(served, c.demand)):
        if abs(got - want) > REL_TOL * want:
            problems.append({"constraint": "demand", "where": c.classes["id"][i],
                             "excess": float(got - want)})
    busy = hourly_node_seconds(c, x)
    limit = c.utilization_ceiling * 3600 * np.maximum(n, 0)[:, None]  # -1e-9 nodes is 0
    over = busy - limit
    for d, h in zip(*np.nonzero(over > REL_TOL * np.maximum(limit, 1.0))):
        problems.append({"constraint": "capacity", "where": f"deployment {d} hour {h}",
                         "excess": float(over[d, h])})
    power = hourly_site_power_kw(c, x, n)
    for s, h in zip(*np.nonzero(power > c.site_cap_kw[:, None] * (1 + REL_TOL))):
        problems.append({"constraint": "power_cap", "where": f"{c.site_ids[s]} hour {h}",
                         "excess": float(power[s, h] - c.site_cap_kw[s])})
    for r in c.inventory.itertuples():
        used = n[(c.dep_site == r.site_idx) & (c.dep_hardware == r.hardware)].sum()
        if used > r.nodes * (1 + REL_TOL) + 1e-6:
            problems.append({"constraint": "inventory", "where": f"{c.site_ids[r.site_idx]} "
                             f"{r.hardware}", "excess": float(used - r.nodes)})
    if integer and np.any(np.abs(n - np.rint(n)) > 1e-5):
        problems.append({"constraint": "integrality", "where": "n",
                         "excess": float(np.max(np.abs(n - np.rint(n))))})
    return pd.DataFrame(problems, columns=["constraint", "where", "excess"])
