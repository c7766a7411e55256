"""Benchmark (issue 26): candidates at solver speed, and one LP solve on a Dask cluster.

Each path runs in its own process (wall = the whole process, imports included; peak = its max
RSS; for Dask also each worker's max RSS), on ``bench_solve.py``'s synthetic generator (seed 0,
no dominance pruning, as ``bench_scale.py``):

  before   the product pipeline (candidates -> colgen -> verify -> tables) of
           ``--baseline-ref`` (default: the merge base with main; its planner and formulations
           packages exported from git): the baseline, measured in the same run
  planner  the same pipeline with this branch's candidates
  dask     ``optimize(..., scheduler="local:N")``: a LocalCluster of N workers (3 GB each),
           candidates and pricing on the workers, the master here

Prints per row pairs, wall, peak memory, phases and the objective; then the ratios
before/planner (candidates time, wall, peak memory) and dask vs planner (objective, relative),
and the scaling exponents of wall and peak memory against pairs per path.

    python scripts/bench_dask.py [--classes 3000] [--dask-classes 3000 9000]
                                 [--before-classes 3000] [--workers 2] [--check 300]

``--check N``: the baseline's and this branch's plans at N classes, objective (1e-9 relative)
and plan tables (equal, floats to 1e-9 relative) compared, one line.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import time
from pathlib import Path

T_START = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]


def load_baseline(ref: str) -> None:
    """Put ``ref``'s planner and formulations packages in place of this branch's (before
    anything imports them): the whole product at the baseline, end to end."""
    import tempfile

    where = Path(tempfile.mkdtemp())
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "planner", "formulations"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    sys.path.insert(0, str(where))


def worker(classes: int, path: str, workers: int, ref: str) -> dict:
    import logging
    import resource

    logging.basicConfig(level=logging.WARNING)
    if path == "before":
        load_baseline(ref)
    from bench_solve import synthetic_instance

    import pandas as pd

    from planner.pipeline import optimize
    from planner.problem.candidates import build_coefficients

    instance = synthetic_instance(classes, 0)
    out = {"classes": classes, "path": path}
    if path == "dask":
        from planner.solve import distributed
        distributed.PRUNE_DOMINATED = False
        plan = optimize(instance, scheduler=f"local:{workers}")
        rss = plan.summary["distributed"]["workers_peak_rss_gb"]
        out["worker_peak_gb"] = max(rss.values())
        out["where"] = plan.summary["distributed"]["where"]
    else:
        t0 = time.perf_counter()
        # this branch's one-process path defers the TTFT percentiles it need not compute
        # (issue 26: as ``optimize`` does); a baseline without the option computes them all
        defer = ({"defer_ttft": True} if "defer_ttft" in inspect.signature(
            build_coefficients).parameters else {})
        c, report = build_coefficients(instance, prune_dominated=False, **defer)
        t_cand = time.perf_counter() - t0
        plan = optimize(instance, coefficients=(c, report))
        plan.summary["timings_s"]["candidates"] = t_cand
    s = plan.summary
    if os.environ.get("BENCH_TABLES"):  # --check: the plan tables, for the parent to compare
        pd.to_pickle(plan.tables(), os.environ["BENCH_TABLES"])
    out.update({"pairs": s["candidates"]["eligible_pairs"], "objective": s["objective_value"],
                "solve_path": s["solve_path"], "wall_s": time.perf_counter() - T_START,
                "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                # CPU seconds of this process (the shared machine's wall swings with its load)
                "cpu_s": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
                "phases": {k: round(v, 2) for k, v in s["timings_s"].items()}})
    return out


def run(classes: int, path: str, workers: int, ref: str, tables: str | None = None) -> dict:
    env = dict(os.environ, BENCH_TABLES=tables) if tables else None
    out = subprocess.run([sys.executable, __file__, "--worker", path, "--classes", str(classes),
                          "--workers", str(workers), "--baseline-ref", ref],
                         capture_output=True, text=True, env=env)
    if out.returncode:
        tail = (out.stderr.strip().splitlines() or ["?"])[-1]
        return {"classes": classes, "path": path, "error": tail}
    return json.loads(out.stdout.strip().splitlines()[-1])


def check(classes: int, workers: int, ref: str) -> None:
    """The product (planner) and the baseline at ``classes``: objective to 1e-9 relative and
    every plan table equal (floats to 1e-9 relative), printed as one line."""
    import tempfile

    import pandas as pd

    where = Path(tempfile.mkdtemp())
    rows = {p: run(classes, p, workers, ref, str(where / f"{p}.pkl")) for p in ("before", "planner")}
    for p, r in rows.items():
        if "error" in r:
            print(f"check at {classes} classes: {p} failed: {r['error']}")
            return
    a, b = (rows[p]["objective"] for p in ("before", "planner"))
    diff = abs(a - b) / abs(a)
    old, new = (pd.read_pickle(where / f"{p}.pkl") for p in ("before", "planner"))
    unequal = []
    for name in sorted(set(old) | set(new)):
        try:
            pd.testing.assert_frame_equal(old[name], new[name], rtol=1e-9)
        except (AssertionError, KeyError) as exc:
            unequal.append(f"{name} ({str(exc).splitlines()[0]})")
    ok = diff <= 1e-9 and not unequal
    print(f"check at {classes} classes ({rows['planner']['pairs']:,} pairs) against {ref[:10]}: "
          f"objective rel. diff {diff:.1e}, plan tables "
          f"{'equal (' + ', '.join(sorted(new)) + ')' if not unequal else 'DIFFER: ' + '; '.join(unequal)}"
          f" -> {'OK' if ok else 'FAILED'}")


def exponents(rows: list[dict], path: str) -> None:
    import numpy as np
    rows = [r for r in rows if r.get("path") == path and "error" not in r]
    if len(rows) < 2:
        return
    logp = np.log([r["pairs"] for r in rows])
    wall = np.polyfit(logp, np.log([r["wall_s"] for r in rows]), 1)[0]
    key = "worker_peak_gb" if path == "dask" else "peak_rss_gb"
    mem = np.polyfit(logp, np.log([r[key] for r in rows]), 1)[0]
    # CPU of this process (for dask the client's only: the workers' is not measured)
    cpu = np.polyfit(logp, np.log([r["cpu_s"] for r in rows]), 1)[0]
    print(f"scaling exponent, {path}: wall ~ pairs^{wall:.2f}, "
          f"{'client ' if path == 'dask' else ''}CPU ~ pairs^{cpu:.2f}, "
          f"{'peak per worker' if path == 'dask' else 'peak'} ~ pairs^{mem:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="*", default=[3000],
                        help="sizes of the one-process path (this branch)")
    parser.add_argument("--before-classes", type=int, nargs="*", default=[3000])
    parser.add_argument("--dask-classes", type=int, nargs="*", default=[3000, 9000])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-ref", default=None,
                        help="git ref of the baseline (default: merge base with main)")
    parser.add_argument("--check", type=int, nargs="*", default=[],
                        help="sizes (classes) at which to check the plan tables and objective "
                             "against the baseline (one line each)")
    parser.add_argument("--worker", choices=["before", "planner", "dask"])
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.classes[0], args.worker, args.workers, args.baseline_ref)))
        return
    ref = args.baseline_ref or subprocess.run(
        ["git", "-C", str(ROOT), "merge-base", "HEAD", "main"], capture_output=True, text=True,
        check=True).stdout.strip()
    print(f"baseline: {ref}")
    for k in args.check:
        check(k, args.workers, ref)
    rows = []
    sizes = sorted(set(args.classes) | set(args.before_classes) | set(args.dask_classes))
    for k in sizes:
        for path, chosen in (("before", args.before_classes), ("planner", args.classes),
                             ("dask", args.dask_classes)):
            if k in chosen:
                rows.append(run(k, path, args.workers, ref))
                print(json.dumps(rows[-1]), flush=True)
    print("\n| classes | pairs | path | wall s | CPU s (process) | peak GB (process) | "
          "peak GB per worker | candidates s | objective | rel. diff vs planner |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['classes']:,} | | {r['path']} | error: {r['error']} ||||||")
            continue
        ref_row = next((o for o in rows if o.get("path") == "planner" and "error" not in o
                        and o["classes"] == r["classes"]), None)
        diff = (f"{abs(r['objective'] - ref_row['objective']) / abs(ref_row['objective']):.1e}"
                if ref_row else "")
        print(f"| {r['classes']:,} | {r['pairs']:,} | {r['path']} | {r['wall_s']:.1f} | "
              f"{r['cpu_s']:.1f} | {r['peak_rss_gb']:.2f} | {r.get('worker_peak_gb', float('nan')):.2f} | "
              f"{r['phases'].get('candidates', float('nan')):.1f} | {r['objective']:.12g} | "
              f"{diff} |")
    for r in rows:
        if r.get("path") != "before" or "error" in r:
            continue
        new = next((o for o in rows if o.get("path") == "planner" and "error" not in o
                    and o["classes"] == r["classes"]), None)
        if new:
            print(f"{r['classes']} classes, before / planner: candidates "
                  f"{r['phases']['candidates'] / new['phases']['candidates']:.2f}x, wall "
                  f"{r['wall_s'] / new['wall_s']:.2f}x, CPU {r['cpu_s'] / new['cpu_s']:.2f}x, peak memory "
                  f"{r['peak_rss_gb'] / new['peak_rss_gb']:.2f}x; objective rel. diff "
                  f"{abs(r['objective'] - new['objective']) / abs(new['objective']):.1e}")
    for path in ("planner", "dask"):
        exponents(rows, path)


if __name__ == "__main__":
    main()
