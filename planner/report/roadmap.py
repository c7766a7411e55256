"""Write and print a roadmap: CSV and Parquet tables, summary.json, readable text."""

from __future__ import annotations

import math
from pathlib import Path

from planner.io import write_atomic, write_json_atomic


def _clean(value):
    """JSON-safe: numpy scalars as Python numbers, NaN and infinities as null."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def roadmap_json(summary: dict) -> dict:
    return _clean(summary)


def write_roadmap(roadmap, out_dir: Path | str) -> list[Path]:
    """Every table as CSV and Parquet plus summary.json (``kind: roadmap``), atomically."""
    out_dir = Path(out_dir)
    written = []
    for name, table in roadmap.tables.items():
        table = table.copy()
        for col in table.columns:  # Parquet wants one type per column
            if table[col].dtype == object:
                table[col] = table[col].astype(str)
        written.append(write_atomic(out_dir / f"roadmap_{name}.csv",
                                    lambda tmp, t=table: t.to_csv(tmp, index=False)))
        written.append(write_atomic(out_dir / f"roadmap_{name}.parquet",
                                    lambda tmp, t=table: t.to_parquet(tmp, index=False)))
    written.append(write_json_atomic(out_dir / "summary.json",
                                     {"kind": "roadmap", **roadmap_json(roadmap.summary)}))
    return written


def roadmap_text(roadmap) -> str:
    s = roadmap.summary
    lines = [f"status {s['status']}  objective {s['objective_value']:.6g} {s['objective_unit']}"
             f"  ({s['formulation']}, {s['foresight']} foresight; {s['gwh']:.6g} GWh over "
             f"{len(s['periods'])} periods)"]
    if s.get("mip_gap") is not None:
        lines[0] += f"  MIP gap {s['mip_gap']:.4g}"
    lines += ["", f"{'period':10s} {'GWh/day':>9s} {'GWh':>9s} {'peak MW':>8s} "
              f"{'Wh/query':>9s} {'spare':>8s}  orders (arriving)"]
    for p in s["periods"]:
        orders = ", ".join(f"{o['nodes']:.4g} {o['hardware']} at {o['site']}"
                           for o in p["orders"]) or "-"
        lines.append(f"{p['id']:10s} {p['gwh_per_day']:9.4g} {p['gwh']:9.4g} "
                     f"{p['peak_mw']:8.4g} {p['wh_per_query']:9.4g} {p['spare_nodes']:8.4g}  "
                     f"{orders}")
    v = s.get("value_of_foresight")
    if v:
        if v.get("value") is not None:
            lines.append(f"\nvalue of foresight: myopic {v['myopic']:.6g} - perfect "
                         f"{v['perfect']:.6g} = {v['value']:.4g} {s['objective_unit']} "
                         f"({v['relative']:.2%}); myopia's stranded nodes: "
                         f"{sum(x['nodes'] for x in v['myopic_stranded']):.4g} node-periods")
        else:
            lines.append(f"\nvalue of foresight: {v.get('note')}")
    if s.get("spare_off_saves_gwh"):
        lines.append(f"idle policy off: spare nodes switched off save "
                     f"{s['spare_off_saves_gwh']:.4g} GWh against keeping them warm")
    base = s.get("do_nothing")
    if base:
        lines.append(f"do nothing ({base['rule']}): {base['gwh']:.6g} GWh")
    lev = s.get("levers_over_time")
    table = roadmap.tables.get("levers")
    if lev and table is not None:
        wide = table.pivot(index="period", columns="variant", values="gwh_per_day")
        order = ["baseline"] + [v for v in dict.fromkeys(table["variant"])
                                if v not in ("baseline", "all levers")] + ["all levers"]
        lines += ["", "Levers over time (GWh/day; horizon reduction against the baseline)",
                  wide.reindex(index=list(dict.fromkeys(table["period"])), columns=order)
                  .to_string(float_format=lambda v: f"{v:.4g}"),
                  "  ".join(f"{k} {v:.3g}x" for k, v in lev["reduction"].items())]
    lines.append("timings (s): " + ", ".join(f"{k} {v:.3f}" for k, v in s["timings_s"].items()))
    return "\n".join(lines)
