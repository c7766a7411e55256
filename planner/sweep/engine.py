"""Run a sweep: expand the points, skip finished ones (``--resume``), solve the rest on a local
process pool or a Dask cluster, persist each finished point at once, collect one tidy table.

Every finished point is its own JSON file under ``OUT/points/`` written atomically, so a crash or
``kill -9`` mid-sweep loses only the points in flight. The table is rebuilt from those files.
"""

from __future__ import annotations

import json
import os
import logging
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import pandas as pd

from planner.config import digest
from planner.errors import InputError, PlannerError
from planner.problem.instance import load_planning_data
from planner.io import write_atomic, write_json_atomic
from planner.solve.result import SOLVED_VALUES, Status
from planner.config.schema.loading import load_yaml_model
from planner.sweep.points import Point, expand
from planner.sweep.spec import SweepSpec
from planner.sweep.worker import limit_threads, solve_point

log = logging.getLogger(__name__)
DONE = (*SOLVED_VALUES, Status.INFEASIBLE.value)  # a point not to solve again
DEFAULT_MAX_POINTS = 10_000
_SCHEDULER = re.compile(r"^(local|((tcp|tls|inproc|ucx|ws|wss)://)?[A-Za-z0-9_.\-\[\]:]+:\d{1,5})$")


def check_scheduler(scheduler: str | None) -> None:
    """'local' or a Dask address (tcp://host:8786, host:8786), checked before anything runs."""
    if scheduler is not None and not _SCHEDULER.match(scheduler):
        raise InputError("not a Dask scheduler address: give 'local' or tcp://HOST:PORT",
                         field="--scheduler", value=scheduler, has_value=True)


@dataclass
class SweepResult:
    table: pd.DataFrame
    summary: dict
    out_dir: Path


def claim_manifest(path: Path, manifest: dict, keys: tuple[str, ...], resume: bool,
                   occupied: str, differs: str) -> None:
    """Write ``manifest`` to ``path`` unless another run's results are there: those may only be
    continued (``resume``), and only with the same input digests (``keys``)."""
    if path.exists():
        old = json.loads(path.read_text())
        if not resume:
            raise InputError(occupied, file=str(path.parent))
        if [old.get(k) for k in keys] != [manifest[k] for k in keys]:
            raise InputError(differs, file=str(path.parent))
    write_json_atomic(path, manifest)


def run_sweep(instance_path: str, spec_path: str, out_dir: str | Path, jobs: int = 1,
              scheduler: str | None = None, resume: bool = False,
              progress: Callable[[int], None] | None = None,
              total: Callable[[int], None] | None = None,
              max_points: int = DEFAULT_MAX_POINTS) -> SweepResult:
    """Solve every point of the spec; refuses more than ``max_points`` points (counted from
    the spec before any grid is expanded), a malformed scheduler address or an unwritable
    ``out_dir`` before any work is done."""
    from planner.config.validation import check_writable_dir

    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    check_scheduler(scheduler)
    spec = load_yaml_model(spec_path, SweepSpec)
    count = spec.count_points()
    if count > max_points:
        raise InputError(f"the sweep has {count:,} points, more than the limit of "
                         f"{max_points:,}; shrink the grids or raise the limit (--max-points)",
                         file=str(spec_path), field="grids", value=count, has_value=True)
    base = load_planning_data(instance_path)
    check_writable_dir(out_dir)
    points = expand(spec, base, str(spec_path), instance_file=str(instance_path))
    manifest = {"instance": str(instance_path), "instance_hash": digest(base),
                "spec": spec.model_dump(mode="json"), "spec_hash": digest(spec.model_dump(
                    mode="json")), "points": len(points)}
    point_dir = out_dir / "points"
    manifest_path = out_dir / "manifest.json"
    claim_manifest(manifest_path, manifest, ("instance_hash", "spec_hash"), resume,
                   "holds results of a sweep; pass --resume to continue it or choose another "
                   "--out", "--resume with a different instance or spec than the one that "
                   "started this sweep")
    todo, persist = resumable(points, point_dir, progress, total)
    log.info("sweep %s: %d points, %d already done, %d to solve", spec.name, len(points),
             len(points) - len(todo), len(todo))

    engine = run_points(todo, base, str(instance_path), spec.formulation, jobs, scheduler,
                        persist)
    table = collect(points, point_dir)
    write_atomic(out_dir / "sweep.parquet", lambda tmp: table.to_parquet(tmp, index=False))
    write_atomic(out_dir / "sweep.csv", lambda tmp: table.to_csv(tmp, index=False))
    failed = table[table["status"] == Status.FAILED.value]
    summary = {
        "name": spec.name, "points": len(points), "solved_now": len(todo),
        "skipped_done": len(points) - len(todo), "engine": engine,
        "status_counts": table["status"].value_counts().to_dict(),
        "failed": failed[["point_id", "error"]].to_dict(orient="records"),
        "seconds": round(time.perf_counter() - t0, 3),
        "points_per_minute": round(len(todo) / max(time.perf_counter() - t0, 1e-9) * 60, 1),
    }
    summary.update(distribution_summary(table))
    summary["tornado_context"] = tornado_context(spec, base)
    write_json_atomic(out_dir / "summary.json", summary)
    return SweepResult(table, summary, out_dir)


def tornado_context(spec: SweepSpec, base: dict) -> dict:
    """What the tornado needs to vary one input at a time around the base point: each swept
    path's value in the base instance (after the base scenario) and which blocks are zips."""
    from planner.config import get_path
    from planner.sweep.points import point_data

    from planner.problem.instance import instance_from_mapping

    try:
        data = point_data(base, Point("base", "base", spec.base_scenario), "base")
    except InputError:
        data = base
    try:  # with the schema's defaults: a path the file leaves out (adjustments.demand_scale)
        full = instance_from_mapping(data, "base")[0].model_dump(mode="json")
    except InputError:
        full = data
    values = {}
    for grid in spec.grids:
        for path in grid.parameters:
            value = get_path(full, path)  # as validated: "1.0e8" in YAML is a number there
            if value is None:
                value = get_path(data, path)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                values[path] = value
    return {"base_values": values,
            "zip_blocks": [f"grid{g}" for g, grid in enumerate(spec.grids)
                           if grid.mode == "zip"]}


def resumable(points: list[Point], point_dir: Path, progress: Callable | None,
              total: Callable | None) -> tuple[list[Point], Callable[[dict], None]]:
    """The points not finished in ``point_dir``, and the callback that writes each finished
    point there atomically (so a crash loses no finished point) and reports progress."""
    todo = [p for p in points if not _is_done(point_dir / f"{p.id}.json")]
    if total:
        total(len(todo))

    def persist(record: dict) -> None:
        write_json_atomic(point_dir / f"{record['point']['id']}.json", record)
        if progress:
            progress(1)

    return todo, persist


def _is_done(path: Path) -> bool:
    try:
        return json.loads(path.read_text())["result"]["status"] in DONE
    except (OSError, ValueError, KeyError, TypeError):
        return False  # missing, half-written by a crashed writer (cannot happen: atomic), failed


def run_points(todo: list[Point], base: dict, file: str, formulation: str, jobs: int,
               scheduler: str | None, persist: Callable[[dict], None],
               worker: Callable[[dict, dict, str, str], dict] = solve_point) -> str:
    """Solve the points; ``persist`` is called in this process as each one finishes.
    ``worker`` (a picklable module-level function with solve_point's signature) solves one
    point; re-optimised uncertainty draws (planner.sweep.redraw) pass their own."""
    if not todo:
        return "none"
    if scheduler:
        return _run_dask(todo, base, file, formulation, jobs, scheduler, persist, worker)
    if jobs <= 1:
        for p in todo:
            persist(worker(base, p.as_json(), file, formulation))
        return "inline"
    with ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"),
                             initializer=limit_threads, initargs=(os.getpid(),)) as pool:
        futures = [pool.submit(worker, base, p.as_json(), file, formulation) for p in todo]
        for future in as_completed(futures):
            persist(future.result())
    return f"process pool ({jobs} workers, spawn)"


def _run_dask(todo, base, file, formulation, jobs, scheduler, persist,
              worker=solve_point) -> str:
    try:
        from dask.distributed import Client, LocalCluster, as_completed as dask_completed
    except ImportError as exc:  # pragma: no cover - dask is a dependency
        raise PlannerError(f"--scheduler needs dask[distributed]: {exc}") from exc
    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=max(jobs, 1), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
        where = f"dask LocalCluster ({max(jobs, 1)} workers)"
    else:
        try:
            client = Client(scheduler, timeout=30)
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the Dask scheduler: {exc}", field="--scheduler",
                             value=scheduler, has_value=True) from None
        where = f"dask {scheduler}"
    try:
        client.run(limit_threads)
        base_future = client.scatter(base, broadcast=True)
        futures = [client.submit(worker, base_future, p.as_json(), file, formulation,
                                 pure=False) for p in todo]
        for future in dask_completed(futures):
            persist(future.result())
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return where


def collect(points: list[Point], point_dir: Path) -> pd.DataFrame:
    """One row per point of the spec: swept values, status and headline numbers."""
    rows = []
    for p in points:
        path = point_dir / f"{p.id}.json"
        try:
            record = json.loads(path.read_text())
            result = record["result"]
        except (OSError, ValueError, KeyError):
            result = {"status": Status.MISSING.value, "error": "not solved (interrupted?)"}
        rows.append({"point_id": p.id, "kind": p.kind, "scenario": p.scenario or "",
                     **{k: _cell(v) for k, v in p.columns.items()}, **result})
    table = pd.DataFrame(rows)
    if "error" not in table:
        table["error"] = ""
    table["error"] = table["error"].fillna("")
    swept = list(dict.fromkeys(k for p in points for k in p.columns))
    meta = ["point_id", "kind", "scenario"]
    rest = [c for c in table.columns if c not in meta and c not in swept]
    return table[meta + [c for c in swept if c in table] + rest]


def _cell(value):
    return json.dumps(value) if isinstance(value, (list, dict)) else value


def distribution_summary(table: pd.DataFrame) -> dict:
    """Median and IQR of the optimized fleet over the Monte Carlo points."""
    mc = table[(table["kind"] == "monte_carlo") & table["status"].isin(SOLVED_VALUES)]
    if mc.empty:
        return {}
    out = {"monte_carlo_points": int(len(mc))}
    for col in ("objective_gwh_per_day", "wh_per_query"):
        q = mc[col].astype(float).quantile([0.25, 0.5, 0.75])
        out[col] = {"median": q[0.5], "p25": q[0.25], "p75": q[0.75]}
    return out
