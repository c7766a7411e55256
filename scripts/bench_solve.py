"""Benchmark: LP and MILP on a synthetic fleet of ~100 classes and ~2,000 candidate deployments.

Targets (issue 4, 2 cores): LP end to end under 10 s; MILP to a 0.5 % gap under 60 s. Baselines
measured in the same run: a per-row Python construction of the capacity constraints (what the
vectorized sparse builders replace), timed on a slice and extrapolated; and the whole MILP handed
to HiGHS at once (what the lazy-hour-row solver replaces), on a smaller instance it can finish.

    python scripts/bench_solve.py [--classes 100] [--seed 0] [--milp-time-limit 60]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp

from formulations import Options, build
from planner.problem.candidates import build_coefficients
from formulations.coefficients import HOURS
from planner.solve.milp_priced import solve_milp_priced
from planner.solve.lazy_milp import solve_milp
from planner.config.schema.plan import PlanningInstance
from planner.solve import solve
from planner.solve.verify import verify_plan


def synthetic_instance(n_classes: int, seed: int) -> PlanningInstance:
    rng = np.random.default_rng(seed)
    base = np.array([0.55, 0.45, 0.40, 0.38, 0.40, 0.50, 0.70, 0.90, 1.05, 1.15, 1.20, 1.25,
                     1.28, 1.30, 1.30, 1.28, 1.25, 1.25, 1.30, 1.40, 1.45, 1.35, 1.05, 0.75])
    classes = []
    for i in range(n_classes):
        long = rng.random() < 0.2
        classes.append({
            "id": f"class-{i:03d}",
            "queries_per_day": float(rng.uniform(1e6, 2e7)),
            "input_tokens": {"median": float(rng.uniform(200, 4000)), "shape": "lognormal",
                             "sigma": 0.8, "n_buckets": 3},
            "output_tokens": {"median": float(rng.uniform(3000, 8000) if long
                                              else rng.uniform(100, 800)), "n_buckets": 3},
            "slo": {"ttft_ms": float(rng.uniform(1500, 10000)),
                    "tpot_ms": float(rng.uniform(40, 120)), "percentile": 90},
            "min_quality": float(rng.choice([60, 75, 80, 85, 88])),
            "test_time_scaling": bool(long),
            "diurnal": np.roll(base, int(rng.integers(0, 24))).tolist()})
    return PlanningInstance.model_validate({
        "name": f"synthetic-{n_classes}", "classes": classes,
        "sites": [{"id": "east", "pue": 1.1, "power_cap_mw": 60, "inventory": {"h100-sxm": 4000}},
                  {"id": "south", "pue": 1.35}],
        "options": {"models": ["deepseek-r1", "llama-3.1-405b", "qwen3-235b-a22b",
                               "gpt-oss-120b", "llama-3.3-70b", "llama-3.1-70b", "mixtral-8x22b",
                               "qwen3-30b-a3b", "gpt-oss-20b", "llama-3.1-8b"],
                    "precisions": ["fp8", "fp4"],
                    "hardware": ["h100-sxm", "h200-sxm", "b200", "gb200", "rubin"],
                    "gpus_per_replica": [1, 2, 4, 8], "max_concurrency": [16, 64, 256],
                    "min_replicas": 2},
        "solver": {"time_limit_s": 60, "mip_gap": 0.005}})


def fmt(v, spec=".4%"):
    """A gap or bound that may be None (no plan within the limit) or NaN: 'n/a', not a crash."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    return format(v, spec)


def loop_capacity_rows(c, x, n, unit, deployments):
    """Naive baseline: one cvxpy row per (deployment, hour), built in Python."""
    rows = []
    load = c.hourly_load()
    for d in deployments:
        pairs = np.flatnonzero(c.pair_dep == d)
        for h in range(HOURS):
            expr = sum(x[p] * float(load[p, h] * c.node_seconds[p] * unit) for p in pairs)
            rows.append(expr <= c.busy_seconds_per_node_hour * n[d])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--milp-time-limit", type=float, default=60.0)
    parser.add_argument("--milp-classes", type=int, default=100)
    parser.add_argument("--milp-solver", choices=["priced", "lazy", "both"], default="both",
                        help="priced: planner.solve.milp_priced (the default since issue 18); lazy: "
                             "planner.solve.lazy_milp (before)")
    parser.add_argument("--baseline-classes", type=int, default=40,
                        help="Classes of the whole-MILP baseline. At 100 classes (906 deployments, "
                             "~2M nonzeros) HiGHS stays in its root node for minutes and does not "
                             "honour the time limit, so the baseline is run smaller.")
    args = parser.parse_args()
    instance = synthetic_instance(args.classes, args.seed)

    t0 = time.perf_counter()
    c, report = build_coefficients(instance, prune_dominated=False)
    t_cand = time.perf_counter() - t0
    t0 = time.perf_counter()
    built = build(c)
    t_build = time.perf_counter() - t0
    lp = solve(built, 60)
    t0 = time.perf_counter()
    violations = verify_plan(c, lp.x * built.unit, lp.n)
    t_verify = time.perf_counter() - t0
    total = t_cand + t_build + lp.seconds + t_verify
    print(f"instance: {args.classes} classes, {report.generated} generated deployments, "
          f"{c.n_deployments} candidates kept (dominance pruning off), {c.n_pairs} eligible pairs")
    print(f"LP end to end {total:.2f} s  [candidates {t_cand:.2f}, build {t_build:.2f}, solve "
          f"{lp.seconds:.2f}, verify {t_verify:.2f}]  status {lp.status.value}, "
          f"{lp.objective:.4f} GWh/day, re-check violations {len(violations)}  "
          f"{'OK' if total < 10 else 'OVER 10 s TARGET'}")

    import cvxpy as cp  # here only: the generator (imported by other benchmarks) needs none

    sample = np.arange(min(100, c.n_deployments))
    x = cp.Variable(c.n_pairs)
    n = cp.Variable(c.n_deployments)
    t0 = time.perf_counter()
    loop_capacity_rows(c, x, n, built.unit, sample)
    loop = (time.perf_counter() - t0) * c.n_deployments / sample.size
    t0 = time.perf_counter()
    from formulations.constraints import capacity_matrix
    repeat = sp.kron(np.ones((HOURS, 1)), sp.identity(c.n_deployments), format="csr")
    _ = capacity_matrix(c, built.unit) @ x <= c.busy_seconds_per_node_hour * (repeat @ n)
    vec = time.perf_counter() - t0
    print(f"capacity rows: vectorized {vec:.3f} s vs per-row loop {loop:.1f} s (extrapolated "
          f"from {sample.size} deployments): {loop / vec:,.0f}x")

    pruned, _ = build_coefficients(synthetic_instance(args.milp_classes, args.seed))
    solvers = {"priced": solve_milp_priced, "lazy": solve_milp}
    chosen = list(solvers) if args.milp_solver == "both" else [args.milp_solver]
    for label, coef, name in [(lab, co, nm) for lab, co in (("all candidates", c),
                                                            ("after dominance pruning", pruned))
                              for nm in chosen]:
        t0 = time.perf_counter()
        lazy = solvers[name](coef, args.milp_time_limit, 0.005)
        t_milp = time.perf_counter() - t0
        m = lazy.result
        ok = m.mip_gap is not None and m.mip_gap <= 0.005 and t_milp < 60
        bad = verify_plan(coef, m.x * lazy.unit, m.n, integer=True) if m.x is not None else None
        print(f"MILP ({name}), {args.milp_classes} classes, {label} ({coef.n_deployments} deployments, "
              f"{coef.n_pairs} pairs): {t_milp:.2f} s in {len(lazy.rounds)} rounds, status "
              f"{m.status.value}, proven gap {fmt(m.mip_gap)}, {fmt(m.objective, '.6f')} GWh/day, "
              f"bound {fmt(m.dual_bound, '.6f')}, LP {fmt(lazy.lp.objective, '.6f')}, re-check violations "
              f"{'n/a' if bad is None else len(bad)}  {'OK' if ok else 'MISSED TARGET'}")
        for h in getattr(lazy, "history", []):
            print(f"  {h.seconds:.2f} s {h.stage}: plan {fmt(h.upper, '.6f')}, bound "
                  f"{h.lower:.6f}, gap {fmt(h.gap)}")
        for i, r in enumerate(lazy.rounds, 1):
            print(f"  round {i}: {r.capacity_rows} of {HOURS * coef.n_deployments} capacity rows, "
                  f"{r.power_rows} power rows, bound {r.lower_bound:.6f}, repaired "
                  f"{r.repaired_objective}, {r.seconds:.2f} s")

    small, _ = build_coefficients(synthetic_instance(args.baseline_classes, args.seed))
    t0 = time.perf_counter()
    whole = solve(build(small, Options(integer=True)), args.milp_time_limit, 0.005)
    t_whole = time.perf_counter() - t0
    t0 = time.perf_counter()
    lazy_small = solve_milp(small, args.milp_time_limit, 0.005).result
    t_lazy = time.perf_counter() - t0
    print(f"baseline, {args.baseline_classes} classes: whole MILP in HiGHS {t_whole:.2f} s (gap "
          f"{fmt(whole.mip_gap)}, {fmt(whole.objective, '.6f')}) vs lazy rows {t_lazy:.2f} s (gap "
          f"{fmt(lazy_small.mip_gap)}, {fmt(lazy_small.objective, '.6f')}): "
          f"{t_whole / t_lazy:.1f}x")


if __name__ == "__main__":
    main()
