"""Re-optimised uncertainty draws on the sweep engine (issue 14).

Draw k is the k-th row of the fixed plan's Monte Carlo (:mod:`planner.results.uncertainty`, stream
``evaluate``, the instance's ``robustness`` seed): the same coefficient errors. Each draw is
one sweep point: the LP re-solved with the drawn coefficients, and the point plan (solved once
per worker at the nominal coefficients) evaluated in the same draw. Regret = the point plan's
energy in the draw, with the nodes the draw needs to restore the utilisation ceiling added
(inventory and cap not re-checked for those), minus the draw's optimum. Points are persisted
atomically one by one (``OUT/redraw_points/redraw-*.json``), so a crash loses only the draws in
flight and ``resume`` solves only the missing ones, on the local process pool or Dask, exactly
as ``planner sweep``.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from planner.config import digest
from planner.errors import InfeasibleError
from planner.solve.result import SOLVED_VALUES, Status
from planner.io import write_atomic, write_json_atomic
from planner.sweep.engine import claim_manifest, resumable, run_points
from planner.sweep.points import Point

log = logging.getLogger(__name__)

_STATE: dict = {}


def _state(base: dict, file: str) -> dict:
    """Per worker process: the instance, its candidates, the point plan (cached by the input)."""
    from planner.problem.candidates import build_coefficients
    from planner.problem.instance import instance_from_mapping
    from planner.pipeline import optimize
    from planner.results.uncertainty import error_model

    key = digest(base)
    if key not in _STATE:
        _STATE.clear()
        instance, instance_hash = instance_from_mapping(base, file)
        c, report = build_coefficients(instance)
        plan = optimize(instance, instance_hash, "lp", (c, report))
        c = plan.extra["coefficients"]  # the problem the plan solved (duplicates merged)
        r = instance.robustness
        _STATE[key] = {"instance": instance, "digest": instance_hash, "c": c, "report": report,
                       "x": plan.extra["x"], "n": plan.extra["n"],
                       "model": error_model(c, r.correlated_share, r.uncertainty_scale)}
    return _STATE[key]


def solve_redraw(base: dict, point: dict, file: str, formulation: str) -> dict:
    """One re-optimised draw; never raises for a bad draw (the status says what happened)."""
    from planner.errors import PlannerError
    from planner.pipeline import optimize
    from planner.results.uncertainty import evaluate_fixed_plan, perturbed, sample_multipliers

    t0 = time.perf_counter()
    record = {"point": point}
    try:
        s = _state(base, file)
        k = int(point["columns"]["draw"])
        r = s["instance"].robustness
        m = sample_multipliers(s["model"], k + 1, r.seed)[k:k + 1]
        fixed = evaluate_fixed_plan(s["c"], s["x"], s["n"], m)
        result = {"draw": k, "point_plan_gwh_per_day": float(fixed.gwh_per_day[0]),
                  "point_plan_gwh_per_day_reprovisioned": float(
                      fixed.gwh_per_day_reprovisioned[0]),
                  "point_plan_cap_exceeded": bool(fixed.cap_exceeded[0])}
        try:
            plan = optimize(s["instance"], s["digest"], formulation,
                            (perturbed(s["c"], m[0]), s["report"]))
            opt = plan.summary["objective_gwh_per_day"]
            result.update({
                "status": plan.summary["status"], "objective_gwh_per_day": opt,
                "peak_power_mw": plan.summary["peak_power_mw"],
                "regret_gwh_per_day": result["point_plan_gwh_per_day_reprovisioned"] - opt,
                "regret_pct": 100 * (result["point_plan_gwh_per_day_reprovisioned"] / opt - 1),
                "same_deployments": bool(set(plan.deployments["deployment"])
                                         == set(_used_labels(s)))})
        except PlannerError as exc:
            status = (Status.INFEASIBLE if isinstance(exc, InfeasibleError) else Status.FAILED).value
            result.update({"status": status, "error": str(exc)})
        record["result"] = result
    except Exception as exc:  # a bug at one draw must not cost the others
        record["result"] = {"status": Status.FAILED.value, "error": f"{type(exc).__name__}: {exc}"}
    record["result"]["seconds"] = time.perf_counter() - t0
    return record


def _used_labels(s: dict) -> list[str]:
    from planner.results.plan import deployment_labels

    labels = np.array(deployment_labels(s["c"]))
    return list(labels[s["n"] > 1e-6])


def run_redraws(base: dict, file: str, out_dir: str | Path, draws: int, jobs: int = 1,
                scheduler: str | None = None, resume: bool = False,
                progress: Callable[[int], None] | None = None,
                total: Callable[[int], None] | None = None) -> tuple[pd.DataFrame, dict]:
    """Solve ``draws`` re-optimised draws into ``out_dir``; the table and its summary."""
    from planner.results.uncertainty import check_samples, quantiles

    check_samples(draws, "--redraws")
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    points = [Point(f"redraw-{k:05d}", "redraw", None, columns={"draw": k})
              for k in range(draws)]
    manifest = {"instance": file, "instance_hash": digest(base), "kind": "redraws",
                "draws": draws}
    manifest_path = out_dir / "redraws_manifest.json"
    point_dir = out_dir / "redraw_points"  # beside, never mixed with, a sweep's points/
    claim_manifest(manifest_path, manifest, ("instance_hash",), resume,
                   "holds re-optimised draws; pass --resume to continue them or choose "
                   "another --out", "--resume with a different instance than the one that "
                   "started these draws")
    todo, persist = resumable(points, point_dir, progress, total)

    engine = run_points(todo, base, file, "lp", jobs, scheduler, persist, worker=solve_redraw)
    rows = []
    for p in points:
        try:
            rows.append(json.loads((point_dir / f"{p.id}.json").read_text())["result"])
        except (OSError, ValueError, KeyError):
            rows.append({"draw": p.columns["draw"], "status": Status.MISSING.value})
    table = pd.DataFrame(rows)
    write_atomic(out_dir / "redraws.csv", lambda tmp: table.to_csv(tmp, index=False))
    ok = table[table["status"].isin(SOLVED_VALUES)] if "status" in table else table
    summary = {"draws": draws, "solved_now": len(todo), "skipped_done": len(points) - len(todo),
               "engine": engine, "status_counts": table["status"].value_counts().to_dict(),
               "seconds": round(time.perf_counter() - t0, 3)}
    if len(ok):
        summary["optimum_gwh_per_day"] = quantiles(ok["objective_gwh_per_day"])
        summary["point_plan_gwh_per_day_reprovisioned"] = quantiles(
            ok["point_plan_gwh_per_day_reprovisioned"])
        summary["regret_gwh_per_day"] = quantiles(ok["regret_gwh_per_day"])
        summary["regret_pct"] = quantiles(ok["regret_pct"])
        summary["share_same_deployments"] = float(ok["same_deployments"].mean())
    write_json_atomic(out_dir / "redraws_summary.json", summary)
    return table, summary
