"""The MILP over a priced subset of pairs, with a valid bound for the whole MILP.

HiGHS's root (presolve, cut rounds) on the whole aggregated MILP of 100 classes x ~900
deployments takes tens of seconds a round and does not honour its time limit there. Its
integer decisions are the nodes of a few dozen deployments; the pairs that matter are few. So:

1. The LP by column generation (:mod:`planner.solve.colgen`); its duals give every pair a
   reduced cost ``rc_p`` under a dual of the full LP, used to choose which pairs to try.
2. K = the pairs of the LP's support, of the best plan so far, and the lowest-``rc`` pairs of each
   class. The *relaxed* MILP is the MILP over K plus, per class and pair block, a slack column
   z standing for the pairs outside K (:func:`formulations.pricing.outside_slack`, derived from
   the full hourly LP's columns and the senses of its rows, with no code per constraint type):
   it costs the least per-unit cost of those columns (without nodes) and has, in each <= row,
   the least of their coefficients capped at 0, in each >= row the largest, in an equality row
   their common one (demand: 1). The bound argument: any plan of the whole MILP maps to the
   relaxed MILP (its pairs outside K become z at their total; a <= row's activity can only
   fall, since z's coefficient is no larger than any pair's it replaces; a >= row's (a minimum
   site share, a failover absorption) can only rise, since z's is no smaller; equalities are
   kept; nodes of deployments without a pair in K are dropped, which only lowers the cost and
   the <= rows' activity; the cost can only fall, since z costs no more than any pair it
   replaces), so the relaxed MILP's dual bound is a lower bound on the whole MILP. A relaxed
   plan with z = 0 is a plan of the whole MILP.
   (Until this session z cost ``pi_c + min rc_p``. That is not a lower bound: with the capacity
   and power duals <= 0, ``c_p = pi_c + rc_p + sum a_ip y_i <= pi_c + rc_p``; on the recalibrated
   fleet-1b it "proved" 0.155943 GWh/day optimal where a plan of 0.155547 exists. And z in the
   demand row only did not cover a >= row: with a minimum site share, dropping a pair outside
   K lowers the share's activity, so the mapped plan broke the row.)
3. The restricted MILP (K, no z) gives plans. Classes whose z is used get their next
   lowest-``rc`` pairs; repeat until the gap is proven or the time is up.

The relaxed and restricted MILPs are small (hundreds to a few thousand pairs), so HiGHS's root
and its time limit behave; they run with one thread and a fixed seed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

import pandas as pd

from formulations.coefficients import Coefficients
from formulations.constraints import demand_unit, milp_link_bounds, objective_weights
from formulations.form import Block, Options, build, map_flows, pair_flows
from formulations.pricing import outside_slack, slack_matrix
from planner.solve.colgen import (RC_TOL, lowest_per_class, pair_subset, rank_costs,
                                  solve_lp_colgen)
from planner.solve.lp import solve_lp_direct
from planner.solve.milp_direct import (POLISH_FACTOR, POLISH_MIN_LIMIT_S, DirectMilpResult,
                                       _full_vector, _mip, _row_feasible, milp_result,
                                       rounded_incumbent)
from planner.solve.result import GapPoint, Result, Status

log = logging.getLogger(__name__)

START_PER_CLASS = 4
ADD_PER_CLASS = 8
Z_TOL = 1e-9
RELAXED_GAP_SHARE = 0.25  # the relaxed MILP's own gap, as a share of the target: its dual
# bound is the whole MILP's bound, so it is solved tighter than the plans
REPAIR_SHARE = 0.25  # of the time left, for one repair MILP
REPAIR_MIN_NEW = 3  # repair again only when the relaxed plan opens this many new deployments


def _with_slack(form, z: sp.csc_matrix, z_cost: np.ndarray, z_class: np.ndarray):
    """The form with the slack columns of :func:`formulations.pricing.outside_slack` (``z``:
    their coefficients in the form's rows)."""
    n_cols = form.a.shape[1]
    cols = dict(form.cols)
    cols["z"] = Block("z", slice(n_cols, n_cols + z_class.size), pd.DataFrame({"class": z_class}))
    return replace(form, a=sp.hstack([form.a, z], format="csc"),
                   cost=np.concatenate([form.cost, z_cost]),
                   col_lower=np.concatenate([form.col_lower, np.zeros(z_class.size)]),
                   col_upper=np.concatenate([form.col_upper, np.full(z_class.size, np.inf)]),
                   integrality=np.concatenate([form.integrality, np.zeros(z_class.size, int)]),
                   cols=cols)


def floor_plan(c: Coefficients, form, unit: float, n_floor: np.ndarray, allowed: np.ndarray,
               time_limit_s: float, x_floor: np.ndarray | None = None):
    """A plan from integer nodes already chosen: the LP over every pair of the ``allowed``
    deployments with n >= n_floor, its nodes rounded up (and to the minimum replicas where it
    opens a deployment). None unless it is feasible for every row (rounding up can break a
    power cap or an inventory)."""
    sub, pair_idx = c.restricted(allowed)
    res, _, _ = solve_lp_direct(sub, max(time_limit_s, 0.05), unit,
                                nodes_lower=n_floor[allowed],
                                x_lower=None if x_floor is None else x_floor[pair_idx])
    if res.status is not Status.OPTIMAL:
        log.debug("floor LP: %s", res.status)
        return None
    _, min_nodes = milp_link_bounds(sub)
    floor = n_floor[allowed]
    used = (res.n > 1e-9) | (floor > 0)
    n_sub = np.where(used, np.maximum(np.ceil(res.n - 1e-7), np.maximum(min_nodes, floor)), 0.0)
    if c.max_deployments is not None and used.sum() > c.max_deployments:
        return None
    x = np.zeros(c.n_pairs)
    x[pair_idx] = res.x
    n = np.zeros(c.n_deployments)
    n[allowed] = n_sub
    v = _full_vector(form, x, n, map_flows(res.flows, pair_idx, c.n_pairs))
    log.debug("floor LP %.6g, rounded %.6g, feasible %s", res.objective, float(form.cost @ v),
              _row_feasible(form, v))
    return v if _row_feasible(form, v) else None


class LocalPairs:
    """The priced MILP's pairs in this process: every pair of ``c``, the LP by
    :func:`planner.solve.colgen.solve_lp_colgen`, plans checked on the whole aggregated MILP.
    :class:`planner.solve.distributed.DaskPairs` is the same interface over worker-held chunks
    (per-class reductions there: chunks are whole classes). Plans are (x, n, flows) over every
    pair (``n_pairs``) and deployment."""

    def __init__(self, c: Coefficients, unit: float):
        self.c, self.unit = c, unit
        self.n_pairs, self.n_deployments = c.n_pairs, c.n_deployments
        self.max_deployments, self.demand = c.max_deployments, c.demand
        self.rc = self.form = self.pricing = None

    def lp(self, time_limit_s: float) -> Result:
        cg = solve_lp_colgen(self.c, time_limit_s, self.unit)
        if cg.reduced_costs is not None:
            per_query, _ = objective_weights(self.c, self.unit)
            tol = RC_TOL * (float(np.max(np.abs(per_query))) if per_query.size else 0.0)
            self.rc = rank_costs(cg.reduced_costs, tol)
        return cg.result

    def lowest(self, k: int, candidates: np.ndarray | None = None,
               classes: np.ndarray | None = None) -> np.ndarray:
        """The k lowest-rc pairs of each class (among ``candidates``, of ``classes``)."""
        if classes is not None:
            candidates = candidates & np.isin(self.c.pair_class, classes)
        return lowest_per_class(self.c, self.rc, k, candidates)

    def subset(self, keep: np.ndarray) -> Coefficients:
        return pair_subset(self.c, keep)

    def restricted(self, deployments: np.ndarray) -> tuple[Coefficients, np.ndarray]:
        return self.c.restricted(deployments)

    def slack(self, outside: np.ndarray, target, dep_map: np.ndarray):
        """z of :func:`formulations.pricing.outside_slack` for the pairs ``outside``, in the
        rows of ``target``: (matrix, cost, class)."""
        if self.pricing is None:  # hourly: no definitional equalities
            self.pricing = build(self.c, Options(unit=self.unit))
        slack = outside_slack(self.pricing, outside, self.c.pair_class)
        return (slack_matrix(self.pricing, target, slack, dep_map),
                np.array([s["cost"] for s in slack]),
                np.array([s["class"] for s in slack], dtype=int))

    def _form(self):
        if self.form is None:
            self.form = build(self.c, Options(aggregated=True, integer=True, unit=self.unit))
        return self.form

    def _plan(self, v: np.ndarray):
        form = self._form()
        cg = form.col_groups
        return v[cg["x"]], v[cg["n"]], pair_flows(form, v)

    def check(self, x: np.ndarray, n: np.ndarray, flows) -> tuple[bool, float, tuple]:
        """Whether the plan holds every row of the whole MILP, its cost, the plan as read
        back from the MILP's columns."""
        form = self._form()
        v = _full_vector(form, x, n, flows)
        return _row_feasible(form, v), float(form.cost @ v), self._plan(v)

    def rounded(self, lp: Result):
        v = rounded_incumbent(self.c, self._form(), lp)
        return None if v is None else (float(self._form().cost @ v), self._plan(v))

    def result(self, best, upper, lower, mip_gap, seconds, unit, lp, history, stages):
        form = self._form()
        v = None if best is None else _full_vector(form, *best)
        return milp_result(form, v, upper, lower, mip_gap, seconds, unit, lp, history, stages)


def floor_milp(pairs, unit: float, n_floor: np.ndarray, x_floor: np.ndarray,
               allowed: np.ndarray, time_limit_s: float, gap: float, threads: int):
    """A plan from a relaxed plan: the MILP over the ``allowed`` deployments with its routing
    (x >= x_floor) and its nodes (n >= n_floor) kept, so that only the demand it left to the
    slack columns is placed, on the nodes' spare capacity or on more nodes. Small and mostly
    fixed, so HiGHS solves it fast. None unless its plan is feasible for every row."""
    sub, pair_idx = pairs.restricted(allowed)
    f = build(sub, Options(aggregated=True, integer=True, unit=unit))
    lower = f.col_lower.copy()
    lower[f.col_groups["x"]] = x_floor[pair_idx]
    lower[f.col_groups["n"]] = n_floor[allowed]
    lower[f.col_groups["y"]] = (n_floor[allowed] > 0).astype(float)
    values, _, _, _ = _mip(replace(f, col_lower=lower), max(time_limit_s, 0.05), gap, None,
                           threads)
    if values is None:
        return None
    x = np.zeros(pairs.n_pairs)
    x[pair_idx] = values[f.col_groups["x"]]
    n = np.zeros(pairs.n_deployments)
    n[allowed] = np.rint(values[f.col_groups["n"]])
    ok, cost, plan = pairs.check(x, n, map_flows(pair_flows(f, values), pair_idx,
                                                 pairs.n_pairs))
    log.debug("floor MILP %.6g, feasible %s", cost, ok)
    return plan if ok else None


def solve_milp_priced(c: Coefficients, time_limit_s: float = 60.0, mip_gap: float = 0.005,
                      threads: int = 1, start_per_class: int = START_PER_CLASS,
                      add_per_class: int = ADD_PER_CLASS) -> DirectMilpResult:
    return priced_milp(LocalPairs(c, demand_unit(c)), time_limit_s, mip_gap, threads,
                       start_per_class, add_per_class)


def priced_milp(pairs, time_limit_s: float = 60.0, mip_gap: float = 0.005, threads: int = 1,
                start_per_class: int = START_PER_CLASS, add_per_class: int = ADD_PER_CLASS
                ) -> DirectMilpResult:
    """The loop of the module docstring over a source of pairs: :class:`LocalPairs` in one
    process, :class:`planner.solve.distributed.DaskPairs` on a Dask cluster."""
    t_start = time.perf_counter()
    deadline = t_start + time_limit_s
    stages: dict[str, float] = {"lp": 0.0, "relaxed": 0.0, "restricted": 0.0}
    history: list[GapPoint] = []
    unit = pairs.unit
    p, d = pairs.n_pairs, pairs.n_deployments
    target = mip_gap / POLISH_FACTOR if time_limit_s >= POLISH_MIN_LIMIT_S else mip_gap

    t0 = time.perf_counter()
    lp = pairs.lp(time_limit_s)
    stages["lp"] = time.perf_counter() - t0
    if lp.status is not Status.OPTIMAL:
        return DirectMilpResult(lp, unit, lp, history, stages)
    lower = lp.objective
    history.append(GapPoint(time.perf_counter() - t_start, "lp", None, lower))

    best, upper = None, np.inf  # best: (x, n, flows) over every pair
    rounded = pairs.rounded(lp)
    if rounded is not None:
        upper, best = rounded
        history.append(GapPoint(time.perf_counter() - t_start, "rounding", upper, lower))

    in_k = (lp.x > 0) | pairs.lowest(start_per_class)
    repaired = np.zeros(d, dtype=bool)  # deployments already offered to a repair
    rounds = 0
    while time.perf_counter() < deadline:
        rounds += 1
        if best is not None:
            in_k |= best[0] > 0
        idx_k = np.flatnonzero(in_k)
        sub_p = pairs.subset(in_k)
        dep_mask = np.zeros(d, dtype=bool)
        dep_mask[sub_p.pair_dep] = True
        sub, _ = sub_p.restricted(dep_mask)  # keeps every pair of sub_p, in order
        dep_idx = np.flatnonzero(dep_mask)
        sub_form = build(sub, Options(aggregated=True, integer=True, unit=unit))
        # z: per class and pair block, a column standing for its pairs outside K (generic in
        # the rows' senses: formulations.pricing.outside_slack).
        outside = ~in_k
        dep_map = np.full(d, -1)
        dep_map[dep_idx] = np.arange(dep_idx.size)
        z, z_cost, z_class = pairs.slack(outside, sub_form, dep_map)
        relaxed_form = _with_slack(sub_form, z, z_cost, z_class)

        def seed(f):
            if best is None:
                return None
            v = _full_vector(sub_form, best[0][idx_k], best[1][dep_mask],
                             map_flows(best[2], idx_k, None))
            return np.concatenate([v, np.zeros(f.a.shape[1] - v.size)])

        # Relaxed MILP: the bound (and a plan when it uses no z).
        t0 = time.perf_counter()
        left = deadline - time.perf_counter()
        values, objective, bound, text = _mip(relaxed_form, max(left * 0.5, 0.05),
                                              target * RELAXED_GAP_SHARE, seed(relaxed_form),
                                              threads)
        stages["relaxed"] += time.perf_counter() - t0
        if text is Status.INFEASIBLE and values is None and best is None:
            return DirectMilpResult(Result(Status.INFEASIBLE,
                                           seconds=time.perf_counter() - t_start),
                                    unit, lp, history, stages)
        if np.isfinite(bound) and abs(bound) < 1e30:
            lower = max(lower, min(bound, upper))
        z_used = np.zeros(0, dtype=int)
        plans = []
        if values is not None:
            zv = values[relaxed_form.col_groups["z"]]
            z_used = np.unique(z_class[zv > Z_TOL * max(1.0, float(np.max(pairs.demand
                                                                            / unit)))])
            if z_used.size == 0:
                plans.append(values)
        cands = []
        for v in plans:  # relaxed plans with z = 0
            sg = sub_form.col_groups
            x = np.zeros(p)
            x[idx_k] = v[sg["x"]]
            n = np.zeros(d)
            n[dep_idx] = np.rint(v[sg["n"]])
            cands.append((x, n, map_flows(pair_flows(sub_form, v), idx_k, p)))
        if values is not None and z_used.size:
            # Round the relaxed plan: keep its nodes, serve its z demand with more.
            t0 = time.perf_counter()
            n_floor = np.zeros(d)
            n_floor[dep_idx] = np.rint(values[sub_form.col_groups["n"]])
            allowed = (n_floor > 0) | (lp.n > 1e-9)
            allowed[sub_p.pair_dep[np.isin(sub_p.pair_class, z_used)]] = True
            x_floor = np.zeros(p)
            x_floor[idx_k] = values[sub_form.col_groups["x"]] * (1 - 1e-9)
            plan = floor_milp(pairs, unit, n_floor, x_floor, allowed,
                              (deadline - time.perf_counter()) * REPAIR_SHARE, target, threads)
            log.debug("floor plan: %s", plan is not None)
            if plan is not None:
                cands.append(plan)
            stages["floor"] = stages.get("floor", 0.0) + time.perf_counter() - t0
        if z_used.size or values is None:
            # Repair: the MILP over every pair of the deployments the relaxed plan, the LP and
            # the best plan open (as in planner.milp_solver): a plan of the whole MILP.
            t0 = time.perf_counter()
            opened = lp.n > 1e-9
            if values is not None:
                opened[dep_idx[np.rint(values[sub_form.col_groups["n"]]) > 0]] = True
            if best is not None:
                opened |= best[1] > 0
            left = deadline - time.perf_counter()
            fresh = int((opened & ~repaired).sum())
            if left > 0 and (best is None or fresh >= REPAIR_MIN_NEW):
                repaired |= opened
                rsub, r_pairs = pairs.restricted(opened)
                rform = build(rsub, Options(aggregated=True, integer=True, unit=unit))
                rseed = None
                if best is not None:
                    rseed = _full_vector(rform, best[0][r_pairs], best[1][opened],
                                         map_flows(best[2], r_pairs, None))
                rv, _, _, _ = _mip(rform, max(left * REPAIR_SHARE, 0.05), target, rseed,
                                   threads)
                if rv is not None:
                    x = np.zeros(p)
                    x[r_pairs] = rv[rform.col_groups["x"]]
                    n = np.zeros(d)
                    n[opened] = np.rint(rv[rform.col_groups["n"]])
                    cands.append((x, n, map_flows(pair_flows(rform, rv), r_pairs, p)))
            stages["restricted"] += time.perf_counter() - t0
        for x, n, flows in cands:
            ok, cost, plan = pairs.check(x, n, flows)
            if ok and cost < upper:
                best, upper = plan, cost
        history.append(GapPoint(time.perf_counter() - t_start, f"priced round {rounds}",
                                None if best is None else upper, lower))
        log.info("priced MILP round %d: %d pairs, %d deployments, bound %.6g, plan %.6g, "
                 "z used by %d classes", rounds, idx_k.size, dep_idx.size, lower, upper,
                 z_used.size)
        if best is not None and upper - lower <= target * upper:
            break
        if best is not None and upper - lower <= mip_gap * upper and \
                time.perf_counter() - t_start >= 0.5 * time_limit_s:
            break
        add = pairs.lowest(add_per_class, outside, z_used) \
            if z_used.size else np.zeros(p, dtype=bool)
        if not add.any():
            # Nothing to price in: the relaxed bound is as good as this K makes it; widen K
            # for every class so that the next round can tighten it.
            add = pairs.lowest(add_per_class, outside)
            if not add.any():
                break
        in_k |= add
    stages["rounds"] = float(rounds)
    return pairs.result(best, upper, lower, mip_gap, time.perf_counter() - t_start,
                        unit, lp, history, stages)
