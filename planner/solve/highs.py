"""The HiGHS backend (highspy directly, the default): load a form once, change bounds, costs
or right-hand sides in place and re-solve from the previous basis, seed a MILP with an
incumbent, watch its bounds through callbacks. Every termination maps onto one
:class:`~planner.solve.result.Status`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import Callable

import highspy
import numpy as np

from formulations.form import Form
from planner.solve.result import Result, Status

SEED = 0  # HiGHS random_seed, fixed with the thread count: the same input gives the same plan
SIMPLEX_DUAL, SIMPLEX_PRIMAL = 1, 4  # HiGHS's simplex_strategy values (dual: its default)
PRIMAL_TOLERANCE = 1e-7  # HiGHS's primal_feasibility_tolerance (its default), set explicitly


def dust_floor(unit: float) -> float:
    """Queries/day below which a solved flow is indistinguishable from 0 to the solver: ten
    times its primal feasibility tolerance in the solved variables' unit (``unit`` queries/day
    each). Used to drop solver dust before the independent re-check."""
    return 10.0 * PRIMAL_TOLERANCE * float(unit)


_BANNER_LOCK = threading.Lock()
_banner_shown = False


def new_highs() -> "highspy.Highs":
    """A ``Highs()`` whose construction cannot write to standard output. highspy 1.16 prints a
    copyright banner from the first constructor in a process, to file descriptor 1 past
    Python, which would corrupt any JSON on stdout and clutter a quiet stderr; the first
    construction runs with fd 1 pointed at the null device (the version is in every summary's
    provenance; the CLI also reserves stdout for its output, see ``planner.cli``)."""
    global _banner_shown
    if _banner_shown:
        return highspy.Highs()
    with _BANNER_LOCK:
        try:
            sys.stdout.flush()
            saved = os.dup(1)
            null = os.open(os.devnull, os.O_WRONLY)
        except (OSError, ValueError, AttributeError):
            saved = null = None
        try:
            if saved is not None:
                os.dup2(null, 1)
            highs = highspy.Highs()
        finally:
            if saved is not None:
                os.dup2(saved, 1)
                os.close(saved)
                os.close(null)
        _banner_shown = True
        return highs


def _inf(values) -> np.ndarray:
    """HiGHS takes +-inf as its own infinity (1e30 and above)."""
    return np.clip(np.asarray(values, dtype=float), -highspy.kHighsInf, highspy.kHighsInf)


class HighsModel:
    """One HiGHS instance holding one form.

    ``presolve``: HiGHS's option ("choose", "on", "off"); off suits the planning LP, where
    presolve removes nothing and took ~80 % of the time (performance notes). A MILP whose
    largest cost is below 1e-3 (a small fleet's cost in million USD/day) is solved with its
    costs scaled to 1, since HiGHS's absolute tolerances would stop it short; objectives and
    bounds are reported in the form's own units."""

    def __init__(self, form: Form, threads: int = 1, presolve: str = "choose"):
        self.form = form
        self.is_mip = form.integrality is not None
        largest = float(np.abs(form.cost).max()) if form.cost.size else 0.0
        self.scale = 1.0 / largest if self.is_mip and 0.0 < largest < 1e-3 else 1.0
        self.presolve = presolve
        self.highs = new_highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("threads", int(threads))
        self.highs.setOptionValue("random_seed", SEED)
        self.highs.setOptionValue("presolve", presolve)
        self.highs.setOptionValue("primal_feasibility_tolerance", PRIMAL_TOLERANCE)
        self._lower = np.array(form.col_lower, dtype=float)
        self._upper = np.array(form.col_upper, dtype=float)
        self._cost = np.array(form.cost, dtype=float)
        self._load()

    def _load(self) -> None:
        form = self.form
        lp = highspy.HighsLp()
        a = form.a.tocsc()
        lp.num_col_, lp.num_row_ = a.shape[1], a.shape[0]
        lp.col_cost_ = form.cost * self.scale
        lp.col_lower_, lp.col_upper_ = _inf(form.col_lower), _inf(form.col_upper)
        lp.row_lower_, lp.row_upper_ = _inf(form.row_lower), _inf(form.row_upper)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = a.indptr.astype(np.int32)
        lp.a_matrix_.index_ = a.indices.astype(np.int32)
        lp.a_matrix_.value_ = a.data.astype(float)
        if self.is_mip:
            lp.integrality_ = [highspy.HighsVarType.kInteger if i else
                               highspy.HighsVarType.kContinuous for i in form.integrality]
        self.highs.passModel(lp)

    # --- changes in place (the basis is kept) -----------------------------------------------

    def set_col_bounds(self, cols: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        cols = np.asarray(cols, dtype=np.int32)
        if cols.size:
            self.highs.changeColsBounds(cols.size, cols, _inf(lower), _inf(upper))
            self._lower[cols], self._upper[cols] = lower, upper

    def set_column_upper(self, upper: np.ndarray) -> None:
        """Change only the column upper bounds that differ (0 switches a column off)."""
        changed = np.flatnonzero(upper != self._upper)
        self.set_col_bounds(changed, self._lower[changed], np.asarray(upper, float)[changed])

    def set_cost(self, cost: np.ndarray) -> None:
        changed = np.flatnonzero(cost != self._cost)
        if changed.size:
            self.highs.changeColsCost(changed.size, changed.astype(np.int32),
                                      cost[changed] * self.scale)
            self._cost = np.array(cost, dtype=float)

    def set_row_bounds(self, rows: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        rows = np.asarray(rows, dtype=np.int32)
        self.highs.changeRowsBounds(rows.size, rows, _inf(lower), _inf(upper))

    def set_start(self, values: np.ndarray) -> None:
        """A feasible point (every column) that seeds a MILP's incumbent."""
        solution = highspy.HighsSolution()
        solution.col_value = np.asarray(values, dtype=float).tolist()
        solution.value_valid = True
        self.highs.setSolution(solution)

    def watch(self, callback: Callable) -> None:
        """``callback(event, scale)`` on MILP progress (bound changes; ``event.interrupt()``
        stops); the event's bounds are in solved units: divide them by ``scale``."""
        def relay(event, *_):
            callback(event, self.scale)

        self.highs.cbMipInterrupt.subscribe(relay)
        self.highs.cbMipImprovingSolution.subscribe(relay)

    def basis(self) -> tuple[np.ndarray, np.ndarray]:
        """The current simplex basis: HiGHS's status codes per column and per row."""
        b = self.highs.getBasis()
        return (np.array([int(v) for v in b.col_status], dtype=np.int8),
                np.array([int(v) for v in b.row_status], dtype=np.int8))

    def set_basis(self, col_status: np.ndarray, row_status: np.ndarray,
                  primal: bool = False) -> bool:
        """Start the next solve from this basis (status codes as :meth:`basis`); False (and a
        cold start) when HiGHS refuses it. ``primal``: by primal simplex, for a basis that is
        still primal feasible (an optimal basis after columns were added: column generation's
        next master, 60 primal iterations where the dual simplex took 1,860 at 1.67M pairs)."""
        b = highspy.HighsBasis()
        status = highspy.HighsBasisStatus
        b.col_status = [status(int(v)) for v in col_status]
        b.row_status = [status(int(v)) for v in row_status]
        b.valid = True
        ok = self.highs.setBasis(b) == highspy.HighsStatus.kOk
        if ok and primal:
            self.highs.setOptionValue("simplex_strategy", SIMPLEX_PRIMAL)
        return ok

    # --- solving ----------------------------------------------------------------------------

    def solve(self, time_limit_s: float = 60.0, mip_gap: float | None = None,
              retry: bool = True) -> Result:
        """Solve from the current basis. An LP that ends anything but optimal is retried once
        cold (presolve on when it was off): a warm start can end in 'unknown' on a badly
        scaled basis, and a numerically hard start is rescaled by presolve."""
        result = self._run(time_limit_s, mip_gap)
        if retry and not self.is_mip and not result.optimal:
            self.highs.clearSolver()
            self.highs.setOptionValue("simplex_strategy", SIMPLEX_DUAL)
            if self.presolve == "off":
                self.highs.setOptionValue("presolve", "on")
            again = self._run(time_limit_s, mip_gap)
            again.seconds += result.seconds
            again.iterations += result.iterations
            result = again
        return result

    def _run(self, time_limit_s: float, mip_gap: float | None) -> Result:
        h = self.highs
        h.setOptionValue("time_limit", float(max(time_limit_s, 0.01)))
        if mip_gap is not None:
            h.setOptionValue("mip_rel_gap", float(mip_gap))
        t0 = time.perf_counter()
        if h.run() == highspy.HighsStatus.kError and \
                h.getModelStatus() == highspy.HighsModelStatus.kNotset:
            # Another HiGHS in this process (cvxpy's interface, with its own thread count)
            # started the global thread scheduler; ours asks for `threads` and HiGHS refuses
            # to run until the scheduler is reset.
            highspy.Highs.resetGlobalScheduler(True)
            h.run()
        seconds = time.perf_counter() - t0
        return self._result(seconds)

    def _result(self, seconds: float) -> Result:
        h = self.highs
        model_status = h.getModelStatus()
        info = h.getInfo()
        iterations = int(info.simplex_iteration_count)
        if self.is_mip:
            has = info.primal_solution_status == 2  # kSolutionStatusFeasible
            bound = float(info.mip_dual_bound) / self.scale
            status = mip_status(model_status, has)
            if not has:
                return Result(status, dual_bound=bound, seconds=seconds, iterations=iterations)
            return Result.from_values(
                self.form, status, float(info.objective_function_value) / self.scale,
                np.array(h.getSolution().col_value), mip_gap=float(info.mip_gap),
                dual_bound=bound, seconds=seconds, iterations=iterations)
        status = LP_STATUS.get(model_status, Status.ERROR)
        if status is not Status.OPTIMAL:
            return Result(status, seconds=seconds, iterations=iterations)
        solution = h.getSolution()
        objective = float(info.objective_function_value)
        return Result.from_values(self.form, Status.OPTIMAL, objective,
                                  np.array(solution.col_value), np.array(solution.row_dual),
                                  np.array(solution.col_dual), mip_gap=0.0,
                                  dual_bound=objective, seconds=seconds, iterations=iterations)


_HMS = highspy.HighsModelStatus
# HiGHS's model status -> Status, explicitly (every status not listed is an ERROR: load, model,
# presolve, solve and postsolve errors, memory limit, unknown, not set, empty model, unbounded).
LP_STATUS = {_HMS.kOptimal: Status.OPTIMAL,
             _HMS.kInfeasible: Status.INFEASIBLE,
             _HMS.kUnboundedOrInfeasible: Status.INFEASIBLE,  # the planning LP is bounded
             _HMS.kTimeLimit: Status.NO_SOLUTION}
MIP_LIMITS = (_HMS.kTimeLimit, _HMS.kInterrupt, _HMS.kHighsInterrupt)  # stopped early


def mip_status(model_status, has_solution: bool) -> Status:
    """A MILP's Status: optimal (within its gap); infeasible (proven, no incumbent); with an
    incumbent otherwise a time limit (its gap says how good); without one, no solution after a
    limit or an interrupt, an error after anything else."""
    if model_status == _HMS.kOptimal:
        return Status.OPTIMAL
    if model_status in (_HMS.kInfeasible, _HMS.kUnboundedOrInfeasible) and not has_solution:
        return Status.INFEASIBLE
    if has_solution:
        return Status.TIME_LIMIT
    return Status.NO_SOLUTION if model_status in MIP_LIMITS else Status.ERROR


def solve_highs(form: Form, time_limit_s: float = 60.0, mip_gap: float | None = None,
                start: np.ndarray | None = None, threads: int = 1, presolve: str = "choose",
                watch: Callable | None = None) -> Result:
    """One solve of a form in a fresh HiGHS instance."""
    model = HighsModel(form, threads, presolve)
    if start is not None:
        model.set_start(start)
    if watch is not None:
        model.watch(watch)
    return model.solve(time_limit_s, mip_gap)
