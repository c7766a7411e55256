"""Outputs of ``planner uncertainty``: text, summary.json, per-deployment tables, the PNG of the
energy distribution with the point plan marked (issue 14)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from planner.io import write_atomic, write_json_atomic


def _clean(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("plan",)}


def result_json(result: dict) -> dict:
    """The JSON summary: per plan its point summary and Monte Carlo, plus the comparison and the
    re-optimised draws when present."""
    out = {}
    for name, entry in result["plans"].items():
        plan_summary = {k: entry["plan"].summary[k] for k in (
            "status", "objective_gwh_per_day", "peak_power_mw", "wh_per_query", "nodes",
            "deployments_used") if k in entry["plan"].summary}
        if "robust" in entry["plan"].summary:
            plan_summary["robust"] = entry["plan"].summary["robust"]
        out[name] = {"plan": plan_summary, "uncertainty": entry["summary"],
                     "deployments": entry["table"].to_dict(orient="records")}
    return {"instance": result.get("instance", ""), "plans": out,
            **({"comparison": result["comparison"]}
                             if "comparison" in result else {}),
            **({"redraws": result["redraws"]} if "redraws" in result else {})}


def plot_distribution(result: dict, path: Path | str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = {"nominal": "tab:blue", "robust": "tab:orange"}
    for name, entry in result["plans"].items():
        draws = entry["mc"].gwh_per_day
        color = colors.get(name, "tab:gray")
        ax.hist(draws, bins=50, alpha=0.45, color=color, density=True,
                label=f"{name} plan, {draws.size} draws")
        s = entry["summary"]
        ax.axvline(s["point_gwh_per_day"], color=color, lw=2,
                   label=f"{name}: point plan {s['point_gwh_per_day']:.4g}")
        for q in ("p10", "p90"):
            ax.axvline(s["gwh_per_day"][q], color=color, lw=1, ls="--")
    ax.set_xlabel("fleet energy of the fixed plan, GWh/day (dashed: P10, P90)")
    ax.set_ylabel("density")
    ax.set_title("Plan energy when the coefficients vary within their stated uncertainty")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return path


def write_uncertainty(result: dict, out_dir: Path | str) -> list[Path]:
    out = Path(out_dir)
    written = [write_json_atomic(out / "uncertainty_summary.json", _json_safe(result_json(result)))]
    for name, entry in result["plans"].items():
        table = entry["table"]
        written.append(write_atomic(out / f"uncertainty_deployments_{name}.csv",
                                    lambda tmp, t=table: t.to_csv(tmp, index=False)))
        written.append(write_atomic(out / f"uncertainty_deployments_{name}.parquet",
                                    lambda tmp, t=table: t.to_parquet(tmp, index=False)))
    written.append(plot_distribution(result, out / "energy_distribution.png"))
    return written


def _json_safe(obj):
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _q(d: dict, fmt: str = ".4g") -> str:
    return f"{d['median']:{fmt}} (P10-P90 {d['p10']:{fmt}}-{d['p90']:{fmt}})"


def uncertainty_text(result: dict) -> str:
    lines = []
    for name, entry in result["plans"].items():
        s = entry["summary"]
        lines.append(f"{name} plan: point {s['point_gwh_per_day']:.4g} GWh/day, "
                     f"{s['draws']} draws (seed {s['seed']}, {s['seconds']:.2f} s)")
        lines.append(f"  GWh/day, plan fixed:        {_q(s['gwh_per_day'])}")
        lines.append(f"  GWh/day, nodes restored:    {_q(s['gwh_per_day_reprovisioned'])}")
        lines.append(f"  peak MW:                    {_q(s['peak_mw'])} (point "
                     f"{s['point_peak_mw']:.4g})")
        lines.append(f"  P(power cap exceeded):      {s['p_cap_exceeded']:.1%}")
        lines.append(f"  P(utilisation > ceiling):   {s['p_utilization_above_ceiling']:.1%}"
                     f"   P(demand not served, util > 1): {s['p_capacity_shortfall']:.1%}")
        if s["treated_as_exact"]:
            lines.append(f"  treated as exact (no stated uncertainty): "
                         f"{', '.join(s['treated_as_exact'])}")
        else:
            lines.append("  every coefficient the plan uses has a stated uncertainty")
        t = entry["table"]
        with pd.option_context("display.width", 200, "display.max_columns", 20):
            lines.append(t[["deployment", "source", "error_group", "uncertainty_pct",
                            "gwh_per_day", "gwh_p10", "gwh_p90", "variance_share"]]
                         .to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        lines.append("")
    if "comparison" in result:
        c = result["comparison"]
        lines.append("robust vs nominal (same out-of-sample draws):")
        lines.append(f"  nominal energy: {c['nominal_gwh_per_day']['nominal']:.4g} -> "
                     f"{c['nominal_gwh_per_day']['robust']:.4g} GWh/day "
                     f"(price {c['price_pct']:+.1f} %)")
        lines.append(f"  P90 energy:     {c['p90_gwh_per_day']['nominal']:.4g} -> "
                     f"{c['p90_gwh_per_day']['robust']:.4g} ({c['p90_change_pct']:+.1f} %)")
        for key, label in (("p_cap_exceeded", "P(cap exceeded)"),
                           ("p_utilization_above_ceiling", "P(util > ceiling)"),
                           ("p_capacity_shortfall", "P(demand not served)")):
            lines.append(f"  {label + ':':16s}{c[key]['nominal']:.1%} -> {c[key]['robust']:.1%}")
    if "redraws" in result:
        r = result["redraws"]
        lines.append(f"re-optimised draws: {r['draws']} ({r['engine']}, {r['seconds']:.1f} s), "
                     f"statuses {r['status_counts']}")
        if "optimum_gwh_per_day" in r:
            lines.append(f"  optimum GWh/day:            {_q(r['optimum_gwh_per_day'])}")
            lines.append(f"  regret of the point plan:   {_q(r['regret_gwh_per_day'])} GWh/day, "
                         f"{_q(r['regret_pct'], '.3g')} %")
    return "\n".join(lines)
