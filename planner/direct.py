"""The LP in HiGHS directly over the aggregated form (:mod:`formulations.aggregated`): no cvxpy
compile, 2-3 nonzeros per pair, no dense pairs x hours intermediate.

Returns the same :class:`planner.solve.SolveResult` as the cvxpy path (x in demand units, n, duals
in cvxpy's sign convention on the LP's own rows) plus the row names the plan tables use, so
:func:`planner.optimize.optimize` can switch paths by size alone.
"""

from __future__ import annotations

import time

import highspy
import numpy as np
import pandas as pd

from formulations.aggregated import AggregatedForm, aggregated_form, full_duals
from formulations.coefficients import HOURS, Coefficients
from planner.highs_lp import _inf, _load
from planner.solve import SolveResult, Status

SEED = 0  # HiGHS random_seed: fixed, so the same input gives the same plan


def configure(highs: highspy.Highs, time_limit_s: float, threads: int = 1,
              presolve: str = "choose") -> None:
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", int(threads))
    highs.setOptionValue("random_seed", SEED)
    highs.setOptionValue("time_limit", float(max(time_limit_s, 0.01)))
    highs.setOptionValue("presolve", presolve)


def lp_rows(c: Coefficients) -> dict[str, pd.DataFrame]:
    """Names of the LP's rows, as :func:`formulations.lp.build_lp` gives them."""
    d = c.n_deployments
    rows = {"demand": pd.DataFrame({"constraint": "demand", "class": c.classes["id"].to_numpy()}),
            "capacity": pd.DataFrame({"constraint": "capacity",
                                      "hour": np.repeat(np.arange(HOURS), d),
                                      "deployment": np.tile(np.arange(d), HOURS)})}
    capped = np.flatnonzero(np.isfinite(c.site_cap_kw))
    if capped.size:
        rows["power_cap"] = pd.DataFrame({
            "constraint": "power_cap", "site": np.repeat(np.array(c.site_ids)[capped], HOURS),
            "hour": np.tile(np.arange(HOURS), capped.size),
            "cap_kw": np.repeat(c.site_cap_kw[capped], HOURS)})
    if not c.inventory.empty:
        rows["inventory"] = pd.DataFrame({
            "constraint": "inventory",
            "site": [c.site_ids[int(s)] for s in c.inventory["site_idx"]],
            "hardware": c.inventory["hardware"].to_numpy(),
            "nodes": c.inventory["nodes"].to_numpy()})
    return rows


def solve_lp_direct(c: Coefficients, time_limit_s: float = 60.0, unit: float | None = None,
                    fixed_nodes: np.ndarray | None = None, threads: int = 1,
                    form: AggregatedForm | None = None, presolve: str = "off",
                    keep_row_dual: bool = False, nodes_lower: np.ndarray | None = None,
                    x_lower: np.ndarray | None = None
                    ) -> tuple[SolveResult, AggregatedForm, dict[str, float]]:
    """Solve the LP (``fixed_nodes``: with n fixed, for the duals of a MILP plan;
    ``nodes_lower``: with a floor on n, for rounding a partial integer plan).

    Presolve is off by default: on this LP it removes nothing and took ~80 % of HiGHS's time
    (performance notes); the simplex then starts at once. Returns (result, form, phase seconds).
    """
    timings = {}
    t0 = time.perf_counter()
    form = form or aggregated_form(c, unit)
    timings["build"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    highs = highspy.Highs()
    configure(highs, time_limit_s, threads, presolve)
    _load(highs, form)
    p, d = form.n_pairs, form.n_deployments
    if fixed_nodes is not None:
        idx = np.arange(p, p + d, dtype=np.int32)
        values = np.asarray(fixed_nodes, float)
        highs.changeColsBounds(d, idx, values, values)
    elif nodes_lower is not None:  # n >= nodes_lower (a floor of nodes already bought)
        idx = np.arange(p, p + d, dtype=np.int32)
        highs.changeColsBounds(d, idx, np.asarray(nodes_lower, float), np.full(d, _inf(np.inf)))
    if x_lower is not None:  # x >= x_lower (routing already fixed)
        idx = np.flatnonzero(x_lower > 0).astype(np.int32)
        highs.changeColsBounds(idx.size, idx, np.asarray(x_lower, float)[idx],
                               np.full(idx.size, _inf(np.inf)))
    timings["load"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    highs.run()
    status = highs.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal and presolve == "off":
        # A numerically hard start: retry once with presolve (it rescales and reduces).
        highs.clearSolver()
        highs.setOptionValue("presolve", "on")
        highs.run()
        status = highs.getModelStatus()
    seconds = time.perf_counter() - t0
    timings["highs"] = seconds
    info = highs.getInfo()
    timings["iterations"] = float(info.simplex_iteration_count)
    if status != highspy.HighsModelStatus.kOptimal:
        text = highs.modelStatusToString(status).lower()
        st = Status.INFEASIBLE if "infeasible" in text else (
            Status.NO_SOLUTION if "time" in text else Status.ERROR)
        return SolveResult(st, np.nan, None, None, None, None, None, seconds), form, timings
    solution = highs.getSolution()
    values = np.asarray(solution.col_value)
    duals = full_duals(form, np.asarray(solution.row_dual))
    # Reduced costs of the pairs (objective units per unit of x), for pricing and incumbents.
    duals["reduced_cost_x"] = np.asarray(solution.col_dual)[:p]
    if keep_row_dual:  # the aggregated form's own row duals (HiGHS signs), for pricing
        duals["row_dual"] = np.asarray(solution.row_dual)
    objective = float(info.objective_function_value)
    result = SolveResult(Status.OPTIMAL, objective, values[:p].copy(), values[p:p + d].copy(),
                         None, 0.0, objective, seconds, duals)
    return result, form, timings


__all__ = ["SEED", "configure", "lp_rows", "solve_lp_direct", "_inf"]
