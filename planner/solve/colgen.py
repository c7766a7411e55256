"""Column generation over (class, deployment) pairs: the LP over a few pairs per class, priced out
with its duals, exact at termination by reduced cost.

Most pairs never enter an optimal basis (the 100-class LP uses about a hundred of 75,000), yet
the full LP pays for all of them in every simplex iteration. The restricted master is the
aggregated LP (:func:`formulations.form.build` with ``aggregated=True``) over a subset K of the pairs (every deployment
keeps its node column, so nothing is re-indexed). From its optimal duals a dual y of the
*full* LP (every pair, every hour row, aggregated: :func:`pricing_form`, the same LP as the
hourly one) is lifted generically (:func:`formulations.pricing.lift_duals`): every row of the
full LP that the master has, by block and coordinates, takes the master's dual (rescaled by the
blocks' ``row_scale``); every other row (a dropped, implied hour; a deployment with no pair in
K) gets 0; the rows that define the load and energy columns get the dual that prices those
columns at 0 (y_L = sum_h f_g(h) lambda_dh, in the hourly form's terms: L substituted out).
Each pair is priced by ``c - A^T y`` over its columns in the full LP
(:func:`formulations.pricing.pair_reduced_costs`), with no code per constraint type.

Why that proves optimality. Rows of the full LP that the master lacks have y = 0, the defining
rows have right-hand side 0, and the rows it has carry the same right-hand sides, so y's
objective equals the master's. The node columns have the same reduced cost in both, the load
and energy columns 0. A pair in K: its load enters the capacity rows through L_{d,g}, whose
master reduced cost y_L - sum_h f_g(h) lambda_dh >= 0 gives the master's y_L >=
sum_h f_g(h) lambda_dh = the lifted y_L; so its full reduced cost (times s_p u / S > 0) is >=
its master reduced cost >= 0 (likewise energy and power). Rows a pair enters directly (demand, a minimum site share, a failover row: <=, >= or
=, whatever their sense) are the same rows with the same dual in both, so they add the same
term. Hence when no pair prices negative, y is feasible for the full LP, and by weak duality
the master's optimum is the full LP's (strong duality). Otherwise the most negative pairs of
each class join K and the master is solved again. A test checks the objective against the full
aggregated LP to 1e-9 relative.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np

from formulations.coefficients import HOURS, Coefficients
from formulations.constraints import demand_unit, objective_weights
from formulations.form import DEMAND, Form, Options, build, map_flows
from formulations.pricing import lift_duals, pair_reduced_costs
from planner.solve.lp import WarmStart, solve_lp_direct
from planner.solve.result import Result, Status

log = logging.getLogger(__name__)

INITIAL_PER_CLASS = 2  # cheapest pairs per class (by a stand-alone cost) in the first master
ADD_PER_CLASS = 8  # most negative reduced costs per class added each round
RC_TOL = 1e-9  # relative to the largest per-unit pair cost
WARM_MASTERS = True  # each master after the first starts from the last one's optimal basis
#                      (planner.solve.lp.WarmStart; False: every master solved cold)


@dataclass
class ColgenResult:
    result: Result  # over the full pair set (x zero outside K), duals on the LP's rows
    unit: float
    rounds: list[dict] = field(default_factory=list)
    pairs_in_master: int = 0
    reduced_costs: np.ndarray | None = None  # every pair, under the final full-LP dual
    prices: np.ndarray | None = None  # demand duals pi_c (HiGHS sign), per unit of x
    form: object = None  # the last master's form: it labels the result's duals
    pricing: object = None  # the full hourly LP the pairs were priced on


def pair_subset(c: Coefficients, keep: np.ndarray) -> Coefficients:
    """The same problem over the pairs where ``keep`` is True; deployments are all kept."""
    idx = np.flatnonzero(keep)
    return replace(c, pairs=c.pairs.iloc[idx].reset_index(drop=True),
                   pair_class=c.pair_class[idx], pair_dep=c.pair_dep[idx],
                   node_seconds=c.node_seconds[idx], dynamic_kwh=c.dynamic_kwh[idx])


def standalone_cost(c: Coefficients, unit: float) -> np.ndarray:
    """Objective per unit of x if the pair ran alone at its class's peak (nodes sized for the
    peak hour, idle power included): only ranks the pairs of the first master."""
    per_query, per_node = objective_weights(c, unit)
    peak = c.profile.max(axis=1)[c.pair_class] / HOURS
    nodes_per_unit = c.node_seconds * unit * peak / c.busy_seconds_per_node_hour
    return per_query + per_node[c.pair_dep] * nodes_per_unit


def lowest_per_class(c: Coefficients, score: np.ndarray, k: int,
                     candidates: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the k lowest-score pairs of each class (among ``candidates``)."""
    mask = np.ones(c.n_pairs, dtype=bool) if candidates is None else candidates
    idx = np.flatnonzero(mask)
    cls, s = c.pair_class[idx], score[idx]
    if 0 < k <= 16 and np.all(cls[1:] >= cls[:-1]) and np.isfinite(s).all():
        return _lowest_in_runs(idx, cls, s, k, c.n_pairs)
    order = idx[np.lexsort((s, cls))]
    cls = c.pair_class[order]
    first = np.searchsorted(cls, cls, side="left")
    rank = np.arange(order.size) - first
    out = np.zeros(c.n_pairs, dtype=bool)
    out[order[rank < k]] = True
    return out


def _lowest_in_runs(idx: np.ndarray, cls: np.ndarray, s: np.ndarray, k: int,
                    n: int) -> np.ndarray:
    """:func:`lowest_per_class` where ``idx``'s classes come in runs (pairs in class order, as
    the candidates give them) and every score is finite: k passes of a per-run minimum, each
    taking the first position of its run's least score, the same pairs as the lexsort picks
    (ties by position) without sorting every pair (issue 26)."""
    out = np.zeros(n, dtype=bool)
    if idx.size == 0:
        return out
    starts = np.flatnonzero(np.r_[True, cls[1:] != cls[:-1]])
    sizes = np.diff(np.r_[starts, idx.size])
    run = np.repeat(np.arange(starts.size), sizes)
    left = s.astype(float, copy=True)
    for i in range(min(k, int(sizes.max()))):
        live = sizes > i  # runs with a pair still to take
        least = np.minimum.reduceat(left, starts)
        hit = np.flatnonzero((left == least[run]) & live[run])
        take = hit[np.searchsorted(hit, starts[live])]
        out[idx[take]] = True
        left[take] = np.inf
    return out


def rank_costs(rc: np.ndarray, tol: float) -> np.ndarray:
    """Reduced costs for ranking pairs: those within ``tol`` of 0 are 0, so that pairs tied at
    0 (a basis's degenerate pairs) rank by their index, not by rounding noise that differs
    between a whole pricing form and a chunk's (the priced MILP's K is then the same in one
    process and on Dask)."""
    return np.where(np.abs(rc) <= tol, 0.0, rc)


def pricing_form(c: Coefficients, unit: float) -> Form:
    """The full problem's aggregated LP with every hour row (no pruning): the same LP as the
    hourly one, 2-3 nonzeros per pair; the form whose dual the master's lifts to and whose pair
    columns are priced."""
    return build(c, Options(aggregated=True, prune_hours=False, unit=unit))


def full_reduced_costs(c: Coefficients, unit: float, form: Form, row_dual: np.ndarray,
                       pricing: Form) -> tuple[np.ndarray, np.ndarray]:
    """Reduced cost of every pair of ``c`` under the full-LP dual lifted from the master's
    (see the module docstring), and the demand prices pi (per unit of x)."""
    y = lift_duals(form, row_dual, pricing)
    return pair_reduced_costs(pricing, y, c.n_pairs), row_dual[form.rows[DEMAND.name].index]


class LocalPricer:
    """Column generation's pairs in this process: the master's pair set K as a mask over
    ``c``'s pairs, priced by :func:`full_reduced_costs`. :func:`column_generation` drives it;
    :class:`planner.solve.distributed.DaskPricer` is the same interface over worker-held
    chunks."""

    def __init__(self, c: Coefficients, unit: float):
        self.c, self.unit = c, unit
        self.pricing = pricing_form(c, unit)
        self.in_master = np.zeros(c.n_pairs, dtype=bool)
        self.pending = self.rc = self.pi = None

    def max_per_query(self) -> float:
        per_query, _ = objective_weights(self.c, self.unit)
        return float(np.max(np.abs(per_query))) if per_query.size else 0.0

    def start(self, k: int) -> None:
        self.in_master = lowest_per_class(self.c, standalone_cost(self.c, self.unit), k)

    def master(self) -> Coefficients:
        return pair_subset(self.c, self.in_master)

    def widen(self, k: int) -> bool:
        """After an infeasible master: the k cheapest pairs of every class join (False when
        every pair is in already)."""
        if self.in_master.all():
            return False
        self.in_master |= lowest_per_class(self.c, standalone_cost(self.c, self.unit), k)
        return True

    def price(self, form: Form, row_dual: np.ndarray, tol: float, k: int) -> tuple[int, float]:
        """Price every pair under the master's lifted dual; the k most negative per class
        outside K wait in ``pending``. Returns (pairs pending, least reduced cost)."""
        self.rc, self.pi = full_reduced_costs(self.c, self.unit, form, row_dual, self.pricing)
        negative = (self.rc < -tol) & ~self.in_master
        self.pending = lowest_per_class(self.c, self.rc, k, negative)
        return int(self.pending.sum()), float(self.rc.min())

    def admit(self) -> None:
        self.in_master |= self.pending


@dataclass
class Loop:
    """What :func:`column_generation` ends with: the last master's result (over its pairs),
    its problem and form, the rounds, and whether pairs still priced out (time or round
    limit); ``stopped``: the last master was not solved to optimality."""

    result: Result
    master: Coefficients
    form: Form
    rounds: list
    added: int
    stopped: bool
    seconds: float


def column_generation(pricer, unit: float, time_limit_s: float,
                      initial_per_class: int = INITIAL_PER_CLASS,
                      add_per_class: int = ADD_PER_CLASS, max_rounds: int = 100,
                      label: str = "colgen") -> Loop:
    """The column generation loop (see the module docstring) over a pricer: ``LocalPricer``
    in one process, ``planner.solve.distributed.DaskPricer`` over a Dask cluster. The master
    is solved here; the pricer holds the pairs, prices them and says which join."""
    t_start = time.perf_counter()
    tol = RC_TOL * pricer.max_per_query()
    pricer.start(initial_per_class)
    rounds = []
    warm = WarmStart() if WARM_MASTERS else None
    while True:
        t0 = time.perf_counter()
        master = pricer.master()
        form = build(master, Options(aggregated=True, unit=unit))
        left = time_limit_s - (time.perf_counter() - t_start)
        res, _, phase = solve_lp_direct(master, max(left, 0.01), unit, form=form, warm=warm)
        if res.status is not Status.OPTIMAL:
            # A master can be infeasible where the full LP is not (a capped site short of the
            # cheap pairs): take more pairs of every class, else give up.
            if res.status is Status.INFEASIBLE and pricer.widen(
                    4 * max(initial_per_class, 1) * (len(rounds) + 2)):
                rounds.append({"pairs": int(master.n_pairs), "objective": None,
                               "added": -1, "seconds": time.perf_counter() - t0})
                continue
            return Loop(res, master, form, rounds, 0, True, time.perf_counter() - t_start)
        added, min_rc = pricer.price(form, res.row_dual, tol, add_per_class)
        rounds.append({"pairs": int(master.n_pairs), "objective": res.objective,
                       "added": added, "nonzeros": int(form.a.nnz), "min_rc": min_rc,
                       "highs_s": phase["highs"], "iterations": int(phase["iterations"]),
                       "warm": bool(warm and warm.used),
                       "seconds": time.perf_counter() - t0})
        log.info("%s round %d: %d pairs, objective %.9g, %d priced in (HiGHS %.2f s, %s)",
                 label, len(rounds), master.n_pairs, res.objective, added, phase["highs"],
                 "warm" if warm and warm.used else "cold")
        if not added or len(rounds) >= max_rounds or \
                time.perf_counter() - t_start >= time_limit_s:
            break
        pricer.admit()
    return Loop(res, master, form, rounds, added, False, time.perf_counter() - t_start)


def loop_result(loop: Loop, x: np.ndarray, flows) -> Result:
    """The result of a finished loop: OPTIMAL only when no pair priced out; ``x`` and
    ``flows`` over the pairs the caller reports (values and duals: the last master's)."""
    res = loop.result
    status = Status.OPTIMAL if not loop.added else Status.TIME_LIMIT
    return Result(status, res.objective, x, res.n, mip_gap=0.0, dual_bound=res.objective,
                  seconds=loop.seconds, duals=res.duals, values=res.values, flows=flows)


def solve_lp_colgen(c: Coefficients, time_limit_s: float = 60.0, unit: float | None = None,
                    initial_per_class: int = INITIAL_PER_CLASS,
                    add_per_class: int = ADD_PER_CLASS, max_rounds: int = 100) -> ColgenResult:
    """The LP by column generation; the result is the full LP's optimum (status OPTIMAL only
    when no pair prices out negative)."""
    unit = demand_unit(c) if unit is None else unit
    pricer = LocalPricer(c, unit)
    loop = column_generation(pricer, unit, time_limit_s, initial_per_class, add_per_class,
                             max_rounds)
    if loop.stopped:
        return ColgenResult(loop.result, unit, loop.rounds, int(loop.master.n_pairs))
    idx = np.flatnonzero(pricer.in_master)
    x = np.zeros(c.n_pairs)
    x[idx] = loop.result.x
    out = loop_result(loop, x, map_flows(loop.result.flows, idx, c.n_pairs))
    return ColgenResult(out, unit, loop.rounds, int(idx.size), pricer.rc, pricer.pi,
                        loop.form, pricer.pricing)
