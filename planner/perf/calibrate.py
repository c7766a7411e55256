"""Fit the per-family efficiency factors on the published TensorRT-LLM benchmark tables.

Least squares on log(predicted / measured) output tokens/s over every row of a family (the
engine's batch limit is chosen on a grid, the rest continuously within physical bounds). A
pooled fit over all rows is the default for families with no rows (Blackwell, Rubin, AMD), and
its stated uncertainty is the leave-one-family-out error: what a spec-sheet-only GPU can expect.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from planner import __version__
from planner.catalog import data_path
from planner.catalog.loaders import load_catalog
from planner.perf.factors import (FACTOR_BOUNDS, FACTOR_NAMES, PRIOR, Calibration, FamilyFactors)
from planner.perf.model import evaluate, gather_specs

log = logging.getLogger(__name__)

THROUGHPUT_TABLE = "benchmarks/trtllm_throughput.csv"
TTFT_TABLE = "benchmarks/trtllm_ttft_v09.csv"
ONLINE_TABLE = "benchmarks/trtllm_online_serving_v014.csv"
CONTINUOUS = [n for n in FACTOR_NAMES if n != "max_batch"]
MAX_BATCH_GRID = (256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0)


def load_throughput_rows(path=None) -> pd.DataFrame:
    """Benchmark rows as cases: model, hardware, precision, num_gpus, isl, osl, measured tok/s."""
    table = pd.read_csv(path or data_path(THROUGHPUT_TABLE))
    return table.rename(columns={"gpu": "hardware", "out_tok_s_total": "measured_tok_s"})


def _factor_dict(theta: np.ndarray, max_batch: float, n_rows: int) -> dict[str, np.ndarray]:
    values = dict(zip(CONTINUOUS, np.exp(theta)))
    values["max_batch"] = max_batch
    return {k: np.full(n_rows, v) for k, v in values.items()}


def _fit(specs: dict, measured: np.ndarray) -> tuple[FamilyFactors, np.ndarray]:
    """Best factors for the rows in ``specs`` and the log residuals at the optimum."""
    n_rows = measured.size
    log_measured = np.log(measured)
    lower = np.log([FACTOR_BOUNDS[n][0] for n in CONTINUOUS])
    upper = np.log([FACTOR_BOUNDS[n][1] for n in CONTINUOUS])
    start = np.log([PRIOR[n] for n in CONTINUOUS])
    best = None
    for max_batch in MAX_BATCH_GRID:
        def residuals(theta, max_batch=max_batch):
            out = evaluate(specs, _factor_dict(theta, max_batch, n_rows))
            return np.log(out["out_tok_s_total"]) - log_measured

        sol = least_squares(residuals, start, bounds=(lower, upper), x_scale=1.0,
                            loss="soft_l1", f_scale=0.2)
        cost = float(np.mean(np.abs(np.expm1(sol.fun))))
        if best is None or cost < best[0]:
            best = (cost, sol.x, max_batch, sol.fun)
    _, theta, max_batch, resid = best
    values = dict(zip(CONTINUOUS, (float(v) for v in np.exp(theta))))
    factors = FamilyFactors(**values, max_batch=max_batch,
                            mape_pct=float(np.mean(np.abs(np.expm1(resid))) * 100),
                            n_rows=int(n_rows))
    return factors, resid


def _subset(specs: dict, mask: np.ndarray) -> dict:
    return {k: (v[mask] if isinstance(v, np.ndarray) and v.shape[:1] == mask.shape else v)
            for k, v in specs.items()}


def calibrate(rows: pd.DataFrame | None = None) -> tuple[Calibration, pd.DataFrame]:
    """Fit every family with rows, the pooled default and the leave-one-family-out errors.

    Returns the calibration and the per-row table (measured, predicted, error).
    """
    t0 = time.perf_counter()
    rows = load_throughput_rows() if rows is None else rows
    rows = rows[rows["fits_catalog"]] if "fits_catalog" in rows else rows
    specs = gather_specs(rows)
    measured = rows["measured_tok_s"].to_numpy(float)
    families = specs["family"]
    fitted: dict[str, FamilyFactors] = {}
    for family in sorted(pd.unique(families)):
        mask = families == family
        factors, _ = _fit(_subset(specs, mask), measured[mask])
        fitted[family] = replace(factors, uncertainty_pct=factors.mape_pct,
                                 fitted_on=f"{int(mask.sum())} rows of {family}")
        log.info("family %s: MAPE %.1f %% on %d rows", family, factors.mape_pct, mask.sum())
    pooled, _ = _fit(specs, measured)
    lofo = {}
    for family in fitted:
        train = families != family
        if not train.any():
            continue
        factors, _ = _fit(_subset(specs, train), measured[train])
        test = _subset(specs, ~train)
        f = {k: np.full(int((~train).sum()), getattr(factors, k)) for k in FACTOR_NAMES}
        predicted = evaluate(test, f)["out_tok_s_total"]
        lofo[family] = float(np.mean(np.abs(predicted / measured[~train] - 1)) * 100)
    default_uncertainty = float(np.mean(list(lofo.values()))) if lofo else pooled.mape_pct
    default = replace(pooled, uncertainty_pct=default_uncertainty,
                      fitted_on=f"all {len(rows)} rows pooled; uncertainty = mean "
                                f"leave-one-family-out MAPE")
    calibration = Calibration(fitted, default, {
        "data": THROUGHPUT_TABLE, "rows": int(len(rows)), "package_version": __version__,
        "date": date.today().isoformat(), "method": "soft-L1 least squares on log tok/s, "
                                                    "max_batch on a grid",
        "leave_one_family_out_mape_pct": lofo,
        "seconds": round(time.perf_counter() - t0, 2)})
    return calibration, error_rows(rows, calibration)


def error_rows(rows: pd.DataFrame, calibration: Calibration) -> pd.DataFrame:
    """Measured vs predicted for every benchmark row, with the signed and absolute % error."""
    from planner.perf.model import predict

    out = predict(rows, calibration=calibration)
    out["error_pct"] = (out["out_tok_s_total"] / out["measured_tok_s"] - 1) * 100
    out["abs_error_pct"] = out["error_pct"].abs()
    return out


def error_tables(errors: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """MAPE per model x hardware x precision, per family, bias by lengths, and the worst rows."""
    by_group = (errors.groupby(["model_id", "hardware_id", "precision_id"])
                .agg(rows=("abs_error_pct", "size"), mape_pct=("abs_error_pct", "mean"),
                     worst_pct=("abs_error_pct", "max"), bias_pct=("error_pct", "mean"))
                .reset_index())
    families = load_catalog().hardware["family"]
    by_family = (errors.assign(family=errors["hardware_id"].map(families)).groupby("family")
        .agg(rows=("abs_error_pct", "size"), mape_pct=("abs_error_pct", "mean"),
             bias_pct=("error_pct", "mean")).reset_index())
    by_length = (errors.groupby(["isl", "osl"])
                 .agg(rows=("error_pct", "size"), bias_pct=("error_pct", "mean"),
                      mape_pct=("abs_error_pct", "mean")).reset_index())
    worst = errors.nlargest(10, "abs_error_pct")[
        ["version", "model_id", "hardware_id", "precision_id", "num_gpus", "isl", "osl",
         "measured_tok_s", "out_tok_s_total", "error_pct", "batch"]]
    return {"by_group": by_group, "by_family": by_family, "by_length": by_length, "worst": worst}


def ttft_check(calibration: Calibration) -> pd.DataFrame:
    """Batch-1 TTFT (TensorRT-LLM v0.9 table) against the model, for catalog models only."""
    from planner.perf.model import predict

    table = pd.read_csv(data_path(TTFT_TABLE))
    catalog = load_catalog()
    known = table["model"].map(lambda m: _known(catalog.model_id, m))
    table = table[known].copy()
    cases = pd.DataFrame({
        "model": table["model"], "hardware": table["gpu"], "precision": table["precision"],
        "num_gpus": table["parallelism"].str.replace("TP", "").astype(int),
        "isl": table["isl"], "osl": 1, "concurrency": 1})
    out = predict(cases.reset_index(drop=True), calibration=calibration)
    out["measured_ttft_ms"] = table["ttft_ms"].to_numpy()
    out["error_pct"] = (out["prefill_ms"] / out["measured_ttft_ms"] - 1) * 100
    return out[["model_id", "hardware_id", "precision_id", "num_gpus", "isl", "measured_ttft_ms",
                "prefill_ms", "error_pct"]].rename(columns={"prefill_ms": "predicted_ttft_ms"})


def online_check(calibration: Calibration) -> pd.DataFrame:
    """Inter-token latency of the v0.14 request-rate sweep at the concurrency implied by Little's law."""
    from planner.perf.model import predict

    table = pd.read_csv(data_path(ONLINE_TABLE))
    concurrency = table["achieved_req_s"] * (table["mean_ttft_ms"]
                                             + table["osl"] * table["mean_itl_ms"]) / 1e3
    cases = pd.DataFrame({
        "model": table["model"], "hardware": table["gpu"], "precision": table["precision"],
        "num_gpus": table["parallelism"].str.replace("TP", "").astype(int),
        "isl": table["isl"], "osl": table["osl"], "concurrency": np.maximum(concurrency, 1)})
    out = predict(cases, calibration=calibration)
    out["measured_itl_ms"] = table["mean_itl_ms"]
    out["error_pct"] = (out["tpot_ms"] / out["measured_itl_ms"] - 1) * 100
    return out[["model_id", "hardware_id", "precision_id", "num_gpus", "isl", "osl",
                "concurrency", "measured_itl_ms", "tpot_ms", "error_pct"]]


# Published energy-per-token and power anchors (reference: hardware-models-levers.md, section F).
ENERGY_ANCHORS = [
    {"case": "Llama-3.1-8B BF16 1xH100, batch 64 (vLLM 0.11.1)", "model": "llama-3.1-8b",
     "hardware": "h100-sxm", "precision": "bf16", "num_gpus": 1, "isl": 1000, "osl": 500,
     "concurrency": 64, "metric": "gpu_joules_per_token", "published": 0.12,
     "source": "ml-energy/blog llm-energy-over-time.md"},
    {"case": "H100 GPU power at batch 1 (ML.ENERGY v3)", "model": "llama-3.1-8b",
     "hardware": "h100-sxm", "precision": "bf16", "num_gpus": 1, "isl": 1000, "osl": 500,
     "concurrency": 1, "metric": "gpu_power_w", "published": 300.0,
     "source": "vllm-semantic-router fleet-sim power model citing ML.ENERGY v3 (used to set "
               "DECODE_POWER_FLOOR: not an independent check)"},
    {"case": "H100 GPU power at batch 128 (ML.ENERGY v3)", "model": "llama-3.1-8b",
     "hardware": "h100-sxm", "precision": "bf16", "num_gpus": 1, "isl": 1000, "osl": 500,
     "concurrency": 128, "metric": "gpu_power_w", "published": 600.0,
     "source": "vllm-semantic-router fleet-sim power model citing ML.ENERGY v3"},
    {"case": "Qwen3-235B-A22B FP8 4xB200, reasoning", "model": "qwen3-235b-a22b",
     "hardware": "b200", "precision": "fp8", "num_gpus": 4, "isl": 1000, "osl": 7000,
     "concurrency": 256, "metric": "gpu_joules_per_token", "published": 0.4,
     "source": "ml-energy/blog ml-energy-leaderboard-v3.0.md"},
]


def energy_check(calibration: Calibration) -> pd.DataFrame:
    """Predicted GPU energy per token and power at the published batch points (GPU only, as
    ML.ENERGY measures), with the difference."""
    from planner.perf.model import predict

    anchors = pd.DataFrame(ENERGY_ANCHORS)
    out = predict(anchors, calibration=calibration)
    out["predicted"] = [out.loc[i, m] for i, m in zip(out.index, out["metric"])]
    out["difference_pct"] = (out["predicted"] / out["published"] - 1) * 100
    return out[["case", "metric", "published", "predicted", "difference_pct", "source"]]


SPECULATIVE_ANCHORS = [
    {"case": "Llama-3.3-70B FP8 on H200, draft-target, low batch (per-user tok/s)",
     "model": "llama-3.3-70b", "hardware": "h200-sxm", "precision": "fp8", "num_gpus": 4,
     "isl": 1000, "osl": 1000, "concurrency": 1, "published": 3.55,
     "source": "NVIDIA blog (Dec 2024) via reference section E [secondary]; TP size assumed 4"},
    {"case": "Llama-3.1-8B BF16 on H100, EAGLE-3 in SGLang, batch 64 (throughput)",
     "model": "llama-3.1-8b", "hardware": "h100-sxm", "precision": "bf16", "num_gpus": 1,
     "isl": 1000, "osl": 1000, "concurrency": 64, "published": 1.38,
     "source": "Li et al., arXiv 2503.01840 (EAGLE-3), via reference section E"},
]


def speculative_check(calibration: Calibration) -> pd.DataFrame:
    """Predicted speed-up of speculative decoding (tok/s with / without) at the published points.
    Not fitted: the technique's parameters are catalog assumptions, and this is their check."""
    from planner.perf.model import predict

    anchors = pd.DataFrame(SPECULATIVE_ANCHORS)
    on = predict(anchors.assign(speculative=True), calibration=calibration)
    off = predict(anchors.assign(speculative=False), calibration=calibration)
    anchors["predicted"] = on["out_tok_s_total"] / off["out_tok_s_total"]
    anchors["difference_pct"] = (anchors["predicted"] / anchors["published"] - 1) * 100
    return anchors[["case", "published", "predicted", "difference_pct", "source"]]


def _known(resolver, name) -> bool:
    try:
        resolver(name)
        return True
    except Exception:
        return False
