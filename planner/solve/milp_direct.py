"""The MILP over the aggregated form, with an incumbent before branch and bound, deterministic
settings, an honoured time limit and a proven gap with its history.

1. LP relaxation (aggregated form, HiGHS directly): the first lower bound.
2. Incumbent before branch and bound: round the LP up (n = max(ceil(n_LP), minimum replicas) on
   the LP's support, x as in the LP). It is feasible for every row except, possibly, the power
   cap, the inventory and the maximum number of deployments; it is kept only when it is
   feasible for all of them. Then the restricted MILP: the full MILP over the deployments the
   LP opened (small, every hour row), seeded with the rounded plan.
3. The whole MILP (aggregated, every undominated hour row) seeded with the best incumbent; HiGHS
   proves the dual bound. A callback records every change of the primal and dual bounds (the gap
   history) and interrupts HiGHS at the deadline, presolve and root included where HiGHS calls
   back.

Every plan returned is feasible for the full MILP (the aggregated rows are exactly the LP's rows,
hours dropped only where implied); the gap is (incumbent - best bound) / incumbent with the best
bound the larger of the LP's and HiGHS's dual bound. HiGHS runs with ``threads`` (1 by default)
and a fixed ``random_seed``, so a solve that ends on the gap (not on the clock) is repeatable.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from formulations.coefficients import Coefficients
from formulations.constraints import demand_unit, milp_link_bounds
from formulations.form import Form, Options, build, map_flows, pair_flows, plan_vector
from planner.solve.highs import solve_highs
from planner.solve.lp import solve_lp_direct
from planner.solve.result import GapPoint, Result, Status

log = logging.getLogger(__name__)

RESTRICTED_SHARE = 0.3  # of the time left after the LP, for the restricted MILP
# Polish: with a time limit of at least POLISH_MIN_LIMIT_S, branch and bound aims at
# mip_gap / POLISH_FACTOR, and stops there, or once the requested gap is proven and
# POLISH_SHARE of the limit is spent. Shorter limits aim at mip_gap itself, so that a solve that
# proves its gap early ends on the gap (repeatable), not on the clock.
POLISH_MIN_LIMIT_S = 10.0
POLISH_FACTOR = 5.0
POLISH_SHARE = 0.5
FEAS_TOL = 1e-6


@dataclass
class DirectMilpResult:
    result: Result  # x in units of ``unit``, n, y over the full problem
    unit: float
    lp: Result
    history: list[GapPoint] = field(default_factory=list)
    stages: dict[str, float] = field(default_factory=dict)  # seconds per stage

    @property
    def rounds(self) -> list:  # the lazy solver's field, for callers that count rounds
        return []


def _row_feasible(form: Form, v: np.ndarray) -> bool:
    act = form.a @ v
    scale = np.maximum(1.0, np.abs(np.where(np.isfinite(form.row_upper), form.row_upper, 0.0)))
    lo = np.where(np.isfinite(form.row_lower), form.row_lower, -np.inf)
    return bool(np.all(act <= form.row_upper + FEAS_TOL * scale)
                and np.all(act >= lo - FEAS_TOL * np.maximum(1.0, np.abs(lo))))


def _full_vector(form: Form, x: np.ndarray, n: np.ndarray,
                 flows: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """[x, n, L, E, y, flows] of ``form`` (:func:`formulations.form.plan_vector`)."""
    return plan_vector(form, x, n, flows)


def rounded_incumbent(c: Coefficients, form: Form, lp: Result
                      ) -> np.ndarray | None:
    """The LP rounded up on its support; None unless it is feasible for every row."""
    support = lp.n > 1e-9
    if c.max_deployments is not None and support.sum() > c.max_deployments:
        return None
    _, min_nodes = milp_link_bounds(c)
    n = np.where(support, np.maximum(np.ceil(lp.n - 1e-9), min_nodes), 0.0)
    v = _full_vector(form, lp.x, n)
    return v if _row_feasible(form, v) else None


class _Watch:
    """MIP callback: records bound changes and interrupts at the deadline."""

    def __init__(self, t_start: float, deadline: float, lower: float, upper: float | None,
                 history: list[GapPoint], mip_gap: float = 0.0, polish_until: float = np.inf):
        self.t_start, self.deadline = t_start, deadline
        self.lower, self.upper, self.history = lower, upper, history
        self.mip_gap, self.polish_until = mip_gap, polish_until

    def __call__(self, event, scale: float = 1.0) -> None:
        out = event.data_out
        now = time.perf_counter()
        lower = max(self.lower, float(out.mip_dual_bound) / scale) if np.isfinite(
            out.mip_dual_bound) else self.lower
        upper = float(out.mip_primal_bound) / scale if np.isfinite(out.mip_primal_bound) and abs(
            out.mip_primal_bound) < 1e30 else self.upper
        if upper is not None and self.upper is not None:
            upper = min(upper, self.upper)
        if lower > self.lower * (1 + 1e-9) + 1e-15 or upper != self.upper:
            self.lower, self.upper = lower, upper
            self.history.append(GapPoint(now - self.t_start, "branch_and_bound", upper, lower))
        proven = self.upper is not None and self.upper - self.lower <= self.mip_gap * self.upper
        if now >= self.deadline or (proven and now >= self.polish_until):
            event.interrupt()


def _mip(form: Form, time_limit_s: float, mip_gap: float, start: np.ndarray | None,
         threads: int, watch: _Watch | None = None):
    result = solve_highs(form, time_limit_s, mip_gap, start=start, threads=threads,
                         presolve="choose", watch=watch)
    objective = result.objective if result.values is not None else np.inf
    bound = result.dual_bound if result.dual_bound is not None else -np.inf
    return result.values, objective, bound, result.status


def solve_milp_direct(c: Coefficients, time_limit_s: float = 60.0, mip_gap: float = 0.005,
                      threads: int = 1) -> DirectMilpResult:
    """The MILP to ``mip_gap`` (proven) within ``time_limit_s``, the best plan and its gap."""
    t_start = time.perf_counter()
    deadline = t_start + time_limit_s
    stages: dict[str, float] = {}
    history: list[GapPoint] = []
    unit = demand_unit(c)
    p, d = c.n_pairs, c.n_deployments

    t0 = time.perf_counter()
    lp, _, _ = solve_lp_direct(c, time_limit_s, unit)
    stages["lp"] = time.perf_counter() - t0
    if lp.status is not Status.OPTIMAL:
        return DirectMilpResult(lp, unit, lp, history, stages)
    lower = lp.objective
    history.append(GapPoint(time.perf_counter() - t_start, "lp", None, lower))

    t0 = time.perf_counter()
    form = build(c, Options(aggregated=True, integer=True, unit=unit))
    stages["build"] = time.perf_counter() - t0
    best, upper = None, np.inf
    t0 = time.perf_counter()
    rounded = rounded_incumbent(c, form, lp)
    if rounded is not None:
        best, upper = rounded, float(form.cost @ rounded)
        history.append(GapPoint(time.perf_counter() - t_start, "rounding", upper, lower))
    stages["rounding"] = time.perf_counter() - t0

    # Restricted MILP on the LP's support.
    t0 = time.perf_counter()
    support = lp.n > 1e-9
    left = deadline - time.perf_counter()
    if support.any() and left > 0:
        sub, pair_idx = c.restricted(support)
        sub_form = build(sub, Options(aggregated=True, integer=True, unit=unit))
        sub_start = None
        if best is not None:
            sub_start = _full_vector(sub_form, best[:p][pair_idx], best[p:p + d][support],
                                     map_flows(pair_flows(form, best), pair_idx, None))
        values, objective, _, _ = _mip(sub_form, left * RESTRICTED_SHARE, mip_gap / 4, sub_start,
                                       threads)
        if values is not None and objective < upper * (1 - 1e-12):
            sg = sub_form.col_groups
            x = np.zeros(p)
            x[pair_idx] = values[sg["x"]]
            n = np.zeros(d)
            n[support] = np.rint(values[sg["n"]])
            candidate = _full_vector(form, x, n,
                                     map_flows(pair_flows(sub_form, values), pair_idx, p))
            if _row_feasible(form, candidate):
                best, upper = candidate, float(form.cost @ candidate)
                history.append(GapPoint(time.perf_counter() - t_start, "restricted", upper,
                                        lower))
    stages["restricted"] = time.perf_counter() - t0

    # Whole MILP, seeded, unless the incumbent already proves the gap.
    t0 = time.perf_counter()
    left = deadline - time.perf_counter()
    polish = time_limit_s >= POLISH_MIN_LIMIT_S
    target = mip_gap / POLISH_FACTOR if polish else mip_gap
    if not (upper < np.inf and upper - lower <= target * upper) and left > 0:
        watch = _Watch(t_start, deadline, lower, None if best is None else upper, history,
                       mip_gap, t_start + POLISH_SHARE * time_limit_s if polish else np.inf)
        values, objective, bound, text = _mip(form, left, target, best, threads, watch)
        if np.isfinite(bound) and abs(bound) < 1e30:
            lower = max(lower, min(bound, objective if values is not None else np.inf))
        if values is not None and objective < upper:
            n = np.rint(values[form.col_groups["n"]])
            candidate = _full_vector(form, values[:p], n, pair_flows(form, values))
            if _row_feasible(form, candidate):
                best, upper = candidate, float(form.cost @ candidate)
        if text is Status.INFEASIBLE and best is None:
            return DirectMilpResult(Result(Status.INFEASIBLE,
                                           seconds=time.perf_counter() - t_start),
                                    unit, lp, history, stages)
        history.append(GapPoint(time.perf_counter() - t_start, "branch_and_bound",
                                None if best is None else upper, lower))
    stages["branch_and_bound"] = time.perf_counter() - t0
    return milp_result(form, best, upper, lower, mip_gap, time.perf_counter() - t_start,
                       unit, lp, history, stages)


def milp_result(form, best: np.ndarray | None, upper: float, lower: float, mip_gap: float,
                seconds: float, unit: float, lp, history: list, stages: dict
                ) -> DirectMilpResult:
    """The MILP's result from its best plan (columns of ``form``) and its two bounds: optimal
    when the proven gap meets ``mip_gap``, a time limit otherwise, no solution without a plan."""
    if best is None:
        return DirectMilpResult(Result(Status.NO_SOLUTION, dual_bound=lower, seconds=seconds),
                                unit, lp, history, stages)
    gap = max(upper - lower, 0.0) / max(abs(upper), 1e-300)
    status = Status.OPTIMAL if gap <= mip_gap + 1e-12 else Status.TIME_LIMIT
    cg = form.col_groups
    result = Result(status, upper, best[cg["x"]], np.rint(best[cg["n"]]),
                    np.rint(best[cg["y"]]), mip_gap=gap, dual_bound=lower, seconds=seconds,
                    flows=pair_flows(form, best))
    log.info("MILP: %.6g, bound %.6g, gap %.4g %% in %.2f s (%s)", upper, lower, 100 * gap,
             seconds, {k: round(v, 2) for k, v in stages.items()})
    return DirectMilpResult(result, unit, lp, history, stages)
