"""A reusable HiGHS LP: load a standard form once, then change bounds, costs or right-hand sides
and re-solve from the previous optimal basis (HiGHS keeps it across in-place modifications).

Used where one LP is solved many times with small changes: lever subsets (columns switched off
by zero upper bounds) and sweep points (costs and right-hand sides). ``solve_mip`` loads a MILP
standard form the same way and can seed HiGHS with an incumbent (the lazy MILP's best plan).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import highspy
import numpy as np

from formulations.standard_form import StandardForm

MIP_RANDOM_SEED = 0


@dataclass
class LPResult:
    status: str  # "optimal", "infeasible" or the HiGHS status text
    objective: float
    values: np.ndarray | None
    seconds: float
    iterations: int

    @property
    def optimal(self) -> bool:
        return self.status == "optimal"


class ReusableLP:
    """One HiGHS instance holding one LP; every ``solve`` warm-starts from the last basis."""

    def __init__(self, form: StandardForm, threads: int = 1):
        self.form = form
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("threads", int(threads))
        _load(self.highs, form)
        self._upper = np.array(form.col_upper, dtype=float)
        self._cost = np.array(form.cost, dtype=float)

    def set_column_upper(self, upper: np.ndarray) -> None:
        """Change only the column upper bounds that differ (0 switches a column off)."""
        changed = np.flatnonzero(upper != self._upper)
        if changed.size:
            self.highs.changeColsBounds(changed.size, changed.astype(np.int32),
                                        self.form.col_lower[changed], _inf(upper[changed]))
            self._upper = np.array(upper, dtype=float)

    def set_cost(self, cost: np.ndarray) -> None:
        changed = np.flatnonzero(cost != self._cost)
        if changed.size:
            self.highs.changeColsCost(changed.size, changed.astype(np.int32), cost[changed])
            self._cost = np.array(cost, dtype=float)

    def set_row_bounds(self, rows: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int32)
        self.highs.changeRowsBounds(rows.size, rows, _inf(lower), _inf(upper))

    def solve(self, time_limit_s: float = 60.0) -> LPResult:
        """Warm-started solve; anything but 'optimal' is retried once from scratch, because a
        warm start can end in 'unknown' on a badly scaled basis where a cold start does not."""
        result = self._run(time_limit_s)
        if not result.optimal:
            self.highs.clearSolver()
            retry = self._run(time_limit_s)
            retry.seconds += result.seconds
            result = retry
        return result

    def _run(self, time_limit_s: float) -> LPResult:
        self.highs.setOptionValue("time_limit", float(time_limit_s))
        t0 = time.perf_counter()
        self.highs.run()
        seconds = time.perf_counter() - t0
        status = self.highs.getModelStatus()
        info = self.highs.getInfo()
        if status == highspy.HighsModelStatus.kOptimal:
            values = np.array(self.highs.getSolution().col_value)
            return LPResult("optimal", float(info.objective_function_value), values, seconds,
                            int(info.simplex_iteration_count))
        text = self.highs.modelStatusToString(status).lower()
        if "infeasible" in text:
            text = "infeasible"
        return LPResult(text, np.nan, None, seconds, int(info.simplex_iteration_count))


def _load(highs: highspy.Highs, form: StandardForm) -> None:
    lp = highspy.HighsLp()
    a = form.a.tocsc()
    lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
    lp.col_cost_ = form.cost
    lp.col_lower_, lp.col_upper_ = form.col_lower, _inf(form.col_upper)
    lp.row_lower_, lp.row_upper_ = _inf(form.row_lower), _inf(form.row_upper)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    if form.integrality is not None:
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in form.integrality]
    highs.passModel(lp)


@dataclass
class MipResult:
    status: str  # "optimal" (within the gap), "time_limit", "infeasible" or HiGHS's text
    objective: float
    values: np.ndarray | None
    dual_bound: float
    seconds: float


def solve_mip(form: StandardForm, time_limit_s: float, mip_gap: float,
              start: np.ndarray | None = None, threads: int = 1) -> MipResult:
    """One MIP solve in HiGHS; ``start`` (a feasible point, full length) seeds the incumbent."""
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", int(threads))
    highs.setOptionValue("random_seed", MIP_RANDOM_SEED)  # fixed, as threads: same input,
    highs.setOptionValue("time_limit", float(max(time_limit_s, 0.1)))  # same search
    highs.setOptionValue("mip_rel_gap", float(mip_gap))
    # Objectives of order 1e-4 (a small fleet's cost in million USD/day, issue 13) fall under
    # HiGHS's absolute tolerances: it stops 1 % short of its bound. Solve with the largest
    # cost coefficient scaled to 1, report in the objective's own units.
    largest = float(np.abs(form.cost).max()) if form.cost.size else 0.0
    scale = 1.0 / largest if 0.0 < largest < 1e-3 else 1.0
    if scale != 1.0:
        form = replace(form, cost=form.cost * scale)
    _load(highs, form)
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = np.asarray(start, dtype=float).tolist()
        solution.value_valid = True
        highs.setSolution(solution)
    t0 = time.perf_counter()
    highs.run()
    seconds = time.perf_counter() - t0
    status = highs.getModelStatus()
    info = highs.getInfo()
    text = highs.modelStatusToString(status).lower()
    has_solution = info.primal_solution_status == 2  # kSolutionStatusFeasible
    values = np.array(highs.getSolution().col_value) if has_solution else None
    objective = float(info.objective_function_value) / scale if has_solution else np.nan
    bound = float(info.mip_dual_bound) / scale
    if status == highspy.HighsModelStatus.kOptimal:
        text = "optimal"
    elif "infeasible" in text and not has_solution:
        text = "infeasible"
    elif "time limit" in text:
        text = "time_limit"
    return MipResult(text, objective, values, bound, seconds)


def _inf(values: np.ndarray) -> np.ndarray:
    """HiGHS takes +-inf as its own infinity (1e30 and above)."""
    return np.clip(np.asarray(values, dtype=float), -highspy.kHighsInf, highspy.kHighsInf)
