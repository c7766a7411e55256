"""The LP: continuous node counts, minimum fleet energy (or carbon) per day.

minimize   sum_p e_p x_p + sum_d i_d n_d                (GWh/day; x in demand units, n nodes)
subject to demand:     sum_{p in c} x_p = Q_c            for every class
           capacity:   sum_{p in d} x_p l_{p,h} s_p <= rho 3600 n_d   for every hour, deployment
           power cap:  PUE (sum n_d P_idle + sum x_p l_{p,h} k_p) <= cap   for every site, hour
           inventory:  sum_{d in (site, hw)} n_d <= N      for every listed site and hardware
           x, n >= 0
SLO and quality enter as eligibility: only eligible (class, deployment) pairs have an x.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cvxpy as cp
import pandas as pd

from formulations.constraints import (define_capacity, define_demand, define_inventory,
                                      define_power_cap, objective_weights)
from formulations.coefficients import Coefficients


@dataclass
class Built:
    """A built problem with its variables and named constraint groups."""

    problem: cp.Problem
    x: cp.Variable
    n: cp.Variable
    unit: float
    constraints: dict[str, cp.Constraint] = field(default_factory=dict)
    rows: dict[str, pd.DataFrame] = field(default_factory=dict)
    y: cp.Variable | None = None
    name: str = "lp"


def demand_unit(c: Coefficients) -> float:
    """Scale x so that the largest class is about 1,000 units (keeps HiGHS well conditioned)."""
    return float(max(c.demand.max() / 1e3, 1.0))


def build_lp(c: Coefficients, unit: float | None = None, integer: bool = False) -> Built:
    """The LP over coefficient arrays (``integer`` makes n integer, for the MILP)."""
    unit = demand_unit(c) if unit is None else unit
    x = cp.Variable(c.n_pairs, nonneg=True, name="x")
    n = cp.Variable(c.n_deployments, nonneg=True, integer=integer, name="n")
    per_query, per_node = objective_weights(c, unit)
    constraints, rows = {}, {}
    constraints["demand"], rows["demand"] = define_demand(c, x, unit)
    constraints["capacity"], rows["capacity"] = define_capacity(c, x, n, unit)
    cap, cap_rows = define_power_cap(c, x, n, unit)
    if cap is not None:
        constraints["power_cap"], rows["power_cap"] = cap, cap_rows
    inv, inv_rows = define_inventory(c, n)
    if inv is not None:
        constraints["inventory"], rows["inventory"] = inv, inv_rows
    objective = cp.Minimize(per_query @ x + per_node @ n)
    problem = cp.Problem(objective, list(constraints.values()))
    return Built(problem, x, n, unit, constraints, rows)
