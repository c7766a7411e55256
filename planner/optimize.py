"""The solve pipeline: instance -> coefficients -> formulation -> HiGHS -> verified plan.

Infeasible plans are explained: a class no candidate can serve (with the closest TTFT, TPOT or
quality any candidate reaches), or the power cap / inventory that the demand cannot fit under
(with the least peak power and the fewest extra nodes an elastic LP finds).
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from functools import lru_cache
from importlib.metadata import version

import cvxpy as cp
import numpy as np
import scipy.sparse as sp

from formulations import REGISTRY
from formulations.constraints import (define_capacity, define_demand, inventory_matrix,
                                      objective_weights, power_matrices)
from formulations.lp import build_lp, demand_unit as solve_unit
from planner import __version__
from planner.candidates import CandidateReport, build_coefficients
from formulations.coefficients import HOURS, Coefficients
from planner.errors import (EXIT_INFEASIBLE, EXIT_NO_SOLUTION, InfeasibleError, InputError,
                            NoSolutionError, SolverNumericError, VerificationError)
from planner.colgen import solve_lp_colgen
from planner.direct import lp_rows, solve_lp_direct
from planner.milp_direct import solve_milp_direct
from planner.milp_priced import solve_milp_priced
from planner.milp_solver import solve_milp
from planner.plan import Plan, build_tables, hourly_table
from planner.schema.plan import PlanningInstance
from planner.solve import Status, solve
from planner.validation import warn_once
from planner.verify import daily_objective, hourly_site_power_kw, verify_plan

log = logging.getLogger(__name__)

OBJECTIVE_UNITS = {"energy": "GWh/day", "carbon": "kt CO2/day", "cost": "million USD/day"}

__all__ = ["EXIT_INFEASIBLE", "EXIT_NO_SOLUTION", "InfeasibleError", "NoSolutionError",
           "optimize"]


# Solve path (issue 18): at or above this many eligible pairs the LP goes to HiGHS directly, by
# column generation over the aggregated form (planner.colgen; exact by reduced cost); below it
# through cvxpy as before, so small plans (fleet-1b: 208 pairs) keep their numbers to the last
# digit. ``solve_path`` forces one: "cvxpy", "direct" (the whole aggregated LP) or "colgen".
DIRECT_MIN_PAIRS = 20_000
SOLVE_PATHS = ("auto", "cvxpy", "direct", "colgen")
# MILP: below this many pairs the whole aggregated MILP goes to HiGHS (its root is quick there:
# fleet-1b proves 0.02 % in ~1 s); from it on, the priced relaxed/restricted MILPs.
PRICED_MIN_PAIRS = 5_000


def provenance(instance: PlanningInstance, digest: str, formulation: str) -> dict:
    return {"instance": instance.name, "instance_hash": digest, "seed": instance.seed,
            "formulation": formulation,
            "versions": {"planner": __version__, "cvxpy": version("cvxpy"),
                         "highspy": version("highspy"), "numpy": np.__version__},
            "options": instance.options.model_dump(mode="json"),
            "solver": instance.solver.model_dump(mode="json"),
            "catalog": catalog_version()}


@lru_cache(maxsize=1)
def catalog_version() -> dict:
    """Digest of the shipped catalog data files (CSV, calibration.json) and the calibration's
    own date and row count, so a plan names the catalog and calibration it was solved with."""
    import hashlib
    import json

    from planner.catalog import data_path

    root = data_path("")
    digest = hashlib.sha256()
    for path in sorted(root.glob("*.csv")) + [root / "calibration.json"]:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    calib = root / "calibration.json"
    meta = json.loads(calib.read_text()).get("provenance", {}) if calib.is_file() else {}
    return {"digest": digest.hexdigest()[:16], "calibration_date": meta.get("date"),
            "calibration_rows": meta.get("rows")}


def explain_ineligible(report: CandidateReport) -> list[dict]:
    """Classes no candidate can serve, with the constraint and the closest achievable value."""
    out = []
    for row in report.class_best.itertuples():
        if row.eligible > 0:
            continue
        if row.best_quality >= row.min_quality and row.fit_with_quality == 0:
            out.append({"class": row[1], "constraint": "memory_fit", "limit": row.min_quality,
                        "closest": np.nan, "unit": "MMLU",
                        "note": "no model meeting the quality floor fits on any allowed "
                                "hardware and parallelism"})
        if row.ttft_slo_ms and row.best_ttft_ms > row.ttft_slo_ms:
            out.append({"class": row[1], "constraint": "ttft_slo",
                        "limit": row.ttft_slo_ms, "closest": row.best_ttft_ms, "unit": "ms"})
        if row.tpot_slo_ms and row.best_tpot_ms > row.tpot_slo_ms:
            out.append({"class": row[1], "constraint": "tpot_slo", "limit": row.tpot_slo_ms,
                        "closest": row.best_tpot_ms, "unit": "ms"})
        if row.best_quality < row.min_quality:
            out.append({"class": row[1], "constraint": "quality_floor", "limit": row.min_quality,
                        "closest": row.best_quality, "unit": "MMLU"})
        if not any(o["class"] == row[1] for o in out):
            out += _joint_conflict(row)
    for o in out:
        o["class"] = str(o["class"])
    return out


def _joint_conflict(row) -> list[dict]:
    """SLO and quality floor each reachable, never together: the closest value of each given
    the other (latency among candidates meeting the floor, quality among those meeting the SLO)."""
    out = []
    cls = str(row[1])
    note = "each is reachable alone, not together"
    best_ttft = getattr(row, "best_ttft_with_quality_ms", np.nan)
    best_tpot = getattr(row, "best_tpot_with_quality_ms", np.nan)
    best_quality = getattr(row, "best_quality_with_slo", np.nan)
    if row.ttft_slo_ms and np.isfinite(best_ttft) and best_ttft > row.ttft_slo_ms:
        out.append({"class": cls, "constraint": "ttft_slo (with the quality floor)",
                    "limit": row.ttft_slo_ms, "closest": best_ttft, "unit": "ms", "note": note})
    elif row.tpot_slo_ms and np.isfinite(best_tpot) and best_tpot > row.tpot_slo_ms:
        out.append({"class": cls, "constraint": "tpot_slo (with the quality floor)",
                    "limit": row.tpot_slo_ms, "closest": best_tpot, "unit": "ms", "note": note})
    if np.isfinite(best_quality) and best_quality < row.min_quality:
        out.append({"class": cls, "constraint": "quality_floor (with the SLO)",
                    "limit": row.min_quality, "closest": best_quality, "unit": "MMLU",
                    "note": note})
    if not out:
        out.append({"class": cls, "constraint": "slo_and_quality_jointly", "limit": np.nan,
                    "closest": np.nan, "unit": ""})
    for d in out[:-1]:  # the note once, on the last finding
        d.pop("note", None)
    return out


def milp_diagnosis(c: Coefficients, time_limit_s: float, mip_gap: float) -> list[dict]:
    """The LP relaxation is feasible but the MILP is not: which integer rule. Each rule is
    relaxed in turn (maximum deployments, minimum replicas) and the MILP re-solved; the closest
    achievable value is the fewest deployments / the most replicas that still give a plan.
    If neither alone explains it, whole nodes against inventory or the power cap do."""
    from formulations.milp import build_milp

    limit = max(min(time_limit_s, 30.0), 1.0)

    def feasible(coefficients: Coefficients) -> bool:
        return solve_milp(coefficients, limit, max(mip_gap, 0.05)).result.status \
            is not Status.INFEASIBLE

    out = []
    if c.max_deployments is not None and feasible(replace(c, max_deployments=None)):
        closest = np.nan
        try:
            built = build_milp(replace(c, max_deployments=None))
            problem = cp.Problem(cp.Minimize(cp.sum(built.y)), built.problem.constraints)
            problem.solve(solver=cp.HIGHS, time_limit=limit)
            if built.y.value is not None:
                closest = float(np.rint(built.y.value).sum())
        except cp.SolverError:
            pass
        out.append({"site": "all", "constraint": "max_deployments", "limit": c.max_deployments,
                    "closest": closest, "unit": "deployments",
                    "note": "the demand needs more distinct deployments than max_deployments "
                            "allows"})
    if c.min_replicas > 1 and feasible(replace(c, min_replicas=1)):
        low, high = 1, c.min_replicas - 1  # low is feasible; find the most replicas that are
        for _ in range(8):
            if low >= high:
                break
            mid = (low + high + 1) // 2
            if feasible(replace(c, min_replicas=mid)):
                low = mid
            else:
                high = mid - 1
        out.append({"site": "all", "constraint": "min_replicas", "limit": c.min_replicas,
                    "closest": float(low), "unit": "replicas",
                    "note": "minimum replicas per used deployment do not fit the inventory, "
                            "the power cap or the deployment limit"})
    if not out and not c.inventory.empty:
        # Whole nodes against inventory: the MILP without inventory, and its nodes per pool.
        relaxed = solve_milp(replace(c, inventory=c.inventory.iloc[0:0]), limit,
                             max(mip_gap, 0.05)).result
        if relaxed.n is not None:
            for r in c.inventory.itertuples():
                used = float(relaxed.n[(c.dep_site == r.site_idx)
                                       & (c.dep_hardware == r.hardware)].sum())
                if used > r.nodes + 1e-6:
                    out.append({"site": c.site_ids[int(r.site_idx)],
                                "constraint": f"inventory[{r.hardware}] (whole nodes)",
                                "limit": r.nodes, "closest": used, "unit": "nodes"})
    if not out and np.isfinite(c.site_cap_kw).any():
        relaxed = solve_milp(replace(c, site_cap_kw=np.full_like(c.site_cap_kw, np.inf)), limit,
                             max(mip_gap, 0.05)).result
        if relaxed.n is not None:
            peak = hourly_site_power_kw(c, relaxed.x * solve_unit(c), relaxed.n).max(axis=1)
            for s in np.flatnonzero(np.isfinite(c.site_cap_kw)):
                if peak[s] > c.site_cap_kw[s] * (1 + 1e-6):
                    out.append({"site": c.site_ids[s], "constraint": "power_cap (whole nodes)",
                                "limit": c.site_cap_kw[s] / 1e3, "closest": peak[s] / 1e3,
                                "unit": "MW"})
    if not out:
        out.append({"site": "all", "constraint": "whole_nodes", "limit": np.nan,
                    "closest": np.nan, "unit": "",
                    "note": "the LP relaxation has a plan, but whole nodes (with minimum "
                            "replicas and the deployment limit) do not fit the inventory or "
                            "the power cap"})
    return out


def elastic_diagnosis(c: Coefficients) -> list[dict]:
    """Least peak power per capped site and fewest extra nodes that make the demand servable."""
    unit = max(c.demand.max() / 1e3, 1.0)
    x = cp.Variable(c.n_pairs, nonneg=True)
    n = cp.Variable(c.n_deployments, nonneg=True)
    cons = [define_demand(c, x, unit)[0], define_capacity(c, x, n, unit)[0]]
    objective = 0
    capped = np.flatnonzero(np.isfinite(c.site_cap_kw))
    excess = cp.Variable(capped.size, nonneg=True) if capped.size else None
    if capped.size:
        ax, an = power_matrices(c, unit, capped)
        cons.append(ax @ x + an @ n <= np.repeat(c.site_cap_kw[capped], HOURS)
                    + sp.kron(sp.identity(capped.size), np.ones((HOURS, 1)), format="csr") @ excess)
        objective = objective + cp.sum(excess) / 1e3
    a_inv, _ = inventory_matrix(c)
    extra = cp.Variable(a_inv.shape[0], nonneg=True) if a_inv.shape[0] else None
    if extra is not None:
        cons.append(a_inv @ n <= c.inventory["nodes"].to_numpy(float) + extra)
        objective = objective + cp.sum(extra)
    per_query, per_node = objective_weights(c, unit)
    problem = cp.Problem(cp.Minimize(objective * 1e3 + 1e-6 * (per_query @ x + per_node @ n)),
                         cons)
    try:
        problem.solve(solver=cp.HIGHS)
    except cp.SolverError:
        return []
    out = []
    if excess is not None and excess.value is not None:
        for i, s in enumerate(capped):
            if excess.value[i] > 1e-6:
                out.append({"site": c.site_ids[s], "constraint": "power_cap",
                            "limit": c.site_cap_kw[s] / 1e3,
                            "closest": (c.site_cap_kw[s] + excess.value[i]) / 1e3, "unit": "MW"})
    if extra is not None and extra.value is not None:
        for i, r in enumerate(c.inventory.itertuples()):
            if extra.value[i] > 1e-6:
                out.append({"site": c.site_ids[int(r.site_idx)], "constraint":
                            f"inventory[{r.hardware}]", "limit": r.nodes,
                            "closest": r.nodes + extra.value[i], "unit": "nodes"})
    return out


def _message(details: list[dict]) -> str:
    """One line; each distinct finding once."""
    parts = []
    for d in details:
        who = (f"class {d['class']}" if "class" in d else
               "fleet" if d.get("site") == "all" else f"site {d['site']}")
        if np.isfinite(d.get("closest", np.nan)):
            text = (f"{who}: {d['constraint']} limit {d['limit']:.4g} {d['unit']}, closest "
                    f"achievable {d['closest']:.4g} {d['unit']}")
            if d.get("note"):
                text += f" ({d['note']})"
        elif d.get("note"):
            text = f"{who}: {d['note']} ({d['constraint']})"
        else:
            text = f"{who}: no candidate meets its SLO and quality floor together"
        if text not in parts:
            parts.append(text)
    return "infeasible: " + "; ".join(parts)


def option_warnings(instance: PlanningInstance, formulation: str) -> list[str]:
    """What a formulation ignores of the instance, said rather than silently dropped."""
    warnings = []
    if formulation != "milp":
        o = instance.options
        if o.min_replicas != 1:
            warnings.append(f"options.min_replicas={o.min_replicas} is a MILP rule; the "
                            f"{formulation} formulation ignores it (use --formulation milp)")
        if o.max_deployments is not None:
            warnings.append(f"options.max_deployments={o.max_deployments} is a MILP rule; the "
                            f"{formulation} formulation ignores it (use --formulation milp)")
    return warnings


def use_direct(c: Coefficients, solve_path: str = "auto") -> bool:
    if solve_path not in SOLVE_PATHS:
        raise InputError(f"unknown solve path; known: {list(SOLVE_PATHS)}", field="solve_path",
                         value=solve_path, has_value=True)
    return solve_path in ("direct", "colgen") or (solve_path == "auto"
                                                  and c.n_pairs >= DIRECT_MIN_PAIRS)


def eligible_coefficients(instance: PlanningInstance,
                          coefficients: tuple[Coefficients, CandidateReport] | None,
                          timings: dict) -> tuple[Coefficients, CandidateReport]:
    """The instance's coefficients (built unless given, timed) after the eligibility check: a
    class no candidate can serve is infeasible before any solve."""
    t0 = time.perf_counter()
    c, report = coefficients or build_coefficients(instance)
    timings["candidates"] = time.perf_counter() - t0
    details = explain_ineligible(report)
    if details:
        raise InfeasibleError(_message(details), details)
    return c, report


def optimize(instance: PlanningInstance, digest: str = "", formulation: str = "lp",
             coefficients: tuple[Coefficients, CandidateReport] | None = None,
             solve_path: str = "auto", milp_solver: str = "auto") -> Plan:
    """Solve an instance and return a verified plan (raises InfeasibleError / NoSolutionError).

    ``solve_path``: "auto" (column generation over the aggregated form in HiGHS from
    ``DIRECT_MIN_PAIRS`` pairs, cvxpy below), "cvxpy", "direct" (the whole aggregated LP) or
    "colgen". ``milp_solver``: "priced" (relaxed and restricted MILPs over priced pairs with a
    bound valid for the whole MILP, :mod:`planner.milp_priced`), "direct" (the whole aggregated
    MILP after rounding and restricted incumbents, :mod:`planner.milp_direct`) or "lazy" (lazy
    hour rows, :mod:`planner.milp_solver`)."""
    if formulation not in REGISTRY:
        raise InputError(f"unknown formulation; known: {sorted(REGISTRY)}", field="formulation",
                         value=formulation, has_value=True)
    warnings = option_warnings(instance, formulation)
    for text in warnings:
        warn_once(log, text)
    if milp_solver not in ("auto", "priced", "direct", "lazy"):
        raise InputError("unknown MILP solver; known: ['auto', 'priced', 'direct', 'lazy']",
                         field="milp_solver", value=milp_solver, has_value=True)
    timings = {}
    c, report = eligible_coefficients(instance, coefficients, timings)
    lp_bound = None
    gap_history = None
    direct = use_direct(c, solve_path)
    if milp_solver == "auto":
        milp_solver = "direct" if c.n_pairs < PRICED_MIN_PAIRS else "priced"
    if formulation == "milp" and milp_solver in ("priced", "direct"):
        # Priced: relaxed MILPs over priced pairs bound the whole MILP, repairs give plans.
        # Direct: rounded and restricted incumbents, then the whole aggregated MILP seeded.
        solver = solve_milp_priced if milp_solver == "priced" else solve_milp_direct
        mres = solver(c, instance.solver.time_limit_s, instance.solver.mip_gap)
        result, unit = mres.result, mres.unit
        timings["solve"] = result.seconds
        timings.update({f"milp_{k}": v for k, v in mres.stages.items()})
        lp_bound = mres.lp.objective if mres.lp.status is Status.OPTIMAL else None
        gap_history = [{"seconds": round(h.seconds, 4), "stage": h.stage, "upper": h.upper,
                        "lower": h.lower, "gap": h.gap} for h in mres.history]
    elif formulation == "milp":
        # Lazy hour rows + support repair: the gap is proven by the LP-of-rows bound and the
        # repaired plan (planner.milp_solver).
        lazy = solve_milp(c, instance.solver.time_limit_s, instance.solver.mip_gap)
        result, unit = lazy.result, lazy.unit
        timings["solve"] = result.seconds
        timings["milp_rounds"] = len(lazy.rounds)
        lp_bound = lazy.lp.objective if lazy.lp.status is Status.OPTIMAL else None
    elif direct and solve_path == "direct":
        result, form, phase = solve_lp_direct(c, instance.solver.time_limit_s)
        result.duals.pop("reduced_cost_x", None)
        timings["build"] = phase["build"] + phase["load"]
        timings["solve"] = result.seconds
        unit = form.unit
        rows = lp_rows(c)
    elif direct:
        cg = solve_lp_colgen(c, instance.solver.time_limit_s)
        result, unit = cg.result, cg.unit
        timings["solve"] = result.seconds
        timings["colgen_rounds"] = len(cg.rounds)
        timings["colgen_pairs"] = cg.pairs_in_master
        rows = lp_rows(c)
    else:
        t0 = time.perf_counter()
        built = REGISTRY[formulation](c)
        timings["build"] = time.perf_counter() - t0
        result = solve(built, instance.solver.time_limit_s, instance.solver.mip_gap)
        timings["solve"] = result.seconds
        unit = built.unit
    if result.status is Status.INFEASIBLE:
        details = elastic_diagnosis(c)
        if not details and formulation == "milp" and lp_bound is not None:
            details = milp_diagnosis(c, instance.solver.time_limit_s, instance.solver.mip_gap)
        details = details or [{"site": "all", "constraint": "unknown", "limit": np.nan,
                               "closest": np.nan, "unit": "",
                               "note": "the solver proved infeasibility but no single rule "
                                       "explains it"}]
        raise InfeasibleError(_message(details), details)
    if result.x is None:
        if result.status is Status.NO_SOLUTION:
            raise NoSolutionError(f"no solution within the time limit: no feasible plan found "
                                  f"after {result.seconds:.1f} s (time limit "
                                  f"{instance.solver.time_limit_s} s)")
        raise SolverNumericError(f"HiGHS ended with status {result.status.value} after "
                                 f"{result.seconds:.1f} s without a plan")
    duals = result.duals
    x = result.x * unit
    n = result.n
    if formulation == "milp":
        n = np.rint(n)
        t0 = time.perf_counter()
        if direct:
            fixed_result, _, _ = solve_lp_direct(c, instance.solver.time_limit_s, unit,
                                                 fixed_nodes=n)
            fixed_result.duals.pop("reduced_cost_x", None)
            rows = lp_rows(c)
        else:
            fixed = build_lp(c, unit=unit)
            rows = fixed.rows
            fixed.problem = cp.Problem(fixed.problem.objective,
                                       fixed.problem.constraints + [fixed.n == n])
            fixed_result = solve(fixed, instance.solver.time_limit_s)
        duals = fixed_result.duals if fixed_result.status is Status.OPTIMAL else {}
        timings["duals"] = time.perf_counter() - t0
    elif not direct:
        rows = built.rows
    t0 = time.perf_counter()
    violations = verify_plan(c, x, n, integer=formulation == "milp")
    timings["verify"] = time.perf_counter() - t0
    if not violations.empty:
        found = "; ".join(f"{r.constraint} at {r.where} by {r.excess:.4g}"
                          for r in violations.head(5).itertuples())
        # A plan the solver calls optimal that breaks a row beyond tolerance: the instance is
        # infeasible within the solver's tolerances (a cap of a few watts, say), or a bug.
        details = elastic_diagnosis(c)
        if details:
            raise InfeasibleError(_message(details) + f" (the solver's plan broke: {found})",
                                  details)
        raise VerificationError(f"plan failed the independent re-check: {found}")
    t0 = time.perf_counter()
    assignment, deployments, classes, constraints = build_tables(
        c, x, n, duals, rows, unit, report.class_best, OBJECTIVE_UNITS[instance.objective])
    timings["report"] = time.perf_counter() - t0
    power = hourly_site_power_kw(c, x, n)
    per_query, per_node = c.energy_weights()
    energy = float(per_query @ x + per_node @ n)
    total_queries = float(c.demand.sum())
    summary = {
        "status": result.status.value,
        "objective": instance.objective,
        "objective_unit": OBJECTIVE_UNITS[instance.objective],
        "objective_value": (float(result.objective) if instance.objective == "energy"
                            else daily_objective(c, x, n)),
        # The fleet's energy whatever is minimised (the objective itself when it is energy).
        "objective_gwh_per_day": energy,
        "peak_power_mw": float(power.sum(axis=0).max() / 1e3),
        "wh_per_query": energy * 1e9 / total_queries,
        "queries_per_day": total_queries,
        "mip_gap": result.mip_gap,
        "mip_gap_history": gap_history,
        "solve_path": "direct" if direct else "cvxpy",
        "lp_bound": lp_bound,
        "lp_bound_gwh_per_day": lp_bound if instance.objective == "energy" else None,
        "nodes": float(n.sum()),
        "deployments_used": int(len(deployments)),
        "candidates": report.as_dict(),
        "timings_s": {k: round(v, 4) for k, v in timings.items()},
        "provenance": provenance(instance, digest, formulation),
        "warnings": warnings,
    }
    if "coefficient_source" in deployments:  # issue 13: measured / modelled / extrapolated
        summary["coefficient_sources"] = dict(zip(deployments["deployment"],
                                                  deployments["coefficient_source"]))
    if result.status is Status.TIME_LIMIT:
        log.warning("time limit reached: returning the incumbent with MIP gap %s",
                    "unknown" if result.mip_gap is None else f"{result.mip_gap:.4g}")
    return Plan(summary, assignment, deployments, classes, constraints,
                hourly=hourly_table(c, power),
                extra={"x": x, "n": n, "coefficients": c})
