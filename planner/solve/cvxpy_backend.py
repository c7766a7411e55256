"""The cvxpy backend: the same form's matrices handed to any solver cvxpy supports
(``--solver cvxpy:NAME``, e.g. cvxpy:HIGHS, cvxpy:SCIPY, cvxpy:CLARABEL for an LP). cvxpy is
imported here only, when this backend is chosen."""

from __future__ import annotations

import logging
import time
import warnings

import numpy as np
import scipy.sparse as sp

from formulations.form import Form
from planner.solve.result import Result, Status

log = logging.getLogger(__name__)


def solve_cvxpy(form: Form, solver: str = "HIGHS", time_limit_s: float = 60.0,
                mip_gap: float | None = None, verbose: bool = False) -> Result:
    """Solve ``form`` through cvxpy with ``solver``; duals are collected for LPs."""
    import cvxpy as cp

    from planner.solve.highs import new_highs
    new_highs()  # cvxpy's HiGHS interface builds its own Highs(): take the banner on stderr first
    t0 = time.perf_counter()
    integer = form.integrality is not None
    n_cols = form.a.shape[1]
    if integer:
        int_idx = np.flatnonzero(form.integrality)
        cont_idx = np.flatnonzero(form.integrality == 0)
        vi = cp.Variable(int_idx.size, integer=True)
        vc = cp.Variable(cont_idx.size)
        pick_i = sp.csr_matrix((np.ones(int_idx.size), (int_idx, np.arange(int_idx.size))),
                               shape=(n_cols, int_idx.size))
        pick_c = sp.csr_matrix((np.ones(cont_idx.size), (cont_idx, np.arange(cont_idx.size))),
                               shape=(n_cols, cont_idx.size))
        v = pick_i @ vi + pick_c @ vc
    else:
        v = cp.Variable(n_cols)
    a = form.a.tocsr()
    lo, hi = form.row_lower, form.row_upper
    equal = np.flatnonzero(lo == hi)
    upper = np.flatnonzero((lo != hi) & np.isfinite(hi))
    lower = np.flatnonzero((lo != hi) & np.isfinite(lo))
    cons = {}
    if equal.size:
        cons["eq"] = a[equal] @ v == lo[equal]
    if upper.size:
        cons["le"] = a[upper] @ v <= hi[upper]
    if lower.size:
        cons["ge"] = a[lower] @ v >= lo[lower]
    bounds = []
    cl, cu = form.col_lower, form.col_upper
    if np.isfinite(cl).any():
        idx = np.flatnonzero(np.isfinite(cl))
        bounds.append(v[idx] >= cl[idx])
    if np.isfinite(cu).any():
        idx = np.flatnonzero(np.isfinite(cu))
        bounds.append(v[idx] <= cu[idx])
    problem = cp.Problem(cp.Minimize(form.cost @ v), list(cons.values()) + bounds)
    opts = {}
    if solver.upper() == "HIGHS":
        opts["time_limit"] = float(time_limit_s)
        if integer and mip_gap is not None:
            opts["mip_rel_gap"] = float(mip_gap)
    if solver.upper() not in cp.installed_solvers():
        from planner.errors import InputError

        raise InputError(f"cvxpy has no solver {solver!r} installed here; installed: "
                         f"{cp.installed_solvers()}", field="--solver", value=solver,
                         has_value=True)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            problem.solve(solver=solver.upper(), verbose=verbose, **opts)
        for w in caught:  # "solution may be inaccurate": logged, and the status says so
            log.warning("%s (through cvxpy): %s", solver, w.message)
    except cp.SolverError as exc:
        log.error("%s (through cvxpy) failed: %s", solver, exc)
        return Result(Status.ERROR, seconds=time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    status = problem.status
    if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE, "infeasible_or_unbounded"):
        return Result(Status.INFEASIBLE, seconds=seconds)
    if v.value is None:
        st = Status.NO_SOLUTION if status == cp.USER_LIMIT else Status.ERROR
        return Result(st, seconds=seconds)
    ok = status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
    row_dual = None
    if not integer and ok:
        # Back to one dual per row in HiGHS's sign (<= 0 on a binding <= row of a minimum).
        row_dual = np.zeros(a.shape[0])
        for key, idx, sign in (("eq", equal, -1.0), ("le", upper, -1.0), ("ge", lower, 1.0)):
            if key in cons and cons[key].dual_value is not None:
                row_dual[idx] += sign * np.asarray(cons[key].dual_value, float)
    return Result.from_values(form, Status.OPTIMAL if ok else Status.TIME_LIMIT,
                              float(problem.value), np.asarray(v.value, float), row_dual,
                              mip_gap=0.0 if ok else None, seconds=seconds)
