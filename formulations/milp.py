"""The MILP: integer nodes, a binary 'deployed' per deployment, minimum replicas, and at most K
distinct deployments. Its LP relaxation is :mod:`formulations.lp` and is reported as a bound.

           n_d <= M_d y_d                 (M_d: nodes for all eligible demand at the peak hour)
           n_d >= r * nodes_per_replica_d * y_d   (at least r replicas when deployed)
           sum_d y_d <= K                 (optional)
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pandas as pd

from formulations.constraints import peak_nodes_bound
from formulations.lp import Built, build_lp
from formulations.coefficients import Coefficients


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


def build_milp(c: Coefficients, unit: float | None = None) -> Built:
    built = build_lp(c, unit=unit, integer=True)
    y = cp.Variable(c.n_deployments, boolean=True, name="y")
    big_m, min_nodes = milp_link_bounds(c)
    constraints = dict(built.constraints)
    rows = dict(built.rows)
    constraints["link"] = built.n <= cp.multiply(big_m, y)
    constraints["min_replicas"] = built.n >= cp.multiply(min_nodes, y)
    deployments = pd.DataFrame({"deployment": np.arange(c.n_deployments)})
    rows["link"] = deployments.assign(constraint="link")
    rows["min_replicas"] = deployments.assign(constraint="min_replicas")
    if c.max_deployments is not None:
        constraints["max_deployments"] = cp.sum(y) <= c.max_deployments
        rows["max_deployments"] = pd.DataFrame({"constraint": ["max_deployments"]})
    problem = cp.Problem(built.problem.objective, list(constraints.values()))
    return Built(problem, built.x, built.n, built.unit, constraints, rows, y=y, name="milp")
