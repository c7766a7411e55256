"""Roofline performance and phase-aware power model of an LLM deployment, vectorized over cases.

A case is (model, hardware, precision, num_gpus, isl, osl[, concurrency]): one tensor-parallel
replica of ``num_gpus`` GPUs serving requests of ``isl`` input and ``osl`` output tokens.

Memory: weights / num_gpus per GPU; the rest of HBM (less a runtime reserve) holds the KV cache,
and the scheduler reserves a whole sequence (isl + osl) per request, as TensorRT-LLM's
no-eviction policy does. That bounds the in-flight batch B.

Decode step at batch B (average context isl + osl/2):
    t_step = max(t_memory, t_compute) + t_allreduce + overhead
    t_memory  = (weights read + KV read) / (HBM bandwidth x eta_bw); an MoE layer reads only the
                experts its B tokens route to: 1 - (1 - k/E)^B of them (uniform routing)
    t_compute = (2 x active params x B + attention FLOPs) / (peak x eta_decode)
    t_allreduce = 2 per layer, ring: latency + 2 (n-1)/n x B x hidden x 2 bytes / link
Prefill of one request: max(compute at eta_prefill, one read of the weights) + all-reduces.
Offline throughput (trtllm-bench, in-flight batching, prefill interleaved with decode):
    out_tok_s = B x osl / (osl x t_step + B x t_prefill)
Disaggregated (prefill on its own replicas): decode carries no prefill work, so TPOT is the
decode step alone; replica-seconds per query = cohort share + prefill; TTFT adds the prompt's
KV transfer.
Power: GPU draw is near TDP in prefill and rises with compute utilisation in decode (anchored on
ML.ENERGY v3 H100: ~0.43 TDP at batch 1, ~0.86 at batch 128); node power is linear between the
node's idle and max power in the GPU load fraction. Wh/query = replica power x time per query.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.loaders import Catalog, kv_bytes_per_token_full, load_catalog
from planner.errors import InputError
from planner.perf.factors import FACTOR_NAMES, Calibration, load_calibration
from planner.validation import check_text_column, parse_bool_column, parse_number_column

GIB = 2.0**30
RUNTIME_RESERVE_FRACTION = 0.08  # HBM kept for activations, workspace and CUDA context [assumed]
KV_FREE_FRACTION = 0.95  # trtllm-bench kv_cache_free_gpu_mem_fraction (reference, section B)
ACTIVATION_BYTES = 2.0  # all-reduced activations are BF16
PREFILL_POWER_FRACTION = 0.95  # GPU draw in prefill as a fraction of TDP [assumed: compute bound]
DECODE_POWER_FLOOR = 0.43  # GPU draw of memory-bound decode / TDP: ML.ENERGY v3 H100 batch 1, 300 W
DECODE_POWER_SLOPE = 0.57  # reaches TDP at full compute utilisation

CASE_COLUMNS = ["model", "hardware", "precision", "num_gpus", "isl", "osl"]


def gather_specs(cases: pd.DataFrame, catalog: Catalog | None = None,
                 file: str | None = None) -> dict[str, np.ndarray]:
    """Resolve ids (aliases accepted) and gather every spec the physics needs, as arrays."""
    catalog = catalog or load_catalog()
    missing = [c for c in CASE_COLUMNS if c not in cases.columns]
    if missing:
        raise InputError(f"missing columns {missing}", file=file, field="header")
    if len(cases) == 0:
        raise InputError("no cases (the CSV has a header but no rows)", file=file)
    for col in ("model", "hardware", "precision"):
        check_text_column(cases[col], col, file)
    model_ids = _resolve_column(cases["model"], catalog.model_id, "model", file)
    hw_ids = _resolve_column(cases["hardware"], catalog.hardware_id, "hardware", file)
    prec_ids = _resolve_column(cases["precision"], catalog.precision_id, "precision", file)
    # Strict parsing (planner.validation): whole GPUs, at least one token, booleans spelled
    # true/false/yes/no/1/0; a blank concurrency means the offline max-throughput regime.
    numbers = {
        "num_gpus": parse_number_column(cases["num_gpus"], "num_gpus", file, minimum=1,
                                        maximum=1024, integer=True, what="GPUs per replica"),
        "isl": parse_number_column(cases["isl"], "isl", file, minimum=1, maximum=1e7,
                                   what="input tokens"),
        "osl": parse_number_column(cases["osl"], "osl", file, minimum=1, maximum=1e7,
                                   what="output tokens")}
    speculative = (parse_bool_column(cases["speculative"], "speculative", file)
                   if "speculative" in cases.columns else np.zeros(len(cases), dtype=bool))
    disaggregated = (parse_bool_column(cases["disaggregated"], "disaggregated", file)
                     if "disaggregated" in cases.columns else np.zeros(len(cases), dtype=bool))
    concurrency = (parse_number_column(cases["concurrency"], "concurrency", file, minimum=1,
                                       maximum=1e6, blank_ok=True,
                                       what="blank for the offline regime")
                   if "concurrency" in cases.columns else np.full(len(cases), np.nan))

    m = catalog.models.loc[model_ids]
    h = catalog.hardware.loc[hw_ids]
    p = catalog.precisions.loc[prec_ids]
    compute = p["compute"].to_numpy()
    peak_tflops = np.select([compute == "fp4", compute == "fp8"],
                            [h["fp4_tflops"].to_numpy(float), h["fp8_tflops"].to_numpy(float)],
                            h["bf16_tflops"].to_numpy(float))
    families = h["family"].to_numpy()
    native = np.array([fam in str(nat).split(";") for fam, nat in
                       zip(families, p["native_families"].to_numpy())])
    kv_bpe = p["bytes_per_kv_element"].to_numpy(float)
    kv_full = kv_bytes_per_token_full(m, kv_bpe).to_numpy(float)
    sliding_layers = (m["layers"] - m["attention_layers"]).to_numpy(float)
    kv_sliding = np.where(m["sliding_window"].to_numpy(float) > 0,
                          2 * sliding_layers * m["kv_heads"].to_numpy(float)
                          * m["head_dim"].to_numpy(float) * kv_bpe, 0.0)
    experts = m["experts"].to_numpy(float)
    active_experts = m["experts_active"].to_numpy(float)
    total = m["total_params_b"].to_numpy(float) * 1e9
    active = m["active_params_b"].to_numpy(float) * 1e9
    is_moe = experts > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        expert_params = np.where(is_moe, (total - active) * experts / (experts - active_experts), 0)
    return {
        "model": np.asarray(model_ids), "hardware": np.asarray(hw_ids),
        "precision": np.asarray(prec_ids), "family": families,
        "num_gpus": numbers["num_gpus"], "isl": numbers["isl"], "osl": numbers["osl"],
        "concurrency": concurrency,
        "draft_tokens": np.where(speculative, catalog.technique("speculative_decoding",
                                                                "draft_tokens"), 0.0),
        "accepted_tokens": np.where(speculative, catalog.technique("speculative_decoding",
                                                                   "accepted_tokens"), 1.0),
        "draft_cost": np.where(speculative, catalog.technique("speculative_decoding",
                                                              "draft_cost_per_token"), 0.0),
        "spec_full_gain_batch": np.full(len(cases), catalog.technique("speculative_decoding",
                                                                      "full_gain_batch")),
        "disaggregated": disaggregated,
        "kv_transfer_bw": np.full(len(cases), catalog.technique(
            "disaggregation", "kv_transfer_gb_s_per_gpu") * 1e9),
        "total_params": total, "active_params": active,
        "expert_params": expert_params, "shared_params": total - expert_params,
        "route_fraction": np.where(is_moe, active_experts / np.maximum(experts, 1), 1.0),
        "is_moe": is_moe,
        "layers": m["layers"].to_numpy(float), "attention_layers": m["attention_layers"].to_numpy(float),
        "hidden": m["hidden"].to_numpy(float),
        "attn_width": (m["heads"] * m["head_dim"]).to_numpy(float),
        "heads": m["heads"].to_numpy(float),
        "kv_full_bytes": kv_full, "kv_sliding_bytes": kv_sliding,
        "sliding_window": m["sliding_window"].to_numpy(float),
        "bytes_per_weight": p["bytes_per_weight"].to_numpy(float),
        "peak_flops": peak_tflops * 1e12, "native": native & (peak_tflops > 0),
        "hbm_bytes": h["hbm_gb"].to_numpy(float) * GIB,
        "hbm_bw": h["hbm_tb_s"].to_numpy(float) * 1e12,
        "link_bw_uni": h["link_gb_s"].to_numpy(float) * 1e9 / 2,
        "tdp_w": h["tdp_w"].to_numpy(float), "gpus_per_node": h["gpus_per_node"].to_numpy(float),
        "node_max_w": h["node_max_kw"].to_numpy(float) * 1e3,
        "node_idle_w": h["node_idle_kw"].to_numpy(float) * 1e3,
    }


def _resolve_column(values: pd.Series, resolver, field: str, file: str | None) -> list[str]:
    """Resolve each distinct name once (vectorized over repeats)."""
    uniques = pd.unique(values.astype(str))
    mapping = {}
    for name in uniques:
        try:
            mapping[name] = resolver(name)
        except InputError as exc:
            row = int(np.flatnonzero(values.astype(str).to_numpy() == name)[0]) + 1
            raise InputError(exc.reason, file=file, field=f"row {row}.{field}", value=name,
                             has_value=True) from None
    return [mapping[v] for v in values.astype(str)]


def factor_arrays(families: np.ndarray, calibration: Calibration) -> dict[str, np.ndarray]:
    """Per-row efficiency factors from the family of each row's hardware."""
    out = {name: np.empty(len(families)) for name in FACTOR_NAMES}
    out["uncertainty_pct"] = np.empty(len(families))
    out["calibrated"] = np.zeros(len(families), dtype=bool)
    for family in pd.unique(families):
        rows = families == family
        factors = calibration.for_family(family)
        for name in FACTOR_NAMES:
            out[name][rows] = getattr(factors, name)
        out["uncertainty_pct"][rows] = factors.uncertainty_pct
        out["calibrated"][rows] = calibration.is_calibrated(family)
    return out


def kv_sequence_bytes(s: dict, context: np.ndarray) -> np.ndarray:
    """KV bytes held by one sequence of ``context`` tokens (sliding-window layers cap at the window)."""
    return s["kv_full_bytes"] * context + s["kv_sliding_bytes"] * np.minimum(context,
                                                                             s["sliding_window"])


def memory_fit(s: dict, f: dict) -> dict[str, np.ndarray]:
    """Weights per GPU, KV capacity and the largest batch that fits, with the reason if none."""
    n = s["num_gpus"]
    weights_per_gpu = s["total_params"] * s["bytes_per_weight"] / n
    usable = s["hbm_bytes"] * (1 - RUNTIME_RESERVE_FRACTION) - weights_per_gpu
    kv_capacity = np.maximum(usable, 0) * KV_FREE_FRACTION * n
    per_sequence = kv_sequence_bytes(s, s["isl"] + s["osl"])
    max_batch_memory = np.floor(kv_capacity / per_sequence)
    reason = np.full(n.shape, "", dtype=object)
    reason[max_batch_memory < 1] = "KV cache for one sequence of isl+osl does not fit"
    reason[usable <= 0] = "weights do not fit in GPU memory"
    reason[n > s["gpus_per_node"]] = "tensor parallelism beyond the NVLink domain (gpus_per_node)"
    reason[n > s["heads"]] = "more GPUs than attention heads"
    reason[np.mod(s["heads"], n) != 0] = "tensor parallelism does not divide the attention heads"
    reason[~s["native"]] = "precision not supported on this hardware"
    return {"weights_gb_per_gpu": weights_per_gpu / 1e9, "kv_capacity_gb": kv_capacity / 1e9,
            "max_batch_memory": max_batch_memory, "fits": reason == "", "reason": reason}


def moe_efficiency(s: dict, f: dict) -> np.ndarray:
    """Efficiency multiplier of a model's layers: ``eta_moe`` for mixture-of-experts, else 1."""
    return np.where(s["is_moe"], f["eta_moe"], 1.0)


def speculation_at_batch(s: dict, batch: np.ndarray) -> dict:
    """Adaptive speculation: above ``full_gain_batch`` the drafted and accepted extra tokens
    shrink as full_gain_batch / B (engines shorten drafts under load, where verification is no
    longer free)."""
    scale = np.minimum(1.0, s["spec_full_gain_batch"] / batch)
    return {**s, "draft_tokens": s["draft_tokens"] * scale,
            "accepted_tokens": 1 + (s["accepted_tokens"] - 1) * scale}


def decode_step_s(s: dict, f: dict, batch: np.ndarray) -> dict[str, np.ndarray]:
    """Time of one decode step at ``batch`` sequences, and its memory/compute/comm parts.

    With speculative decoding a step verifies ``1 + draft_tokens`` tokens per sequence: the
    weights and KV are read once, compute and all-reduce traffic scale with the tokens, and the
    draft adds ``draft_cost`` of a step per drafted token.
    """
    n = s["num_gpus"]
    moe = moe_efficiency(s, f)
    context = s["isl"] + s["osl"] / 2
    per_seq = 1 + s["draft_tokens"]
    tokens = batch * per_seq
    touched = np.where(s["is_moe"], 1 - (1 - s["route_fraction"]) ** tokens, 1.0)
    weight_bytes = (s["shared_params"] + s["expert_params"] * touched) * s["bytes_per_weight"]
    kv_bytes = batch * kv_sequence_bytes(s, context)
    t_memory = (weight_bytes / moe + kv_bytes / f["eta_attention"]) / n / (s["hbm_bw"] * f["eta_bw"])
    attention_flops = 4 * tokens * context * s["attention_layers"] * s["attn_width"]
    flops = 2 * s["active_params"] * tokens + attention_flops / f["eta_attention"]
    draft = 1 + s["draft_cost"] * s["draft_tokens"]
    t_memory = t_memory * draft
    t_compute = flops / n / (s["peak_flops"] * f["eta_decode"] * moe) * draft
    ring = 2 * (n - 1) / n
    t_comm = np.where(n > 1, 2 * s["layers"] * (f["allreduce_latency_s"] + ring * tokens
                                                 * s["hidden"] * ACTIVATION_BYTES
                                                 / s["link_bw_uni"]), 0.0)
    total = np.maximum(t_memory, t_compute) + t_comm + f["layer_overhead_s"] * s["layers"]
    return {"t_step": total, "t_memory": t_memory, "t_compute": t_compute, "t_comm": t_comm}


def prefill_compute_s(s: dict, f: dict) -> np.ndarray:
    """Compute time to prefill one request of ``isl`` tokens on the replica."""
    isl = s["isl"]
    flops = (2 * s["active_params"] * isl
             + 2 * s["attention_layers"] * isl**2 * s["attn_width"] / f["eta_attention"])
    return flops / s["num_gpus"] / (s["peak_flops"] * f["eta_prefill"] * moe_efficiency(s, f))


def prefill_comm_s(s: dict, f: dict) -> np.ndarray:
    """Tensor-parallel all-reduce time of one request's prefill (bandwidth part)."""
    n = s["num_gpus"]
    ring = 2 * (n - 1) / n
    return np.where(n > 1, 2 * s["layers"] * ring * s["isl"] * s["hidden"] * ACTIVATION_BYTES
                    / s["link_bw_uni"], 0.0)


def prefill_s(s: dict, f: dict) -> np.ndarray:
    """Time to first token of an unloaded replica: prefill compute or one weight read, whichever
    is longer, plus its all-reduces and one engine iteration's overhead."""
    n = s["num_gpus"]
    touched = np.where(s["is_moe"], 1 - (1 - s["route_fraction"]) ** s["isl"], 1.0)
    weight_bytes = (s["shared_params"] + s["expert_params"] * touched) * s["bytes_per_weight"]
    t_memory = weight_bytes / n / (s["hbm_bw"] * f["eta_bw"])
    latency = np.where(n > 1, 2 * s["layers"] * f["allreduce_latency_s"], 0.0)
    return (np.maximum(prefill_compute_s(s, f), t_memory) + prefill_comm_s(s, f) + latency
            + f["layer_overhead_s"] * s["layers"])


def evaluate(s: dict, f: dict) -> dict[str, np.ndarray]:
    """Every output of the model for gathered specs ``s`` and per-row factors ``f``.

    Rows that cannot run (zero peak FLOP/s for an unsupported precision, no KV room) produce
    inf/NaN internally; they are masked to NaN with ``fits`` False and a ``reason``.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return _evaluate(s, f)


def _evaluate(s: dict, f: dict) -> dict[str, np.ndarray]:
    fit = memory_fit(s, f)
    cap = np.minimum(fit["max_batch_memory"], f["max_batch"])
    batch = np.where(np.isfinite(s["concurrency"]), np.minimum(s["concurrency"], cap), cap)
    batch = np.maximum(batch, 1.0)
    s = speculation_at_batch(s, batch)
    step = decode_step_s(s, f, batch)
    t_prefill = prefill_s(s, f)
    osl = s["osl"]
    steps = osl / s["accepted_tokens"]  # decode steps per sequence (fewer with speculation)
    # In-flight batching mixes prefill chunks into decode steps: over the life of a cohort of B
    # requests the replica is bound by total memory traffic or total compute, whichever is larger.
    # Disaggregated serving (Splitwise, DistServe): prefills run on their own replicas, so the
    # decode steps carry no prefill work (and lose the overlap of prefill compute with
    # memory-bound decode); the prompt's KV cache then crosses the scale-out network.
    split = s["disaggregated"]
    prefill_compute = prefill_compute_s(s, f)
    prefill_comm = prefill_comm_s(s, f)
    interleaved_compute = np.where(split, 0.0, prefill_compute)
    interleaved_comm = np.where(split, 0.0, prefill_comm)
    memory_time = steps * step["t_memory"]
    decode_compute = steps * step["t_compute"]
    decode_fixed = steps * (step["t_comm"] + f["layer_overhead_s"] * s["layers"])
    cohort_time = (np.maximum(memory_time, decode_compute + batch * interleaved_compute)
                   + decode_fixed + batch * interleaved_comm)
    # Replica-seconds per query: the cohort's share, plus the prefill replica's time when split.
    seconds_per_query = cohort_time / batch + np.where(split, prefill_compute + prefill_comm, 0.0)
    out_tok_s = osl / seconds_per_query
    prefill_share = np.where(split, (prefill_compute + prefill_comm) / seconds_per_query,
                             np.clip(batch * prefill_compute / cohort_time, 0, 1))
    compute_utilization = np.clip(step["t_compute"] / step["t_step"], 0, 1)
    decode_power = DECODE_POWER_FLOOR + DECODE_POWER_SLOPE * compute_utilization
    gpu_load = prefill_share * PREFILL_POWER_FRACTION + (1 - prefill_share) * decode_power
    node_power_w = s["node_idle_w"] + (s["node_max_w"] - s["node_idle_w"]) * gpu_load
    replica_power_w = node_power_w * s["num_gpus"] / s["gpus_per_node"]
    kv_transfer = np.where(split, kv_sequence_bytes(s, s["isl"])
                           / (s["num_gpus"] * s["kv_transfer_bw"]), 0.0)
    wh_per_query = replica_power_w * seconds_per_query / 3600.0
    fits = fit["fits"]
    nan = np.where(fits, 1.0, np.nan)
    return {
        "fits": fits, "reason": fit["reason"],
        "batch": np.where(fits, batch, np.nan),
        "max_batch_memory": fit["max_batch_memory"],
        "weights_gb_per_gpu": fit["weights_gb_per_gpu"], "kv_capacity_gb": fit["kv_capacity_gb"],
        "out_tok_s_total": out_tok_s * nan,
        "ttft_ms": (t_prefill + kv_transfer + step["t_step"]) * 1e3 * nan,
        "tpot_ms": (cohort_time / osl) * 1e3 * nan,
        # Parts of the cohort time, so that TPOT can be recomputed against another prefill mix
        # (see ``mixed_tpot_ms``).
        "decode_memory_s": memory_time * nan, "decode_compute_s": decode_compute * nan,
        "decode_fixed_s": decode_fixed * nan,
        "interleaved_prefill_compute_s": interleaved_compute * nan,
        "interleaved_prefill_comm_s": interleaved_comm * nan,
        "decode_step_ms": step["t_step"] * 1e3 * nan,
        "prefill_ms": t_prefill * 1e3 * nan,
        "bound": np.where(step["t_compute"] > step["t_memory"], "compute", "memory"),
        "gpu_power_w": s["tdp_w"] * gpu_load * nan,
        "node_power_kw": node_power_w / 1e3 * nan,
        "replica_power_kw": replica_power_w / 1e3 * nan,
        "node_seconds_per_query": seconds_per_query * s["num_gpus"] / s["gpus_per_node"] * nan,
        "wh_per_query": wh_per_query * nan,
        "gpu_joules_per_token": s["tdp_w"] * gpu_load * s["num_gpus"] / out_tok_s * nan,
    }


def mixed_tpot_ms(out: dict[str, np.ndarray], osl: np.ndarray, prefill_compute_per_token,
                  prefill_comm_per_token) -> np.ndarray:
    """TPOT of each row's requests when the prefills interleaved with their decode steps are
    those of a request *mix*: ``prefill_*_per_token`` seconds of prefill per output token.

    ``evaluate``'s own ``tpot_ms`` charges a request with the prefills of B copies of itself, so
    a long-prompt, short-answer request looks like it stalls for 50 prompts per token. In a
    served stream every request shares the replica with the class's mix: the prefill work per
    decode step is the mix's, not the request's. Same cohort arithmetic as ``evaluate``.
    """
    batch = out["batch"]
    compute = out["decode_compute_s"] + batch * osl * prefill_compute_per_token
    cohort = (np.maximum(out["decode_memory_s"], compute) + out["decode_fixed_s"]
              + batch * osl * prefill_comm_per_token)
    return cohort / osl * 1e3


def predict(cases: pd.DataFrame, calibration: Calibration | None = None,
            catalog: Catalog | None = None, file: str | None = None) -> pd.DataFrame:
    """The cases with every prediction appended (rows that cannot run: fits=False and a reason)."""
    calibration = calibration or load_calibration()
    specs = gather_specs(cases, catalog, file=file)
    factors = factor_arrays(specs["family"], calibration)
    result = evaluate(specs, factors)
    out = cases.copy()
    for key in ("model", "hardware", "precision"):
        out[f"{key}_id"] = specs[key]
    for key, values in result.items():
        out[key] = values
    out["uncertainty_pct"] = np.where(result["fits"], factors["uncertainty_pct"], np.nan)
    out["calibrated"] = factors["calibrated"]
    return out
