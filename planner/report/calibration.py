"""Text and files for ``planner calibrate``: factors, error tables, TTFT/ITL/energy checks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from planner.perf.factors import FACTOR_NAMES, Calibration
from planner.io import write_atomic


def _fmt(df: pd.DataFrame) -> str:
    return df.to_string(index=False, float_format=lambda v: f"{v:.4g}")


def factors_table(calibration: Calibration) -> pd.DataFrame:
    rows = []
    for name, f in {**calibration.families, "default (pooled)": calibration.default}.items():
        rows.append({"family": name, **{k: getattr(f, k) for k in FACTOR_NAMES},
                     "rows": f.n_rows, "mape_pct": f.mape_pct,
                     "uncertainty_pct": f.uncertainty_pct})
    return pd.DataFrame(rows)


def calibration_text(calibration: Calibration, tables: dict[str, pd.DataFrame],
                     checks: dict[str, pd.DataFrame]) -> str:
    lofo = calibration.provenance.get("leave_one_family_out_mape_pct", {})
    errors = tables["by_group"]
    lines = ["Efficiency factors per hardware family (fit on TensorRT-LLM offline throughput rows)",
             _fmt(factors_table(calibration)), "",
             "Leave-one-family-out MAPE (a family predicted from the others' factors: the error "
             "to expect for a GPU known only by its spec sheet): "
             + ", ".join(f"{k} {v:.1f} %" for k, v in lofo.items()), "",
             "Error per model x hardware x precision (output tokens/s)", _fmt(errors), "",
             "Error per family", _fmt(tables["by_family"]), "",
             "Bias by input/output length (mean signed error)", _fmt(tables["by_length"]), "",
             "Worst rows", _fmt(tables["worst"]), ""]
    ttft = checks["ttft"]
    lines += ["Batch-1 TTFT vs TensorRT-LLM v0.9 table (catalog models only; not fit on)",
              _fmt(ttft), f"  MAPE {ttft['error_pct'].abs().mean():.1f} %", ""]
    online = checks["online"]
    summary = (online.groupby(["model_id", "hardware_id", "num_gpus"])["error_pct"]
               .agg(rows="size", mean_signed_pct="mean",
                    mape_pct=lambda e: e.abs().mean()).reset_index())
    lines += ["Inter-token latency vs TensorRT-LLM v0.14 online sweep (BF16; concurrency from "
              "Little's law; not fit on)", _fmt(summary), ""]
    lines += ["Energy per token and GPU power at published batch points (reference section F; "
              "GPU only, as ML.ENERGY measures)", _fmt(checks["energy"])]
    if "speculative" in checks:
        lines += ["", "Speculative decoding speed-up (with / without; catalog assumptions in "
                      "techniques.csv, not fit on)", _fmt(checks["speculative"])]
    serving = serving_engines_table(calibration)
    if not serving.empty:
        lines += ["", "Engine versions fit on the InferenceMAX serving sweeps (stage 5; "
                      "families fixed; MAPE on their rows)", _fmt(serving)]
    return "\n".join(lines)


def serving_engines_table(calibration: Calibration) -> pd.DataFrame:
    """Issue 22: each engine version's latency factors and its TPOT/TTFT/throughput MAPE."""
    rows = []
    for name, e in sorted(calibration.engines.items()):
        if not e.latency_mape_pct:
            continue
        rows.append({"engine": name, "rows": e.n_rows,
                     "allreduce_step_us": e.allreduce_latency_s * 1e6,
                     "step_ms": e.step_overhead_s * 1e3,
                     "sequence_us": e.sequence_overhead_s * 1e6,
                     "moe_kernel": e.moe_kernel_factor,
                     "server_ms": e.server_overhead_s * 1e3,
                     "wait_steps": e.schedule_wait_steps, "burst": e.closed_loop_burst,
                     **{f"{k}_mape_pct": v for k, v in e.latency_mape_pct.items()}})
    return pd.DataFrame(rows)


def write_error_rows(errors: pd.DataFrame, path: Path | str) -> Path:
    return write_atomic(path, lambda tmp: errors.to_csv(tmp, index=False))
