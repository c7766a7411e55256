"""The robust plan (``planner solve --robust``) and its price and value against the nominal plan.

Why this formulation. The errors that matter are correlated: a hardware family's calibration
(or a spec-sheet extrapolation) is off for every deployment of that family and model kind at
once, and the optimizer's curse concentrates the nominal plan on exactly the coefficients that
look cheapest. A sample-average scenario LP with CVaR (Rockafellar-Uryasev) takes that
structure as it is sampled, uses the same error model that evaluates the plan, stays an LP
(K scenario rows plus K auxiliaries), and minimises a coherent risk measure (the mean of the
worst 1 - alpha of outcomes, an upper bound on the alpha-quantile, so the P90 is pushed down
directly). Bertsimas-Sim budgeted uncertainty protects against a number of independent
coefficients at their worst; it has no notion of a shared family error, and a budget counted in
coefficients is hard to state for a capacity planner. Capacity rows use each pair's
confidence-quantile (exact for a deployment serving one class); the power cap is held in CVaR
at the confidence level (a convex, conservative stand-in for the chance constraint). The robust
LP's scenarios come from a different random stream than the draws that evaluate it, so its
reported P90 and cap-violation probability are out of sample.
"""

from __future__ import annotations

import logging
import time

import numpy as np

from formulations.coefficients import Coefficients
from formulations.form import Options, Robust, build
from planner.problem.candidates import CandidateReport, build_coefficients
from planner.errors import PlannerError
from planner.pipeline import (InfeasibleError, NoSolutionError, assemble_plan,
                              eligible_coefficients, optimize)
from planner.results.plan import Plan
from planner.config.schema.plan import PlanningInstance
from planner.solve.diagnosis import elastic_diagnosis, message
from planner.solve.highs import solve_highs
from planner.solve.result import Status
from planner.solve.verify import result_flows
from planner.results.uncertainty import (error_model, perturbed, quantile_multiplier,
                                 sample_multipliers)

log = logging.getLogger(__name__)

MAX_ROUNDS = 24


def site_hour_power(c: Coefficients, x: np.ndarray, n: np.ndarray, m: np.ndarray,
                    site: int) -> np.ndarray:
    """K x 24 facility kW of one site under each scenario row of m."""
    on = c.dep_site[c.pair_dep] == site
    load = c.hourly_load()[on]  # p x 24
    dyn = (m[:, on] * (x[on] * c.dynamic_kwh[on])[None, :]) @ load
    idle = float((n * c.dep_idle_kw)[c.dep_site == site].sum())
    return (dyn + idle) * c.site_pue[site]


def sample_cvar(values: np.ndarray, level: float, axis: int = 0) -> np.ndarray:
    """min_tau tau + E[(v - tau)+] / (1 - level) over the sample (what the LP's rows compute)."""
    v = np.sort(values, axis=axis)
    k = v.shape[axis]
    idx = min(int(np.ceil(level * k)) - 1, k - 1)
    tau = np.take(v, idx, axis=axis)
    return tau + np.mean(np.maximum(values - np.expand_dims(tau, axis), 0), axis=axis) / (1 - level)


def _first_hours(c: Coefficients) -> dict[int, list[int]]:
    """Start with each capped site's peak hour of the demand-weighted profile."""
    weighted = (c.demand[:, None] * c.profile).sum(axis=0)
    return {int(s): [int(np.argmax(weighted))] for s in np.flatnonzero(np.isfinite(c.site_cap_kw))}


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
    hours = _first_hours(c)
    rounds = []
    t_solve = 0.0
    for _ in range(MAX_ROUNDS):
        t0 = time.perf_counter()
        form = build(c, Options(robust=Robust(scenarios, r.risk_level, q, r.confidence,
                                              hours)))
        timings["build"] = timings.get("build", 0.0) + time.perf_counter() - t0
        result = solve_highs(form, instance.solver.time_limit_s)
        t_solve += result.seconds
        if result.status is Status.INFEASIBLE:
            raise _robust_infeasible(instance, digest, c, q, r.confidence)
        if result.x is None:
            raise NoSolutionError(f"robust plan: no solution (solver status "
                                  f"{result.status.value} after {result.seconds:.1f} s)")
        x, n = result.x * form.unit, result.n
        added = 0
        for s in list(hours):
            power = site_hour_power(c, x, n, scenarios, s)  # K x 24
            over = np.flatnonzero(sample_cvar(power, r.confidence) > c.site_cap_kw[s] * (1 + 1e-6))
            new = [int(h) for h in over if h not in hours[s]]
            hours[s] = sorted(hours[s] + new)
            added += len(new)
        rounds.append({"cap_hours": {c.site_ids[s]: list(h) for s, h in hours.items()},
                       "objective": float(result.objective), "added": added})
        if not added:
            break
    else:
        raise PlannerError(f"robust plan: cap rows still violated after {MAX_ROUNDS} rounds")
    timings["solve"] = t_solve
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
    from planner.results.uncertainty import plan_uncertainty

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
    from planner.results.uncertainty import plan_uncertainty

    if robust:
        return robust_comparison(instance, digest)
    r = instance.robustness
    plan = optimize(instance, digest, "lp")
    e = plan.extra
    s, table, mc = plan_uncertainty(e["coefficients"], e["x"], e["n"], r.samples, r.seed,
                                    r.correlated_share, r.uncertainty_scale, r.risk_level)
    return {"plans": {"nominal": {"plan": plan, "summary": s, "table": table, "mc": mc}}}


__all__ = ["optimize_robust", "robust_comparison", "uncertainty_analysis", "sample_cvar"]
