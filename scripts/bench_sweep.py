"""Benchmark: LP sweep points per minute on fleet-1b (target >= 200/min on 2 cores).

Runs a 120-point grid (site PUE x power cap x demand) with the process pool, then the same
points' first N solved one by one without the per-worker candidate cache (the baseline, measured
in the same run), and prints both rates and their ratio.

    python scripts/bench_sweep.py [--jobs 2] [--baseline-points 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from planner.problem.instance import load_planning_data
from planner.sweep import worker
from planner.sweep.engine import run_sweep
from planner.sweep.points import expand
from planner.sweep.spec import SweepSpec

SPEC = {"name": "bench", "include_base": False, "grids": [{"mode": "product", "parameters": {
    "sites.us-east.pue": [1.05, 1.1, 1.15, 1.2, 1.3],
    "sites.us-east.power_cap_mw": [0.2, 0.4, 0.6, 0.8, 1.0, 1.5],
    "adjustments.demand_scale": [0.8, 1.0, 1.5, 2.0]}}]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="instances/fleet-1b.yaml")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--baseline-points", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec_path = Path(tmp) / "spec.yaml"
        spec_path.write_text(yaml.safe_dump(SPEC))
        t0 = time.perf_counter()
        result = run_sweep(args.instance, str(spec_path), Path(tmp) / "out", jobs=args.jobs)
        pool_s = time.perf_counter() - t0
        n = result.summary["points"]
        ok = int((result.table["status"] == "optimal").sum())
        base = load_planning_data(args.instance)
        points = expand(SweepSpec(**SPEC), base, str(spec_path))[: args.baseline_points]
        t0 = time.perf_counter()
        for p in points:
            worker._CANDIDATES.clear()
            worker.solve_point(base, p.as_json(), args.instance, "lp")
        cold_each = (time.perf_counter() - t0) / len(points)
    pool_rate = n / pool_s * 60
    cold_rate = 60 / cold_each
    print(f"{args.instance}: {n} LP points ({ok} optimal)")
    print(f"  process pool, {args.jobs} workers, candidate cache: {pool_s:.2f} s -> "
          f"{pool_rate:.0f} points/min (incl. worker start-up)")
    print(f"  baseline, one process, no cache ({len(points)} points): {cold_each * 1e3:.0f} ms "
          f"each -> {cold_rate:.0f} points/min")
    print(f"  ratio {pool_rate / cold_rate:.2f}x; target >= 200 points/min: "
          f"{'met' if pool_rate >= 200 else 'NOT met'}")


if __name__ == "__main__":
    main()
