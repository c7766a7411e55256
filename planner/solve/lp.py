"""The LP in HiGHS directly over the aggregated form: no cvxpy compile, 2-3 nonzeros per pair, no
dense pairs x hours intermediate. Its duals come back labelled by the form's row blocks."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from formulations.coefficients import Coefficients
from formulations.form import Form, Options, build
from formulations.pricing import form_map
from planner.solve.highs import HighsModel
from planner.solve.result import Result


BASIC, LOWER, UPPER, ZERO = 1, 0, 2, 3  # HiGHS's basis status codes
# A carried basis is re-optimised by HiGHS's primal simplex: with columns added it stays primal
# feasible. At 1.67M pairs (bench_solve's generator, 1,920 classes) the second master took 60
# primal iterations (0.02 s) from it, 1,860 dual ones (0.46 s), 7,269 cold (1.6 s). Where the
# LP has several optimal vertices, a carried basis can end on another one than a cold solve of
# the same master: at 1,920 classes (8 pairs per class in the first master) 594 of 1,920
# classes' assignments differ from the cold vertex's (objective 7e-16 relative apart; by the
# dual simplex 122); with the first master at 2 per class, 685 differ from main ab974ff's plan
# (9.3e-16 apart, total nodes equal to 1e-15); at 300 classes and on fleet-1b none. The vertex
# is still a function of the input (one process and Dask alike).
PRIMAL_WARM = True


@dataclass
class WarmStart:
    """The last optimal basis of a sequence of related LPs (column generation's masters): the
    next LP starts from it, mapped by :func:`formulations.pricing.form_map` (a column or row
    the last LP lacked: nonbasic at a finite bound, a row basic; see ``PRIMAL_WARM``).
    ``used``: the last solve
    started from a carried basis."""

    form: Form | None = None
    col_status: np.ndarray | None = None
    row_status: np.ndarray | None = None
    used: bool = False

    def basis_for(self, form: Form) -> tuple[np.ndarray, np.ndarray] | None:
        """The carried basis over ``form``'s columns and rows; None when none is held or the
        mapped basis has not one basic variable per row."""
        if self.form is None:
            return None
        s_cols, t_cols, s_rows, t_rows = form_map(self.form, form)
        lower, upper = form.col_lower, form.col_upper
        cols = np.where(np.isfinite(lower), LOWER,
                        np.where(np.isfinite(upper), UPPER, ZERO)).astype(np.int8)
        cols[t_cols] = self.col_status[s_cols]
        rows = np.full(form.a.shape[0], BASIC, dtype=np.int8)
        rows[t_rows] = self.row_status[s_rows]
        if int((cols == BASIC).sum() + (rows == BASIC).sum()) != form.a.shape[0]:
            return None
        return cols, rows


def solve_lp_direct(c: Coefficients, time_limit_s: float = 60.0, unit: float | None = None,
                    fixed_nodes: np.ndarray | None = None, threads: int = 1,
                    form: Form | None = None, presolve: str = "off",
                    nodes_lower: np.ndarray | None = None, x_lower: np.ndarray | None = None,
                    warm: WarmStart | None = None) -> tuple[Result, Form, dict[str, float]]:
    """Solve the LP (``fixed_nodes``: with n fixed, for the duals of a MILP plan;
    ``nodes_lower``: with a floor on n, for rounding a partial integer plan; ``x_lower``:
    routing already fixed). Presolve is off by default: on this LP it removes nothing and took
    ~80 % of HiGHS's time (performance notes). ``warm``: start from its basis where it maps
    onto this form, and keep this solve's optimal basis there. Returns (result, form, phase
    seconds)."""
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
    if warm is not None:
        basis = warm.basis_for(form)
        warm.used = basis is not None and model.set_basis(*basis, primal=PRIMAL_WARM)
    timings["load"] = time.perf_counter() - t0
    result = model.solve(time_limit_s)
    if warm is not None and result.optimal:
        warm.form = form
        warm.col_status, warm.row_status = model.basis()
    timings["highs"] = result.seconds
    timings["iterations"] = float(result.iterations)
    return result, form, timings


__all__ = ["WarmStart", "solve_lp_direct"]
