"""Write and print a plan: CSV and Parquet tables, JSON summary, readable text."""

from __future__ import annotations

from pathlib import Path


from planner.results.plan import Plan
from planner.io import write_atomic, write_json_atomic


def write_plan(plan: Plan, out_dir: Path | str) -> list[Path]:
    """Every table as CSV and Parquet plus summary.json, each written atomically."""
    out_dir = Path(out_dir)
    written = []
    for name, table in plan.tables().items():
        written.append(write_atomic(out_dir / f"{name}.csv",
                                    lambda tmp, t=table: t.to_csv(tmp, index=False)))
        written.append(write_atomic(out_dir / f"{name}.parquet",
                                    lambda tmp, t=table: t.to_parquet(tmp, index=False)))
    written.append(write_json_atomic(out_dir / "summary.json", plan.summary))
    return written


def write_infeasible(exc, instance, digest: str, formulation: str,
                     out_dir: Path | str, changes: list | None = None) -> Path:
    """summary.json of a solve that has no feasible plan: the diagnosis (which class or site,
    which constraint, the closest achievable value) and provenance; no tables are written."""
    import math

    from planner.pipeline import provenance

    def clean(value):
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if hasattr(value, "item"):  # numpy scalars
            return clean(value.item())
        return value

    summary = {"status": "infeasible", "objective": instance.objective, "message": str(exc),
               "diagnosis": [{k: clean(v) for k, v in d.items()}
                             for d in getattr(exc, "details", [])],
               "provenance": provenance(instance, digest, formulation, changes)}
    return write_json_atomic(Path(out_dir) / "summary.json", summary)


def plan_text(plan: Plan) -> str:
    from planner.report.views import LP_NODES, gap_words, humane_cost, readable_classes

    s = plan.summary
    fmt = lambda v: f"{v:.4g}" if isinstance(v, float) else str(v)  # noqa: E731
    value, unit = humane_cost(s["objective_value"], s["objective_unit"])
    lp = (s.get("provenance") or {}).get("formulation") == "lp"
    lines = [f"status {s['status']}  objective {fmt(value)} {unit}  peak "
             f"{s['peak_power_mw']:.3f} MW  nodes {s['nodes']:.1f}"
             + (f" ({LP_NODES})" if lp else "") + f"  deployments {s['deployments_used']}"]
    if s.get("wh_per_query") is not None:
        lines[0] += f"  mean {s['wh_per_query']:.4f} Wh/query"
    if s["objective"] != "energy":
        lines[0] += f"  energy {s['objective_gwh_per_day']:.4g} GWh/day"
    if (s.get("mip_gap") is not None and s["status"] != "optimal") or s.get("lp_bound"):
        bound, bound_unit = humane_cost(s.get("lp_bound"), s["objective_unit"])
        lines.append(f"{gap_words(s.get('mip_gap'), s['status'])}  LP bound {fmt(bound)} "
                     f"{bound_unit}")
    cand = s["candidates"]
    lines.append(f"candidates: {cand['generated']} generated, {cand['kept']} kept, "
                 f"{cand['eligible_pairs']} eligible pairs; dropped {cand['dropped']}")
    show = lambda df: df.to_string(  # noqa: E731
        index=False, float_format=lambda v: "none" if v == float("inf") else f"{v:.4g}")
    lines += ["", "Assignment", show(plan.assignment), "",
              "Deployments", show(plan.deployments.loc[:, ~plan.deployments.columns.str.startswith(
                  "util_h")]), "", "Classes", show(readable_classes(plan.classes)), "",
              "Constraints", show(plan.constraints), "",
              "timings (s): " + ", ".join(f"{k} {v:.3f}" for k, v in s["timings_s"].items())]
    return "\n".join(lines)
