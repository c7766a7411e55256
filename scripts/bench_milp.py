"""Benchmark (issue 18): the MILP proves its gap every time.

1. 100 classes of the synthetic generator of ``bench_solve.py``, one instance per seed, the
   default MILP solver (``planner.solve.milp_priced``) with a 60 s limit and a 0.5 % gap: per seed the
   deployments, pairs, wall, status, proven gap, plan, bound and the gap history; then how many
   seeds prove <= 0.5 % in under 60 s. ``--prune`` applies dominance pruning as ``planner solve``
   does (default: off, ~2,000 deployments).
2. The previous solver (lazy hour rows, ``planner.solve.lazy_milp``) on the first ``--baseline-seeds``
   seeds, same limit, in the same run.
3. fleet-1b with a 1 s limit, ``--repeats`` times through ``planner.pipeline``: the same plan
   (nodes and assignment, bit for bit) every time?

    python scripts/bench_milp.py [--seeds 0 1 ... 9] [--classes 100] [--time-limit 60]
                                 [--baseline-seeds 1] [--repeats 10] [--prune]
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np
from bench_solve import synthetic_instance

from planner.problem.candidates import build_coefficients
from planner.problem.instance import load_planning_instance
from planner.solve.milp_priced import solve_milp_priced
from planner.solve.lazy_milp import solve_milp
from planner.pipeline import optimize
from planner.solve.verify import verify_plan


def fmt(v, spec=".4%"):
    """A gap or bound that may be None (no plan yet) or NaN."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return format(v, spec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="*", default=list(range(10)))
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--gap", type=float, default=0.005)
    parser.add_argument("--baseline-seeds", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--prune", action="store_true")
    args = parser.parse_args()

    print("| seed | deployments | pairs | solver | wall s | status | proven gap | plan | bound | "
          "LP | violations |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    ok = 0
    for i, seed in enumerate(args.seeds):
        c, _ = build_coefficients(synthetic_instance(args.classes, seed),
                                  prune_dominated=args.prune)
        runs = [("priced", lambda: solve_milp_priced(c, args.time_limit, args.gap))]
        if i < args.baseline_seeds:
            runs.append(("lazy (before)", lambda: solve_milp(c, args.time_limit, args.gap)))
        for label, fn in runs:
            t0 = time.perf_counter()
            m = fn()
            wall = time.perf_counter() - t0
            r = m.result
            bad = len(verify_plan(c, r.x * m.unit, r.n, integer=True)) if r.x is not None \
                else "n/a"
            good = r.mip_gap is not None and r.mip_gap <= args.gap + 1e-12 and \
                wall < args.time_limit and bad == 0
            if label == "priced":
                ok += good
            print(f"| {seed} | {c.n_deployments} | {c.n_pairs} | {label} | {wall:.1f} | "
                  f"{r.status.value} | {fmt(r.mip_gap)} | {fmt(r.objective, '.6f')} | "
                  f"{fmt(r.dual_bound, '.6f')} | {fmt(m.lp.objective, '.6f')} | {bad} |",
                  flush=True)
            for h in getattr(m, "history", []):
                print(f"|   | | | {h.stage} | {h.seconds:.1f} | | {fmt(h.gap)} | "
                      f"{fmt(h.upper, '.6f')} | {fmt(h.lower, '.6f')} | | |")
    print(f"\nproven gap <= {args.gap:.1%} in under {args.time_limit:.0f} s: {ok} of "
          f"{len(args.seeds)} seeds")

    instance, digest = load_planning_instance("instances/fleet-1b.yaml",
                                              sets=["solver.time_limit_s=1"])
    digests, walls = [], []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        plan = optimize(instance, digest, "milp")
        walls.append(time.perf_counter() - t0)
        x, n = plan.extra["x"], plan.extra["n"]
        digests.append(hashlib.sha256(x.tobytes() + n.tobytes()).hexdigest()[:12])
    print(f"fleet-1b, --time-limit 1, {args.repeats} runs: {len(set(digests))} distinct plan(s) "
          f"{sorted(set(digests))}; objective {plan.summary['objective_value']:.6f}, status "
          f"{plan.summary['status']}, gap {fmt(plan.summary['mip_gap'])}; wall "
          f"{min(walls):.2f}-{max(walls):.2f} s")


if __name__ == "__main__":
    main()
