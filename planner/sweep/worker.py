"""Solve one sweep point (runs in a worker process: local pool or Dask).

Candidates are cached per process by :func:`planner.problem.candidates.candidate_key`: points that change
only PUE, caps, inventory or demand reuse the evaluated candidates and only re-assemble and
re-solve the LP.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

_CANDIDATES: dict = {}
_CACHE_LIMIT = 64
PARENT_POLL_S = 1.0


def limit_threads(parent_pid: int | None = None) -> None:
    """One solver/BLAS thread per worker: the pool provides the parallelism. With
    ``parent_pid`` the worker also dies with its parent (see :func:`die_with_parent`)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    if parent_pid is not None:
        die_with_parent(parent_pid)


def die_with_parent(parent_pid: int) -> None:
    """A killed sweep (``kill -9``) must not leave its workers running: on Linux the kernel
    sends SIGKILL when the parent dies (prctl PR_SET_PDEATHSIG); everywhere a daemon thread
    also checks that the parent is still there and exits the worker when it is not."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(PARENT_POLL_S)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="die-with-parent", daemon=True).start()


def solve_point(base: dict, point: dict, file: str, formulation: str) -> dict:
    """The point's headline numbers, or its error; never raises for a bad point."""
    from planner.problem.candidates import assemble, candidate_key, candidate_pairs
    from planner.errors import InfeasibleError, PlannerError
    from planner.solve.result import Status
    from planner.problem.instance import instance_from_mapping
    from planner.pipeline import optimize
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
        if instance.roadmap is not None:  # issue 23: a roadmap instance sweeps roadmaps
            record["result"] = _roadmap_point(instance, digest, formulation)
            record["result"]["seconds"] = time.perf_counter() - t0
            return record
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
        status = (Status.INFEASIBLE if isinstance(exc, InfeasibleError) else Status.FAILED).value
        record["result"] = {"status": status, "error": str(exc)}
    except Exception as exc:  # a bug at one point must not cost the others
        record["result"] = {"status": Status.FAILED.value,
                            "error": f"{type(exc).__name__}: {exc}"}
    record["result"]["seconds"] = time.perf_counter() - t0
    return record


def _roadmap_point(instance, digest: str, formulation: str) -> dict:
    """A roadmap instance's point: its horizon's headline numbers (perfect foresight, no
    myopic pass); GWh/day, Wh/query and peak power are over the whole horizon."""
    from planner.roadmap.solve import optimize_roadmap

    s = optimize_roadmap(instance, digest, formulation, "perfect", compare=False).summary
    days = sum(p["days"] for p in s["periods"])
    queries = sum(p["queries_per_day"] * p["days"] for p in s["periods"])
    return {"status": s["status"], "objective_value": s["objective_value"],
            "objective_gwh_per_day": s["gwh"] / days, "gwh": s["gwh"],
            "wh_per_query": s["gwh"] * 1e9 / queries,
            "peak_power_mw": max(p["peak_mw"] for p in s["periods"]),
            "nodes": sum(o["nodes"] for p in s["periods"] for o in p["orders"]),
            "deployments_used": len({d["deployment"] for p in s["periods"]
                                     for d in p["deployments"]}),
            "mip_gap": s["mip_gap"], "reused_candidates": False, "instance_hash": digest}
