"""Solving a form: backends behind one adaptor and one status model, the LP and MILP solve
paths built on them (column generation, priced and lazy MILPs), the infeasibility diagnosis and
the independent verifier."""

from __future__ import annotations

from planner.solve.result import Result, Status

def solve(form, time_limit_s: float = 60.0, mip_gap: float | None = None,
          solver: str = "highs", **kwargs) -> Result:
    """Solve a form with a backend: "highs" (highspy directly) or "cvxpy[:SOLVER]" (the same
    matrices through cvxpy and any solver it supports; default HIGHS)."""
    name, _, sub = solver.partition(":")
    if name == "highs":
        from planner.solve.highs import solve_highs

        return solve_highs(form, time_limit_s, mip_gap, **kwargs)
    if name == "cvxpy":
        from planner.solve.cvxpy_backend import solve_cvxpy

        from planner.solve.vertex import needs_vertex, vertex_from_interior

        result = solve_cvxpy(form, sub or "HIGHS", time_limit_s, mip_gap)
        if needs_vertex(sub or "HIGHS", form, result):  # an interior point is no plan yet
            result = vertex_from_interior(form, result, time_limit_s)
        return result
    raise ValueError(f"unknown solver {solver!r}; known: highs, cvxpy[:NAME]")


__all__ = ["Result", "Status", "solve"]
