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

This module is the robust LP's solve; the pipeline (``planner.pipeline.optimize_robust``) draws
its scenarios, explains an infeasible one, verifies and lays out the plan, as for every plan.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from formulations.coefficients import Coefficients
from formulations.form import Options, Robust, build
from planner.errors import PlannerError
from planner.solve.highs import solve_highs
from planner.solve.result import Result

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


@dataclass
class RobustSolve:
    """The robust LP's last solve (``result``, its ``form``) and the plan in queries/day."""

    result: Result
    form: object
    x: np.ndarray | None
    n: np.ndarray | None
    rounds: list[dict]


def solve_robust(c: Coefficients, scenarios: np.ndarray, capacity_multiplier: np.ndarray,
                 risk_level: float, confidence: float, time_limit_s: float,
                 timings: dict | None = None) -> RobustSolve:
    """The robust LP (the CVaR objective over the K x P scenario multipliers, capacity at each
    pair's quantile, the power cap in CVaR per site-hour), its cap rows added lazily: each round
    adds the site-hours whose sampled CVaR of power exceeds the cap. A result that is not
    optimal is returned as it is (the pipeline explains it)."""
    timings = {} if timings is None else timings
    hours = _first_hours(c)
    rounds = []
    t_solve = 0.0
    for _ in range(MAX_ROUNDS):
        t0 = time.perf_counter()
        form = build(c, Options(robust=Robust(scenarios, risk_level, capacity_multiplier,
                                              confidence, hours)))
        timings["build"] = timings.get("build", 0.0) + time.perf_counter() - t0
        result = solve_highs(form, time_limit_s)
        t_solve += result.seconds
        timings["solve"] = t_solve
        if result.x is None:
            return RobustSolve(result, form, None, None, rounds)
        x, n = result.x * form.unit, result.n
        added = 0
        for s in list(hours):
            power = site_hour_power(c, x, n, scenarios, s)  # K x 24
            over = np.flatnonzero(sample_cvar(power, confidence) > c.site_cap_kw[s] * (1 + 1e-6))
            new = [int(h) for h in over if h not in hours[s]]
            hours[s] = sorted(hours[s] + new)
            added += len(new)
        rounds.append({"cap_hours": {c.site_ids[s]: list(h) for s, h in hours.items()},
                       "objective": float(result.objective), "added": added})
        if not added:
            return RobustSolve(result, form, x, n, rounds)
    raise PlannerError(f"robust plan: cap rows still violated after {MAX_ROUNDS} rounds")


__all__ = ["RobustSolve", "sample_cvar", "site_hour_power", "solve_robust"]
