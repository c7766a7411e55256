"""Benchmark: lever attribution on fleet-1b, 64 subsets (6 lever groups) under 60 s on 2 cores.

Baseline measured in the same run: each subset solved from scratch by the full pipeline
(instance -> candidates -> cvxpy LP -> HiGHS), on a sample of subsets and extrapolated. The
engine builds one union LP per parameter combination and re-solves with warm starts.

    python scripts/bench_levers.py [--groups 6] [--baseline-sample 8]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from planner.problem.instance import load_planning_data
from planner.levers import LeverEngine, attribute_levers
from planner.pipeline import optimize
from planner.config.schema.plan import LeverSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="instances/fleet-1b.yaml")
    parser.add_argument("--groups", type=int, default=6)
    parser.add_argument("--baseline-sample", type=int, default=8)
    args = parser.parse_args()
    data = load_planning_data(args.instance)
    data["levers"]["groups"] = data["levers"]["groups"][: args.groups]
    kept = {g["name"] for g in data["levers"]["groups"]}
    data["levers"]["categories"] = [c for c in data["levers"].get("categories", [])
                                    if set(c["groups"]) <= kept]
    n_subsets = 2 ** args.groups

    t0 = time.perf_counter()
    result = attribute_levers(data, args.instance)
    engine_s = time.perf_counter() - t0
    s = result.summary

    engine = LeverEngine(data, args.instance, LeverSpec(**data["levers"]))
    rng = np.random.default_rng(0)
    sample = rng.choice(n_subsets, size=min(args.baseline_sample, n_subsets), replace=False)
    t0 = time.perf_counter()
    for mask in sample:
        optimize(engine.subset_instance(int(mask)))
    cold_each = (time.perf_counter() - t0) / len(sample)
    cold_total = cold_each * n_subsets

    print(f"instance {args.instance}: {args.groups} lever groups, {n_subsets} subsets")
    print(f"  engine (union LP, warm starts): {engine_s:.2f} s total "
          f"(build {s['timings_s']['build']:.2f} s, HiGHS {s['timings_s']['solve']:.2f} s); "
          f"{engine_s / n_subsets * 1e3:.0f} ms per subset")
    print(f"  baseline (full pipeline per subset, {len(sample)} sampled): {cold_each:.3f} s each, "
          f"{cold_total:.1f} s extrapolated")
    print(f"  speed-up {cold_total / engine_s:.2f}x; target 64 subsets < 60 s: "
          f"{'met' if engine_s * 64 / n_subsets < 60 else 'NOT met'}")
    print(f"  combined reduction {s['combined_reduction']:.2f}x "
          f"(baseline {s['baseline_gwh_per_day']:.4g} -> {s['all_levers_gwh_per_day']:.4g} "
          "GWh/day)")


if __name__ == "__main__":
    main()
