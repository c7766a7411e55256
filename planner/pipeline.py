"""The one pipeline: instance -> candidates -> coefficients -> formulation -> solve -> verify ->
plan. ``planner solve``, lever attribution, sweeps and the robust/uncertainty work all call it;
the robust plan is this pipeline with the robust LP's solve (:func:`optimize_robust`).

Infeasible plans are explained (:mod:`planner.solve.diagnosis`): a class no candidate can
serve, or the power cap / inventory / minimum site share that the demand cannot fit under, or
an integer rule of the MILP.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import version

import numpy as np

from formulations import FORMULATIONS
from formulations.coefficients import Coefficients
from formulations.form import Form, Options, build
from formulations.loads import site_power_kw
from planner import __version__
from planner.problem.candidates import CandidateReport, build_coefficients
from planner.problem.deferred import fill_deferred_ttft
from planner.errors import (EXIT_INFEASIBLE, EXIT_NO_SOLUTION, InfeasibleError, InputError,
                            NoSolutionError, PlannerError, VerificationError)
from planner.results.plan import Plan, build_tables, hourly_table
from planner.results.summary import PlanSummary
from planner.config.schema.plan import PlanningInstance
from planner.solve import solve as solve_form
from planner.solve.colgen import solve_lp_colgen
from planner.solve.diagnosis import (elastic_diagnosis, explain_ineligible, message,
                                     milp_diagnosis)
from planner.solve.highs import dust_floor
from planner.solve.lp import solve_lp_direct
from planner.solve.result import Result, Status
from planner.solve.robust import solve_robust
from planner.solve.verify import result_flows, verify_plan
from planner.results.uncertainty import (error_model, perturbed, plan_uncertainty,
                                         quantile_multiplier, sample_multipliers)

log = logging.getLogger(__name__)

OBJECTIVE_UNITS = {"energy": "GWh/day", "carbon": "kt CO2/day", "cost": "million USD/day"}

__all__ = ["EXIT_INFEASIBLE", "EXIT_NO_SOLUTION", "InfeasibleError", "NoSolutionError",
           "optimize", "optimize_robust", "robust_comparison", "uncertainty_analysis"]


# Solve path of the LP: below this many eligible pairs the whole aggregated LP in one solve
# ("direct"); from it on, column generation over the same form (planner.solve.colgen; exact by
# reduced cost). ``solve_path`` forces one.
DIRECT_MIN_PAIRS = 20_000
SOLVE_PATHS = ("auto", "direct", "colgen")
MILP_SOLVERS = ("auto", "priced", "direct", "lazy")
# MILP: below this many pairs the whole aggregated MILP goes to HiGHS (its root is quick there:
# fleet-1b proves 0.02 % in ~1 s); from it on, the priced relaxed/restricted MILPs.
PRICED_MIN_PAIRS = 5_000


def provenance(instance: PlanningInstance, digest: str, formulation: str,
               changes: list | None = None) -> dict:
    """What a plan was solved from; ``changes``: the overrides applied to the instance file
    (scenario, ``--set``; :class:`planner.config.Change`), in order."""
    return {"instance": instance.name, "instance_hash": digest, "seed": instance.seed,
            "overrides": [c.as_json() for c in changes or ()],
            "formulation": formulation,
            "versions": {"planner": __version__, "highspy": version("highspy"),
                         "numpy": np.__version__},
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




def eligible_coefficients(instance: PlanningInstance,
                          coefficients: tuple[Coefficients, CandidateReport] | None,
                          timings: dict, defer_ttft: bool = False
                          ) -> tuple[Coefficients, CandidateReport]:
    """The instance's coefficients (built unless given, timed) after the eligibility check: a
    class no candidate can serve is infeasible before any solve. ``defer_ttft`` (issue 26):
    the pairs' TTFT percentiles are computed only where read - here for the deployments
    ``distinct`` could merge (``duplicate_suspects``), in :func:`assemble_plan` for the pairs
    the plan serves."""
    t0 = time.perf_counter()
    c, report = coefficients or build_coefficients(instance, defer_ttft=defer_ttft)
    timings["candidates"] = time.perf_counter() - t0
    details = explain_ineligible(report)
    if details:
        raise InfeasibleError(message(details), details)
    t0 = time.perf_counter()
    c = fill_deferred_ttft(instance, c, np.flatnonzero(c.duplicate_suspects()[c.pair_dep]))
    timings["ttft_deferred"] = time.perf_counter() - t0
    return c.distinct()[0], report


@dataclass
class Solved:
    """What a solve path hands back: the result (x in demand units), the form whose row
    blocks label its duals, and the path's own bound, history and timings."""

    result: Result
    unit: float
    form: Form | None
    path: str
    lp_bound: float | None = None
    distributed: dict | None = None  # issue 26: the cluster of a --scheduler solve
    gap_history: list | None = None
    timings: dict = field(default_factory=dict)


def solve_coefficients(c: Coefficients, formulation: str, time_limit_s: float, mip_gap: float,
                       solve_path: str = "auto", milp_solver: str = "auto",
                       solver: str = "highs") -> Solved:
    """Solve the formulation over the coefficients by the path its size calls for."""
    if solve_path not in SOLVE_PATHS:
        raise InputError(f"unknown solve path; known: {list(SOLVE_PATHS)}", field="solve_path",
                         value=solve_path, has_value=True)
    if milp_solver not in MILP_SOLVERS:
        raise InputError(f"unknown MILP solver; known: {list(MILP_SOLVERS)}",
                         field="milp_solver", value=milp_solver, has_value=True)
    name, _, sub = solver.partition(":")
    if name not in ("highs", "cvxpy") or (name == "highs" and sub):
        raise InputError("unknown solver; known: highs, cvxpy[:NAME] (a solver cvxpy supports)",
                         field="--solver", value=solver, has_value=True)
    if solver != "highs" and formulation == "milp" and milp_solver not in ("auto", "direct"):
        raise InputError("a MILP through cvxpy is solved whole (milp_solver 'direct' or "
                         "'auto')", field="milp_solver", value=milp_solver, has_value=True)
    if formulation == "milp":
        return _solve_milp(c, time_limit_s, mip_gap, milp_solver, solver)
    if solver != "highs" or solve_path == "direct" or (
            solve_path == "auto" and c.n_pairs < DIRECT_MIN_PAIRS):
        t0 = time.perf_counter()
        form = build(c, Options(aggregated=True))
        build_s = time.perf_counter() - t0
        if solver == "highs":
            result, _, phase = solve_lp_direct(c, time_limit_s, form=form)
            build_s += phase["load"]
        else:
            result = solve_form(form, time_limit_s, solver=solver)
        return Solved(result, form.unit, form, "direct",
                      timings={"build": build_s, "solve": result.seconds})
    cg = solve_lp_colgen(c, time_limit_s)
    return Solved(cg.result, cg.unit, cg.form, "colgen",
                  timings={"solve": cg.result.seconds, "colgen_rounds": len(cg.rounds),
                           "colgen_pairs": cg.pairs_in_master})


def _solve_milp(c: Coefficients, time_limit_s: float, mip_gap: float, milp_solver: str,
                solver: str) -> Solved:
    from planner.solve.lazy_milp import solve_milp
    from planner.solve.milp_direct import solve_milp_direct
    from planner.solve.milp_priced import solve_milp_priced

    if solver != "highs":
        form = build(c, Options(aggregated=True, integer=True))
        result = solve_form(form, time_limit_s, mip_gap, solver=solver)
        return Solved(result, form.unit, None, "direct", timings={"solve": result.seconds})
    if milp_solver == "auto":
        milp_solver = "direct" if c.n_pairs < PRICED_MIN_PAIRS else "priced"
    if milp_solver == "lazy":
        # Lazy hour rows + support repair: the gap is proven by the LP-of-rows bound and the
        # repaired plan.
        lazy = solve_milp(c, time_limit_s, mip_gap)
        return Solved(lazy.result, lazy.unit, None, "lazy",
                      lp_bound=lazy.lp.objective if lazy.lp.optimal else None,
                      timings={"solve": lazy.result.seconds, "milp_rounds": len(lazy.rounds)})
    # Priced: relaxed MILPs over priced pairs bound the whole MILP, repairs give plans.
    # Direct: rounded and restricted incumbents, then the whole aggregated MILP seeded.
    run = solve_milp_priced if milp_solver == "priced" else solve_milp_direct
    mres = run(c, time_limit_s, mip_gap)
    timings = {"solve": mres.result.seconds}
    timings.update({f"milp_{k}": v for k, v in mres.stages.items()})
    history = [h.as_dict() for h in mres.history]
    return Solved(mres.result, mres.unit, None, milp_solver,
                  lp_bound=mres.lp.objective if mres.lp.optimal else None, gap_history=history,
                  timings=timings)


def _solve_on_dask(instance, formulation, scheduler, coefficients, solve_path, solver, limit,
                   timings, gap=0.005, milp_solver="auto") -> tuple[Coefficients,
                                                                  CandidateReport, Solved]:
    """The LP (column generation) or the MILP (the priced MILP, its pricing on the workers) on
    a Dask cluster; what it cannot do is refused, never done in one process."""
    from planner.solve.distributed import check_scheduler, solve_lp_dask, solve_milp_dask

    check_scheduler(scheduler)
    if formulation == "milp" and milp_solver not in ("auto", "priced"):
        raise InputError("--scheduler solves the MILP by pricing (milp_solver 'priced' or "
                         "'auto'); the whole-MILP and lazy solvers need every pair in one "
                         "process", field="--scheduler", value=scheduler, has_value=True)
    if solver != "highs" or solve_path == "direct" or coefficients is not None:
        raise InputError("--scheduler runs column generation with HiGHS on candidates it "
                         "evaluates itself", field="--scheduler", value=scheduler,
                         has_value=True)
    if formulation == "milp":
        ds = solve_milp_dask(instance, scheduler, limit, gap)
        mres = ds.colgen
        solved = Solved(mres.result, mres.unit, None, "priced-dask",
                        lp_bound=mres.lp.objective if mres.lp.optimal else None,
                        gap_history=[h.as_dict() for h in mres.history],
                        timings={f"milp_{k}": v for k, v in mres.stages.items()})
    else:
        ds = solve_lp_dask(instance, scheduler, limit)
        solved = Solved(ds.colgen.result, ds.colgen.unit, ds.colgen.form, "colgen-dask",
                        timings={})
    timings.update(ds.timings)
    log.info("solved on %s", ds.where)
    solved.distributed = {"where": ds.where, "workers_peak_rss_gb": {
        k: round(v / 1e9, 3) for k, v in (ds.workers_peak_rss or {}).items()}}
    return ds.c, ds.report, solved


def plan_from_result(c: Coefficients, result: Result, unit: float
                     ) -> tuple[np.ndarray, np.ndarray, dict]:
    """A solve's plan in queries/day: x without solver dust, n, and its other per-pair column
    blocks (failover flows), as the verifier and the tables read it."""
    return (c.without_dust(result.x * unit, dust_floor(unit)), result.n,
            result_flows(result, unit))


def verify_or_raise(c: Coefficients, x: np.ndarray, n: np.ndarray, flows: dict,
                    what: str, integer: bool = False) -> None:
    """The independent re-check of a plan the pipeline did not lay out itself (a lever
    subset's): VerificationError naming ``what`` and the first broken rows."""
    violations = verify_plan(c, x, n, integer=integer, flows=flows)
    if not violations.empty:
        raise VerificationError(f"{what} failed the re-check: " + "; ".join(
            f"{r.constraint} at {r.where}" for r in violations.head(3).itertuples()))


def diagnose(c: Coefficients, formulation: str, solved: Solved, time_limit_s: float,
             mip_gap: float) -> InfeasibleError:
    """The infeasibility explained: the elastic LP, then the MILP's integer rules."""
    details = elastic_diagnosis(c)
    if not details and formulation == "milp" and solved.lp_bound is not None:
        details = milp_diagnosis(c, time_limit_s, mip_gap)
    details = details or [{"site": "all", "constraint": "unknown", "limit": np.nan,
                           "closest": np.nan, "unit": "",
                           "note": "the solver proved infeasibility but no single rule "
                                   "explains it"}]
    return InfeasibleError(message(details), details)


def pool_fixed_point(instance: PlanningInstance, c: Coefficients, solved: "Solved",
                     formulation: str, limit: float, gap: float, solve_path: str,
                     milp_solver: str, solver: str, timings: dict
                     ) -> tuple[Coefficients, "Solved", dict]:
    """Issue 22's fixed point on the plan's replica counts: the usable utilisation of every
    pair the plan uses, recomputed on the deployment's pool as planned (whole replicas, every
    class it serves at its peak hour: :mod:`planner.problem.pooling`), re-solved until no used
    pair's usable utilisation moves by more than the tolerance (at most MAX_ITERATIONS
    re-solves). Without a TTFT SLO nothing depends on the pools. Returns the coefficients and
    solve of the last plan and what happened (re-solves, converged, pairs changed)."""
    from planner.problem.pooling import (MAX_ITERATIONS, TOLERANCE, plan_usable_utilization,
                                         with_usable_utilization)

    info = {"resolves": 0, "converged": True, "pairs_changed": 0, "max_change": 0.0}
    if not any(cls.slo.ttft_ms for cls in instance.classes):
        return c, solved, info
    t0 = time.perf_counter()
    for _ in range(MAX_ITERATIONS + 1):
        result = solved.result
        if result.x is None or result.status is Status.INFEASIBLE:
            break
        x = plan_from_result(c, result, solved.unit)[0]
        usable = plan_usable_utilization(instance, c, x)
        old = c.pairs["usable_utilization"].to_numpy(float)
        moved = ~np.isclose(np.nan_to_num(usable, nan=-1.0), np.nan_to_num(old, nan=-1.0),
                            rtol=0.0, atol=TOLERANCE)
        info["max_change"] = float(np.max(np.abs(np.nan_to_num(usable, nan=0.0)
                                                 - np.nan_to_num(old, nan=0.0)), initial=0.0))
        if not moved.any():
            info["converged"] = True
            break
        if info["resolves"] == MAX_ITERATIONS:
            info["converged"] = False
            break
        trial = with_usable_utilization(c, usable)
        again = solve_coefficients(trial, formulation, limit, gap, solve_path, milp_solver,
                                   solver)
        if again.result.x is None or again.result.status is Status.INFEASIBLE:
            info["converged"] = False  # keep the last plan: the pools cannot be made to meet
            break
        c, solved = trial, again
        info["resolves"] += 1
        info["pairs_changed"] += int(moved.sum())
    timings["pooling"] = time.perf_counter() - t0
    return c, solved, info


def optimize(instance: PlanningInstance, digest: str = "", formulation: str = "lp",
             coefficients: tuple[Coefficients, CandidateReport] | None = None,
             solve_path: str = "auto", milp_solver: str = "auto",
             solver: str = "highs", changes: list | None = None,
             scheduler: str | None = None) -> Plan:
    """Solve an instance and return a verified plan (raises InfeasibleError / NoSolutionError).

    ``solve_path`` (LP): "auto", "direct" (the whole aggregated LP) or "colgen" (column
    generation over it). ``milp_solver``: "priced" (relaxed and restricted MILPs over priced
    pairs with a bound valid for the whole MILP), "direct" (the whole aggregated MILP after
    rounding and restricted incumbents) or "lazy" (lazy hour rows). ``solver``: "highs"
    (highspy directly) or "cvxpy[:NAME]" (the same matrices through cvxpy). ``changes``: the
    overrides applied to the instance file, recorded in the summary's provenance.
    ``scheduler`` (issue 26): ``local[:N]`` or a Dask address - the LP with the candidates and
    the pricing on the cluster's workers (:mod:`planner.solve.distributed`), or the priced MILP
    with the same pricing there."""
    if formulation not in FORMULATIONS:
        raise InputError(f"unknown formulation; known: {sorted(FORMULATIONS)}",
                         field="formulation", value=formulation, has_value=True)
    warnings = option_warnings(instance, formulation)
    for text in warnings:  # in the summary's warnings; a note, not a warning, on stderr: a
        log.info("%s", text)  # shipped instance's MILP rules must not warn on every LP run
    timings = {}
    limit, gap = instance.solver.time_limit_s, instance.solver.mip_gap
    if scheduler is not None:
        c, report, solved = _solve_on_dask(instance, formulation, scheduler, coefficients,
                                           solve_path, solver, limit, timings, gap,
                                           milp_solver)
    else:
        c, report = eligible_coefficients(instance, coefficients, timings, defer_ttft=True)
        solved = solve_coefficients(c, formulation, limit, gap, solve_path, milp_solver, solver)
        c, solved, pooling = pool_fixed_point(instance, c, solved, formulation, limit, gap,
                                              solve_path, milp_solver, solver, timings)
    timings.update(solved.timings)
    result = solved.result
    result.require_plan("plan", limit, lambda: diagnose(c, formulation, solved, limit, gap))
    x, n, flows = plan_from_result(c, result, solved.unit)
    duals, form, values = result.duals, solved.form, result.values
    if formulation == "milp":
        # Shadow prices of a MILP plan: the LP's duals with its whole nodes fixed.
        n = np.rint(n)
        t0 = time.perf_counter()
        fixed, form, _ = solve_lp_direct(c, limit, solved.unit, fixed_nodes=n)
        duals, values = (fixed.duals, fixed.values) if fixed.optimal else ({}, None)
        timings["duals"] = time.perf_counter() - t0
    if result.status is Status.TIME_LIMIT:
        log.warning("time limit reached: returning the incumbent with MIP gap %s",
                    "unknown" if result.mip_gap is None else f"{result.mip_gap:.4g}")
    summary = {"status": result.status.value,
               "objective_value": (float(result.objective) if instance.objective == "energy"
                                   else None),
               "mip_gap": result.mip_gap, "mip_gap_history": solved.gap_history,
               "solve_path": solved.path, "lp_bound": solved.lp_bound,
               "lp_bound_gwh_per_day": (solved.lp_bound if instance.objective == "energy"
                                        else None)}
    if solved.distributed is not None:
        summary["distributed"] = solved.distributed
    if scheduler is None:
        summary["pooling"] = pooling
    return assemble_plan(instance, digest, formulation, c, report, x, n, duals, form, summary,
                         timings, warnings, integer=formulation == "milp", values=values,
                         flows=flows, changes=changes)


def assemble_plan(instance: PlanningInstance, digest: str, formulation: str, c: Coefficients,
                  report: CandidateReport, x: np.ndarray, n: np.ndarray, duals: dict,
                  form: Form | None, summary: dict, timings: dict, warnings: list[str] = (),
                  integer: bool = False, values: np.ndarray | None = None,
                  flows: dict | None = None, changes: list | None = None) -> Plan:
    """Verify a plan independently and lay it out as tables and a summary (x in queries/day;
    ``flows``: its other per-pair columns by block, layers x pairs, queries/day)."""
    t0 = time.perf_counter()
    violations = verify_plan(c, x, n, integer=integer, flows=flows)
    timings["verify"] = time.perf_counter() - t0
    if not violations.empty:
        found = "; ".join(f"{r.constraint} at {r.where} by {r.excess:.4g}"
                          for r in violations.head(5).itertuples())
        # A plan the solver calls optimal that breaks a row beyond tolerance: the instance is
        # infeasible within the solver's tolerances (a cap of a few watts, say), or a bug.
        details = elastic_diagnosis(c)
        if details:
            raise InfeasibleError(message(details) + f" (the solver's plan broke: {found})",
                                  details)
        raise VerificationError(f"plan failed the independent re-check: {found}")
    t0 = time.perf_counter()
    # issue 26: the TTFT percentiles the tables read, where the candidates deferred them
    c = fill_deferred_ttft(instance, c, np.flatnonzero(x > 0))
    assignment, deployments, classes, constraints = build_tables(
        c, x, n, duals, form, OBJECTIVE_UNITS[instance.objective], values,
        integer=formulation == "milp")
    timings["report"] = time.perf_counter() - t0
    power = site_power_kw(c, x, n)
    per_query, per_node = c.energy_weights()
    energy = float(per_query @ x + per_node @ n)
    total_queries = float(c.demand.sum())
    objective_value = summary.pop("objective_value", None)
    out: PlanSummary = {
        "status": summary.pop("status"),
        "objective": instance.objective,
        "objective_unit": OBJECTIVE_UNITS[instance.objective],
        "objective_value": (objective_value if objective_value is not None
                            else c.daily_objective(x, n)),
        # The fleet's energy whatever is minimised (the objective itself when it is energy).
        "objective_gwh_per_day": energy,
        "peak_power_mw": float(power.sum(axis=0).max() / 1e3),
        "wh_per_query": energy * 1e9 / total_queries,
        "queries_per_day": total_queries,
        "mip_gap": None, "mip_gap_history": None, "solve_path": None, "lp_bound": None,
        "lp_bound_gwh_per_day": None,
        "nodes": float(n.sum()),
        "deployments_used": int(len(deployments)),
        "candidates": report.as_dict(),
    }
    out.update(summary)
    out["timings_s"] = {k: round(v, 4) for k, v in timings.items()}
    out["provenance"] = provenance(instance, digest, formulation, changes)
    out["warnings"] = list(warnings)
    if "coefficient_source" in deployments:  # issue 13: measured / modelled / extrapolated
        out["coefficient_sources"] = dict(zip(deployments["deployment"],
                                              deployments["coefficient_source"]))
    return Plan(out, assignment, deployments, classes, constraints,
                hourly=hourly_table(c, power), extra={"x": x, "n": n, "coefficients": c,
                                                      "flows": flows or {}})


# --- the robust plan and the uncertainty analyses (issue 14) --------------------------------

def optimize_robust(instance: PlanningInstance, digest: str = "",
                    coefficients: tuple[Coefficients, CandidateReport] | None = None,
                    changes: list | None = None) -> Plan:
    """The robust plan of an instance (LP), verified against the nominal constraints too."""
    r = instance.robustness
    timings = {}
    c, report = eligible_coefficients(instance, coefficients, timings)
    model = error_model(c, r.correlated_share, r.uncertainty_scale)
    scenarios = sample_multipliers(model, r.scenarios, r.seed, stream="robust")
    q = quantile_multiplier(model, r.confidence)
    solved = solve_robust(c, scenarios, q, r.risk_level, r.confidence,
                          instance.solver.time_limit_s, timings)
    result, form, x, n, rounds = (solved.result, solved.form, solved.x, solved.n,
                                  solved.rounds)
    if result.status is Status.INFEASIBLE:
        raise _robust_infeasible(instance, digest, c, q, r.confidence)
    if x is None:
        raise NoSolutionError(f"robust plan: no solution (solver status "
                              f"{result.status.value} after {result.seconds:.1f} s)")
    # No shadow prices: the robust LP's duals are in CVaR units, not the nominal GWh/day the
    # constraints table names, so they are left out (NaN) rather than mislabelled.
    objective = float(np.asarray(c.energy_weights(objective=True)[0]) @ x
                      + c.energy_weights(objective=True)[1] @ n)
    summary = {
        "status": result.status.value,
        # The nominal value of the robust plan (its objective at the point coefficients).
        "objective_value": objective, "mip_gap": 0.0,
        "robust": {
            "formulation": f"scenario LP: min CVaR_{r.risk_level:g} of the objective over "
                           f"{r.scenarios} sampled scenarios (Rockafellar-Uryasev); capacity at "
                           f"each pair's {r.confidence:g}-quantile; power cap in CVaR_"
                           f"{r.confidence:g} per site-hour (rows added lazily) and nominal",
            "risk_level": r.risk_level, "confidence": r.confidence, "scenarios": r.scenarios,
            "seed": r.seed, "stream": "robust",
            f"in_sample_cvar{round(r.risk_level * 100)}": float(result.objective),
            "rounds": rounds}}
    plan = assemble_plan(instance, digest, "robust", c, report, x, n, {}, None, summary,
                         timings, flows=result_flows(result, form.unit), changes=changes)
    for key in ("mip_gap_history", "solve_path", "warnings", "hourly"):
        plan.summary.pop(key, None)
    plan.hourly = None
    return plan


def _robust_infeasible(instance: PlanningInstance, digest: str, c: Coefficients,
                       q: np.ndarray, confidence: float) -> PlannerError:
    """The nominal problem's own diagnosis if it is infeasible too; else the sites (inventory)
    that cannot hold the demand at the confidence level, with the closest achievable value."""
    try:
        optimize(instance, digest, "lp", coefficients=None)
    except InfeasibleError as exc:
        return exc
    details = elastic_diagnosis(perturbed(c, q)) or [{
        "site": "?", "constraint": "robust rows", "limit": np.nan, "closest": np.nan,
        "unit": ""}]
    text = message(details).replace(
        "infeasible:", f"infeasible at robustness.confidence {confidence:g} (the nominal plan "
                       f"exists; lower the confidence or relax):", 1)
    return InfeasibleError(text, details)


def robust_comparison(instance: PlanningInstance, digest: str = "",
                      samples: int | None = None) -> dict:
    """Nominal and robust plans, both evaluated on the same out-of-sample draws: the robust
    plan's price (nominal energy up) and value (P90 and cap-violation probability down)."""
    r = instance.robustness
    samples = samples or r.samples
    coefficients = build_coefficients(instance)
    nominal = optimize(instance, digest, "lp", coefficients)
    robust = optimize_robust(instance, digest, coefficients)
    out = {"plans": {}}
    for name, plan in (("nominal", nominal), ("robust", robust)):
        e = plan.extra
        s, table, mc = plan_uncertainty(e["coefficients"], e["x"], e["n"], samples, r.seed,
                                        r.correlated_share, r.uncertainty_scale, r.risk_level)
        out["plans"][name] = {"plan": plan, "summary": s, "table": table, "mc": mc}
    ns, rs = out["plans"]["nominal"]["summary"], out["plans"]["robust"]["summary"]
    cv = f"cvar{int(round(r.risk_level * 100))}_gwh_per_day"
    out["comparison"] = {
        "nominal_gwh_per_day": {"nominal": ns["point_gwh_per_day"],
                                "robust": rs["point_gwh_per_day"]},
        "price_pct": 100 * (rs["point_gwh_per_day"] / ns["point_gwh_per_day"] - 1),
        "p90_gwh_per_day": {"nominal": ns["gwh_per_day"]["p90"],
                            "robust": rs["gwh_per_day"]["p90"]},
        "p90_change_pct": 100 * (rs["gwh_per_day"]["p90"] / ns["gwh_per_day"]["p90"] - 1),
        cv: {"nominal": ns[cv], "robust": rs[cv]},
        "median_gwh_per_day": {"nominal": ns["gwh_per_day"]["median"],
                               "robust": rs["gwh_per_day"]["median"]},
        "p_cap_exceeded": {"nominal": ns["p_cap_exceeded"], "robust": rs["p_cap_exceeded"]},
        "p_utilization_above_ceiling": {"nominal": ns["p_utilization_above_ceiling"],
                                        "robust": rs["p_utilization_above_ceiling"]},
        "p_capacity_shortfall": {"nominal": ns["p_capacity_shortfall"],
                                 "robust": rs["p_capacity_shortfall"]},
        "draws": samples, "seed": r.seed}
    return out


def uncertainty_analysis(instance: PlanningInstance, digest: str = "",
                         robust: bool = False) -> dict:
    """The nominal plan's uncertainty (and with ``robust`` the robust plan's, and the
    comparison): ``{"plans": {name: {plan, summary, table, mc}}, ["comparison"]}``."""
    if robust:
        return robust_comparison(instance, digest)
    r = instance.robustness
    plan = optimize(instance, digest, "lp")
    e = plan.extra
    s, table, mc = plan_uncertainty(e["coefficients"], e["x"], e["n"], r.samples, r.seed,
                                    r.correlated_share, r.uncertainty_scale, r.risk_level)
    return {"plans": {"nominal": {"plan": plan, "summary": s, "table": table, "mc": mc}}}


