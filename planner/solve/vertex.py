"""A vertex from an interior-point answer. An interior-point solver (Clarabel, SCS, ECOS through
``--solver cvxpy:NAME``) ends in the relative interior of the optimal face: the same objective
as a simplex vertex, spread over every deployment that ties (fleet-1b: 136 deployments, many
serving 17-72 queries/day), which is no plan a capacity team can build. The cleanup is the
classical purification: re-solve the LP with the simplex method over the answer's support only
(columns it left at 0 are fixed at 0). The support holds the whole optimal face the answer lies
in, so the restricted LP has the same optimum, and its basic solution is a vertex of the full
LP (the dropped columns sit at their bound). The interior-point duals are kept: they are optimal
for the full LP, which the restricted one's are not."""

from __future__ import annotations

import logging

import numpy as np

from formulations.form import Form
from planner.solve.result import Result

log = logging.getLogger(__name__)

SIMPLEX_SOLVERS = {"HIGHS", "SCIPY", "GLPK", "GLPK_MI", "CBC", "GUROBI", "CPLEX", "XPRESS",
                   "COPT"}  # answers at a vertex already
SUPPORT_TOL = 1e-7  # of the largest column value: below it a column is at 0
OBJECTIVE_TOL = 1e-6  # relative: the vertex may not be worse than the interior answer (it is
# often better: Clarabel stops 1.2e-4 above the optimum on fleet-1b, its tolerances in the
# form's scaling; the simplex on its support reaches the optimum)


def needs_vertex(solver: str, form: Form, result: Result) -> bool:
    """An LP answered by a solver that does not end at a vertex."""
    return (form.integrality is None and result.values is not None and result.optimal
            and solver.upper() not in SIMPLEX_SOLVERS)


def vertex_from_interior(form: Form, result: Result, time_limit_s: float = 60.0) -> Result:
    """The simplex vertex on ``result``'s support, with ``result``'s duals; ``result`` itself
    where the restricted LP ends worse than it (logged)."""
    from planner.solve.highs import HighsModel

    values = np.asarray(result.values, float)
    scale = max(float(np.abs(values).max()), 1.0)
    off = (np.abs(values) <= SUPPORT_TOL * scale) & (form.col_lower <= 0) & (form.col_upper >= 0)
    upper = np.where(off, 0.0, form.col_upper)
    model = HighsModel(form, presolve="on")
    model.set_column_upper(upper)
    vertex = model.solve(time_limit_s)
    worse = vertex.objective > result.objective + OBJECTIVE_TOL * abs(result.objective) + 1e-12
    if not vertex.optimal or worse:
        log.warning("vertex cleanup kept the interior-point answer: the simplex on its support "
                    "ended %s at %s against %s", vertex.status.value, vertex.objective,
                    result.objective)
        return result
    kept = int(np.count_nonzero(np.abs(vertex.values) > SUPPORT_TOL * scale))
    log.info("vertex cleanup: %d -> %d nonzero columns, objective %.9g -> %.9g",
             int((~off).sum()), kept, result.objective, vertex.objective)
    return Result.from_values(form, result.status, vertex.objective, vertex.values,
                              result.row_dual, result.reduced_costs, mip_gap=result.mip_gap,
                              seconds=result.seconds + vertex.seconds,
                              iterations=vertex.iterations)
