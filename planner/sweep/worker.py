"""Solve one sweep point (runs in a worker process: local pool or Dask).

Candidates are cached per process by :func:`planner.candidates.candidate_key`: points that change
only PUE, caps, inventory or demand reuse the evaluated candidates and only re-assemble and
re-solve the LP.
"""

from __future__ import annotations

import os
import time

_CANDIDATES: dict = {}
_CACHE_LIMIT = 64


def limit_threads() -> None:
    """One solver/BLAS thread per worker: the pool provides the parallelism."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


def solve_point(base: dict, point: dict, file: str, formulation: str) -> dict:
    """The point's headline numbers, or its error; never raises for a bad point."""
    from planner.candidates import assemble, candidate_key, candidate_pairs
    from planner.errors import PlannerError
    from planner.instance import instance_from_mapping
    from planner.optimize import optimize
    from planner.sweep.points import Point, point_data

    t0 = time.perf_counter()
    record = {"point": point}
    try:
        p = Point(**point)
        instance, digest = instance_from_mapping(point_data(base, p, file), file)
        key = candidate_key(instance)
        reused = key in _CANDIDATES
        if not reused:
            if len(_CANDIDATES) >= _CACHE_LIMIT:
                _CANDIDATES.pop(next(iter(_CANDIDATES)))
            _CANDIDATES[key] = candidate_pairs(instance)
        deployments, pairs, report = _CANDIDATES[key]
        plan = optimize(instance, digest, formulation,
                        (assemble(instance, deployments, pairs), report))
        s = plan.summary
        per_class = dict(zip(plan.classes["class"], plan.classes["wh_per_query"]))
        record["result"] = {
            "status": s["status"], "objective_gwh_per_day": s["objective_gwh_per_day"],
            "objective_value": s["objective_value"], "wh_per_query": s["wh_per_query"],
            "peak_power_mw": s["peak_power_mw"], "nodes": s["nodes"],
            "deployments_used": s["deployments_used"], "mip_gap": s["mip_gap"],
            "reused_candidates": reused, "instance_hash": digest,
            **{f"wh_per_query[{c}]": float(v) for c, v in per_class.items()}}
    except PlannerError as exc:
        status = "infeasible" if getattr(exc, "exit_code", None) == 3 else "failed"
        record["result"] = {"status": status, "error": str(exc)}
    except Exception as exc:  # a bug at one point must not cost the others
        record["result"] = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
    record["result"]["seconds"] = time.perf_counter() - t0
    return record
