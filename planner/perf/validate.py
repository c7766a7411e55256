"""Every shipped measured dataset against the model, side by side (``planner validate``).

Serving latency (issue 22): median TPOT, median TTFT and output throughput at concurrency on the
InferenceMAX sweeps per model x hardware x engine version, ML.ENERGY's median inter-token
latency, and the held-out latency errors (``planner.perf.latency``).

Throughput on the TensorRT-LLM tables and on ML.ENERGY v3 (vLLM), GPU power and J/token on
ML.ENERGY v3; MAPE and median signed error per dataset and per hardware family, model kind and
precision; the worst rows; the held-out errors the calibration recorded (leave-one-family-out,
leave-one-model-out); and the coverage of the stated uncertainty (the fraction of rows whose
|error| is inside the prediction's ``uncertainty_pct``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from planner.catalog import data_path
from planner.catalog.loaders import load_catalog
from planner.perf.calibrate import load_throughput_rows
from planner.perf.datasets import mlenergy_rows
from planner.perf.factors import REFERENCE_ENGINE, Calibration, load_calibration
from planner.perf.model import predict

GROUPS = ("family", "model_kind", "precision_id")


def prediction_rows(calibration: Calibration | None = None) -> pd.DataFrame:
    """Every in-catalog measured row with its prediction and signed % errors."""
    calibration = calibration or load_calibration()
    energy = mlenergy_rows()
    rows = pd.concat([load_throughput_rows(), energy[energy["in_catalog"]]], ignore_index=True)
    out = predict(rows, calibration=calibration)
    out["family"] = out["hardware_id"].map(load_catalog().hardware["family"])
    out["throughput_error_pct"] = (out["out_tok_s_total"] / out["measured_tok_s"] - 1) * 100
    out["gpu_power_error_pct"] = (out["gpu_power_w"] * out["num_gpus"]
                                  / out["measured_gpu_power_w"] - 1) * 100
    out["j_per_token_error_pct"] = (out["gpu_joules_per_token"] / out["measured_j_per_token"]
                                    - 1) * 100
    out["inside_uncertainty"] = out["throughput_error_pct"].abs() <= out["uncertainty_pct"]
    return out


def _stats(errors: pd.Series) -> dict:
    errors = errors.dropna()
    return {"rows": int(errors.size), "mape_pct": float(errors.abs().mean()),
            "median_signed_pct": float(errors.median())}


def summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """MAPE and median signed error per (metric, dataset, grouping, group)."""
    records = []
    metrics = {"throughput": "throughput_error_pct", "gpu_power": "gpu_power_error_pct",
               "j_per_token": "j_per_token_error_pct"}
    for metric, column in metrics.items():
        for dataset, part in rows.groupby("dataset"):
            if part[column].notna().sum() == 0:
                continue
            records.append({"metric": metric, "dataset": dataset, "grouping": "all",
                            "group": "all", **_stats(part[column])})
            for grouping in GROUPS:
                for group, sub in part.groupby(grouping):
                    records.append({"metric": metric, "dataset": dataset, "grouping": grouping,
                                    "group": group, **_stats(sub[column])})
    return pd.DataFrame(records)


HELDOUT_KEYS = ["dataset", "model_id", "hardware_id", "precision_id", "num_gpus", "isl", "osl",
                "concurrency", "engine", "measured_tok_s"]


def heldout_path(calibration_path=None) -> Path:
    """The held-out errors written beside a calibration file (``X.json`` -> ``X.heldout.csv``)."""
    path = Path(calibration_path) if calibration_path else data_path("calibration.json")
    return path.with_suffix(".heldout.csv")


def write_heldout(errors: pd.DataFrame, calibration_path) -> Path:
    """Each row's leave-one-model-out and leave-one-family-out error, keyed, beside the file."""
    from planner.io import write_atomic

    table = errors.reindex(columns=HELDOUT_KEYS + ["lomo_error_pct", "lofo_error_pct"])
    target = heldout_path(calibration_path)
    write_atomic(target, lambda tmp: table.to_csv(tmp, index=False))
    return target


def attach_heldout(rows: pd.DataFrame, calibration_path=None) -> pd.DataFrame:
    """The rows with their held-out errors, when the calibration's held-out file exists and its
    keys match row for row (a file for other data or another calibration is not used)."""
    path = heldout_path(calibration_path)
    if not path.is_file():
        return rows
    held = pd.read_csv(path)
    if len(held) != len(rows) or not np.allclose(held["measured_tok_s"].to_numpy(float),
                                                 rows["measured_tok_s"].to_numpy(float)):
        return rows
    return rows.assign(lomo_error_pct=held["lomo_error_pct"].to_numpy(float),
                       lofo_error_pct=held["lofo_error_pct"].to_numpy(float))


def coverage_table(rows: pd.DataFrame, calibration: Calibration | None = None) -> pd.DataFrame:
    """Fraction of rows inside the stated uncertainty per dataset and model kind. Three views:
    in-sample (every row's own error against its stated uncertainty); held out by model (the
    row's error when its model was left out of its family's fit, against the same stated
    uncertainty: what a user sees for a model the tables lack); held out by family (the row's
    error when its whole family was left out, against the uncertainty a spec-sheet-only GPU is
    given). The issue's target (70-90 %) is about held-out rows."""
    calibration = calibration or load_calibration()
    spec_sheet = calibration.default.uncertainty_by_kind
    records = []
    for (dataset, kind), part in rows.groupby(["dataset", "model_kind"]):
        record = {"dataset": dataset, "model_kind": kind, "rows": len(part),
                  "stated_uncertainty_pct_median": float(part["uncertainty_pct"].median()),
                  "coverage_in_sample": float(part["inside_uncertainty"].mean())}
        if "lomo_error_pct" in part:
            lomo = part["lomo_error_pct"].dropna()
            record["coverage_held_out_model"] = float(
                (lomo.abs() <= part.loc[lomo.index, "uncertainty_pct"]).mean())
            lofo = part["lofo_error_pct"].dropna()
            key = part.loc[lofo.index, "model_kind"] + np.where(
                part.loc[lofo.index, "engine"] == REFERENCE_ENGINE, "",
                "@" + part.loc[lofo.index, "engine"].astype(str))
            record["coverage_held_out_family"] = float(
                (lofo.abs() <= key.map(spec_sheet).to_numpy(float)).mean())
        records.append(record)
    return pd.DataFrame(records)


def holdout_table(calibration: Calibration | None = None) -> pd.DataFrame:
    """Leave-one-family-out and leave-one-model-out MAPE recorded by the calibration."""
    calibration = calibration or load_calibration()
    records = []
    for kind in ("leave_one_family_out_mape_pct", "leave_one_model_out_mape_pct"):
        for group, value in calibration.provenance.get(kind, {}).items():
            records.append({"holdout": kind.replace("_mape_pct", ""), "held_out": group,
                            "mape_pct": value})
    return pd.DataFrame(records)


def worst_rows(rows: pd.DataFrame, n: int = 10) -> pd.DataFrame:
    columns = ["dataset", "version", "model_id", "hardware_id", "precision_id", "num_gpus",
               "parallelism", "isl", "osl", "concurrency", "measured_tok_s", "out_tok_s_total",
               "throughput_error_pct", "gpu_power_error_pct", "uncertainty_pct"]
    return rows.reindex(rows["throughput_error_pct"].abs().sort_values(ascending=False)
                        .index[:n])[columns]


def validation(calibration: Calibration | None = None,
               calibration_path=None) -> dict[str, pd.DataFrame]:
    from planner.perf.amd import amd_validation
    from planner.perf.latency import latency_validation

    calibration = calibration or load_calibration(calibration_path)
    rows = attach_heldout(prediction_rows(calibration), calibration_path)
    return {"rows": rows, "summary": summary_table(rows),
            "coverage": coverage_table(rows, calibration),
            "holdout": holdout_table(calibration), "worst": worst_rows(rows),
            **latency_validation(calibration), **amd_validation(calibration)}


def plot_predicted_vs_measured(rows: pd.DataFrame, path) -> None:
    """Log-log predicted vs measured throughput and GPU power, coloured by family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from planner.io import write_atomic

    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    families = sorted(rows["family"].dropna().unique())
    colours = {f: plt.get_cmap("tab10")(i % 10) for i, f in enumerate(families)}
    markers = {"trtllm": "o", "mlenergy": "s"}
    panels = [("measured_tok_s", "out_tok_s_total", "output tokens/s", axes[0]),
              ("measured_gpu_power_w", None, "GPU power (W, replica)", axes[1])]
    for measured, predicted, label, ax in panels:
        part = rows.dropna(subset=[measured])
        y = (part[predicted] if predicted else part["gpu_power_w"] * part["num_gpus"])
        for (family, dataset), sub in part.assign(_y=y).groupby(["family", "dataset"]):
            ax.scatter(sub[measured], sub["_y"], s=10, alpha=0.6, color=colours[family],
                       marker=markers.get(dataset, "^"), label=f"{family} ({dataset})")
        lo, hi = np.nanmin(part[measured]) * 0.7, np.nanmax(part[measured]) * 1.4
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
        ax.plot([lo, hi], [lo * 1.2, hi * 1.2], "k:", lw=0.6)
        ax.plot([lo, hi], [lo / 1.2, hi / 1.2], "k:", lw=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"measured {label}")
        ax.set_ylabel(f"predicted {label}")
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, which="both")
    axes[0].set_title("Throughput: TensorRT-LLM tables and ML.ENERGY v3 (dotted: +-20 %)")
    axes[1].set_title("GPU power: ML.ENERGY v3 (vLLM)")
    fig.tight_layout()
    write_atomic(path, lambda tmp: fig.savefig(tmp, dpi=110, format="png"))
    plt.close(fig)
