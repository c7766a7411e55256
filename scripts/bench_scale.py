"""Benchmark (issue 18): the LP at scale, new path (aggregated form, HiGHS directly) against the
current ones in the same run, each solve in its own process so peak memory is its own.

Paths:
  planner candidates -> planner.pipeline.optimize (auto path: colgen from 20k pairs), plan
          tables and the independent re-check included: the product end to end
  colgen  candidates -> column generation over the aggregated form (planner.solve.colgen) -> verify
  direct  candidates -> formulations.form (aggregated) -> HiGHS (planner.solve.lp) -> verify
  cvxpy   candidates -> formulations.lp (cvxpy) -> HiGHS -> verify (the default before issue 18)
  full    candidates -> formulations.form (hourly: every pair in 24 hour rows) -> highspy

Prints classes, pairs, nonzeros (total and per pair), wall end to end (process start to plan
verified, imports included), peak RSS, phase times and the objective with its relative
difference to the other paths at the same size, then the scaling exponent of the direct path
(least squares of log wall on log pairs). For colgen the nonzeros are those of its last
master (the matrix HiGHS held), per pair of the full problem.

    python scripts/bench_scale.py [--classes 100 300 1340] [--baseline-classes 100 300]
                                  [--full-classes 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

T_START = time.perf_counter()


def worker(classes: int, seed: int, path: str) -> dict:
    import resource

    from bench_solve import synthetic_instance

    from planner.problem.candidates import build_coefficients
    from planner.solve.verify import verify_plan
    phases = {"imports": time.perf_counter() - T_START}
    t0 = time.perf_counter()
    instance = synthetic_instance(classes, seed)
    c, report = build_coefficients(instance, prune_dominated=False)
    phases["candidates"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if path == "planner":
        from planner.pipeline import optimize
        plan = optimize(instance, coefficients=(c, report))  # the product's own pipeline
        for k, v in plan.summary["timings_s"].items():
            if k != "candidates":
                phases[k] = v
        return {"classes": classes, "pairs": c.n_pairs, "deployments": c.n_deployments,
                "path": path, "nonzeros": -1, "objective": plan.summary["objective_value"],
                "iterations": -1, "violations": 0, "wall_s": time.perf_counter() - T_START,
                "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                "phases": {k: round(v, 2) for k, v in phases.items()}}
    if path == "colgen":
        from planner.solve.colgen import solve_lp_colgen
        cg = solve_lp_colgen(c, 600)
        phases["colgen"] = cg.result.seconds
        phases["rounds"] = len(cg.rounds)
        phases["highs"] = sum(r.get("highs_s", 0.0) for r in cg.rounds)
        nnz = cg.rounds[-1]["nonzeros"]  # of the last master: the matrix HiGHS held
        unit, objective, x, n = cg.unit, cg.result.objective, cg.result.x, cg.result.n
        iterations = cg.pairs_in_master
    elif path == "direct":
        from formulations.form import Options, build
        from planner.solve.lp import solve_lp_direct
        form = build(c, Options(aggregated=True))
        phases["build"] = time.perf_counter() - t0
        result, _, t = solve_lp_direct(c, 600, form=form)
        phases["load"], phases["highs"] = t["load"], t["highs"]
        nnz, unit, objective, x, n = form.a.nnz, form.unit, result.objective, result.x, result.n
        iterations = t["iterations"]
    elif path == "full":
        from formulations.form import build
        from planner.solve.highs import HighsModel
        form = build(c)
        phases["build"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        lp = HighsModel(form)
        phases["load"] = time.perf_counter() - t0
        res = lp.solve(600)
        phases["highs"] = res.seconds
        nnz, unit, objective = form.a.nnz, form.unit, res.objective
        x, n = res.values[:c.n_pairs], res.values[c.n_pairs:]
        iterations = res.iterations
    else:
        from formulations.form import Options, build
        from planner.solve import solve
        form = build(c, Options(aggregated=True))
        phases["build"] = time.perf_counter() - t0
        nnz = form.a.nnz
        result = solve(form, 600, solver="cvxpy")  # the same form through cvxpy's compile
        phases["highs+compile"] = result.seconds
        unit, objective, x, n = form.unit, result.objective, result.x, result.n
        iterations = -1
    t0 = time.perf_counter()
    violations = len(verify_plan(c, x * unit, n))
    phases["verify"] = time.perf_counter() - t0
    return {"classes": classes, "pairs": c.n_pairs, "deployments": c.n_deployments,
            "path": path, "nonzeros": nnz, "objective": objective, "iterations": iterations,
            "violations": violations, "wall_s": time.perf_counter() - T_START,
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
            "phases": {k: round(v, 2) for k, v in phases.items()}}


def run(classes: int, seed: int, path: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", path, "--classes", str(classes),
                          "--seed", str(seed)], capture_output=True, text=True)
    if out.returncode:
        return {"classes": classes, "path": path, "error": out.stderr.strip().splitlines()[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classes", type=int, nargs="+", default=[100, 300, 1340],
                        help="sizes of the new paths (colgen, direct)")
    parser.add_argument("--baseline-classes", type=int, nargs="*", default=[100, 300])
    parser.add_argument("--full-classes", type=int, nargs="*", default=[300])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replay", help="print the table of a previous run's JSON lines")
    parser.add_argument("--worker", choices=["planner", "colgen", "direct", "cvxpy", "full"])
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.classes[0], args.seed, args.worker)))
        return
    import numpy as np
    rows = []
    if args.replay:
        with open(args.replay) as f:
            rows = [json.loads(line) for line in f if line.startswith("{")]
    for k in [] if args.replay else sorted(set(args.classes) | set(args.baseline_classes) | set(args.full_classes)):
        for path, sizes in (("planner", args.classes), ("colgen", args.classes),
                            ("direct", args.classes),
                            ("cvxpy", args.baseline_classes),
                            ("full", args.full_classes)):
            if k in sizes:
                rows.append(run(k, args.seed, path))
                print(json.dumps(rows[-1]), flush=True)
    print("\n| classes | pairs | path | nonzeros | nnz/pair | wall s | peak GB | phases s | "
          "objective | rel. diff vs colgen |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['classes']} | | {r['path']} | error: {r['error']} |||||||")
            continue
        ref = next((o for o in rows if o.get("path") == "colgen" and o["classes"] == r["classes"]
                    and "error" not in o), None)
        diff = abs(r["objective"] - ref["objective"]) / abs(ref["objective"]) if ref else np.nan
        phases = ", ".join(f"{k} {v}" for k, v in r["phases"].items())
        nnz = f"{r['nonzeros']:,} | {r['nonzeros'] / r['pairs']:.2f}" if r["nonzeros"] >= 0 \
            else " | "
        print(f"| {r['classes']:,} | {r['pairs']:,} | {r['path']} | {nnz} | {r['wall_s']:.1f} | {r['peak_rss_gb']:.2f} | "
              f"{phases} | {r['objective']:.9f} | {diff:.1e} |")
    for path in ("planner", "colgen", "direct"):
        exponents([r for r in rows if r.get("path") == path and "error" not in r], path)


def exponents(direct: list[dict], path: str) -> None:
    import numpy as np
    if len(direct) >= 2:
        logp = np.log([r["pairs"] for r in direct])
        for label, key in (("wall end to end", None), ("HiGHS", "highs"),
                           ("candidates", "candidates")):
            y = [r["wall_s"] if key is None else r["phases"].get(key, r["phases"].get("solve"))
                 for r in direct]
            slope = np.polyfit(logp, np.log(np.maximum(y, 1e-3)), 1)[0]
            print(f"scaling exponent, {path}, {label}: time ~ pairs^{slope:.2f}")
        mem = np.polyfit(logp, np.log([r["peak_rss_gb"] for r in direct]), 1)[0]
        print(f"scaling exponent, {path}: peak memory ~ pairs^{mem:.2f}")


if __name__ == "__main__":
    main()
