"""Rendering of an estimate: the readable table, the fit table and the distribution plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from planner.paper.estimator import EstimateResult
from planner.paper.throughput_fit import fit_table
from planner.io import write_atomic


def _iqr(stats: dict) -> str:
    return f"{stats['median_wh']:.3f} ({stats['q1_wh']:.3f}-{stats['q3_wh']:.3f})"


def estimate_text(result: EstimateResult) -> str:
    """Readable report: per-model and blended Wh/query, levers, fleet GWh/day."""
    summary = result.summary()
    regimes = list(result.instance.regimes)
    power = {m.id: m.node_power_max_kw for m in result.instance.models}
    lines = [f"Instance {result.instance.name}: {result.instance.samples_per_model} samples per "
             f"model, seed {result.instance.seed}", ""]
    rows = []
    for model_id, by_regime in summary["models"].items():
        row = {"model": model_id, "P_max kW": f"{power[model_id]:.1f}",
               "fit": result.fits[model_id].kind}
        for regime in regimes:
            row[f"{regime} Wh median (IQR)"] = _iqr(by_regime[regime])
        rows.append(row)
    blend_row = {"model": f"blend (top {result.instance.blend.top_k}, trimmed)",
                 "P_max kW": "", "fit": ""}
    for regime in regimes:
        blend_row[f"{regime} Wh median (IQR)"] = _iqr(summary["blend"][regime])
    rows.append(blend_row)
    lines += ["Per-query energy (Wh)", pd.DataFrame(rows).to_string(index=False), ""]
    for regime in regimes:
        lines.append(f"  blend {regime}: {', '.join(summary['blend'][regime]['models'])}")
    if result.instance.levers:
        lever_rows = result.lever_table()
        pivot = lever_rows.pivot_table(index="scenario", columns="regime", values="reduction",
                                       sort=False)
        med = lever_rows.pivot_table(index="scenario", columns="regime", values="median_wh",
                                     sort=False)
        table = pd.DataFrame({f"{r} Wh": med[r].map("{:.3f}".format) for r in regimes})
        for r in regimes:
            table[f"{r} reduction"] = pivot[r].map("{:.2f}x".format)
        lines += ["", "Lever scenarios on the blend (lognormal divisors, as in the paper)",
                  table.to_string(), ""]
    fleet = summary["fleet_gwh_per_day"]
    interval = summary["fleet_interval_gwh_per_day"]
    lines.append(f"Fleet, {result.instance.fleet.queries_per_day:.3g} queries/day (GWh/day, "
                 f"bootstrap median [P5-P95])")
    for key, value in fleet.items():
        lines.append(f"  {key:<22s} {value:8.3f}  [{interval[key]['p5']:.3f}-"
                     f"{interval[key]['p95']:.3f}]")
    return "\n".join(lines)


def fit_text(result: EstimateResult) -> str:
    """Regression coefficients and in-sample error per model and per table row."""
    table = fit_table(result.fits)
    lines = ["Throughput regression log TPS = b0 + b1 log L_in + b2 log L_out "
             "(capped at max observed TPS)",
             table.to_string(index=False, float_format=lambda v: f"{v:.4g}"), "",
             "In-sample rows"]
    rows = pd.concat([fit.rows.assign(model=m) for m, fit in result.fits.items()])
    cols = ["model", "table_row", "input_tokens", "output_tokens", "tps", "tps_predicted",
            "abs_pct_error", "source"]
    lines.append(rows[cols].to_string(index=False, float_format=lambda v: f"{v:.1f}"))
    return "\n".join(lines)


def plot_estimate(result: EstimateResult, path: Path | str) -> Path:
    """Per-model and blended distributions per regime, with the lever scenarios, as one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regimes = list(result.instance.regimes)
    fig, axes = plt.subplots(2, len(regimes), figsize=(6.5 * len(regimes), 8.5), squeeze=False)
    for col, regime in enumerate(regimes):
        ax = axes[0, col]
        everything = np.concatenate(list(result.samples[regime].values()))
        bins = np.logspace(np.log10(np.percentile(everything, 0.5)),
                           np.log10(np.percentile(everything, 99.5)), 60)
        for model_id, draws in result.samples[regime].items():
            ax.hist(draws, bins=bins, histtype="step", label=model_id,
                    weights=np.full(draws.size, 1.0 / draws.size))
        blend = result.blend[regime]
        ax.hist(blend, bins=bins, histtype="stepfilled", alpha=0.25, color="black",
                label="blend (trimmed)", weights=np.full(blend.size, 1.0 / blend.size))
        ax.axvline(np.median(result.blend[regime]), color="black", ls="--", lw=1)
        ax.set_xscale("log")
        ax.set_title(f"{regime}: per-model Wh/query")
        ax.set_xlabel("Wh per query")
        ax.set_ylabel("share of draws per log bin")
        ax.legend(fontsize=7)
        ax = axes[1, col]
        scenarios = result.lever_samples[regime]
        data = [d for d in scenarios.values()]
        ax.boxplot(data, showfliers=False, orientation="horizontal")
        ax.set_yticks(range(1, len(data) + 1), list(scenarios))
        ax.set_xscale("log")
        ax.set_xlabel("Wh per query (blend)")
        ax.set_title(f"{regime}: lever scenarios (medians)")
        for i, draws in enumerate(data, start=1):
            ax.annotate(f"{np.median(draws):.3g}", (np.median(draws), i + 0.3), fontsize=7,
                        ha="center")
    fig.suptitle(f"{result.instance.name}: per-query energy (seed {result.instance.seed})")
    fig.tight_layout()
    return write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
