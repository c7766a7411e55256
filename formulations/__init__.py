"""Optimization formulations, one module each, looked up by name in ``REGISTRY``.

Formulations are pure functions of coefficient arrays: they build cvxpy problems and never read
files or call a solver. The registry is filled as formulations land (``lp``, ``milp``, ...).
"""

REGISTRY: dict[str, object] = {}

__all__ = ["REGISTRY"]
