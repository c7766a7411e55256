"""The MILP agrees with brute-force enumeration of integer node counts on a small instance."""

import itertools

import cvxpy as cp
import numpy as np
import pytest

from tests.formulations.oracle import build_oracle
from formulations.constraints import peak_nodes_bound
from planner.pipeline import optimize


def lp_with_fixed_nodes(c, nodes):
    built = build_oracle(c)
    problem = cp.Problem(built.problem.objective, built.problem.constraints + [built.n == nodes])
    problem.solve(solver=cp.HIGHS)
    return problem.value if problem.status == cp.OPTIMAL else np.inf


def test_milp_matches_enumeration(milp_small):
    instance, digest, (c, report) = milp_small
    plan = optimize(instance, digest, "milp", coefficients=(c, report))
    d = c.n_deployments
    assert d <= 5
    # No deployment ever needs more nodes than serving all its eligible demand at the peak hour.
    bounds = peak_nodes_bound(c).astype(int)
    assert np.prod(bounds + 1) <= 20_000
    min_nodes = np.ceil(c.min_replicas * c.dep_nodes_per_replica - 1e-9)
    best = np.inf
    for nodes in itertools.product(*[range(0, b + 1) for b in bounds]):
        nodes = np.array(nodes, dtype=float)
        if np.any((nodes > 0) & (nodes < min_nodes)):
            continue
        best = min(best, lp_with_fixed_nodes(c, nodes))
    assert np.isfinite(best)
    assert plan.summary["objective_gwh_per_day"] == pytest.approx(best, rel=instance.solver.mip_gap + 1e-6)
    assert plan.summary["lp_bound_gwh_per_day"] <= plan.summary["objective_gwh_per_day"] + 1e-12
