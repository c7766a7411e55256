"""The LP in HiGHS directly over the aggregated form: no cvxpy compile, 2-3 nonzeros per pair, no
dense pairs x hours intermediate. Its duals come back labelled by the form's row blocks."""

from __future__ import annotations

import time

import numpy as np

from formulations.coefficients import Coefficients
from formulations.form import Form, Options, build
from planner.solve.highs import HighsModel
from planner.solve.result import Result


def solve_lp_direct(c: Coefficients, time_limit_s: float = 60.0, unit: float | None = None,
                    fixed_nodes: np.ndarray | None = None, threads: int = 1,
                    form: Form | None = None, presolve: str = "off",
                    nodes_lower: np.ndarray | None = None, x_lower: np.ndarray | None = None
                    ) -> tuple[Result, Form, dict[str, float]]:
    """Solve the LP (``fixed_nodes``: with n fixed, for the duals of a MILP plan;
    ``nodes_lower``: with a floor on n, for rounding a partial integer plan; ``x_lower``:
    routing already fixed). Presolve is off by default: on this LP it removes nothing and took
    ~80 % of HiGHS's time (performance notes). Returns (result, form, phase seconds)."""
    timings = {}
    t0 = time.perf_counter()
    form = form or build(c, Options(aggregated=True, unit=unit))
    timings["build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = HighsModel(form, threads, presolve)
    n_cols = form.cols["n"].index
    d = form.n_deployments
    cols_n = np.arange(n_cols.start, n_cols.stop)
    if fixed_nodes is not None:
        values = np.asarray(fixed_nodes, float)
        model.set_col_bounds(cols_n, values, values)
    elif nodes_lower is not None:  # n >= nodes_lower (a floor of nodes already bought)
        model.set_col_bounds(cols_n, np.asarray(nodes_lower, float), np.full(d, np.inf))
    if x_lower is not None:
        idx = np.flatnonzero(x_lower > 0)
        model.set_col_bounds(form.cols["x"].index.start + idx, np.asarray(x_lower, float)[idx],
                             np.full(idx.size, np.inf))
    timings["load"] = time.perf_counter() - t0
    result = model.solve(time_limit_s)
    timings["highs"] = result.seconds
    timings["iterations"] = float(result.iterations)
    return result, form, timings


__all__ = ["solve_lp_direct"]
