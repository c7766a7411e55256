"""Solve the MILP with lazy hour rows and a support repair, and prove the gap.

Handing the whole MILP to HiGHS stalls in the root node at ~100 classes: every pair has 24 hourly
capacity and power-cap entries, so the root LP and every cut round work on ~2M nonzeros, while in
any optimum only a few hours bind per deployment (its peak). So:

1. Solve the LP relaxation with every row (the LP bound; its binding hours seed the row set).
2. Solve the MILP with only the seeded hour rows, R. Dropping rows is a relaxation, so the dual
   bound HiGHS proves for MILP(R) is a valid lower bound for the full MILP.
3. Repair: solve the full MILP (every hour row) restricted to the deployments that MILP(R)
   or the LP opened. It is small, and any plan it returns is feasible for the full MILP: an upper bound.
4. Stop when (upper - lower) / upper is within the gap; otherwise add the hour rows the MILP(R)
   plan violated and go to 2 (never losing the best repaired plan) until the time limit.

The reported gap is proven by the two bounds, not taken from any one solve. The MILPs go to HiGHS
as sparse arrays (:func:`formulations.form.build`, hourly rows, ``integer=True``) so that the best plan so
far seeds each solve as its incumbent; a test checks them against the cvxpy MILP. HiGHS does not
interrupt its MIP presolve/root for the time limit: a 3 s limit on a 100-class MILP(R) was
measured to take 17 s, so limits far below the root's own time are overrun.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from formulations.coefficients import HOURS, Coefficients
from formulations.constraints import demand_unit, milp_link_bounds
from formulations.form import Form, Options, build, map_flows, pair_flows, plan_vector
from formulations.loads import busy_node_seconds, site_power_kw
from planner.solve.highs import HighsModel, solve_highs
from planner.solve.result import Result, Status

log = logging.getLogger(__name__)

REPAIR_SHARE = 0.3  # of the time left, kept for the repair solve of each round
TOL = 1e-7


@dataclass
class LazyRound:
    capacity_rows: int
    power_rows: int
    lower_bound: float
    relaxed_objective: float
    repaired_objective: float | None
    opened: int
    seconds: float


@dataclass
class LazyMilpResult:
    result: Result  # x in units of ``unit``, n, y over the full problem
    unit: float
    lp: Result  # the LP relaxation with every row (bound and first rows)
    rounds: list[LazyRound] = field(default_factory=list)


def milp_form(c: Coefficients, unit: float, capacity_rows: np.ndarray | None = None,
              power_rows: np.ndarray | None = None) -> Form:
    """The hourly MILP ``[x, n, y]`` with only these capacity and power rows (all: None)."""
    return build(c, Options(integer=True, unit=unit, capacity_rows=capacity_rows,
                            power_rows=power_rows))


def seed_rows(c: Coefficients, lp: Result, unit: float) -> tuple[np.ndarray, np.ndarray]:
    """Hour rows to start from: each deployment's peak hour of all the demand it could serve,
    plus every capacity row binding in the LP; power-cap hours within 2 % of the cap."""
    d = c.n_deployments
    weight = c.demand[c.pair_class] * c.node_seconds
    potential = np.zeros((d, HOURS))
    np.add.at(potential, c.pair_dep, weight[:, None] * c.hourly_load())
    keep = np.zeros((d, HOURS), dtype=bool)
    keep[np.arange(d), potential.argmax(axis=1)] = True
    busy = busy_node_seconds(c, lp.x * unit)
    limit = c.busy_seconds_per_node_hour * lp.n[:, None]
    keep |= (limit > 0) & (busy >= limit * (1 - 1e-6))
    capped = np.flatnonzero(np.isfinite(c.site_cap_kw))
    power = site_power_kw(c, lp.x * unit, lp.n)[capped]
    cap_keep = power >= 0.98 * c.site_cap_kw[capped][:, None]
    return keep, cap_keep


def violated_rows(c: Coefficients, x: np.ndarray, n: np.ndarray, unit: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Capacity (D x 24) and capped-site power (S_capped x 24) rows the plan breaks."""
    busy = busy_node_seconds(c, x * unit)
    limit = c.busy_seconds_per_node_hour * n[:, None]
    capacity = busy > limit * (1 + TOL) + TOL
    capped = np.flatnonzero(np.isfinite(c.site_cap_kw))
    power = site_power_kw(c, x * unit, n)[capped]
    return capacity, power > c.site_cap_kw[capped][:, None] * (1 + TOL)


def relax_lp(c: Coefficients, unit: float, time_limit_s: float) -> Result:
    """The LP relaxation with every row, in HiGHS directly."""
    lp = HighsModel(build(c, Options(unit=unit))).solve(time_limit_s)
    if lp.status not in (Status.OPTIMAL, Status.INFEASIBLE):
        lp.status = Status.ERROR
    return lp


def solve_milp(c: Coefficients, time_limit_s: float = 60.0, mip_gap: float = 0.005
               ) -> LazyMilpResult:
    """The MILP to ``mip_gap`` (proven by bounds) within about ``time_limit_s`` seconds."""
    start = time.perf_counter()
    unit = demand_unit(c)
    p, d = c.n_pairs, c.n_deployments
    lp = relax_lp(c, unit, time_limit_s)
    if lp.status is not Status.OPTIMAL:
        # An infeasible LP means an infeasible MILP; anything else is passed on as it is.
        return LazyMilpResult(lp, unit, lp)
    capacity_keep, power_keep = seed_rows(c, lp, unit)
    rounds: list[LazyRound] = []
    # [x, n, y] of the best plan feasible for every row; first the LP's plan with its nodes
    # rounded up, when that is feasible: a time limit then returns at worst that plan, whatever
    # HiGHS managed in the time (the same input gives the same floor).
    best = rounded_incumbent(c, lp, unit)
    upper = float(best @ milp_form(c, unit).cost) if best is not None else np.inf
    lower = lp.objective
    while True:
        t0 = time.perf_counter()
        left = time_limit_s - (t0 - start)
        form = milp_form(c, unit, np.flatnonzero(capacity_keep.T.ravel()),
                         np.flatnonzero(power_keep.ravel()))
        relaxed = solve_highs(form, max(left * (1 - REPAIR_SHARE), 0.1), mip_gap / 2, start=best)
        if relaxed.status is Status.INFEASIBLE:
            return LazyMilpResult(Result(Status.INFEASIBLE, seconds=time.perf_counter() - start),
                                  unit, lp, rounds)
        if relaxed.dual_bound is not None and np.isfinite(relaxed.dual_bound):
            lower = max(lower, min(relaxed.dual_bound, upper))
        repaired = None
        opened = np.zeros(d, dtype=bool)
        relaxed_objective = relaxed.objective if relaxed.values is not None else np.nan
        if relaxed.values is not None and relaxed.objective < upper * (1 - TOL):
            # The LP's deployments too: a little more freedom for the repair, at little cost.
            opened = (np.rint(relaxed.values[p:p + d]) > 0) | (lp.n > 1e-9)
            left = time_limit_s - (time.perf_counter() - start)
            plan = repair(c, opened, unit, left, mip_gap / 4)
            if plan is not None:
                repaired = float(plan @ form.cost)
                if repaired < upper:
                    best, upper = plan, repaired
        rounds.append(LazyRound(int(capacity_keep.sum()), int(power_keep.sum()), lower,
                                relaxed_objective, repaired, int(opened.sum()),
                                time.perf_counter() - t0))
        log.info("lazy MILP round %d: %d capacity + %d power rows, bound %.6g, relaxed %.6g, "
                 "repaired %s", len(rounds), capacity_keep.sum(), power_keep.sum(), lower,
                 relaxed_objective, repaired)
        if upper < np.inf and (upper - lower) <= mip_gap * upper:
            break
        if relaxed.values is None or time.perf_counter() - start >= time_limit_s:
            break
        more_capacity, more_power = violated_rows(c, relaxed.values[:p],
                                                  np.rint(relaxed.values[p:p + d]), unit)
        if not ((more_capacity & ~capacity_keep).any() or (more_power & ~power_keep).any()):
            break  # MILP(R)'s plan is feasible for every row: only the time limit is left
        capacity_keep |= more_capacity
        power_keep |= more_power
    seconds = time.perf_counter() - start
    if best is None:
        return LazyMilpResult(Result(Status.NO_SOLUTION, dual_bound=lower, seconds=seconds),
                              unit, lp, rounds)
    gap = max(upper - lower, 0.0) / max(abs(upper), 1e-300)
    status = Status.OPTIMAL if gap <= mip_gap + 1e-12 else Status.TIME_LIMIT
    whole = milp_form(c, unit)
    result = Result(status, upper, best[:p], np.rint(best[p:p + d]),
                    np.rint(best[whole.cols["y"].index]), mip_gap=gap, dual_bound=lower,
                    seconds=seconds, flows=pair_flows(whole, best))
    return LazyMilpResult(result, unit, lp, rounds)


def rounded_incumbent(c: Coefficients, lp: Result, unit: float) -> np.ndarray | None:
    """The LP relaxation's plan with every used deployment's nodes rounded up (to at least the
    minimum replicas), as every column of the hourly MILP; None when that breaks a row
    (inventory, power cap, the deployment limit)."""
    n = np.ceil(lp.n - 1e-9)
    used = n > 0
    _, min_nodes = milp_link_bounds(c)
    n = np.where(used, np.maximum(n, min_nodes), 0.0)
    form = milp_form(c, unit)
    plan = plan_vector(form, lp.x, n, lp.flows)
    lhs = form.a @ plan
    slack = TOL * np.maximum(1.0, np.abs(lhs))
    if np.all(lhs >= form.row_lower - slack) and np.all(lhs <= form.row_upper + slack):
        return plan
    return None


def repair(c: Coefficients, opened: np.ndarray, unit: float, time_limit_s: float,
           mip_gap: float) -> np.ndarray | None:
    """The full MILP (every hour row) over the opened deployments only, as every column of the
    whole hourly MILP; None when it finds no plan in time."""
    sub, pair_idx = c.restricted(opened)
    sub_form = milp_form(sub, unit)
    result = solve_highs(sub_form, max(time_limit_s, 0.1), mip_gap)
    if result.values is None:
        return None
    x = np.zeros(c.n_pairs)
    x[pair_idx] = result.x
    n = np.zeros(c.n_deployments)
    n[opened] = np.rint(result.n)
    return plan_vector(milp_form(c, unit), x, n,
                       map_flows(pair_flows(sub_form, result.values), pair_idx, c.n_pairs))
