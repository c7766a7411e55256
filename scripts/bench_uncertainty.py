"""Benchmark: 1,000 Monte Carlo draws of a fixed fleet-1b plan under 10 s (issue 14).

Baseline measured in the same run: the same draws evaluated by re-building the perturbed
coefficients and re-checking the plan with the independent (loop-based) verifier's power and
energy functions, on a sample of draws and extrapolated; and one re-optimised draw (a full LP
solve), extrapolated to the same count.

    python scripts/bench_uncertainty.py [--draws 1000] [--baseline-sample 20]
"""

from __future__ import annotations

import argparse
import time

from planner.problem.candidates import build_coefficients
from planner.problem.instance import load_planning_instance
from planner.pipeline import optimize
from planner.results.uncertainty import (error_model, evaluate_fixed_plan, perturbed,
                                 sample_multipliers)
from formulations.loads import site_power_kw


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="instances/fleet-1b.yaml")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--baseline-sample", type=int, default=20)
    args = parser.parse_args()
    instance, digest = load_planning_instance(args.instance)
    c0, report = build_coefficients(instance)
    plan = optimize(instance, digest, "lp", (c0, report))
    c, x, n = plan.extra["coefficients"], plan.extra["x"], plan.extra["n"]

    t0 = time.perf_counter()
    model = error_model(c)
    m = sample_multipliers(model, args.draws, 0)
    sample_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    mc = evaluate_fixed_plan(c, x, n, m)
    eval_s = time.perf_counter() - t0

    k = args.baseline_sample
    t0 = time.perf_counter()
    for row in m[:k]:
        ck = perturbed(c, row)
        ck.daily_objective(x, n)
        site_power_kw(ck, x, n)
    loop_s = (time.perf_counter() - t0) / k * args.draws
    t0 = time.perf_counter()
    optimize(instance, digest, "lp", (perturbed(c, m[0]), report))
    resolve_s = (time.perf_counter() - t0) * args.draws
    total = sample_s + eval_s
    print(f"{args.draws} draws of the fixed plan: sampling {sample_s:.3f} s, evaluation "
          f"{eval_s:.3f} s, total {total:.3f} s (target 10 s)")
    print(f"  per-draw loop re-check (extrapolated from {k}): {loop_s:.2f} s "
          f"({loop_s / total:.0f}x slower)")
    print(f"  one re-solve per draw (extrapolated from 1): {resolve_s:.1f} s "
          f"({resolve_s / total:.0f}x slower)")
    print(f"  GWh/day median {float(sorted(mc.gwh_per_day)[len(m) // 2]):.4g}, "
          f"P(cap exceeded) {mc.cap_exceeded.mean():.1%}")


if __name__ == "__main__":
    main()
