"""Write and print a lever attribution: tables, a waterfall chart, a JSON summary."""

from __future__ import annotations

from pathlib import Path

from planner.levers import LeverAttribution
from planner.io import write_atomic, write_json_atomic


def write_levers(result: LeverAttribution, out_dir: Path | str) -> list[Path]:
    """levers, classes and subsets as CSV and Parquet, waterfall.png and summary.json."""
    out_dir = Path(out_dir)
    written = []
    for name, table in (("levers", result.levers), ("classes", result.classes),
                        ("subsets", result.subsets), ("reconciliation", result.reconciliation),
                        ("categories", result.categories)):
        written.append(write_atomic(out_dir / f"{name}.csv",
                                    lambda tmp, t=table: t.to_csv(tmp, index=False)))
        written.append(write_atomic(out_dir / f"{name}.parquet",
                                    lambda tmp, t=table: t.to_parquet(tmp, index=False)))
    written.append(plot_waterfall(result, out_dir / "waterfall.png"))
    written.append(write_json_atomic(out_dir / "summary.json", result.summary))
    return written


def plot_waterfall(result: LeverAttribution, path: Path | str) -> Path:
    """Baseline, each lever's Shapley saving (largest first), all levers: GWh/day."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = result.summary
    levers = result.levers.sort_values("shapley_gwh_per_day", ascending=False)
    labels = ["baseline"] + list(levers["name"]) + ["all levers"]
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 4.8))
    level = s["baseline_gwh_per_day"]
    ax.bar(0, level, color="#555555")
    ax.annotate(f"{level:.3g}", (0, level), ha="center", va="bottom", fontsize=8)
    for i, row in enumerate(levers.itertuples(), start=1):
        step = row.shapley_gwh_per_day
        ax.bar(i, -step, bottom=level, color="#2a9d8f" if step >= 0 else "#e76f51")
        ax.annotate(f"-{step:.3g}\n({row.shapley_share:.0%}, alone {row.alone_reduction:.2f}x)",
                    (i, level), ha="center", va="bottom", fontsize=7)
        level -= step
    ax.bar(len(labels) - 1, s["all_levers_gwh_per_day"], color="#264653")
    ax.annotate(f"{s['all_levers_gwh_per_day']:.3g}\n({s['combined_reduction']:.1f}x)",
                (len(labels) - 1, s["all_levers_gwh_per_day"]), ha="center", va="bottom",
                fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_ylabel("fleet GWh/day")
    ax.set_title(f"{s['instance']}: lever attribution ({s['shapley']} Shapley); product of "
                 f"single levers {s['product_of_alone_reductions']:.1f}x vs combined "
                 f"{s['combined_reduction']:.1f}x", fontsize=9)
    fig.tight_layout()
    out = write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
    return out


def levers_text(result: LeverAttribution) -> str:
    s = result.summary
    show = lambda df: df.to_string(index=False, float_format=lambda v: f"{v:.4g}")  # noqa: E731
    lines = [f"{s['instance']}: baseline {s['baseline_gwh_per_day']:.4g} GWh/day "
             f"({s['baseline_wh_per_query']:.4g} Wh/query) -> all levers "
             f"{s['all_levers_gwh_per_day']:.4g} GWh/day ({s['all_levers_wh_per_query']:.4g} "
             f"Wh/query): {s['combined_reduction']:.2f}x combined",
             f"product of single-lever reductions {s['product_of_alone_reductions']:.2f}x; "
             f"interaction (combined / product) {s['interaction']:.2f}; Shapley "
             f"{s['shapley']}; {s['subsets_solved']} subsets solved", ""]
    cols = ["name", "kind", "alone_reduction", "leave_one_out_reduction", "shapley_share",
            "shapley_factor", "shapley_gwh_per_day"]
    lines += ["Levers (reductions are x-fold; Shapley factors multiply to the combined "
              "reduction)", show(result.levers[cols]), ""]
    classes = result.classes.set_index("class").T
    classes.index.name = "per class"
    lines += ["Per class", classes.to_string(float_format=lambda v: f"{v:.4g}"), ""]
    if not result.categories.empty:
        cols = ["category", "groups", "measured_on", "reduction", "published_low",
                "published_high", "in_published_range"]
        per_class = [c for c in result.categories.columns if c.startswith("reduction[")]
        lines += ["Published categories (each the subset of its groups, solved; against the "
                  "published range)", show(result.categories[cols + per_class]), ""]
    if not result.reconciliation.empty:
        lines += ["Reconciliation: the baseline moved step by step to the paper's own assumptions "
                  "(each step applied on top of the previous, solved; factors multiply)",
                  show(result.reconciliation[["step", "gwh_per_day", "step_factor",
                                              "cumulative_factor", "description"]]), ""]
    lines += [f"baseline: {s['baseline_source']}",
              "timings (s): " + ", ".join(f"{k} {v:.3f}" for k, v in s["timings_s"].items())]
    return "\n".join(lines)
