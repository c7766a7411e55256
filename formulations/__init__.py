"""Optimization formulations, one module each, looked up by name in ``REGISTRY``.

Formulations are pure functions of coefficient arrays: they build cvxpy problems and never read
files or call a solver.
"""

from formulations.lp import Built, build_lp
from formulations.milp import build_milp

REGISTRY = {"lp": build_lp, "milp": build_milp}

__all__ = ["REGISTRY", "Built", "build_lp", "build_milp"]
