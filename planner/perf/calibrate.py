"""Fit the performance and power model on measured data, per hardware family and per engine.

Four stages, each physical and none per model or per row:

1. Throughput factors per hardware family on every TensorRT-LLM max-throughput row (the public
   Hopper/Ampere/Ada table and the Blackwell/MoE table): soft-L1 least squares on
   log(predicted / measured) output tokens/s; the engine's batch limit on a grid.
2. The vLLM engine's factors (kernel time multiplier, MoE kernel time multiplier, per-step and
   per-sequence time), pooled and per hardware family, on ML.ENERGY v3 throughput, the
   families' factors held fixed. The families' batch limit (``max_batch``) caps only the
   offline regime: a measured running batch (ML.ENERGY's average batch) is bounded by memory.
   2b (issue 22, after stage 4): the per-family vLLM factors refit on throughput and median
   inter-token latency with the engine's FP4 MoE kernel path, every family factor fixed.
   2c (issue 25): the vLLM engine's tail factors (a step carrying a prefill chunk), per family
   and pooled, on ML.ENERGY's P99 inter-token latency (``planner.perf.tail``), all else fixed.
3. GPU power per family (static, memory-traffic and tensor-core shares of TDP) on ML.ENERGY v3
   GPU power at every batch.
4. The host's non-GPU power (one fraction of the node's non-GPU rating) on MLPerf Power wall
   measurements (MaxQ, power-capped systems excluded from the fit, reported).
5. Each engine version's serving-latency factors (small-message all-reduce, per-step and
   per-sequence time, MoE kernels, TTFT's server and scheduling terms) on the InferenceMAX
   serving sweeps, families fixed (``planner.perf.latency``).

Held-out error: leave-one-family-out (a family predicted from the pooled fit of the others: a
GPU known only by its spec sheet) and leave-one-model-out (a model's rows predicted from its
family's fit without them), run after stage 5 with every engine factor as shipped, so the
error reported is the shipped model's. The stated uncertainty per family and model kind is the
80th percentile of the held-out absolute error.
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
from planner.perf.datasets import known, mlenergy_rows, mlperf_power_rows, trtllm_rows
from planner.perf.factors import (CAP_NAMES, FACTOR_BOUNDS, FACTOR_NAMES, POWER_NAMES, PRIOR,
                                  REFERENCE_ENGINE, Calibration, EngineFactors, FamilyFactors,
                                  ENGINE_BOUNDS)
from planner.perf.model import engine_moe_factor, evaluate, factor_arrays, gather_specs

log = logging.getLogger(__name__)

TTFT_TABLE = "benchmarks/trtllm_ttft_v09.csv"
ONLINE_TABLE = "benchmarks/trtllm_online_serving_v014.csv"
CONTINUOUS = [n for n in FACTOR_NAMES if n != "max_batch"]
MAX_BATCH_GRID = (256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0)
COVERAGE_QUANTILE = 0.8
MIN_ROWS_PER_KIND = 5
LOG_FLOOR = {"token_layer_passes": 0.1, "power_memory": 1e-3, "power_compute": 1e-3}  # log-space fits need a positive lower bound


def load_throughput_rows(path=None) -> pd.DataFrame:
    """Benchmark rows as cases: model, hardware, precision, num_gpus, isl, osl, measured tok/s
    (every shipped TensorRT-LLM row, or one CSV of the same columns)."""
    if path is None:
        rows = trtllm_rows()
        return rows[rows["in_catalog"]].reset_index(drop=True)
    table = pd.read_csv(path)
    return table.rename(columns={"gpu": "hardware", "out_tok_s_total": "measured_tok_s"})


def _bounds(names):
    lower = np.log([max(FACTOR_BOUNDS[n][0], LOG_FLOOR.get(n, 0)) for n in names])
    upper = np.log([FACTOR_BOUNDS[n][1] for n in names])
    return lower, upper


def _full_factors(values: dict, n_rows: int) -> dict[str, np.ndarray]:
    merged = {**PRIOR, **values}
    return {k: (np.asarray(merged[k], dtype=float) if np.ndim(merged[k]) else
                np.full(n_rows, float(merged[k]))) for k in FACTOR_NAMES + POWER_NAMES + CAP_NAMES}


# Families built on TSMC 4N / 4NP, the node of the sourced board power per rated TFLOP/s
# (techniques.csv power_limited_clock): GH100 and AD102 on 4N, Blackwell and Blackwell Ultra on
# 4NP (NVIDIA's architecture pages). Other nodes (Ampere N7; CDNA3, fit on its own TDPs; CDNA4 and
# Rubin, N3-class, number unknown) keep none: a capped GPU's math per watt is 1 / that number
# whatever its generation, so it cannot carry across a node.
CLOCK_NODE_FAMILIES = ("hopper", "ada", "blackwell", "blackwell-ultra")


def node_power_per_tflop(families: np.ndarray) -> np.ndarray:
    """Board power at full tensor load per rated BF16 TFLOP/s per row: the sourced number on
    the 4N/4NP families, 0 (none) elsewhere."""
    k = load_catalog().technique("power_limited_clock", "w_per_bf16_tflop")
    return np.where(np.isin(np.asarray(families, dtype=object), CLOCK_NODE_FAMILIES), k, 0.0)


def _fit(specs: dict, measured: np.ndarray, start: dict | None = None,
         grid=MAX_BATCH_GRID, fixed: dict | None = None) -> tuple[FamilyFactors, np.ndarray]:
    """Best throughput factors for the rows in ``specs`` and the log residuals at the optimum."""
    n_rows = measured.size
    log_measured = np.log(measured)
    lower, upper = _bounds(CONTINUOUS)
    start = start or PRIOR
    x0 = np.clip(np.log([max(start[n], LOG_FLOOR.get(n, 0)) for n in CONTINUOUS]), lower, upper)
    best = None
    for max_batch in grid:
        def residuals(theta, max_batch=max_batch):
            values = dict(zip(CONTINUOUS, np.exp(theta)), max_batch=max_batch, **(fixed or {}))
            out = evaluate(specs, _full_factors(values, n_rows))
            return np.log(out["out_tok_s_total"]) - log_measured

        sol = least_squares(residuals, x0, bounds=(lower, upper), x_scale=1.0,
                            loss="soft_l1", f_scale=0.1, max_nfev=400)
        cost = float(np.mean(np.abs(np.expm1(sol.fun))))
        if best is None or cost < best[0]:
            best = (cost, sol.x, max_batch, sol.fun)
    _, theta, max_batch, resid = best
    values = dict(zip(CONTINUOUS, (float(v) for v in np.exp(theta))))
    scalars = {k: (float(np.ravel(v)[0]) if np.ndim(v) else v) for k, v in (fixed or {}).items()}
    factors = FamilyFactors(**values, max_batch=max_batch, **scalars,
                            mape_pct=float(np.mean(np.abs(np.expm1(resid))) * 100),
                            n_rows=int(n_rows))
    return factors, resid


def _subset(specs: dict, mask: np.ndarray) -> dict:
    return {k: (v[mask] if isinstance(v, np.ndarray) and v.shape[:1] == mask.shape else v)
            for k, v in specs.items()}


def _predict_with(specs: dict, factors: FamilyFactors) -> dict[str, np.ndarray]:
    n = specs["num_gpus"].size
    return evaluate(specs, {k: np.full(n, float(getattr(factors, k)))
                            for k in FACTOR_NAMES + POWER_NAMES + CAP_NAMES})


def _factor_values(factors: FamilyFactors) -> dict:
    return {k: getattr(factors, k) for k in FACTOR_NAMES + POWER_NAMES + CAP_NAMES}


def fit_throughput(rows: pd.DataFrame, holdout: bool = True,
                   engines: dict[str, EngineFactors] | None = None
                   ) -> tuple[dict[str, FamilyFactors], FamilyFactors, pd.DataFrame]:
    """Stage 1: factors per family, the pooled default, and held-out errors per row (rows of
    any engine, each with its engine's current factors; ``holdout`` False: the held-out
    columns are NaN)."""
    specs, measured = _throughput_specs(rows, engines)
    families = specs["family"]
    node_k = node_power_per_tflop(families)
    fitted: dict[str, FamilyFactors] = {}
    for family in sorted(pd.unique(families)):
        mask = families == family
        factors, _ = _fit(_subset(specs, mask), measured[mask],
                          fixed={"power_w_per_tflop": node_k[mask]})
        factors = replace(factors, power_w_per_tflop=float(node_k[mask][0]))
        fitted[family] = replace(factors, fitted_on=f"{int(mask.sum())} TensorRT-LLM rows of "
                                                    f"{family}")
        log.info("family %s: MAPE %.1f %% on %d rows", family, factors.mape_pct, mask.sum())
    # The pooled default serves families on nodes whose number is unknown (Rubin, Blackwell
    # Ultra without rows): achieved fractions of the rated peak as measured, clocks included.
    pooled, _ = _fit(specs, measured)
    held = (heldout_errors(rows, fitted, pooled, engines) if holdout
            else _held_frame(specs))
    return fitted, pooled, held


def _throughput_specs(rows: pd.DataFrame, engines: dict[str, EngineFactors] | None
                      ) -> tuple[dict, np.ndarray]:
    calibration = Calibration({}, FamilyFactors(**PRIOR), {},
                              engines or {REFERENCE_ENGINE: EngineFactors()})
    return (gather_specs(rows, calibration=calibration),
            rows["measured_tok_s"].to_numpy(float))


def _held_frame(specs: dict) -> pd.DataFrame:
    return pd.DataFrame({"family": specs["family"], "kind": specs["kind"],
                         "model": specs["model"], "engine": specs["engine"],
                         "lofo_error_pct": np.nan, "lomo_error_pct": np.nan})


def heldout_errors(rows: pd.DataFrame, fitted: dict[str, FamilyFactors], pooled: FamilyFactors,
                   engines: dict[str, EngineFactors] | None = None) -> pd.DataFrame:
    """Held-out errors per row: leave-one-family-out (a family predicted from the pooled fit of
    the others) and leave-one-model-out (a model's rows predicted from its family's fit without
    them), each refit started from the fitted ``fitted`` / ``pooled`` factors and run through
    ``engines``: ``calibrate`` passes the engines as shipped, so the error reported is that of
    the shipped model with the held-out rows' family refit, not of an earlier pass's engines."""
    specs, measured = _throughput_specs(rows, engines)
    families = specs["family"]
    # Power-limited clocks (planner.perf.model.power_limited_clock): the board power at full
    # tensor load per rated BF16 TFLOP/s is a sourced fact of the 4N/4NP node, not a fit.
    node_k = node_power_per_tflop(families)

    def cap(mask):
        return {"power_w_per_tflop": node_k[mask]}

    held = _held_frame(specs)
    for family in fitted:
        train = families != family
        if not train.any() or not (~train).any():
            continue
        # A family on a known node held out: the others fit with their clocks, the held-out
        # family predicted with its own (a family with no rows on the 4N/4NP node).
        factors, _ = _fit(_subset(specs, train), measured[train],
                          start=_factor_values(pooled), grid=(pooled.max_batch,),
                          fixed=cap(train))
        factors = replace(factors, power_w_per_tflop=float(node_k[~train][0]))
        predicted = _predict_with(_subset(specs, ~train), factors)["out_tok_s_total"]
        held.loc[~train, "lofo_error_pct"] = (predicted / measured[~train] - 1) * 100
    for family in fitted:
        for model in pd.unique(specs["model"][families == family]):
            test = (families == family) & (specs["model"] == model)
            train = (families == family) & ~test
            if not train.any():
                continue
            factors, _ = _fit(_subset(specs, train), measured[train],
                              start=_factor_values(fitted[family]),
                              grid=(fitted[family].max_batch,), fixed=cap(train))
            factors = replace(factors, power_w_per_tflop=float(node_k[test][0]))
            predicted = _predict_with(_subset(specs, test), factors)["out_tok_s_total"]
            held.loc[test, "lomo_error_pct"] = (predicted / measured[test] - 1) * 100
    return held


def _quantile_abs(errors: pd.Series) -> float:
    errors = errors.dropna().abs()
    return float(np.quantile(errors, COVERAGE_QUANTILE)) if len(errors) else float("nan")


def _uncertainty_keys(held: pd.DataFrame) -> list[tuple[str, pd.Series]]:
    """(key, row mask) per model kind on the reference engine, and per kind x other engine
    (``dense@vllm``): an engine's rows carry its own error, not the reference engine's."""
    keys = []
    for kind in sorted(pd.unique(held["kind"])):
        for engine in sorted(pd.unique(held["engine"])):
            mask = (held["kind"] == kind) & (held["engine"] == engine)
            keys.append((kind if engine == REFERENCE_ENGINE else f"{kind}@{engine}", mask))
    return keys


def stated_uncertainty(fitted: dict[str, FamilyFactors], pooled: FamilyFactors,
                       held: pd.DataFrame) -> tuple[dict[str, FamilyFactors], FamilyFactors]:
    """Uncertainty per family, model kind and engine: the 80th percentile of held-out |error|
    (leave-one-model-out inside a calibrated family; leave-one-family-out for the default)."""
    keys = _uncertainty_keys(held)
    pooled_lomo = {key: _quantile_abs(held.loc[mask, "lomo_error_pct"]) for key, mask in keys}
    out = {}
    for family, factors in fitted.items():
        in_family = held["family"] == family
        by_kind = {}
        for key, mask in keys:
            errors = held.loc[in_family & mask, "lomo_error_pct"].dropna()
            value = (_quantile_abs(errors) if len(errors) >= MIN_ROWS_PER_KIND
                     else pooled_lomo[key])
            if np.isfinite(value):
                by_kind[key] = value
        reference = in_family & (held["engine"] == REFERENCE_ENGINE)
        overall = _quantile_abs(held.loc[reference, "lomo_error_pct"])
        out[family] = replace(factors, uncertainty_by_kind=by_kind,
                              uncertainty_pct=overall if np.isfinite(overall)
                              else factors.mape_pct)
    lofo = {key: value for key, mask in keys
            if np.isfinite(value := _quantile_abs(held.loc[mask, "lofo_error_pct"]))}
    reference = held["engine"] == REFERENCE_ENGINE
    default = replace(pooled, uncertainty_by_kind=lofo,
                      uncertainty_pct=_quantile_abs(held.loc[reference, "lofo_error_pct"]),
                      fitted_on=f"all {len(held)} throughput rows pooled; uncertainty = 80th "
                                f"percentile of leave-one-family-out |error| per model kind "
                                f"and engine")
    return out, default


def fit_engines(calibration: Calibration, rows: pd.DataFrame, engine: str,
                latency: bool = True) -> dict[str, EngineFactors]:
    """Stage 2: ``engine``'s factors pooled over its rows, and per hardware family that has
    rows (an engine's maturity differs by GPU generation: vLLM 0.11 on Blackwell).
    ``latency`` False: on throughput alone, without the FP4 MoE kernel path (the factors the
    families are fit through)."""
    out = {engine: fit_engine(calibration, rows, engine, latency)}
    catalog = load_catalog()
    families = rows["hardware"].map(lambda h: catalog.hardware.loc[catalog.hardware_id(h),
                                                                    "family"])
    for family in sorted(pd.unique(families)):
        part = rows[(families == family).to_numpy()]
        fitted = fit_engine(calibration, part, engine, latency)
        out[f"{engine}@{family}"] = replace(fitted, fitted_on=fitted.fitted_on + f" ({family})")
    return out


# Engines whose FP4 experts on FP4 tensor cores run through other kernels than their own fused
# MoE, with those kernels' factor against the reference engine (``EngineFactors.
# fp4_moe_kernel_factor``): vLLM on Blackwell runs MXFP4 MoE through FlashInfer's
# TensorRT-LLM-gen kernels (vllm-project/vllm@afdb4a4, vllm/model_executor/layers/quantization/
# mxfp4.py, get_mxfp4_backend), the reference engine's own: 1.0. Set from the source, not fit.
FP4_MOE_KERNELS = {"vllm": 1.0}
ITL_WEIGHT = 2.0  # a row's log median-ITL residual against its log throughput one (issue 22)


def fit_engine(calibration: Calibration, rows: pd.DataFrame, engine: str,
               latency: bool = True) -> EngineFactors:
    """``engine``'s factors on rows: kernel time factor, MoE kernel time factor (its fused-MoE /
    grouped-GEMM kernels), per-step time and per-sequence time (CPU work per running request
    per step: what makes vLLM's throughput saturate at large batch).

    Fit on each row's output tokens/s and, where measured, its median inter-token latency
    (issue 22): the decode step at the running batch (``planner.perf.latency.itl_rows``). The
    two separate what throughput alone cannot: per-step and per-sequence time against kernel
    time."""
    fp4_moe = FP4_MOE_KERNELS.get(engine, float("nan")) if latency else float("nan")
    probe = replace(calibration, engines={k: v for k, v in calibration.engines.items()
                                          if not k.startswith(engine)}
                    | {engine: EngineFactors(sliding_window_kv=True,
                                             fp4_moe_kernel_factor=fp4_moe)})
    specs = gather_specs(rows, calibration=probe)
    factors = factor_arrays(specs["family"], calibration)
    log_measured = np.log(rows["measured_tok_s"].to_numpy(float))
    itl = (rows["measured_itl_ms"].to_numpy(float) if "measured_itl_ms" in rows
           else np.full(len(rows), np.nan))
    has_itl = np.isfinite(itl) & latency

    # Block-scaled FP8 experts among the rows (weight_scaling.csv): their own factor, fit here.
    block = specs["block_fp8"]

    def evaluate_at(theta):
        factor = np.where(block, np.exp(theta[4]), np.nan) if block.any() else \
            specs["block_fp8_moe_kernel_factor"]
        s = {**specs, "kernel_factor": np.full(len(rows), np.exp(theta[0])),
             "step_overhead_s": np.full(len(rows), np.exp(theta[1])),
             "moe_kernel_factor": engine_moe_factor(
                 {**specs, "block_fp8_moe_kernel_factor": factor}, np.exp(theta[2])),
             "sequence_overhead_s": np.full(len(rows), np.exp(theta[3]))}
        return evaluate(s, factors)

    def residuals(theta):
        out = evaluate_at(theta)
        return np.concatenate([np.log(out["out_tok_s_total"]) - log_measured,
                               ITL_WEIGHT * np.log(out["decode_step_ms"][has_itl]
                                                   / itl[has_itl])])

    lo, hi = ENGINE_BOUNDS["moe_kernel_factor"]
    b_lo, b_hi = ENGINE_BOUNDS["block_fp8_moe_kernel_factor"]
    sol = least_squares(residuals, np.log([1.2, 1e-3, 1.0, 1e-5, 1.0]),
                        bounds=(np.log([0.5, 1e-6, lo, 1e-8, b_lo]),
                                np.log([3.0, 0.05, hi, 1e-3, b_hi])),
                        loss="soft_l1", f_scale=0.1)
    out = evaluate_at(sol.x)
    itl_mape = (float(np.mean(np.abs(out["decode_step_ms"][has_itl] / itl[has_itl] - 1)) * 100)
                if has_itl.any() else float("nan"))  # no ITL rows: no error to report
    return EngineFactors(kernel_time_factor=float(np.exp(sol.x[0])), sliding_window_kv=True,
                         step_overhead_s=float(np.exp(sol.x[1])),
                         moe_kernel_factor=float(np.exp(sol.x[2])),
                         fp4_moe_kernel_factor=fp4_moe,
                         block_fp8_moe_kernel_factor=(float(np.exp(sol.x[4])) if block.any()
                                                      else float("nan")),
                         sequence_overhead_s=float(np.exp(sol.x[3])),
                         fitted_on=f"{len(rows)} ML.ENERGY v3 rows (vLLM 0.11.1; throughput and "
                                   f"{int(has_itl.sum())} median ITL), families' factors fixed",
                         mape_pct=float(np.mean(np.abs(out["out_tok_s_total"]
                                                       / np.exp(log_measured) - 1)) * 100),
                         latency_mape_pct={"median_itl": round(itl_mape, 2)} if has_itl.any()
                         else {},
                         n_rows=len(rows))


def fit_power(calibration: Calibration, rows: pd.DataFrame) -> Calibration:
    """Stage 3: GPU power shares per family on measured GPU power at each batch."""
    specs = gather_specs(rows, calibration=calibration)
    measured = rows["measured_gpu_power_w"].to_numpy(float) / specs["num_gpus"]
    families = dict(calibration.families)
    lower, upper = _bounds(POWER_NAMES)
    pooled_values = None
    for family in [*sorted(pd.unique(specs["family"])), None]:
        mask = (specs["family"] == family) if family else np.ones(len(rows), bool)
        sub = _subset(specs, mask)
        base = factor_arrays(sub["family"], calibration)

        def residuals(theta, sub=sub, base=base, mask=mask):
            f = {**base, **{n: np.full(int(mask.sum()), v)
                            for n, v in zip(POWER_NAMES, np.exp(theta))}}
            return np.log(evaluate(sub, f)["gpu_power_w"]) - np.log(measured[mask])

        sol = least_squares(residuals, np.log([0.45, 0.3, 0.2]), bounds=(lower, upper),
                            loss="soft_l1", f_scale=0.1)
        values = dict(zip(POWER_NAMES, (float(v) for v in np.exp(sol.x))))
        stats = {"power_mape_pct": float(np.mean(np.abs(np.expm1(sol.fun))) * 100),
                 "power_rows": int(mask.sum())}
        if family:
            families[family] = replace(families[family], **values, **stats)
        else:
            pooled_values = (values, stats)
    for family, factors in families.items():
        if factors.power_rows == 0:  # no power measurements for this family: pooled shares
            families[family] = replace(factors, **pooled_values[0])
    default = replace(calibration.default, **pooled_values[0], **pooled_values[1])
    return replace(calibration, families=families, default=default)


def fit_host_power(calibration: Calibration) -> Calibration:
    """Stage 4: the host's share of the node's non-GPU rating from MLPerf Power wall power in
    the offline scenario, less the GPUs' power at saturation from the calibrated shares (MLPerf
    models such as Llama-2-70B and GPT-J are not in the catalog, so their operating point is not
    predicted; offline runs keep every GPU saturated)."""
    rows = mlperf_power_rows()
    catalog = load_catalog()
    usable = [(i, catalog.hardware_id(row["hardware"])) for i, row in rows.iterrows()
              if known(catalog.hardware_id, row["hardware"])]
    fractions, notes = [], []
    for i, hw in usable:
        row = rows.loc[i]
        spec = catalog.hardware.loc[hw]
        # GPUs near full offline load: power from the calibrated family shares at saturation
        # (MLPerf offline runs every GPU compute- or memory-saturated).
        factors = calibration.for_family(spec["family"])
        gpu_w = min(1.0, factors.power_static + factors.power_memory + factors.power_compute
                    * 0.5) * spec["tdp_w"]
        non_gpu_rating = spec["node_max_kw"] * 1e3 - spec["tdp_w"] * spec["gpus_per_node"]
        host = row["measured_wall_power_w"] - gpu_w * row["num_gpus"]
        if row["maxq"]:
            notes.append(f"{row['model']} on {hw} (MaxQ, power-capped: not fit)")
            continue
        fractions.append(host / non_gpu_rating)
    fraction = float(np.clip(np.median(fractions), 0.05, 1.0)) if fractions else 0.5
    note = (f"median over {len(fractions)} MLPerf Power rows (non-MaxQ): wall power less the "
            f"predicted GPU power at saturation, over the node's rated non-GPU power; "
            f"excluded: {'; '.join(sorted(set(notes)))}")
    return replace(calibration, host_power_fraction=fraction, host_power_note=note)


def calibrate(rows: pd.DataFrame | None = None, holdout: bool = True
              ) -> tuple[Calibration, pd.DataFrame]:
    """Fit every stage; returns the calibration and the per-row TensorRT-LLM error table
    (measured, predicted, error, and the held-out errors)."""
    t0 = time.perf_counter()
    rows = load_throughput_rows() if rows is None else rows
    rows = rows[rows["fits_catalog"]] if "fits_catalog" in rows else rows
    rows = rows.reset_index(drop=True)
    energy = mlenergy_rows()
    energy = energy[energy["in_catalog"]].reset_index(drop=True)
    # Families and engines are fit in turn: the families on every throughput row (TensorRT-LLM
    # tables and ML.ENERGY's vLLM runs, each through its engine's current factors: the vLLM rows
    # pin the low-batch regime the max-throughput tables never reach), then the engine on its
    # own rows with the families fixed.
    engines = {REFERENCE_ENGINE: EngineFactors()}
    for engine in sorted(set(energy["engine"]) - {REFERENCE_ENGINE}):
        engines[engine] = EngineFactors(sequence_overhead_s=3e-5, step_overhead_s=1e-3,
                                        sliding_window_kv=True)
    joint = pd.concat([rows, energy], ignore_index=True)
    for _ in range(2):
        fitted, pooled, held = fit_throughput(joint, holdout=False, engines=engines)
        calibration = Calibration(fitted, pooled, {}, dict(engines))
        for engine in sorted(set(energy["engine"]) - {REFERENCE_ENGINE}):
            engines.update(fit_engines(calibration, energy[energy["engine"] == engine], engine,
                                       latency=False))
    calibration = Calibration(
        {k: replace(v, uncertainty_pct=v.mape_pct) for k, v in fitted.items()},
        replace(pooled, uncertainty_pct=pooled.mape_pct), {}, engines)
    calibration = fit_power(calibration, energy)
    calibration = fit_host_power(calibration)
    # Stage 2b (issue 22): the engines of ML.ENERGY refit per hardware family on throughput and
    # median inter-token latency, with their FP4 MoE kernel path, every family factor
    # (throughput and power) fixed: what a token interval says about per-step time does not move
    # the families. The pooled engine (the fallback on families ML.ENERGY did not measure, which
    # stage 5's versions start from and stage 6's AMD fit runs through) stays stage 2's.
    for engine in sorted(set(energy["engine"]) - {REFERENCE_ENGINE}):
        refit = fit_engines(calibration, energy[energy["engine"] == engine], engine)
        calibration = replace(calibration, engines={
            **calibration.engines, **{k: v for k, v in refit.items() if "@" in k}})
    # Stage 2c (issue 25): the tail of the token interval (a step carrying a prefill chunk) per
    # family on ML.ENERGY's P99 ITL, every other factor fixed (planner.perf.tail).
    from planner.perf.latency import fit_tails

    calibration = fit_tails(calibration)
    # Stage 5 (issue 22): each engine version's serving-latency physics on the InferenceMAX
    # sweeps, the families' factors fixed (planner.perf.latency).
    from planner.perf.latency import fit_serving_engines, serving_rows

    calibration = replace(calibration, engines={**calibration.engines,
                                                **fit_serving_engines(calibration)})
    # Held-out errors (leave-one-family-out, leave-one-model-out) with the engines as shipped:
    # every engine stage is done, so the error reported is that of the shipped model (the
    # held-out rows' family refit without them, every engine factor as written). The fitted
    # factors do not depend on them; they set the stated uncertainty only.
    if holdout:
        held = heldout_errors(joint, fitted, pooled, calibration.engines)
        families, default = stated_uncertainty(calibration.families, calibration.default, held)
        calibration = replace(calibration, families=families, default=default)
    # Stage 6 (issue 25): AMD Instinct CDNA3 on its MLPerf and InferenceMAX rows, CDNA4 from
    # CDNA3 and its spec sheet, the leave-one-generation-out errors (planner.perf.amd).
    from planner.perf.amd import fit_amd

    amd_provenance = {}
    if holdout:
        calibration, _ = fit_amd(calibration)
        amd_provenance = {k: calibration.provenance[k] for k in
                          ("amd", "leave_one_generation_out_mape_pct",
                           "spec_sheet_uncertainty_pct")}
    lofo = held.groupby("family")["lofo_error_pct"].apply(lambda e: e.abs().mean()).dropna()
    lomo = held.groupby("model")["lomo_error_pct"].apply(lambda e: e.abs().mean()).dropna()
    calibration = replace(calibration, provenance={
        "data": "TensorRT-LLM tables (throughput), ML.ENERGY v3 (vLLM engine, GPU power), "
                "MLPerf Power (host power)",
        "rows": int(len(rows)), "energy_rows": int(len(energy)),
        "package_version": __version__, "date": date.today().isoformat(),
        "method": "soft-L1 least squares on log tok/s per family, max_batch on a grid; engine "
                  "and power stages on ML.ENERGY v3; host power on MLPerf Power",
        "leave_one_family_out_mape_pct": {k: round(float(v), 2) for k, v in lofo.items()},
        "leave_one_model_out_mape_pct": {k: round(float(v), 2) for k, v in lomo.items()},
        "serving_latency": f"stage 5 (issue 22): engine versions fit on {len(serving_rows())} "
                           f"InferenceMAX rows (median TPOT, median TTFT, output tok/s at "
                           f"concurrency), families' factors fixed",
        **amd_provenance, "seconds": round(time.perf_counter() - t0, 2)})
    errors = error_rows(joint, calibration)
    errors["lofo_error_pct"] = held["lofo_error_pct"].to_numpy()
    errors["lomo_error_pct"] = held["lomo_error_pct"].to_numpy()
    return calibration, errors


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
    known_rows = table["model"].map(lambda m: known(catalog.model_id, m))
    table = table[known_rows].copy()
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
     "engine": "vllm",
     "concurrency": 64, "metric": "gpu_joules_per_token", "published": 0.12,
     "source": "ml-energy/blog llm-energy-over-time.md"},
    # The earlier anchors (300 W at batch 1, 600 W at batch 128, via a secondary fleet
    # simulator) contradict ML.ENERGY's own rows; these are the primary rows (fit on, so they
    # check the shape of the power curve, not independent accuracy).
    {"case": "H100 GPU power, Llama-3.1-8B BF16 at batch 8 (ML.ENERGY v3, chat)",
     "model": "llama-3.1-8b", "hardware": "h100-sxm", "precision": "bf16", "num_gpus": 1,
     "isl": 200, "osl": 389, "concurrency": 8, "engine": "vllm", "metric": "gpu_power_w",
     "published": 486.4, "source": "benchmarks/mlenergy_v3.csv (ml-energy/leaderboard)"},
    {"case": "H100 GPU power, Llama-3.1-8B BF16 at batch 128 (ML.ENERGY v3, chat)",
     "model": "llama-3.1-8b", "hardware": "h100-sxm", "precision": "bf16", "num_gpus": 1,
     "isl": 200, "osl": 405, "concurrency": 127.6, "engine": "vllm", "metric": "gpu_power_w",
     "published": 669.2, "source": "benchmarks/mlenergy_v3.csv (ml-energy/leaderboard)"},
    {"case": "Qwen3-235B-A22B FP8 4xB200, reasoning", "model": "qwen3-235b-a22b",
     "hardware": "b200", "precision": "fp8", "num_gpus": 4, "isl": 1000, "osl": 7000,
     "concurrency": 256, "engine": "vllm", "metric": "gpu_joules_per_token", "published": 0.4,
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



def block_fp8_holdout(calibration: Calibration, engine: str = "vllm") -> pd.DataFrame:
    """The block-scaled FP8 MoE factor held out by model: for each model with block-scaled FP8
    rows under ``engine`` (weight_scaling.csv), the engine refit per family on its other rows
    (``fit_engines``, families' factors fixed) predicts that model's rows of the engine. A
    family left with no block-scaled rows takes the pooled refit's factor; with none at all,
    1. MAPE per (model, family): in-sample (the shipped factors), held out, and without the
    factor (1.0)."""
    energy = mlenergy_rows()
    energy = energy[energy["in_catalog"] & (energy["engine"] == engine)].reset_index(drop=True)
    specs = gather_specs(energy, calibration=calibration)
    block = specs["block_fp8"]
    out = []

    def mape(cal, mask):
        pred = error_rows(energy[mask].reset_index(drop=True), cal)
        return float(pred["abs_error_pct"].mean())

    for model in sorted(pd.unique(specs["model"][block])):
        test = specs["model"] == model
        refit = fit_engines(calibration, energy[~test].reset_index(drop=True), engine)
        pooled = refit[engine].block_fp8_moe_kernel_factor
        pooled = pooled if np.isfinite(pooled) else 1.0
        engines = {**calibration.engines}
        for key, value in refit.items():
            factor = value.block_fp8_moe_kernel_factor
            engines[key] = replace(value, block_fp8_moe_kernel_factor=(
                factor if np.isfinite(factor) else pooled))
        held = replace(calibration, engines=engines)
        without = replace(calibration, engines={
            k: replace(v, block_fp8_moe_kernel_factor=float("nan"))
            for k, v in calibration.engines.items()})
        for family in sorted(pd.unique(specs["family"][test & block])):
            mask = test & block & (specs["family"] == family)
            key = f"{engine}@{family}"
            out.append({"model": model, "family": family, "rows": int(mask.sum()),
                        "factor_fit": calibration.engine(engine, family)
                        .block_fp8_moe_kernel_factor,
                        "factor_held_out": engines[key].block_fp8_moe_kernel_factor
                        if key in engines else pooled,
                        "mape_in_sample": mape(calibration, mask),
                        "mape_held_out": mape(held, mask),
                        "mape_without": mape(without, mask)})
    return pd.DataFrame(out)
