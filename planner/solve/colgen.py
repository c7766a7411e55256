"""Column generation over (class, deployment) pairs: the LP over a few pairs per class, priced out
with its duals, exact at termination by reduced cost.

Most pairs never enter an optimal basis (the 100-class LP uses about a hundred of 75,000), yet
the full LP pays for all of them in every simplex iteration. The restricted master is the
aggregated LP (:func:`formulations.form.build` with ``aggregated=True``) over a subset K of the pairs (every deployment
keeps its node column, so nothing is re-indexed). From its optimal duals a dual solution of the
*full* LP is built: demand prices pi_c, capacity duals lambda_dh of the kept hour rows (0 on the
dropped, implied hours and on deployments with no pair in K), power-cap duals nu_sh. Its reduced
cost for every pair, in or out of K,

    rc_p = c_p - pi_c - s_p' sum_h f_c(h) lambda_dh - k_p' sum_h f_c(h) nu_sh     (HiGHS signs:
                                                                               lambda, nu <= 0)

is >= the master's own reduced cost on K's pairs (the master's load/energy duals are bounded by
the same sums), and the node columns are the same in both problems. So when no pair prices
negative, that dual is feasible for the full LP, its objective equals the master's, and the
master's optimum is the full LP's optimum (strong duality). Otherwise the most negative pairs of
each class join K and the master is solved again. A test checks the objective against the full
aggregated LP to 1e-9 relative.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from formulations.coefficients import HOURS, Coefficients
from formulations.constraints import SECONDS_PER_HOUR, demand_unit, objective_weights
from formulations.form import Options, build
from planner.solve.lp import solve_lp_direct
from planner.solve.result import Result, Status

log = logging.getLogger(__name__)

INITIAL_PER_CLASS = 8  # cheapest pairs per class (by a stand-alone cost) in the first master
ADD_PER_CLASS = 8  # most negative reduced costs per class added each round
RC_TOL = 1e-9  # relative to the largest per-unit pair cost


@dataclass
class ColgenResult:
    result: Result  # over the full pair set (x zero outside K), duals on the LP's rows
    unit: float
    rounds: list[dict] = field(default_factory=list)
    pairs_in_master: int = 0
    reduced_costs: np.ndarray | None = None  # every pair, under the final full-LP dual
    prices: np.ndarray | None = None  # demand duals pi_c (HiGHS sign), per unit of x
    form: object = None  # the last master's form: it labels the result's duals


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
    nodes_per_unit = c.node_seconds * unit * peak / (c.utilization_ceiling * SECONDS_PER_HOUR)
    return per_query + per_node[c.pair_dep] * nodes_per_unit


def lowest_per_class(c: Coefficients, score: np.ndarray, k: int,
                     candidates: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of the k lowest-score pairs of each class (among ``candidates``)."""
    mask = np.ones(c.n_pairs, dtype=bool) if candidates is None else candidates
    idx = np.flatnonzero(mask)
    order = idx[np.lexsort((score[idx], c.pair_class[idx]))]
    cls = c.pair_class[order]
    first = np.searchsorted(cls, cls, side="left")
    rank = np.arange(order.size) - first
    out = np.zeros(c.n_pairs, dtype=bool)
    out[order[rank < k]] = True
    return out


def full_reduced_costs(c: Coefficients, unit: float, form, row_dual: np.ndarray,
                       master: Coefficients) -> tuple[np.ndarray, np.ndarray]:
    """Reduced cost of every pair of ``c`` under the full-LP dual built from the master's duals
    (see the module docstring), and the demand prices pi (per unit of x)."""
    per_query, _ = objective_weights(c, unit)
    pi = row_dual[form.row_groups["demand"]]
    d = c.n_deployments
    lam = np.zeros((d, HOURS))  # HiGHS signs (<= 0 on binding <= rows)
    keys = form.meta["capacity_keys"]
    lam[keys[:, 0], keys[:, 1]] = np.minimum(row_dual[form.row_groups["capacity"]], 0.0)
    share = c.profile / HOURS  # C x 24
    rc = per_query - pi[c.pair_class]
    # Capacity: s_p u x_p node-seconds (in load units) in row (d, h) with weight f_c(h).
    cap_dc = lam @ share.T  # D x C, sum_h lambda_dh f_c(h)
    rc = rc - c.node_seconds * unit / form.meta["load_seconds"] * cap_dc[c.pair_dep, c.pair_class]
    if "power_cap" in form.row_groups:
        capped = form.meta["capped_sites"]
        nu = np.zeros((capped.size, HOURS))
        pk = form.meta["power_keys"]
        nu[pk[:, 0], pk[:, 1]] = np.minimum(row_dual[form.row_groups["power_cap"]], 0.0)
        site_row = np.full(len(c.site_ids), -1)
        site_row[capped] = np.arange(capped.size)
        pair_site = c.dep_site[c.pair_dep]
        sel = np.flatnonzero(site_row[pair_site] >= 0)
        pow_sc = nu @ share.T  # S_capped x C
        rc[sel] -= (c.dynamic_kwh[sel] * c.site_pue[pair_site[sel]] * unit
                    * pow_sc[site_row[pair_site[sel]], c.pair_class[sel]])
    if "min_site_share" in form.rows:  # x_p >= share rows: mu_{c,s} >= 0 (HiGHS signs)
        coords = form.rows["min_site_share"].coords
        mu = np.zeros((len(c.demand), len(c.site_ids)))
        cls = pd.Index(c.classes["id"]).get_indexer(coords["class"])
        site = pd.Index(list(c.site_ids)).get_indexer(coords["site"])
        mu[cls, site] = row_dual[form.row_groups["min_site_share"]]
        rc = rc - mu[c.pair_class, c.dep_site[c.pair_dep]]
    return rc, pi


def solve_lp_colgen(c: Coefficients, time_limit_s: float = 60.0, unit: float | None = None,
                    initial_per_class: int = INITIAL_PER_CLASS,
                    add_per_class: int = ADD_PER_CLASS, max_rounds: int = 100) -> ColgenResult:
    """The LP by column generation; the result is the full LP's optimum (status OPTIMAL only
    when no pair prices out negative)."""
    t_start = time.perf_counter()
    unit = demand_unit(c) if unit is None else unit
    per_query, _ = objective_weights(c, unit)
    tol = RC_TOL * float(np.max(np.abs(per_query))) if per_query.size else 0.0
    in_master = lowest_per_class(c, standalone_cost(c, unit), initial_per_class)
    rounds = []
    while True:
        t0 = time.perf_counter()
        master = pair_subset(c, in_master)
        form = build(master, Options(aggregated=True, unit=unit))
        left = time_limit_s - (time.perf_counter() - t_start)
        res, _, phase = solve_lp_direct(master, max(left, 0.01), unit, form=form)
        if res.status is not Status.OPTIMAL:
            # A master can be infeasible where the full LP is not (a capped site short of the
            # cheap pairs): take every pair of the classes that lack options, else give up.
            if res.status is Status.INFEASIBLE and not in_master.all():
                in_master |= lowest_per_class(c, standalone_cost(c, unit),
                                              4 * max(initial_per_class, 1) * (len(rounds) + 2))
                rounds.append({"pairs": int(master.n_pairs), "objective": None,
                               "added": -1, "seconds": time.perf_counter() - t0})
                continue
            return ColgenResult(res, unit, rounds, int(in_master.sum()))
        rc, pi = full_reduced_costs(c, unit, form, res.row_dual, master)
        negative = (rc < -tol) & ~in_master
        add = lowest_per_class(c, rc, add_per_class, negative)
        rounds.append({"pairs": int(master.n_pairs), "objective": res.objective,
                       "added": int(add.sum()), "nonzeros": int(form.a.nnz), "min_rc": float(rc.min()),
                       "highs_s": phase["highs"], "seconds": time.perf_counter() - t0})
        log.info("colgen round %d: %d pairs, objective %.9g, %d priced in", len(rounds),
                 master.n_pairs, res.objective, add.sum())
        if not add.any() or len(rounds) >= max_rounds or \
                time.perf_counter() - t_start >= time_limit_s:
            break
        in_master |= add
    idx = np.flatnonzero(in_master)
    x = np.zeros(c.n_pairs)
    x[idx] = res.x
    status = Status.OPTIMAL if not add.any() else Status.TIME_LIMIT
    out = Result(status, res.objective, x, res.n, mip_gap=0.0, dual_bound=res.objective,
                 seconds=time.perf_counter() - t_start, duals=res.duals,
                 values=res.values)  # values and duals: the last master's (``form``)
    return ColgenResult(out, unit, rounds, int(idx.size), rc, pi, form)
