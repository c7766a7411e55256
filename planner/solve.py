"""Solve a built formulation with HiGHS through cvxpy; statuses are an enum, gaps are reported."""

from __future__ import annotations

import enum
import logging
import time
from dataclasses import dataclass, field

import cvxpy as cp
import numpy as np

from formulations.lp import Built

log = logging.getLogger(__name__)


class Status(str, enum.Enum):
    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"  # an incumbent with a gap
    INFEASIBLE = "infeasible"
    NO_SOLUTION = "no_solution"  # limit reached without an incumbent
    ERROR = "error"


@dataclass
class SolveResult:
    status: Status
    objective: float
    x: np.ndarray | None
    n: np.ndarray | None
    y: np.ndarray | None
    mip_gap: float | None
    dual_bound: float | None
    seconds: float
    duals: dict[str, np.ndarray] = field(default_factory=dict)


def solve(built: Built, time_limit_s: float = 60.0, mip_gap: float = 0.005,
          verbose: bool = False) -> SolveResult:
    """Solve and translate cvxpy/HiGHS statuses; duals are collected for LPs."""
    t0 = time.perf_counter()
    is_mip = built.problem.is_mixed_integer()
    opts = {"time_limit": float(time_limit_s)}
    if is_mip:
        opts["mip_rel_gap"] = float(mip_gap)
    try:
        built.problem.solve(solver=cp.HIGHS, verbose=verbose, **opts)
    except cp.SolverError as exc:
        log.error("HiGHS failed: %s", exc)
        return SolveResult(Status.ERROR, np.nan, None, None, None, None, None,
                           time.perf_counter() - t0)
    seconds = time.perf_counter() - t0
    status = built.problem.status
    info = built.problem.solver_stats.extra_stats if built.problem.solver_stats else None
    gap = float(info.mip_gap) if (is_mip and info is not None) else (0.0 if not is_mip else None)
    bound = float(info.mip_dual_bound) if (is_mip and info is not None) else None
    if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE, "infeasible_or_unbounded"):
        return SolveResult(Status.INFEASIBLE, np.nan, None, None, None, None, None, seconds)
    if built.x.value is None:
        st = Status.NO_SOLUTION if status == cp.USER_LIMIT else Status.ERROR
        return SolveResult(st, np.nan, None, None, None, gap, bound, seconds)
    result_status = Status.OPTIMAL if status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) else \
        Status.TIME_LIMIT
    if result_status is Status.OPTIMAL and is_mip and gap is not None and gap > mip_gap + 1e-9:
        result_status = Status.TIME_LIMIT
    duals = {}
    if not is_mip:
        for name, con in built.constraints.items():
            if con.dual_value is not None:
                duals[name] = np.atleast_1d(np.asarray(con.dual_value, dtype=float))
    return SolveResult(
        result_status, float(built.problem.value), np.asarray(built.x.value, float),
        np.asarray(built.n.value, float),
        None if built.y is None else np.asarray(built.y.value, float), gap, bound, seconds, duals)
