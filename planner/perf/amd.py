"""AMD Instinct (issue 25): the MLPerf and InferenceMAX rows as cases, the CDNA3 family fit,
and the leave-one-generation-out checks that give a spec-sheet-only generation its uncertainty.

Rows (``benchmarks/amd_mlperf.csv``, ``benchmarks/inferencemax_amd.csv``, written by
``scripts/extract_amd.py``):

- MLPerf Inference v4.1/v5.1 on MI300X/MI325X: whole-system output tokens/s of 8-GPU servers.
  Each GPU serves one full replica (Llama-2-70B and Mixtral-8x7B in FP8 fit one MI300X's 192 GB;
  AMD's submissions run one vLLM instance per GPU) [assumed from the memory fit; the
  submissions' code is not read here], so a row is a 1-GPU case at the per-accelerator rate.
  The output length per request is each submission's measured ``TOKENS_PER_SAMPLE``; the prompt
  length is not published in the rows: ``MLPERF_ISL`` [assumed].
  Skipped with a stated reason, never averaged in: a mixed-accelerator system, a software stack
  that names no engine version, a row without a precision, a model outside the catalog.
  The 99 % and 99.9 % accuracy targets of one submission are the same run: kept once.
- InferenceMAX on MI300X/MI325X: SGLang concurrency sweeps (median TTFT, TPOT, throughput).

Fit (``fit_cdna3``), per family and engine, never per model or row: the CDNA3 family's
throughput factors on the MLPerf Offline rows through the vLLM engine's pooled factors (the
submissions are vLLM ROCm builds), then the SGLang ROCm version's serving factors on the
InferenceMAX rows with the family fixed (``planner.perf.latency.fit_engine_version``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace

import numpy as np
import pandas as pd

from planner.catalog import data_path
from planner.catalog.loaders import load_catalog
from planner.errors import InputError
from planner.perf.datasets import _mark_catalog, _numeric, _read, inferencemax_rows
from planner.perf.factors import VERSION_SEP, Calibration, FamilyFactors, engine_name

log = logging.getLogger(__name__)

MLPERF_TABLE = "benchmarks/amd_mlperf.csv"
INFERENCEMAX_AMD_TABLE = "benchmarks/inferencemax_amd.csv"
# MLPerf's Llama-2-70B (OpenOrca) and Mixtral-8x7B (OpenOrca + GSM8K + MBXP) prompts: the mean
# prompt length is not in the published rows [assumed]. Outputs are measured per submission.
MLPERF_ISL = 600.0
CDNA3 = "cdna3"
SPEC_SHEET_FAMILIES = {"cdna4": CDNA3}  # a family with no released rows -> the family it extends


def engine_of(software: str) -> tuple[str, str]:
    """``vLLM 0.9.0.2.dev108+g71faa1880.d20250730.rocm641, Pytorch ...`` -> ('vllm',
    '0.9.0.2.dev108+g71faa1880.d20250730.rocm641'). A stack naming no engine with a version
    (``Mango LLMBoost AI Enterprise Platform, ROCm 6.12.12``) raises ``ValueError``."""
    text = str(software)
    match = re.search(r"\b(vllm|sglang|atom)[\s\-_]*v?(\d+\.\d+[\w.+\-]*)", text, re.I)
    if not match or text.strip().lower() in ("", "nan"):
        raise ValueError(f"software stack names no engine with a version: {text[:60]!r}")
    return engine_name(match.group(1)), match.group(2).rstrip(",")


def mlperf_rows(scenarios=("Offline", "Server", "Interactive")
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(cases, skipped): the usable MLPerf AMD rows as 1-GPU cases at the per-accelerator
    rate, and every skipped row with its reason."""
    table = _read(MLPERF_TABLE)
    file = str(data_path(MLPERF_TABLE))
    catalog = load_catalog()
    keep, skipped = [], []
    for i, row in table.iterrows():
        reason = None
        try:
            catalog.hardware_id(row["accelerator"], file=file, field=f"row {i + 2}.accelerator")
        except InputError as exc:
            reason = ("a mixed-accelerator system: no single hardware id"
                      if "mixed-accelerator" in str(exc) else str(exc))
        if reason is None:
            try:
                engine, version = engine_of(row["software"])
            except ValueError as exc:
                reason = str(exc)
        if reason is None and str(row["precision"]).upper() in ("UNSET", "", "NAN"):
            reason = f"precision not stated ({row['precision']})"
        if reason is None:
            for column in ("tokens_per_sample", "tok_s_per_accel"):
                value = pd.to_numeric(pd.Series([row[column]]), errors="coerce").iloc[0]
                if not (np.isfinite(value) and 0 < value < 1e9):
                    reason = f"{column} is not a positive finite number ({row[column]!r})"
                    break
        if reason is None:
            try:
                catalog.model_id(row["model"])
            except InputError:
                reason = f"model {row['model']!r} is not in the catalog"
        if reason is None and row["scenario"] not in scenarios:
            reason = f"scenario {row['scenario']} not asked for"
        if reason is not None:
            skipped.append({"row": i + 2, "accelerator": row["accelerator"],
                            "system": row["system"], "scenario": row["scenario"],
                            "reason": reason})
            continue
        keep.append({**row.to_dict(), "engine": engine, "engine_version": version})
    for record in skipped:
        log.info("AMD MLPerf row %s skipped: %s", record["row"], record["reason"])
    rows = pd.DataFrame(keep)
    # One run is published under both accuracy targets (99 % and 99.9 %): keep it once.
    rows = rows.drop_duplicates(subset=["source", "model", "accelerator", "scenario",
                                        "tok_s_total"]).reset_index(drop=True)
    osl = _numeric(rows, "tokens_per_sample", file)
    cases = pd.DataFrame({
        "dataset": "amd_mlperf", "table": "amd_mlperf.csv",
        "version": rows["benchmark"] + " " + rows["submitter"] + " " + rows["scenario"],
        "model": rows["model"], "hardware": rows["accelerator"], "precision": rows["precision"],
        "num_gpus": 1.0, "parallelism": "tp", "isl": MLPERF_ISL, "osl": osl,
        "concurrency": np.nan, "engine": rows["engine"],
        "engine_version": rows["engine_version"], "scenario": rows["scenario"],
        "system": rows["system"], "submitter": rows["submitter"],
        "measured_tok_s": _numeric(rows, "tok_s_per_accel", file),
        "measured_gpu_power_w": np.nan, "measured_j_per_token": np.nan,
        "source": rows["source"]})
    cases = _mark_catalog(cases)
    cases["hardware_id"] = cases["hardware"].map(catalog.hardware_id)
    return cases, pd.DataFrame(skipped)


def inferencemax_amd_rows() -> pd.DataFrame:
    """InferenceMAX MI300X/MI325X SGLang sweeps as serving cases (the NVIDIA reader on the AMD
    table), engines by their catalog names, rows outside the catalog left out."""
    cases = inferencemax_rows(INFERENCEMAX_AMD_TABLE, "inferencemax_amd")
    cases["engine"] = cases["engine"].map(engine_name)
    cases = cases[cases["in_catalog"]].reset_index(drop=True)
    cases["engine_id"] = cases["engine"] + VERSION_SEP + cases["engine_version"]
    catalog = load_catalog()
    cases["hardware_id"] = cases["hardware"].map(catalog.hardware_id)
    return cases


# --- fit -------------------------------------------------------------------------------------

def _offline(rows: pd.DataFrame) -> pd.DataFrame:
    """MLPerf Offline rows as max-throughput cases through the vLLM engine's pooled factors (the
    engine as ML.ENERGY measured it; no ROCm version of it has offline factors of its own)."""
    part = rows[rows["scenario"] == "Offline"].drop(columns=["engine_version"])
    return part.reset_index(drop=True)


# What one operating point per (model, GPU, submission) can identify: the achieved fractions of
# bandwidth and of peak math in decode, prefill and MoE layers, and the batch limit. The fixed
# per-layer and per-step times, all-reduce latency, grouped-GEMM tile and non-GEMM passes stay at
# the pooled (all-family) values: offline rows at one batch cannot separate them from the etas.
FIT_NAMES = ("eta_bw", "eta_decode", "eta_prefill", "eta_moe")
# Except the grouped-GEMM tile: CDNA3 takes Hopper's fitted tile, not the pooled default's. No
# AMD row identifies it (every MLPerf, InferenceMAX and MI300X -> MI325X figure is the same to
# the last digit at 1.36, 8, 16 or 20.3 rows: Mixtral's 8 experts get many tokens each), while
# the pooled default's value is an artefact of pooling families with different etas (it moved
# 1.45 -> 20.3 rows in issue 25's fourth round, above every family's own fit). Hopper's tile is
# fit on the most MoE rows of any family (gpt-oss-120b, Maverick, Qwen3-235B, Mixtral: 228
# of 755 Hopper rows) and held 1.36 rows through both recalibrations of issue 25's fourth and
# fifth rounds, while the pooled one moved 15-fold; CDNA3's engines (vLLM, SGLang) run the
# same kind of fused-MoE kernels. Sensitivity (fleet-1b `amd`, issue 25's fifth round): 0.2061 GWh/day at
# Hopper's or Blackwell's tile, 0.2092 at vLLM's Triton fused-MoE default BLOCK_SIZE_M of 16
# (vllm-project/vllm vllm/model_executor/layers/fused_moe/fused_moe.py, get_default_config:
# 16 rows when the tokens M <= the experts E, else 64), 0.2122 at the pooled 20.3.
TILE_FAMILY = "hopper"


# Board power at full tensor-core load and rated clock (``power_at_peak_w``) tried for CDNA3:
# none (the rated peak holds at every TDP), or 800-1600 W. MI300X (750 W) and MI325X (1000 W)
# are the same silicon at the same rated peak, so their two TDPs identify it; rows of one TDP
# cannot (it is then the same as a lower eta_decode) and keep none.
CAP_GRID_W = (0.0, 800.0, 900.0, 1000.0, 1100.0, 1200.0, 1300.0, 1400.0, 1600.0)
CAP_TIE = 1e-6  # MAPE (as a fraction) a later grid point must gain to replace the best


def _fit_family(calibration: Calibration, rows: pd.DataFrame, label: str
                ) -> tuple[FamilyFactors, np.ndarray]:
    from scipy.optimize import least_squares

    from planner.perf.calibrate import MAX_BATCH_GRID, _bounds, _factor_values, _full_factors
    from planner.perf.model import evaluate, gather_specs

    specs = gather_specs(rows, calibration=calibration)
    log_measured = np.log(rows["measured_tok_s"].to_numpy(float))
    base = _factor_values(calibration.default)
    if TILE_FAMILY in calibration.families:
        base["moe_tile_tokens"] = calibration.families[TILE_FAMILY].moe_tile_tokens
    lower, upper = _bounds(FIT_NAMES)
    x0 = np.clip(np.log([base[n] for n in FIT_NAMES]), lower + 1e-9, upper - 1e-9)
    caps = CAP_GRID_W if len(np.unique(specs["tdp_w"])) > 1 else (0.0,)
    best = None
    for cap in caps:
        for max_batch in MAX_BATCH_GRID:
            def residuals(theta, max_batch=max_batch, cap=cap):
                values = {**base, **dict(zip(FIT_NAMES, np.exp(theta))),
                          "max_batch": max_batch, "power_at_peak_w": cap}
                out = evaluate(specs, _full_factors(values, len(rows)))
                return np.log(out["out_tok_s_total"]) - log_measured

            sol = least_squares(residuals, x0, bounds=(lower, upper), loss="soft_l1",
                                f_scale=0.1, max_nfev=400)
            cost = float(np.mean(np.abs(np.expm1(sol.fun))))
            # Caps of 1000-1300 W fit the Offline rows equally (MAPE equal to 1e-8: the cap
            # trades off against eta_decode / eta_prefill there), so a later grid point must
            # beat the best by more than CAP_TIE to win: a tie keeps the lowest cap, not
            # whichever the optimizer's last digits favour (issue 25, seventh round: 1000 W
            # flipped to 1300 W, fleet-1b amd 0.2061 -> 0.1807 GWh/day, on a 1e-8 difference).
            if best is None or cost < best[0] - CAP_TIE:
                best = (cost, sol.x, max_batch, sol.fun, cap)
    cost, theta, max_batch, resid, cap = best
    values = {**base, **dict(zip(FIT_NAMES, (float(v) for v in np.exp(theta)))),
              "max_batch": max_batch, "power_at_peak_w": cap}
    factors = FamilyFactors(**values, mape_pct=cost * 100, n_rows=len(rows), fitted_on=label)
    return factors, np.expm1(resid) * 100


def _predict_family(calibration: Calibration, rows: pd.DataFrame,
                    factors: FamilyFactors) -> np.ndarray:
    from planner.perf.calibrate import _predict_with
    from planner.perf.model import gather_specs

    specs = gather_specs(rows, calibration=calibration)
    predicted = _predict_with(specs, factors)["out_tok_s_total"]
    return (predicted / rows["measured_tok_s"].to_numpy(float) - 1) * 100


def _serving_fit(calibration: Calibration, rows: pd.DataFrame, family: str) -> dict:
    from planner.perf.latency import _start, fit_engine_version

    out = {}
    for engine_id in sorted(pd.unique(rows["engine_id"])):
        mine = rows[rows["engine_id"] == engine_id]
        fitted = fit_engine_version(calibration, mine, _start(calibration,
                                    engine_id.split(VERSION_SEP)[0]), f"{engine_id}@{family}")
        out[engine_id] = out[f"{engine_id}@{family}"] = fitted
    return out


def _serving_errors(calibration: Calibration, rows: pd.DataFrame) -> pd.DataFrame:
    from planner.perf.model import predict

    out = predict(rows.drop(columns=["engine_id", "hardware_id"], errors="ignore"),
                  calibration=calibration)
    return pd.DataFrame({
        "tpot_error_pct": (out["tpot_ms"].to_numpy(float)
                           / rows["measured_tpot_ms"].to_numpy(float) - 1) * 100,
        "ttft_error_pct": (out["ttft_ms"].to_numpy(float)
                           / rows["measured_ttft_ms"].to_numpy(float) - 1) * 100,
        "throughput_error_pct": (out["out_tok_s_at_concurrency"].to_numpy(float)
                                 / rows["measured_tok_s"].to_numpy(float) - 1) * 100},
        index=rows.index)


def _with_family(calibration: Calibration, family: str, factors: FamilyFactors,
                 engines: dict | None = None) -> Calibration:
    return replace(calibration, families={**calibration.families, family: factors},
                   engines={**calibration.engines, **(engines or {})})


def leave_one_generation_out(calibration: Calibration) -> pd.DataFrame:
    """Predict the next generation from the previous one's fit, per row:

    - CDNA3 MI300X -> MI325X: the family's factors fit on MI300X's MLPerf Offline rows only,
      MI325X's Offline rows predicted; the SGLang version's serving factors fit on MI300X's
      InferenceMAX rows only (with that family fit), MI325X's serving rows predicted.
    - Hopper -> B200: the Hopper family's factors (fit on Hopper rows only) predict every B200
      TensorRT-LLM row (the reference engine: no engine factor fit on B200 enters).
    """
    from planner.perf.calibrate import load_throughput_rows

    records = []
    ml, _ = mlperf_rows()
    offline = _offline(ml)
    old = (offline["hardware_id"] == "mi300x").to_numpy()
    factors, _ = _fit_family(calibration, offline[old], "MI300X MLPerf Offline rows only")
    errors = _predict_family(_with_family(calibration, CDNA3, factors), offline[~old], factors)
    records.append(pd.DataFrame({"split": "MI300X -> MI325X", "dataset": "amd_mlperf",
                                 "metric": "throughput", "model_id": offline.loc[~old, "model_id"],
                                 "error_pct": errors}))
    serving = inferencemax_amd_rows()
    old_s = serving["hardware_id"] == "mi300x"
    partial = _with_family(calibration, CDNA3, factors)
    partial = _with_family(partial, CDNA3, factors, _serving_fit(partial, serving[old_s], CDNA3))
    errs = _serving_errors(partial, serving[~old_s])
    for metric in ("throughput", "tpot", "ttft"):
        records.append(pd.DataFrame({"split": "MI300X -> MI325X", "dataset": "inferencemax_amd",
                                     "metric": metric, "model_id": serving.loc[~old_s, "model_id"],
                                     "error_pct": errs[f"{metric}_error_pct"].to_numpy()}))
    trt = load_throughput_rows()
    catalog = load_catalog()
    b200 = trt[trt["hardware"].map(catalog.hardware_id) == "b200"].reset_index(drop=True)
    errors = _predict_family(calibration, b200, calibration.families["hopper"])
    records.append(pd.DataFrame({"split": "Hopper -> B200", "dataset": "trtllm",
                                 "metric": "throughput", "model_id": b200["model_id"],
                                 "error_pct": errors}))
    return pd.concat(records, ignore_index=True)


def logo_summary(table: pd.DataFrame) -> pd.DataFrame:
    return (table.groupby(["split", "dataset", "metric"])["error_pct"]
            .agg(rows="size", mape_pct=lambda e: float(e.abs().mean()),
                 median_signed_pct="median",
                 p80_abs_pct=lambda e: float(np.quantile(e.abs(), 0.8))).reset_index())


def spec_sheet_uncertainty(table: pd.DataFrame) -> float:
    """Stated throughput uncertainty of a generation known only by its spec sheet: the 80th
    percentile of |error| of every leave-one-generation-out throughput row (both vendors)."""
    errors = table.loc[table["metric"] == "throughput", "error_pct"].abs()
    return float(np.quantile(errors, 0.8))


def fit_amd(calibration: Calibration) -> tuple[Calibration, dict[str, pd.DataFrame]]:
    """Stage 6: CDNA3 on its released rows, the SGLang ROCm version on its serving sweeps,
    the leave-one-generation-out errors, and CDNA4 (MI355X) extrapolated from CDNA3 with the
    spec-sheet uncertainty from those errors."""
    ml, skipped = mlperf_rows()
    offline = _offline(ml)
    factors, errors = _fit_family(calibration, offline,
                                  f"{len(offline)} MLPerf Inference v4.1/v5.1 Offline rows "
                                  f"(MI300X, MI325X; vLLM ROCm builds through the pooled vLLM "
                                  f"engine factors)")
    lomo = np.full(len(offline), np.nan)
    for model in pd.unique(offline["model_id"]):
        test = (offline["model_id"] == model).to_numpy()
        if test.all():
            continue
        held, _ = _fit_family(calibration, offline[~test], "held out")
        lomo[test] = _predict_family(_with_family(calibration, CDNA3, held), offline[test], held)
    calibration = _with_family(calibration, CDNA3, factors)
    serving = inferencemax_amd_rows()
    engines = _serving_fit(calibration, serving, CDNA3)
    calibration = _with_family(calibration, CDNA3, factors, engines)
    logo = leave_one_generation_out(calibration)
    spec = spec_sheet_uncertainty(logo)
    lomo_p80 = float(np.quantile(np.abs(lomo[np.isfinite(lomo)]), 0.8))
    logo_amd = logo.loc[(logo["split"] == "MI300X -> MI325X") & (logo["metric"] == "throughput"),
                        "error_pct"].abs()
    cdna3_unc = float(max(lomo_p80, np.quantile(logo_amd, 0.8)))
    factors = replace(factors, uncertainty_pct=cdna3_unc,
                      uncertainty_by_kind={}, mape_pct=float(np.mean(np.abs(errors))),
                      n_rows=len(offline))
    families = {**calibration.families, CDNA3: factors}
    for family, parent in SPEC_SHEET_FAMILIES.items():
        families[family] = replace(families[parent], uncertainty_pct=spec, uncertainty_by_kind={},
                                   mape_pct=float("nan"), n_rows=0,
                                   fitted_on=f"extrapolated: {parent} factors with this "
                                             f"family's spec sheet (no released rows); "
                                             f"uncertainty = 80th percentile of "
                                             f"leave-one-generation-out |error|")
    summary = logo_summary(logo)
    provenance = {**calibration.provenance,
                  "amd": {"offline_rows": len(offline), "offline_mape_pct":
                          round(float(np.mean(np.abs(errors))), 2),
                          "offline_lomo_mape_pct": round(float(np.nanmean(np.abs(lomo))), 2),
                          "serving_rows": len(serving), "skipped_rows": len(skipped),
                          "mlperf_isl_assumed": MLPERF_ISL},
                  "leave_one_generation_out_mape_pct": {
                      f"{r.split} ({r.dataset} {r.metric})": round(float(r.mape_pct), 2)
                      for r in summary.itertuples()},
                  "spec_sheet_uncertainty_pct": round(spec, 2)}
    calibration = replace(calibration, families=families, provenance=provenance)
    log.info("CDNA3: offline MAPE %.1f %% on %d rows; LOGO %s; spec-sheet uncertainty %.1f %%",
             np.mean(np.abs(errors)), len(offline), provenance["leave_one_generation_out_mape_pct"],
             spec)
    return calibration, {"logo": logo, "logo_summary": summary, "skipped": skipped}


def is_extrapolated(factors: FamilyFactors) -> bool:
    return factors.fitted_on.startswith("extrapolated")


# --- validation ------------------------------------------------------------------------------

# MLPerf's latency bounds per scenario, in ms: mlcommons/inference loadgen/mlperf.conf
# (commit 001712e9daf80386e0dda43f97b8f36981d792c4): llama2-70b.Server ttft_latency 2000,
# tpot_latency 200; llama2-70b-interactive.Server 450 / 40; mixtral-8x7b.Server 2000 / 200
# (Mixtral has no interactive benchmark); ``*.Server.target_latency_percentile = 99``. The
# bound is on the 99th percentile over samples of each sample's own TPOT and TTFT (loadgen/
# results.cc, ``ProcessTokenLatencies``: one ``time_per_output_token_arr`` entry per sample,
# sorted, read at ``sample_count x target_tpot_percentile``). Offline has none.
SCENARIO_TPOT_MS = {"Offline": np.inf, "Server": 200.0, "Interactive": 40.0}
SCENARIO_TTFT_MS = {"Offline": np.inf, "Server": 2000.0, "Interactive": 450.0}
CONCURRENCY_GRID = np.unique(np.round(np.geomspace(1, 2048, 45)))


def p99_tpot_ms(calibration: Calibration, out: pd.DataFrame) -> np.ndarray:
    """The P99 over requests of a request's TPOT at each case's concurrency
    (``planner.perf.tail.p99_request_tpot_s``, the engine's tail factors of the case's family,
    its pooled ones where the family has no P99 rows)."""
    from planner.perf.latency import tail_factors, tail_parts
    from planner.perf.tail import p99_request_tpot_s

    catalog = load_catalog()
    families = out["hardware_id"].map(catalog.hardware["family"]).to_numpy(object)
    parts = tail_parts(out)
    factors = tail_factors(calibration, families, "vllm")
    return p99_request_tpot_s(parts, out["batch"].to_numpy(float), out["osl"].to_numpy(float),
                              out["isl"].to_numpy(float), parts["layers"], factors) * 1e3


def p99_ttft_ms(out: pd.DataFrame) -> np.ndarray:
    """The P99 TTFT of Poisson arrivals at each case's concurrency (MLPerf Server and
    Interactive send a Poisson stream): the unloaded TTFT plus the P99 wait of the prompt
    behind the replica's other prompts (M/G/1 on the prefill work with Kingman's tail,
    ``planner.perf.queueing.ttft_quantile``) at the arrival rate B / (TTFT + osl x TPOT). The
    slots are not what limits the batch here (the bound is), so the pool has twice B."""
    from planner.perf.queueing import ttft_quantile

    batch = out["batch"].to_numpy(float)
    t0 = out["ttft_unloaded_ms"].to_numpy(float) / 1e3
    service = t0 + out["osl"].to_numpy(float) * out["tpot_ms"].to_numpy(float) / 1e3
    prefill = out["prefill_busy_s"].to_numpy(float)
    return ttft_quantile(0.99, t0[:, None], np.ones(1), 0.5, 1.0, 2 * batch, service, 1.0,
                         prefill, prefill**2) * 1e3


def scenario_throughput(calibration: Calibration, rows: pd.DataFrame) -> np.ndarray:
    """Predicted output tok/s per row under its scenario: Offline at the engine's batch limit;
    Server and Interactive at the largest concurrency whose predicted P99 request TPOT
    (``p99_tpot_ms``) and P99 TTFT (``p99_ttft_ms``) meet the scenario's bounds (the bound,
    not the arrival process, sets the batch)."""
    from planner.perf.model import predict

    rows = rows.drop(columns=["engine_version"], errors="ignore").reset_index(drop=True)
    offline = predict(rows, calibration=calibration)["out_tok_s_total"].to_numpy(float)
    bound = rows["scenario"].map(SCENARIO_TPOT_MS).to_numpy(float)
    ttft_bound = rows["scenario"].map(SCENARIO_TTFT_MS).to_numpy(float)
    limited = np.isfinite(bound)
    if not limited.any():
        return offline
    part = rows[limited].reset_index(drop=True)
    grid = part.loc[part.index.repeat(len(CONCURRENCY_GRID))].reset_index(drop=True)
    grid["concurrency"] = np.tile(CONCURRENCY_GRID, len(part))
    out = predict(grid, calibration=calibration)
    repeat = len(CONCURRENCY_GRID)
    ok = ((p99_tpot_ms(calibration, out) <= np.repeat(bound[limited], repeat))
          & (p99_ttft_ms(out) <= np.repeat(ttft_bound[limited], repeat)))
    rate = np.where(ok, out["out_tok_s_at_concurrency"].to_numpy(float), 0.0)
    best = rate.reshape(len(part), repeat).max(axis=1)
    result = offline.copy()
    result[limited] = np.minimum(best, offline[limited])
    return result


def amd_validation(calibration: Calibration) -> dict[str, pd.DataFrame]:
    """``planner validate``'s AMD tables: MLPerf per scenario x hardware x model, InferenceMAX
    per hardware (throughput at concurrency, TPOT, TTFT), the leave-one-generation-out errors
    and the skipped rows with their reasons."""
    ml, skipped = mlperf_rows()
    ml = ml.reset_index(drop=True)
    ml["predicted_tok_s"] = scenario_throughput(calibration, ml)
    ml["error_pct"] = (ml["predicted_tok_s"] / ml["measured_tok_s"] - 1) * 100
    records = []

    def add(dataset, metric, group, errors):
        errors = pd.Series(errors).dropna()
        records.append({"dataset": dataset, "metric": metric, "group": group,
                        "rows": int(errors.size), "mape_pct": float(errors.abs().mean()),
                        "median_signed_pct": float(errors.median())})

    add("amd_mlperf", "throughput", "all", ml["error_pct"])
    for scenario, part in ml.groupby("scenario"):
        add("amd_mlperf", "throughput", f"scenario {scenario}", part["error_pct"])
    for key, part in ml.groupby(["scenario", "hardware_id", "model_id"]):
        add("amd_mlperf", "throughput", " | ".join(key), part["error_pct"])
    serving = inferencemax_amd_rows()
    errs = _serving_errors(calibration, serving)
    for metric in ("throughput", "tpot", "ttft"):
        add("inferencemax_amd", metric, "all", errs[f"{metric}_error_pct"])
        for hw, part in errs.groupby(serving["hardware_id"]):
            add("inferencemax_amd", metric, hw, part[f"{metric}_error_pct"])
    both = pd.concat([ml["error_pct"], errs["throughput_error_pct"]])
    add("amd_mlperf + inferencemax_amd", "throughput", "all", both)
    logo = leave_one_generation_out(calibration)
    return {"amd": pd.DataFrame(records), "amd_logo": logo_summary(logo),
            "amd_skipped": skipped, "amd_rows": ml}
