"""Serving-latency calibration (issue 22): each engine version's latency physics on each
hardware family, fit on the InferenceMAX serving sweeps with the families' throughput factors
held fixed.

Per engine version (``vllm:0.13.0``, ``sglang:0.5.6``, ``trtllm:1.2.0rc2``) and hardware family
(pooled over families where a family has too few rows), never per model:

- kernel time and MoE kernel time multipliers (the engine's kernels against the reference),
- per-step and per-running-sequence CPU time (CUDA graphs or not, scheduler work),
- the latency of a small-message all-reduce step (one-shot / custom all-reduce at batch 1-64;
  the family's value was fit on max-throughput tables, where it is amortised),
- TTFT's serving terms: the server's overhead and the decode steps a new request waits behind.

Soft-L1 least squares on log(predicted / measured) of median TPOT, median TTFT and output
throughput at the measured concurrency, all three at once. Held out: leave one model out (the
engine version's factors refit without that model's rows) and leave one engine version out
(the rows predicted with the nearest other version of the same engine).
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

from planner.perf.datasets import inferencemax_rows
from planner.perf.factors import (VERSION_SEP, Calibration, EngineFactors,
                                  engine_name)
from planner.perf.model import evaluate, factor_arrays, gather_specs

log = logging.getLogger(__name__)

# (name, start, lower, upper) of the fitted engine parameters (log-space).
PARAMETERS = (("moe_kernel_factor", 1.0, 0.25, 5.0), ("closed_loop_burst", 0.2, 1e-3, 1.0),
              ("step_overhead_s", 5e-4, 1e-6, 0.05), ("sequence_overhead_s", 1e-5, 1e-8, 1e-3),
              ("allreduce_latency_s", 5e-6, 5e-7, 1e-4), ("server_overhead_s", 0.02, 1e-4, 1.0),
              ("schedule_wait_steps", 0.5, 0.01, 4.0))
METRICS = {"tpot": ("tpot_ms", "measured_tpot_ms"), "ttft": ("ttft_loaded_ms", "measured_ttft_ms"),
           "throughput": ("out_tok_s_at_concurrency", "measured_tok_s")}
MIN_FAMILY_ROWS = 15  # fewer rows of an engine version on a family: its pooled factors


def serving_rows() -> pd.DataFrame:
    """InferenceMAX rows of catalog models and hardware, with their engine id (``name:version``)."""
    rows = inferencemax_rows()
    rows = rows[rows["in_catalog"]].reset_index(drop=True)
    rows["engine"] = rows["engine"].map(engine_name)
    rows["engine_id"] = rows["engine"] + VERSION_SEP + rows["engine_version"]
    return rows


def _specs(calibration: Calibration, rows: pd.DataFrame, base: EngineFactors) -> dict:
    probe = replace(calibration, engines={**calibration.engines, "probe": base})
    return gather_specs(rows.assign(engine="probe").drop(columns=["engine_version"]),
                        calibration=probe)


def _predict(specs: dict, factors: dict, values: dict) -> dict[str, np.ndarray]:
    n = specs["num_gpus"].size
    s = {**specs, "closed_loop_burst": np.full(n, values["closed_loop_burst"]),
         "moe_kernel_factor": np.full(n, values["moe_kernel_factor"]),
         "step_overhead_s": np.full(n, values["step_overhead_s"]),
         "sequence_overhead_s": np.full(n, values["sequence_overhead_s"]),
         "engine_allreduce_latency_s": np.full(n, values["allreduce_latency_s"]),
         "server_overhead_s": np.full(n, values["server_overhead_s"]),
         "schedule_wait_steps": np.full(n, values["schedule_wait_steps"])}
    return evaluate(s, factors)


def _errors(out: dict, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    return {metric: out[pred] / rows[meas].to_numpy(float) - 1
            for metric, (pred, meas) in METRICS.items()}


def fit_engine_version(calibration: Calibration, rows: pd.DataFrame, start: EngineFactors,
                       label: str) -> EngineFactors:
    """One engine version's latency factors on ``rows`` (families' factors fixed). Its MoE
    kernel factor is fit on the rows' own kernel path (every version was measured on one
    model), so it applies to every precision (``fp4_moe_kernel_factor`` cleared)."""
    start = replace(start, fp4_moe_kernel_factor=float("nan"))
    specs = _specs(calibration, rows, start)
    factors = factor_arrays(specs["family"], calibration)
    names = [p[0] for p in PARAMETERS]
    lower = np.log([p[2] for p in PARAMETERS])
    upper = np.log([p[3] for p in PARAMETERS])
    x0 = np.clip(np.log([max(p[1], p[2]) for p in PARAMETERS]), lower + 1e-9, upper - 1e-9)
    measured = {m: np.log(rows[meas].to_numpy(float)) for m, (_, meas) in METRICS.items()}

    def residuals(theta):
        out = _predict(specs, factors, dict(zip(names, np.exp(theta))))
        return np.concatenate([np.log(out[pred]) - measured[m]
                               for m, (pred, _) in METRICS.items()])

    sol = least_squares(residuals, x0, bounds=(lower, upper), loss="soft_l1", f_scale=0.1,
                        max_nfev=300)
    values = dict(zip(names, (float(v) for v in np.exp(sol.x))))
    errors = _errors(_predict(specs, factors, values), rows)
    mape = {m: round(float(np.mean(np.abs(e)) * 100), 2) for m, e in errors.items()}
    return replace(start, **values, sliding_window_kv=True, version=label.split("@")[0]
                   .partition(VERSION_SEP)[2], fitted_on=f"{len(rows)} InferenceMAX rows "
                   f"({label}), families' factors fixed", latency_mape_pct=mape,
                   mape_pct=mape["throughput"], n_rows=len(rows))


def _start(calibration: Calibration, name: str) -> EngineFactors:
    """Starting point of a version's fit: the engine's table-fit factors where it has them."""
    return calibration.engines.get(name, calibration.engines.get("vllm", EngineFactors()))


def fit_serving_engines(calibration: Calibration, rows: pd.DataFrame | None = None
                        ) -> dict[str, EngineFactors]:
    """Every engine version's factors, pooled (``name:version``) and per family with enough
    rows (``name:version@family``)."""
    rows = serving_rows() if rows is None else rows
    families = _families(rows)
    out = {}
    for engine_id in sorted(pd.unique(rows["engine_id"])):
        mine = (rows["engine_id"] == engine_id).to_numpy()
        start = _start(calibration, engine_id.split(VERSION_SEP)[0])
        pooled = fit_engine_version(calibration, rows[mine], start, engine_id)
        out[engine_id] = pooled
        for family in sorted(pd.unique(families[mine])):
            part = mine & (families == family)
            if part.sum() >= MIN_FAMILY_ROWS and part.sum() < mine.sum():
                out[f"{engine_id}@{family}"] = fit_engine_version(
                    calibration, rows[part], pooled, f"{engine_id}@{family}")
        log.info("engine %s: %s on %d rows", engine_id, pooled.latency_mape_pct, mine.sum())
    return out


def _families(rows: pd.DataFrame) -> np.ndarray:
    from planner.catalog.loaders import load_catalog

    catalog = load_catalog()
    return rows["hardware"].map(lambda h: catalog.hardware.loc[catalog.hardware_id(h),
                                                               "family"]).to_numpy(object)


def predictions(calibration: Calibration, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """The serving rows with predicted TPOT, TTFT and throughput at concurrency, and errors."""
    from planner.perf.model import predict

    rows = serving_rows() if rows is None else rows
    out = predict(rows.drop(columns=["engine_id"], errors="ignore"), calibration=calibration)
    out["family"] = _families(rows)
    out["engine_id"] = rows["engine_id"].to_numpy() if "engine_id" in rows else out["engine_id"]
    out["predicted_throughput"] = out["out_tok_s_at_concurrency"]
    out["tpot_error_pct"] = (out["tpot_ms"] / out["measured_tpot_ms"] - 1) * 100
    out["ttft_error_pct"] = (out["ttft_ms"] / out["measured_ttft_ms"] - 1) * 100
    out["throughput_at_concurrency_error_pct"] = (out["predicted_throughput"]
                                                  / out["measured_tok_s"] - 1) * 100
    return out


def heldout(calibration: Calibration, rows: pd.DataFrame | None = None) -> pd.DataFrame:
    """Held-out errors per row: its model left out of its engine version's fit (``lomo_*``,
    where the version was measured on more than one model), its hardware family left out
    (``lofo_*``: the version's factors fit on its other families' rows), and the row predicted
    with the nearest other measured version of its engine (``loevo_*``)."""
    rows = serving_rows() if rows is None else rows
    records = {f"{kind}_{m}_error_pct": np.full(len(rows), np.nan)
               for kind in ("lomo", "lofo", "loevo") for m in METRICS}
    families = _families(rows)
    for engine_id in pd.unique(rows["engine_id"]):
        mine = (rows["engine_id"] == engine_id).to_numpy()
        name = engine_id.split(VERSION_SEP)[0]
        for kind, keys in (("lomo", rows["model_id"].to_numpy(object)), ("lofo", families)):
            for key in pd.unique(keys[mine]):
                test = mine & (keys == key)
                train = mine & ~test
                if train.sum() < MIN_FAMILY_ROWS:
                    continue
                fitted = fit_engine_version(calibration, rows[train],
                                            _start(calibration, name), engine_id)
                specs = _specs(calibration, rows[test], fitted)
                out = _predict(specs, factor_arrays(specs["family"], calibration),
                               {p[0]: getattr(fitted, p[0]) for p in PARAMETERS})
                for m, e in _errors(out, rows[test]).items():
                    records[f"{kind}_{m}_error_pct"][test] = e * 100
        others = [v for v in calibration.versions(name)
                  if name + VERSION_SEP + v != engine_id
                  and (rows["engine_id"] == name + VERSION_SEP + v).any()]
        if others:
            from planner.perf.model import predict

            without = replace(calibration, engines={k: v for k, v in calibration.engines.items()
                                                    if not k.startswith(engine_id)})
            version = engine_id.split(VERSION_SEP)[1]
            out = predict(rows[mine].drop(columns=["engine_id"]).assign(engine_version=version),
                          calibration=without)
            for m, (pred, meas) in METRICS.items():
                pred = "ttft_ms" if m == "ttft" else pred
                records[f"loevo_{m}_error_pct"][mine] = (
                    out[pred].to_numpy(float) / rows.loc[mine, meas].to_numpy(float) - 1) * 100
    return pd.DataFrame(records, index=rows.index)


def summary(out: pd.DataFrame) -> pd.DataFrame:
    """MAPE and median signed error per metric, overall and per model x hardware x engine."""
    records = []
    columns = {"tpot": "tpot_error_pct", "ttft": "ttft_error_pct",
               "throughput_at_concurrency": "throughput_at_concurrency_error_pct"}
    for metric, column in columns.items():
        groups = [("all", "all", out)] + [
            ("model x hardware x engine", key, part) for key, part in out.groupby(
                out["model_id"] + " | " + out["hardware_id"] + " | " + out["version"])]
        for grouping, group, part in groups:
            errors = part[column].dropna()
            records.append({"metric": metric, "dataset": "inferencemax", "grouping": grouping,
                            "group": group, "rows": int(errors.size),
                            "mape_pct": float(errors.abs().mean()),
                            "median_signed_pct": float(errors.median())})
    return pd.DataFrame(records)


TAIL_NAMES = ("mixed_prefill_factor", "mixed_step_layer_s", "tail_step_jitter")
TAIL_BOUNDS = {"mixed_prefill_factor": (0.25, 8.0), "mixed_step_layer_s": (1e-6, 2e-3),
               "tail_step_jitter": (1e-3, 1.0)}


def tail_parts(out: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-step decode parts and per-token prefill parts of predicted rows (``predict``'s
    output), the inputs of ``planner.perf.tail``, with each row's layer count."""
    from planner.catalog.loaders import load_catalog

    catalog = load_catalog()
    steps = out["osl"].to_numpy(float)  # no speculative decoding in the rows this serves
    isl = out["isl"].to_numpy(float)
    return {"memory": out["decode_memory_s"].to_numpy(float) / steps,
            "compute": out["decode_compute_s"].to_numpy(float) / steps,
            "rest": out["decode_fixed_s"].to_numpy(float) / steps,
            "prefill_compute": out["interleaved_prefill_compute_s"].to_numpy(float) / isl,
            "prefill_comm": out["interleaved_prefill_comm_s"].to_numpy(float) / isl,
            "layers": out["model_id"].map(catalog.models["layers"]).to_numpy(float)}


def tail_factors(calibration: Calibration, families: np.ndarray, engine: str = "vllm"
                 ) -> dict[str, np.ndarray]:
    """The tail factors per row: the engine's per-family fit where there is one, else its
    pooled fit."""
    out = {name: np.empty(len(families)) for name in (*TAIL_NAMES, "max_num_tokens")}
    for i, family in enumerate(families):
        factors = calibration.engines.get(f"{engine}@{family}",
                                          calibration.engines.get(engine, EngineFactors()))
        for name in out:
            out[name][i] = getattr(factors, name)
    return out


def _p99_itl_ms(out: pd.DataFrame, parts: dict, factors: dict) -> np.ndarray:
    from planner.perf.tail import p99_interval_s

    return p99_interval_s(parts, out["batch"].to_numpy(float), out["osl"].to_numpy(float),
                          out["isl"].to_numpy(float), factors["max_num_tokens"],
                          parts["layers"], factors) * 1e3


def itl_rows(calibration: Calibration, subset=None) -> pd.DataFrame:
    """ML.ENERGY v3 rows (vLLM 0.11.1) with the predicted median inter-token latency against the
    measured one: the decode step at the measured running batch (``decode_step_ms``). A token
    interval is one engine step; TPOT (``tpot_ms``) spreads the prefills interleaved with the
    decode steps over every token (the mean interval, what throughput sees), the median interval
    is the step as most tokens see it. The P99 interval (issue 25, ``planner.perf.tail``) is the
    step that carries the 99th percentile of the prompt tokens arriving per step (compound
    Poisson, capped by the engine's token budget), with the family's fitted mixed-step cost."""
    from planner.perf.datasets import mlenergy_rows
    from planner.perf.model import predict

    rows = mlenergy_rows()
    rows = rows[rows["in_catalog"] & rows["measured_itl_ms"].notna()].reset_index(drop=True)
    rows = rows if subset is None else rows.loc[subset]
    out = predict(rows, calibration=calibration)
    out["family"] = _families(rows)
    out["median_itl_ms"] = out["decode_step_ms"]
    parts = tail_parts(out)
    out["p99_itl_ms"] = _p99_itl_ms(out, parts, tail_factors(calibration,
                                                             out["family"].to_numpy(object)))
    out["itl_error_pct"] = (out["median_itl_ms"] / out["measured_itl_ms"] - 1) * 100
    out["p99_itl_error_pct"] = (out["p99_itl_ms"] / out["measured_p99_itl_ms"] - 1) * 100
    return out


def fit_tail(out: pd.DataFrame, label: str) -> dict:
    """The three tail factors on ``itl_rows`` output (P99 ITL measured; the decode step's own
    factors fixed): soft-L1 least squares on log P99 ITL. Returns the factors and the MAPE."""
    parts = tail_parts(out)
    measured = np.log(out["measured_p99_itl_ms"].to_numpy(float))
    budget = np.full(len(out), EngineFactors().max_num_tokens)
    lower = np.log([TAIL_BOUNDS[n][0] for n in TAIL_NAMES])
    upper = np.log([TAIL_BOUNDS[n][1] for n in TAIL_NAMES])

    def predicted(theta):
        values = dict(zip(TAIL_NAMES, np.exp(theta)))
        return _p99_itl_ms(out, parts, {**values, "max_num_tokens": budget})

    sol = least_squares(lambda t: np.log(predicted(t)) - measured,
                        np.clip(np.log([1.0, 3e-4, 0.1]), lower + 1e-9, upper - 1e-9),
                        bounds=(lower, upper), loss="soft_l1", f_scale=0.1)
    errors = predicted(sol.x) / np.exp(measured) - 1
    log.info("tail %s: %s, P99 ITL MAPE %.1f %% on %d rows", label,
             dict(zip(TAIL_NAMES, np.exp(sol.x))), np.mean(np.abs(errors)) * 100, len(out))
    return {**dict(zip(TAIL_NAMES, (float(v) for v in np.exp(sol.x)))),
            "mape_pct": float(np.mean(np.abs(errors)) * 100), "rows": len(out)}


def fit_tails(calibration: Calibration, engine: str = "vllm") -> Calibration:
    """Stage 2c (issue 25): the engine's tail factors per hardware family on ML.ENERGY's P99
    ITL, and pooled over the families for the engine's fallback (families without P99 rows,
    e.g. CDNA3). Every other factor is kept."""
    out = itl_rows(calibration)
    out = out[out["measured_p99_itl_ms"].notna()].reset_index(drop=True)
    engines = dict(calibration.engines)
    keys = [(engine, out)] + [(f"{engine}@{family}", part.reset_index(drop=True))
                              for family, part in out.groupby("family")]
    for key, part in keys:
        if key not in engines or len(part) < MIN_FAMILY_ROWS:
            continue
        fitted = fit_tail(part, key)
        engines[key] = replace(engines[key], **{n: fitted[n] for n in TAIL_NAMES},
                               latency_mape_pct={**engines[key].latency_mape_pct,
                                                 "p99_itl": round(fitted["mape_pct"], 2)})
    return replace(calibration, engines=engines)


def itl_summary(out: pd.DataFrame) -> pd.DataFrame:
    """MAPE and median signed error of ML.ENERGY median and P99 ITL, overall and per model x
    hardware."""
    records = []
    groups = [("all", "all", out)] + [("model x hardware x engine", key, part) for key, part in
                                      out.groupby(out["model_id"] + " | " + out["hardware_id"]
                                                  + " | vllm 0.11.1")]
    for metric, column in (("median_itl", "itl_error_pct"), ("p99_itl", "p99_itl_error_pct")):
        for grouping, group, part in groups:
            errors = part[column].dropna()
            records.append({"metric": metric, "dataset": "mlenergy", "grouping": grouping,
                            "group": group, "rows": int(errors.size),
                            "mape_pct": float(errors.abs().mean()),
                            "median_signed_pct": float(errors.median())})
    return pd.DataFrame(records)


def itl_heldout(calibration: Calibration, out: pd.DataFrame | None = None) -> pd.DataFrame:
    """Leave one model out on ML.ENERGY's median ITL (vLLM 0.11.1 measured several models per
    family): each model's rows predicted with the vLLM factors of its family (stage 2 of
    ``planner calibrate``) refit without that model; the families' factors are kept."""
    from planner.perf.calibrate import fit_engine
    from planner.perf.datasets import mlenergy_rows

    out = itl_rows(calibration) if out is None else out
    rows = mlenergy_rows()
    rows = rows[rows["in_catalog"]].reset_index(drop=True)
    families = _families(rows)
    errors = np.full(len(out), np.nan)
    for (family, model), _ in out.groupby(["family", "model_id"]):
        train = (families == family) & (rows["model_id"] != model).to_numpy()
        if train.sum() < MIN_FAMILY_ROWS:
            continue
        fitted = fit_engine(calibration, rows[train], "vllm")
        engines = {**calibration.engines, f"vllm@{family}": fitted}
        test = ((out["family"] == family) & (out["model_id"] == model)).to_numpy()
        held = itl_rows(replace(calibration, engines=engines), out.index[test])
        errors[test] = held["itl_error_pct"].to_numpy(float)
    return pd.DataFrame({"lomo_median_itl_error_pct": errors,
                         "lomo_p99_itl_error_pct": p99_heldout(calibration, out)},
                        index=out.index)


def p99_heldout(calibration: Calibration, out: pd.DataFrame) -> np.ndarray:
    """Leave one model out on ML.ENERGY's P99 ITL: each model's rows predicted with its
    family's tail factors refit on the family's other models (decode-step factors kept)."""
    errors = np.full(len(out), np.nan)
    measured = out["measured_p99_itl_ms"].notna().to_numpy()
    for (family, model), _ in out[measured].groupby(["family", "model_id"]):
        train = measured & (out["family"] == family).to_numpy() & (out["model_id"]
                                                                   != model).to_numpy()
        test = measured & (out["family"] == family).to_numpy() & (out["model_id"]
                                                                  == model).to_numpy()
        if train.sum() < MIN_FAMILY_ROWS:
            continue
        fitted = fit_tail(out[train].reset_index(drop=True), f"{family} without {model}")
        part = out[test]
        factors = {n: np.full(len(part), fitted[n]) for n in TAIL_NAMES}
        factors["max_num_tokens"] = np.full(len(part), EngineFactors().max_num_tokens)
        predicted = _p99_itl_ms(part, tail_parts(part), factors)
        errors[test] = (predicted / part["measured_p99_itl_ms"].to_numpy(float) - 1) * 100
    return errors


def heldout_summary(held: pd.DataFrame) -> pd.DataFrame:
    """MAPE and median signed error of the held-out latency errors per kind and metric."""
    records = []
    for column in held.columns:
        kind, metric = column.split("_", 1)
        errors = held[column].dropna()
        records.append({"holdout": {"lomo": "leave one model out",
                                    "lofo": "leave one hardware family out",
                                    "loevo": "leave one engine version out"}[kind]
                        + (" (ML.ENERGY, vLLM 0.11.1)" if "itl" in metric else ""),
                        "metric": metric.replace("_error_pct", ""), "rows": int(errors.size),
                        "mape_pct": float(errors.abs().mean()) if errors.size else np.nan,
                        "median_signed_pct": float(errors.median()) if errors.size else np.nan})
    return pd.DataFrame(records)


def latency_validation(calibration: Calibration) -> dict[str, pd.DataFrame]:
    """Serving-latency tables of ``planner validate``."""
    rows = serving_rows()
    out = predictions(calibration, rows)
    itl = itl_rows(calibration)
    held = pd.concat([heldout(calibration, rows).reset_index(drop=True),
                      itl_heldout(calibration, itl).reset_index(drop=True)], axis=1)
    return {"latency": pd.concat([summary(out), itl_summary(itl)], ignore_index=True),
            "latency_heldout": heldout_summary(held),
            "latency_rows": out}
