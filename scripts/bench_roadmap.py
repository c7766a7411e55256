"""Benchmark (issue 23): roadmaps against a one-period solve measured in the same run, each in
its own process so that peak memory is its own.

Cases:
  3y-lp     instances/roadmap-3y.yaml, LP, perfect foresight (12 quarters)
  3y-milp   the same, MILP (integer nodes and orders), its proven gap
  3y-one    fleet-1b-sized one-period solve of the same instance (`planner solve` of it)
  syn-12    scripts/bench_scale.py's generator (bench_solve.synthetic_instance) at --classes,
            as a 12-quarter roadmap (growth 30 %/year, the H100 base in two ageing vintages,
            H200/B200/GB200/Rubin orderable at once with build limits per quarter: the
            generator's classes include some only Rubin serves), LP, perfect foresight
  syn-1     the same instance's one-period LP (`planner.pipeline.optimize`)

The synthetic cases keep every deployment (``prune_dominated=False``, as bench_scale.py: ~1,700
deployments at 100 classes); the roadmap then removes exact duplicates as `solve` does.

Wall is the roadmap call (candidates, build, solves of both foresights unless --no-compare,
re-checks, tables); peak RSS is the process's. Ratios are against the one-period solve of the
same instance in this run.

    python scripts/bench_roadmap.py [--classes 100] [--seed 0] [--no-compare]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))


def synthetic_roadmap(classes: int, seed: int):
    from bench_solve import synthetic_instance

    base = synthetic_instance(classes, seed).model_dump(mode="json")
    periods = []
    for y in (2027, 2028, 2029):
        for q in range(4):
            end_y, end_m = (y + 1, 1) if q == 3 else (y, 3 * q + 4)
            periods.append({"id": f"{y}Q{q + 1}", "start": f"{y}-{3 * q + 1:02d}-01",
                            "end": f"{end_y}-{end_m:02d}-01"})
    base["roadmap"] = {
        "periods": periods, "demand_growth_per_year": {"*": 0.3},
        "installed": [{"site": "east", "hardware": "h100-sxm", "nodes": 2000,
                       "installed": "2023-03-01"},
                      {"site": "east", "hardware": "h100-sxm", "nodes": 2000,
                       "installed": "2024-06-01"}],
        "hardware": {"h100-sxm": {"orderable": False, "lifetime_years": 5},
                     "h200-sxm": {"lead_time_days": 0},  # Q1 needs more than the base
                     "b200": {"lead_time_days": 0, "max_nodes_per_period": 2000},
                     "gb200": {"lead_time_days": 0, "max_nodes_per_period": 200},
                     "rubin": {"lead_time_days": 0,
                               "max_nodes_per_period": 200}}}
    from planner.problem.instance import instance_from_mapping

    return instance_from_mapping(base, f"synthetic-{classes}")


def worker(case: str, classes: int, seed: int, compare: bool) -> dict:
    import resource

    t0 = time.perf_counter()
    if case.startswith("3y"):
        from planner.problem.instance import load_planning_instance

        instance, digest = load_planning_instance(ROOT / "instances" / "roadmap-3y.yaml")
    else:
        instance, digest = synthetic_roadmap(classes, seed)
    load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = {"case": case}
    coefficients = None
    if case.startswith("syn"):  # as bench_scale.py: every deployment, none pruned as dominated
        from planner.problem.candidates import build_coefficients

        coefficients = build_coefficients(instance, prune_dominated=False)
        out["deployments"] = coefficients[0].n_deployments
        out["pairs"] = coefficients[0].n_pairs
    if case in ("3y-one", "syn-1"):
        from planner.pipeline import optimize

        plan = optimize(instance, digest, "lp", coefficients)
        out.update(objective=plan.summary["objective_value"],
                   pairs=plan.summary["candidates"]["eligible_pairs"])
    else:
        from planner.roadmap.solve import optimize_roadmap

        formulation = "milp" if case.endswith("milp") else "lp"
        result = optimize_roadmap(instance, digest, formulation, "perfect", compare=compare,
                                  coefficients=coefficients)
        s = result.summary
        out.update(objective=s["objective_value"], mip_gap=s["mip_gap"], size=s["size"],
                   timings=s["timings_s"],
                   value_of_foresight=(s["value_of_foresight"] or {}).get("value"))
    out.update(wall_s=time.perf_counter() - t0, load_s=load_s,
               peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6)
    return out


def run(case: str, args) -> dict:
    cmd = [sys.executable, __file__, "--worker", case, "--classes", str(args.classes),
           "--seed", str(args.seed)] + (["--no-compare"] if args.no_compare else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        return {"case": case, "error": (proc.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-compare", action="store_true",
                        help="perfect foresight only (no myopic pass)")
    parser.add_argument("--worker")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.classes, args.seed, not args.no_compare),
                         default=float))
        return
    rows = {case: run(case, args) for case in ("3y-one", "3y-lp", "3y-milp", "syn-1", "syn-12")}
    print(json.dumps(rows, indent=1, default=float), file=sys.stderr)
    print(f"{'case':8s} {'wall s':>8s} {'x one':>7s} {'peak GB':>8s} {'x one':>6s} "
          f"{'rows':>8s} {'cols':>8s} {'nnz':>9s} {'gap':>8s} objective")
    for case, r in rows.items():
        if "error" in r:
            print(f"{case:8s} error: {r['error']}")
            continue
        base = rows["3y-one" if case.startswith("3y") else "syn-1"]
        size = r.get("size", {})
        gap = r.get("mip_gap")
        ratio = r["wall_s"] / base["wall_s"] if "wall_s" in base else float("nan")
        mem = r["peak_rss_gb"] / base["peak_rss_gb"] if "peak_rss_gb" in base else float("nan")
        print(f"{case:8s} {r['wall_s']:8.3f} {ratio:7.2f} {r['peak_rss_gb']:8.3f} {mem:6.2f} "
              f"{size.get('rows', 0):8d} {size.get('columns', 0):8d} "
              f"{size.get('nonzeros', 0):9d} {'' if gap is None else f'{gap:.4%}':>8s} "
              f"{r['objective']:.6g}")
        if r.get("timings"):
            print(f"         timings {r['timings']}")


if __name__ == "__main__":
    main()
