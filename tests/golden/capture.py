"""What the golden tests pin: the numbers a user reads from each shipped instance's plan and
lever attribution. ``python -m tests.golden.capture`` rewrites ``expected.json`` (do that only
for a change that is meant to move the numbers, such as a recalibration, and say so in the
commit); the tests compare a fresh run against it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
INSTANCES = ROOT / "instances"
EXPECTED = HERE / "expected.json"

# (case name, instance file, scenario, formulation)
PLANS = [
    ("fleet-1b/lp", "fleet-1b.yaml", None, "lp"),
    ("fleet-1b/milp", "fleet-1b.yaml", None, "milp"),
    ("fleet-1b/h100-only", "fleet-1b.yaml", "h100-only", "lp"),
    ("fleet-1b/no-cap", "fleet-1b.yaml", "no-cap", "lp"),
    ("fleet-1b/tight-cap", "fleet-1b.yaml", "tight-cap", "lp"),
    ("fleet-1b/no-next-gen", "fleet-1b.yaml", "no-next-gen", "lp"),
    ("small/two-hardware", "small/two-hardware.yaml", None, "lp"),
    ("small/one-deployment", "small/one-deployment.yaml", None, "lp"),
    ("small/milp-small", "small/milp-small.yaml", None, "milp"),
    ("small/levers-small", "small/levers-small.yaml", None, "lp"),
]
LEVERS = [("levers/levers-small", "small/levers-small.yaml"),
          ("levers/fleet-1b", "fleet-1b.yaml")]


def plan_numbers(file: str, scenario: str | None, formulation: str) -> dict:
    from planner.problem.instance import load_planning_instance
    from planner.pipeline import optimize

    instance, digest = load_planning_instance(INSTANCES / file, scenario)
    plan = optimize(instance, digest, formulation=formulation)
    s = plan.summary
    deployments = {r.deployment: float(r.nodes) for r in plan.deployments.itertuples()
                   if r.nodes > 1e-9}
    served = {f"{r[1]} -> {r.deployment}": float(r.queries_per_day)
              for r in plan.assignment.itertuples() if r.queries_per_day > 1e-6}
    return {"objective_value": s["objective_value"],
            "objective_gwh_per_day": s["objective_gwh_per_day"],
            "mip_gap": float(s.get("mip_gap") or 0.0),
            "peak_power_mw": s["peak_power_mw"], "nodes": s["nodes"],
            "deployments_used": s["deployments_used"], "deployments": deployments,
            "served": served}


def lever_numbers(file: str) -> dict:
    from planner.problem.instance import load_planning_data
    from planner.levers import attribute_levers

    result = attribute_levers(load_planning_data(INSTANCES / file), file)
    s = result.summary
    levers = result.levers.set_index("lever") if "lever" in result.levers else result.levers
    return {"baseline_gwh_per_day": s["baseline_gwh_per_day"],
            "all_levers_gwh_per_day": s["all_levers_gwh_per_day"],
            "combined_reduction": s["combined_reduction"],
            "alone_reduction": {str(k): float(v)
                                for k, v in levers["alone_reduction"].items()},
            "shapley_gwh_per_day": {str(k): float(v)
                                    for k, v in levers["shapley_gwh_per_day"].items()}}


def capture() -> dict:
    out = {name: plan_numbers(f, sc, form) for name, f, sc, form in PLANS}
    out.update({name: lever_numbers(f) for name, f in LEVERS})
    return out


if __name__ == "__main__":
    EXPECTED.write_text(json.dumps(capture(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {EXPECTED}", file=sys.stderr)
