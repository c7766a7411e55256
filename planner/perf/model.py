"""Roofline performance and power model of an LLM deployment, vectorized over cases.

A case is (model, hardware, precision, num_gpus, isl, osl[, concurrency, engine, parallelism]):
one replica of ``num_gpus`` GPUs serving requests of ``isl`` input and ``osl`` output tokens.
``parallelism`` is ``tp`` (tensor parallel: every weight and the KV cache split over the GPUs)
or ``dep`` (attention data parallel + expert parallel, as TensorRT-LLM's DEP: each GPU holds all
non-expert weights and its own sequences, the routed experts are split over the GPUs, and tokens
cross GPUs in an all-to-all before and after every MoE layer).

Memory: weights per GPU; the rest of HBM (less a runtime reserve) holds the KV cache, and the
scheduler reserves a whole sequence (isl + osl) per request, as TensorRT-LLM's no-eviction
policy does. That bounds the in-flight batch B.

Decode step at batch B (average context isl + osl/2), per GPU, a roofline per kernel class
(the GEMMs overlap their weight reads with their math; attention and the non-GEMM kernels run
after them, not under them):
    t_step = (max(t_memory, t_compute) + t_serial + t_comm) x engine kernel factor + overheads
    t_memory  = weights read (an MoE layer reads only the experts its tokens route to:
                1 - (1 - k/E)^T of them), over HBM bandwidth x eta_bw
    t_compute = 2 x active params x T / (peak x eta_decode); a touched expert's GEMM costs at
                least ``moe_tile_tokens`` rows (a grouped GEMM at a few tokens per expert is
                paid by the tile, not by the token)
    t_serial  = max(KV read, attention FLOPs) at eta_attention + non-GEMM traffic per token
                (norms, activations, RoPE, residuals, and per routed expert: routing,
                permutation and combine; the logits over the vocabulary and sampling)
    t_comm    = TP: 2 all-reduces per layer; DEP: dispatch + combine all-to-all per MoE layer;
                each pays a latency per step of a log2(n)-step exchange plus its bytes
    overheads = ``layer_overhead_s`` per layer (kernel launches) + the engine's per-step time
                + the engine's per-sequence time x B (CPU work per running request)
The engine also scales kernel time, and expert (MoE) kernel time on its own (fused-MoE kernels).
The family's ``max_batch`` (the engine's scheduling limit in the max-throughput tables) and the
engine's token budget per step (``max_num_tokens``: B x (1 + isl/osl) tokens per step in steady
state) bound the offline regime only; a given concurrency is bounded by the KV memory.
4-bit weights on a GPU without FP4 tensor cores (Hopper, Ampere) run as W4A16: weights read at
4.5 bits, math at BF16 (MXFP4 / Marlin-style kernels).
Prefill of one request: max(compute at eta_prefill, one read of the weights) + communication.
Offline throughput (in-flight batching, prefill interleaved with decode):
    out_tok_s = B x osl / (osl x t_step + B x t_prefill)
Disaggregated (prefill on its own replicas): decode carries no prefill work, so TPOT is the
decode step alone; replica-seconds per query = cohort share + prefill; TTFT adds the prompt's
KV transfer.
Power: a GPU draws TDP x (static + memory x HBM-busy fraction + compute x tensor-busy fraction)
(fit per family on ML.ENERGY v3 GPU power at every batch: memory-bound decode is not cheap);
prefill is compute-busy. Node power = GPUs + the host's non-GPU power (CPUs, fans, NICs, PSU
losses; fit on MLPerf Power wall measurements). Wh/query = replica power x time per query.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog.loaders import (Catalog, block_scaled_fp8, kv_bytes_per_token_full,
                                     kv_cache_precision,
                                     load_catalog, model_kind)
from planner.errors import InputError
from planner.perf.chunked import chunked_attention_factors
from planner.perf.factors import (CAP_NAMES, FACTOR_NAMES, POWER_NAMES, REFERENCE_ENGINE,
                                  VERSION_SEP, Calibration, is_reference_engine,
                                  load_calibration)
from planner.config.validation import check_text_column, parse_bool_column, parse_number_column

GIB = 2.0**30
RUNTIME_RESERVE_FRACTION = 0.08  # HBM kept for activations, workspace and CUDA context [assumed]
KV_FREE_FRACTION = 0.95  # trtllm-bench kv_cache_free_gpu_mem_fraction (reference, section B)
ACTIVATION_BYTES = 2.0  # all-reduced activations are BF16
LOGIT_BYTES_PER_TOKEN = 4.0 * 3  # FP32 logits written, read for softmax and for sampling
GPU_IDLE_FRACTION = 0.1  # idle GPU draw / TDP [assumed: H100 idles near 70 W of 700 W]
PARALLELISM = ("tp", "dep")

CASE_COLUMNS = ["model", "hardware", "precision", "num_gpus", "isl", "osl"]


def gather_specs(cases: pd.DataFrame, catalog: Catalog | None = None,
                 file: str | None = None, calibration: Calibration | None = None
                 ) -> dict[str, np.ndarray]:
    """Resolve ids (aliases accepted) and gather every spec the physics needs, as arrays."""
    catalog = catalog or load_catalog()
    calibration = calibration or load_calibration()
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
    # Strict parsing (planner.config.validation): whole GPUs, at least one token, booleans spelled
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
    # Issue 25: the engine ran chunked attention on a model's chunked layers (planner.perf.chunked;
    # the TensorRT-LLM tables' editions from v0.21); absent, full attention (the conservative cost).
    chunked_attention = (parse_bool_column(cases["chunked_attention"], "chunked_attention", file)
                         if "chunked_attention" in cases.columns
                         else np.zeros(len(cases), dtype=bool))
    concurrency = (parse_number_column(cases["concurrency"], "concurrency", file, minimum=1,
                                       maximum=1e6, blank_ok=True,
                                       what="blank for the offline regime")
                   if "concurrency" in cases.columns else np.full(len(cases), np.nan))
    engines = _text_column(cases, "engine", REFERENCE_ENGINE)
    if "engine_version" in cases.columns:  # ``vllm`` + ``0.13.0`` -> ``vllm:0.13.0``
        versions = _text_column(cases, "engine_version", "")
        engines = np.where(versions == "", engines,
                           engines + VERSION_SEP + versions.astype(str)).astype(object)
    parallelism = _text_column(cases, "parallelism", "tp")
    bad = ~np.isin(parallelism, PARALLELISM)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"parallelism must be one of {list(PARALLELISM)}", file=file,
                         field=f"row {i + 1}.parallelism", value=parallelism[i], has_value=True)
    kernel_factor = np.ones(len(cases))
    moe_kernel_factor = np.ones(len(cases))
    fp4_moe_kernel_factor = np.full(len(cases), np.nan)
    block_fp8_factor = np.full(len(cases), np.nan)
    step_overhead = np.zeros(len(cases))
    sequence_overhead = np.zeros(len(cases))
    window_kv = np.zeros(len(cases), dtype=bool)
    max_num_tokens = np.zeros(len(cases))
    engine_allreduce = np.full(len(cases), np.nan)
    server_overhead = np.zeros(len(cases))
    schedule_wait = np.zeros(len(cases))
    burst = np.zeros(len(cases))
    resolved = np.asarray(engines, dtype=object).copy()
    m = _rows(catalog.models, model_ids)
    h = _rows(catalog.hardware, hw_ids)
    p = _rows(catalog.precisions, prec_ids)
    compute = p["compute"].to_numpy()
    families = h["family"].to_numpy()
    pair_codes, pairs = pd.factorize(pd.Series(engines, dtype=object) + "@"
                                     + pd.Series(families, dtype=object))
    for code, pair in enumerate(pairs):
        name, family = pair.split("@", 1)
        rows = pair_codes == code
        try:
            engine = calibration.engine(name, family)
            base, _, version = name.partition(VERSION_SEP)
            label = calibration.resolve_engine(base, version or None)
            if engine.version and VERSION_SEP in label and not version:
                # The version measured on this family (SGLang's ROCm build on CDNA3).
                label = label.split(VERSION_SEP)[0] + VERSION_SEP + engine.version
            resolved[rows] = label
        except InputError as exc:
            i = int(np.flatnonzero(rows)[0])
            raise InputError(exc.reason, file=file, field=f"row {i + 1}.engine", value=name,
                             has_value=True) from None
        engine_allreduce[rows] = engine.allreduce_latency_s
        server_overhead[rows] = engine.server_overhead_s
        schedule_wait[rows] = engine.schedule_wait_steps
        burst[rows] = engine.closed_loop_burst
        kernel_factor[rows] = engine.kernel_time_factor
        moe_kernel_factor[rows] = engine.moe_kernel_factor
        fp4_moe_kernel_factor[rows] = engine.fp4_moe_kernel_factor
        block_fp8_factor[rows] = engine.block_fp8_moe_kernel_factor
        step_overhead[rows] = engine.step_overhead_s
        window_kv[rows] = engine.sliding_window_kv
        sequence_overhead[rows] = engine.sequence_overhead_s
        max_num_tokens[rows] = engine.max_num_tokens
    pair_codes, pairs = pd.factorize(pd.Series(families, dtype=object) + "|"
                                     + p["native_families"].astype(str).to_numpy(dtype=object))
    native = np.array([pair.split("|")[0] in pair.split("|")[1].split(";")
                       for pair in pairs], dtype=bool)[pair_codes]
    fp4 = h["fp4_tflops"].to_numpy(float)
    bf16 = h["bf16_tflops"].to_numpy(float)
    # 4-bit weights without FP4 tensor cores: weight-only quantization, math at BF16 (W4A16).
    weight_only = (compute == "fp4") & ~(native & (fp4 > 0)) & (bf16 > 0)
    peak_tflops = np.select([weight_only, compute == "fp4", compute == "fp8"],
                            [bf16, fp4, h["fp8_tflops"].to_numpy(float)], bf16)
    native = native | weight_only
    # The KV cache's element: the engine's documented default for the checkpoint (kv_cache.csv).
    engine_codes, engine_names = pd.factorize(pd.Series(engines, dtype=object))
    base_engines = np.array([str(e).split(VERSION_SEP)[0] for e in engine_names],
                            dtype=object)[engine_codes]
    kv_precision = kv_cache_precision(catalog, np.asarray(model_ids, dtype=object),
                                      np.asarray(prec_ids, dtype=object), base_engines,
                                      h["family"].to_numpy(dtype=object))
    kv_bpe = catalog.precisions["bytes_per_kv_element"].reindex(kv_precision).to_numpy(float)
    # FP4 experts on FP4 tensor cores through other kernels than the engine's fused MoE
    # (``EngineFactors.fp4_moe_kernel_factor``); NaN elsewhere.
    fp4_moe_kernel_factor = np.where((compute == "fp4") & ~weight_only, fp4_moe_kernel_factor,
                                     np.nan)
    experts = m["experts"].to_numpy(float)
    # FP8 experts of a block-scaled checkpoint (weight_scaling.csv): the engine's block-FP8
    # MoE factor on top of its fused-MoE one (``EngineFactors.block_fp8_moe_kernel_factor``).
    block_fp8 = (block_scaled_fp8(catalog, np.asarray(model_ids, dtype=object),
                                  np.asarray(prec_ids, dtype=object), base_engines,
                                  h["family"].to_numpy(dtype=object))
                 & (compute == "fp8") & (experts > 0))
    block_fp8_factor = np.where(block_fp8, block_fp8_factor, np.nan)
    moe_kernel_factor = engine_moe_factor({"fp4_moe_kernel_factor": fp4_moe_kernel_factor,
                                           "block_fp8_moe_kernel_factor": block_fp8_factor},
                                          moe_kernel_factor)
    kv_full = kv_bytes_per_token_full(m, kv_bpe).to_numpy(float)
    sliding_layers = (m["layers"] - m["attention_layers"]).to_numpy(float)
    kv_sliding = np.where(m["sliding_window"].to_numpy(float) > 0,
                          2 * sliding_layers * m["kv_heads"].to_numpy(float)
                          * m["head_dim"].to_numpy(float) * kv_bpe, 0.0)
    active_experts = m["experts_active"].to_numpy(float)
    total = m["total_params_b"].to_numpy(float) * 1e9
    active = m["active_params_b"].to_numpy(float) * 1e9
    is_moe = experts > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        expert_params = np.where(is_moe, (total - active) * experts / (experts - active_experts), 0)
    layers = m["layers"].to_numpy(float)
    moe_layers = np.where(is_moe, layers - m["dense_layers"].to_numpy(float), 0.0)
    dep = (parallelism == "dep") & is_moe
    return {
        "model": np.asarray(model_ids), "hardware": np.asarray(hw_ids),
        "precision": np.asarray(prec_ids), "family": families,
        "kind": model_kind(catalog.models).to_numpy()[catalog.models.index.get_indexer(model_ids)],
        "engine": resolved, "kernel_factor": kernel_factor,
        "engine_allreduce_latency_s": engine_allreduce, "server_overhead_s": server_overhead,
        "schedule_wait_steps": schedule_wait, "closed_loop_burst": burst,
        "moe_kernel_factor": moe_kernel_factor, "step_overhead_s": step_overhead,
        "fp4_moe_kernel_factor": fp4_moe_kernel_factor, "block_fp8": block_fp8,
        "block_fp8_moe_kernel_factor": block_fp8_factor,
        "sequence_overhead_s": sequence_overhead, "max_num_tokens": max_num_tokens,
        "dep": dep, "weight_only": weight_only,
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
        "experts": experts, "experts_active": active_experts,
        "route_fraction": np.where(is_moe, active_experts / np.maximum(experts, 1), 1.0),
        "is_moe": is_moe, "moe_layers": moe_layers,
        "layers": layers, "attention_layers": m["attention_layers"].to_numpy(float),
        "attention_chunk": m["attention_chunk"].to_numpy(float),
        "chunked_layers": m["chunked_layers"].to_numpy(float),
        "kv_heads": m["kv_heads"].to_numpy(float), "chunked_attention": chunked_attention,
        "hidden": m["hidden"].to_numpy(float), "vocab": m["vocab"].to_numpy(float),
        "attn_width": (m["heads"] * m["head_dim"]).to_numpy(float),
        # Decode attention's QK + PV width per head, halved (FLOPs = 4 x tokens x context x
        # layers x width). MLA decodes in its absorbed (MQA) form: K is the 512-wide latent plus
        # the 64-wide RoPE part (576), V the latent (512) for every query head (FlashMLA README:
        # head_dim_k 576, head_dim_v 512), not the 192/128 of the prefill (MHA) form.
        "decode_attn_width": np.where(
            m["attention"].to_numpy() == "mla",
            m["heads"].to_numpy(float) * (2 * m["kv_lora_rank"].to_numpy(float)
                                          + m["qk_rope_dim"].to_numpy(float)) / 2,
            (m["heads"] * m["head_dim"]).to_numpy(float)),
        "heads": m["heads"].to_numpy(float),
        "kv_full_bytes": kv_full, "kv_sliding_bytes": kv_sliding,
        "sliding_window": np.where(window_kv, m["sliding_window"].to_numpy(float), np.inf),
        "bytes_per_weight": p["bytes_per_weight"].to_numpy(float),
        "peak_flops": peak_tflops * 1e12, "bf16_tflops": bf16, "native": native & (peak_tflops > 0),
        "hbm_bytes": h["hbm_gb"].to_numpy(float) * GIB,
        "hbm_bw": h["hbm_tb_s"].to_numpy(float) * 1e12,
        "link_bw_uni": h["link_gb_s"].to_numpy(float) * 1e9 / 2,
        "tdp_w": h["tdp_w"].to_numpy(float), "gpus_per_node": h["gpus_per_node"].to_numpy(float),
        "node_max_w": h["node_max_kw"].to_numpy(float) * 1e3,
        "host_power_w": calibration.host_power_fraction * np.maximum(
            h["node_max_kw"].to_numpy(float) * 1e3
            - h["tdp_w"].to_numpy(float) * h["gpus_per_node"].to_numpy(float), 0.0),
    }


def engine_moe_factor(s: dict, value) -> np.ndarray:
    """The MoE kernel factor per row when the engine's fused-MoE factor is ``value``: FP4
    experts the engine runs through other kernels keep theirs (``fp4_moe_kernel_factor``);
    block-scaled FP8 experts take ``value`` times their block factor, where the engine has one
    (``block_fp8_moe_kernel_factor``)."""
    own = s["fp4_moe_kernel_factor"]
    block = s.get("block_fp8_moe_kernel_factor")
    scaled = (value if block is None
              else value * np.where(np.isfinite(block), block, 1.0))
    return np.where(np.isfinite(own), own, scaled)


def node_idle_kw(hardware: pd.DataFrame, calibration: Calibration) -> np.ndarray:
    """Power of a provisioned node serving nothing: its host (non-GPU) power and idle GPUs."""
    gpus = hardware["gpus_per_node"].to_numpy(float)
    tdp = hardware["tdp_w"].to_numpy(float)
    host = calibration.host_power_fraction * np.maximum(
        hardware["node_max_kw"].to_numpy(float) * 1e3 - tdp * gpus, 0.0)
    return (host + gpus * tdp * GPU_IDLE_FRACTION) / 1e3


def _text_column(cases: pd.DataFrame, column: str, default: str) -> np.ndarray:
    """A lower-cased text column, ``default`` where absent or blank."""
    if column not in cases.columns:
        return np.full(len(cases), default, dtype=object)
    values = cases[column].fillna("").astype(str).str.strip().str.lower()
    return np.where(values == "", default, values).astype(object)


def _resolve_column(values: pd.Series, resolver, field: str, file: str | None) -> np.ndarray:
    """Resolve each distinct name once (vectorized over repeats)."""
    codes, uniques = pd.factorize(values.astype(str).to_numpy(dtype=object))
    resolved = []
    for name in uniques:
        try:
            resolved.append(resolver(name))
        except InputError as exc:
            row = int(np.flatnonzero(uniques[codes] == name)[0]) + 1
            raise InputError(exc.reason, file=file, field=f"row {row}.{field}", value=name,
                             has_value=True) from None
    return np.asarray(resolved, dtype=object)[codes]


def _rows(table: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """``table.loc[ids]`` for many repeated ids, by position (fast for 10^5+ rows)."""
    return table.iloc[table.index.get_indexer(ids)]


def factor_arrays(families: np.ndarray, calibration: Calibration,
                  kinds: np.ndarray | None = None, engines: np.ndarray | None = None
                  ) -> dict[str, np.ndarray]:
    """Per-row efficiency and power factors from the family of each row's hardware; the stated
    uncertainty per row from its family and model kind."""
    names = FACTOR_NAMES + POWER_NAMES + CAP_NAMES
    out = {name: np.empty(len(families)) for name in names}
    out["uncertainty_pct"] = np.empty(len(families))
    out["calibrated"] = np.zeros(len(families), dtype=bool)
    family_codes, family_names = pd.factorize(np.asarray(families, dtype=object))
    if kinds is not None:
        engines = (np.full(len(families), REFERENCE_ENGINE, dtype=object) if engines is None
                   else np.asarray(engines, dtype=object))
        kind_codes, kind_names = pd.factorize(pd.Series(np.asarray(kinds, dtype=object))
                                              + "|" + pd.Series(engines))
    for code, family in enumerate(family_names):
        factors = calibration.for_family(family)
        table = np.array([getattr(factors, name) for name in names])
        rows = family_codes == code
        for i, name in enumerate(names):
            out[name][rows] = table[i]
        out["uncertainty_pct"][rows] = factors.uncertainty_pct
        if kinds is not None:
            for k, pair in enumerate(kind_names):
                kind, engine = pair.split("|", 1)
                out["uncertainty_pct"][rows & (kind_codes == k)] = factors.uncertainty_for(
                    kind, engine)
        out["calibrated"][rows] = calibration.is_calibrated(family)
        spec_sheet = calibration.provenance.get("spec_sheet_uncertainty_pct")
        if spec_sheet is not None and not calibration.is_calibrated(family):
            # Issue 25: a generation known only by its spec sheet (Rubin, Blackwell Ultra,
            # CDNA4) states the leave-one-generation-out error, not the pooled fit's.
            out["uncertainty_pct"][rows] = float(spec_sheet)
    return out


def kv_sequence_bytes(s: dict, context: np.ndarray) -> np.ndarray:
    """KV bytes held by one sequence of ``context`` tokens (sliding-window layers cap at the window)."""
    return s["kv_full_bytes"] * context + s["kv_sliding_bytes"] * np.minimum(context,
                                                                             s["sliding_window"])


def memory_fit(s: dict, f: dict, reasons: bool = True) -> dict[str, np.ndarray]:
    """Weights per GPU, KV capacity and the largest batch that fits, with the reason if none
    (``reasons`` False: ``reason`` is None, ``fits`` the same).

    Under DEP every GPU holds all non-expert weights and 1/n of the routed experts; its KV
    cache holds its own sequences, so the replica's batch is n times a GPU's.
    """
    n = s["num_gpus"]
    bpw = s["bytes_per_weight"]
    weights_per_gpu = np.where(s["dep"], (s["shared_params"] + s["expert_params"] / n) * bpw,
                               s["total_params"] * bpw / n)
    usable = (s["hbm_bytes"] * (1 - RUNTIME_RESERVE_FRACTION) - weights_per_gpu
              - dep_moe_workspace_bytes(s))
    kv_capacity = np.maximum(usable, 0) * KV_FREE_FRACTION * n
    per_sequence = kv_sequence_bytes(s, s["isl"] + s["osl"])
    max_batch_memory = np.where(
        s["dep"], n * np.floor(kv_capacity / n / per_sequence),
        np.floor(kv_capacity / per_sequence))
    # Why a row cannot run; where several hold, the last one is the reason given.
    failures = (
        (max_batch_memory < 1, "KV cache for one sequence of isl+osl does not fit"),
        (usable <= 0, "weights do not fit in GPU memory"),
        (n > s["gpus_per_node"], "tensor parallelism beyond the NVLink domain (gpus_per_node)"),
        ((n > s["heads"]) & ~s["dep"], "more GPUs than attention heads"),
        ((np.mod(s["heads"], n) != 0) & ~s["dep"],
         "tensor parallelism does not divide the attention heads"),
        (~s["native"], "precision not supported on this hardware"))
    # (issue 26: the specs may be columns over deployments and the lengths rows over buckets)
    shape = np.broadcast_shapes(*(np.shape(bad) for bad, _ in failures), n.shape)
    fits = ~np.logical_or.reduce([np.broadcast_to(bad, shape) for bad, _ in failures])
    reason = None
    if reasons:  # (issue 26: an object array of strings per row costs the candidates seconds)
        reason = np.full(shape, "", dtype=object)
        for bad, text in failures:
            reason[bad] = text
    return {"weights_gb_per_gpu": weights_per_gpu / 1e9, "kv_capacity_gb": kv_capacity / 1e9,
            "max_batch_memory": max_batch_memory, "fits": fits, "reason": reason}


def dep_moe_workspace_bytes(s: dict) -> np.ndarray:
    """Per-GPU activation memory of TensorRT-LLM's MoE under attention data parallel (DEP),
    which its KV cache is sized around (issue 25, seventh round).

    TensorRT-LLM sizes the KV cache from the peak memory of a profiling forward pass
    (``KvCacheCreator.configure_kv_cache_capacity``, ``tensorrt_llm/_torch/pyexecutor/_util.py``:
    fraction x (total - peak)), each rank's dummy batch filling its ``max_num_tokens``. With
    attention DP and no MNNVL all-to-all (Hopper, B200 boards) the CUTLASS fused MoE allgathers
    every rank's quantized tokens before the experts and reduce-scatters after
    (``fused_moe_cutlass.py``: ``allgather(... all_rank_num_tokens)``), so each GPU's MoE
    workspace holds n x max_num_tokens rows; per row and routed expert the CUTLASS runner
    allocates (``CutlassMoeFCRunner::getWorkspaceDeviceBufferSizes``, ``moe_kernels.cu``) the
    permuted input / FC2 output overlapped (max of hidden x 1 byte and hidden x 2 bytes), the
    gated FC1 output (2 x intermediate x 2 bytes) and the activated FC1 result (intermediate x
    1 byte); plus the gathered input (hidden x 1 byte, FP8) and the combined output (hidden x
    2 bytes). Zero without DEP and for other engines (their source was not read)."""
    trtllm = is_reference_engine(s["engine"])
    with np.errstate(divide="ignore", invalid="ignore"):
        intermediate = np.where(s["is_moe"], s["expert_params"] / np.maximum(
            s["moe_layers"] * s["experts"] * 3 * s["hidden"], 1.0), 0.0)
    per_row = (s["experts_active"] * (2 * s["hidden"] + 5 * intermediate)
               + 3 * s["hidden"])
    return np.where(s["dep"] & trtllm & s["is_moe"],
                    s["num_gpus"] * s["max_num_tokens"] * per_row, 0.0)


def moe_efficiency(s: dict, f: dict) -> np.ndarray:
    """Efficiency multiplier of a model's expert layers: ``eta_moe`` for mixture-of-experts
    (over the engine's MoE kernel time factor), else 1."""
    return np.where(s["is_moe"], f["eta_moe"] / s["moe_kernel_factor"], 1.0)


def token_budget_batch(s: dict) -> np.ndarray:
    """Largest running batch the engine's token budget per step (``max_num_tokens``) sustains:
    in steady state each step carries B decode tokens plus the prompts of the requests that
    replace finished ones, B x isl / osl prefill tokens on average, so
    B x (1 + isl / osl) <= max_num_tokens."""
    return np.maximum(np.floor(s["max_num_tokens"] * s["osl"] / (s["isl"] + s["osl"])), 1.0)


def speculation_at_batch(s: dict, batch: np.ndarray) -> dict:
    """Adaptive speculation: above ``full_gain_batch`` the drafted and accepted extra tokens
    shrink as full_gain_batch / B (engines shorten drafts under load, where verification is no
    longer free)."""
    scale = np.minimum(1.0, s["spec_full_gain_batch"] / batch)
    return {**s, "draft_tokens": s["draft_tokens"] * scale,
            "accepted_tokens": 1 + (s["accepted_tokens"] - 1) * scale}


def _touched_experts(s: dict, tokens: np.ndarray) -> np.ndarray:
    """Fraction of each MoE layer's experts that ``tokens`` tokens route to (uniform routing)."""
    return np.where(s["is_moe"], 1 - (1 - s["route_fraction"]) ** tokens, 1.0)


def _token_bytes(s: dict, f: dict, tokens: np.ndarray) -> np.ndarray:
    """Non-GEMM HBM traffic of ``tokens`` tokens: per layer and per routed expert a few passes
    over the hidden vector; plus the logits over the vocabulary and their sampling."""
    hidden_vectors = s["layers"] + s["moe_layers"] * s["experts_active"]
    return tokens * (f["token_layer_passes"] * hidden_vectors * s["hidden"] * ACTIVATION_BYTES
                     + s["vocab"] * LOGIT_BYTES_PER_TOKEN)


def _gemm_flops(s: dict, f: dict, tokens: np.ndarray, touched: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """FLOPs of the dense GEMMs and of the expert GEMMs of ``tokens`` tokens in one pass.

    A touched expert receives m = tokens x k / (E x touched) tokens per layer, and a grouped
    GEMM pays at least ``moe_tile_tokens`` rows of it.
    """
    active_expert = s["expert_params"] * s["route_fraction"]
    dense = 2 * (s["active_params"] - active_expert) * tokens
    touched = _touched_experts(s, tokens) if touched is None else touched
    with np.errstate(divide="ignore", invalid="ignore"):
        per_expert = tokens * s["route_fraction"] / np.maximum(touched, 1e-12)
        padding = np.where(s["is_moe"], np.maximum(1.0, f["moe_tile_tokens"] / per_expert), 1.0)
    return dense, 2 * active_expert * tokens * padding


def _math_efficiency(s: dict, f: dict) -> np.ndarray:
    """Tensor-core efficiency of the precision's GEMMs relative to native ones: weight-only
    4-bit GEMMs dequantize in the kernel.

    (A separate FP8/FP4-vs-BF16 efficiency was tried: it lowers J/token MAPE on ML.ENERGY from
    27 % to 23 % but is confounded with vLLM-on-Blackwell, the only source of B200 FP8/BF16
    rows, and makes B200 FP8 less efficient than H100 FP8 under TensorRT-LLM.)"""
    return np.where(s["weight_only"], f["eta_weight_only"], 1.0) * power_limited_clock(s, f)


def power_limited_clock(s: dict, f: dict) -> np.ndarray:
    """Fraction of the rated math peak a GPU sustains under its board power limit: TDP over the
    board power at full tensor-core load and rated clock (clocks, hence math throughput, fall in
    proportion until the board draws its TDP: power linear in clock at fixed voltage), at most 1.

    The board power at rated clock is the family's own ``power_at_peak_w`` where fit (CDNA3:
    two TDPs on one silicon identify it), else ``power_w_per_tflop`` x the GPU's rated dense
    BF16 TFLOP/s: one sourced number for the TSMC 4N/4NP families (techniques.csv, from H100's
    sustained GEMM clock at 700 W; 0 on other nodes), since tensor-core power scales with
    silicon x clock, which the rated peak measures. B200 (1000 W, 2250 TFLOP/s) then sustains
    0.54 of its rated math, H100 0.86, L40S its full peak: what carries Hopper's fit to
    Blackwell (issue 25)."""
    at_peak = f.get("power_at_peak_w")
    per_tflop = f.get("power_w_per_tflop")
    if at_peak is None and per_tflop is None:
        return np.ones_like(s["tdp_w"])
    at_peak = np.asarray(0.0 if at_peak is None else at_peak, dtype=float)
    if per_tflop is not None and "bf16_tflops" in s:
        # Board power at full tensor load scales with the tensor-core silicon x clock, which the
        # rated dense BF16 peak measures (FP8 and FP4 are 2x and 4x it on the same cores).
        at_peak = np.where(at_peak > 0, at_peak,
                           np.asarray(per_tflop, dtype=float) * s["bf16_tflops"])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(at_peak > 0, np.minimum(1.0, s["tdp_w"] / at_peak), 1.0)


def collective_latency_s(f: dict, n: np.ndarray, s: dict | None = None) -> np.ndarray:
    """Latency of one all-reduce (or all-to-all) over ``n`` GPUs: ``allreduce_latency_s`` per
    step of a log2(n)-step exchange (recursive doubling / tree; 0 on one GPU). A latency
    independent of n over-predicted TP8 against TP1-TP4 on every family (+20 to +40 % on
    B200 and L40S); one step per ring hop (n - 1) over-corrected TP8 on Hopper."""
    per_step = f["allreduce_latency_s"]
    if s is not None and "engine_allreduce_latency_s" in s:
        # An engine fit on serving sweeps brings its own small-message all-reduce (one-shot /
        # custom all-reduce over NVLink at batch 1-64, issue 22).
        engine = s["engine_allreduce_latency_s"]
        per_step = np.where(np.isfinite(engine), engine, per_step)
    return per_step * np.log2(np.maximum(n, 1))


def decode_step_s(s: dict, f: dict, batch: np.ndarray) -> dict[str, np.ndarray]:
    """Time of one decode step at ``batch`` sequences, and its memory/compute/comm parts.

    With speculative decoding a step verifies ``1 + draft_tokens`` tokens per sequence: the
    weights and KV are read once, compute and all-reduce traffic scale with the tokens, and the
    draft adds ``draft_cost`` of a step per drafted token. Times are per GPU (the replica's GPUs
    work in parallel); under DEP each GPU reads all non-expert weights for its own sequences.
    """
    n = s["num_gpus"]
    moe = moe_efficiency(s, f)
    kernel = s["kernel_factor"]
    context = s["isl"] + s["osl"] / 2
    per_seq = 1 + s["draft_tokens"]
    tokens = batch * per_seq
    touched = _touched_experts(s, tokens)
    bpw = s["bytes_per_weight"]
    shared_bytes = s["shared_params"] * bpw / np.where(s["dep"], 1.0, n)
    expert_bytes = s["expert_params"] * touched * bpw / n
    chunked = chunked_attention_factors(s)  # 1 on rows that run full attention
    kv_bytes = batch * kv_sequence_bytes(s, context) / n * chunked["decode_reads"]
    other_bytes = _token_bytes(s, f, tokens) / n
    bandwidth = s["hbm_bw"] * f["eta_bw"]
    attention_flops = (4 * tokens * context * s["attention_layers"] * s["decode_attn_width"]
                       * chunked["decode_flops"])
    dense_flops, expert_flops = _gemm_flops(s, f, tokens)
    peak = s["peak_flops"] * f["eta_decode"] * _math_efficiency(s, f)
    draft = (1 + s["draft_cost"] * s["draft_tokens"]) * kernel
    # A roofline per kernel class: a GEMM overlaps its weight reads with its math; attention
    # (KV reads or its FLOPs) and the non-GEMM kernels run after it, not under it.
    t_memory = (shared_bytes + expert_bytes / moe) / bandwidth * draft
    t_compute = (dense_flops + expert_flops / moe) / n / peak * draft
    t_attention_memory = kv_bytes / f["eta_attention"] / bandwidth * draft
    t_attention_compute = attention_flops / f["eta_attention"] / n / peak * draft
    t_other = other_bytes / bandwidth * draft
    t_serial = np.maximum(t_attention_memory, t_attention_compute) + t_other
    ring = 2 * (n - 1) / n
    hop = collective_latency_s(f, n, s)
    allreduce = 2 * s["layers"] * (hop + ring * tokens * s["hidden"]
                                   * ACTIVATION_BYTES / s["link_bw_uni"])
    # DEP: each GPU's tokens go to the GPUs holding their experts and come back (k copies).
    all_to_all = 2 * s["moe_layers"] * (hop + (n - 1) / n * tokens / n
                                        * s["experts_active"] * s["hidden"] * ACTIVATION_BYTES
                                        / s["link_bw_uni"])
    t_comm = np.where(n > 1, np.where(s["dep"], all_to_all, allreduce), 0.0) * kernel
    fixed = (f["layer_overhead_s"] * s["layers"] + s["step_overhead_s"]
             + s["sequence_overhead_s"] * batch)
    total = np.maximum(t_memory, t_compute) + t_serial + t_comm + fixed
    serial_memory = np.where(t_attention_memory >= t_attention_compute, t_attention_memory,
                             0.0) + t_other
    return {"t_step": total, "t_memory": t_memory, "t_compute": t_compute,
            "t_serial": t_serial, "t_serial_memory": serial_memory,
            "t_serial_compute": t_serial - serial_memory, "t_comm": t_comm, "t_fixed": fixed}


def prefill_compute_s(s: dict, f: dict, touched: np.ndarray | None = None) -> np.ndarray:
    """Compute time to prefill one request of ``isl`` tokens on the replica (``touched``:
    ``_touched_experts(s, isl)`` where the caller has it)."""
    isl = s["isl"]
    dense_flops, expert_flops = _gemm_flops(s, f, isl, touched)
    flops = (dense_flops + expert_flops
             + 2 * s["attention_layers"] * isl**2 * s["attn_width"]
             * chunked_attention_factors(s)["prefill"] / f["eta_attention"])
    peak = s["peak_flops"] * f["eta_prefill"] * _math_efficiency(s, f)
    return flops / s["num_gpus"] / (peak * moe_efficiency(s, f)) * s["kernel_factor"]


def prefill_comm_s(s: dict, f: dict) -> np.ndarray:
    """Tensor-parallel all-reduce (or DEP all-to-all) time of one request's prefill."""
    n = s["num_gpus"]
    ring = 2 * (n - 1) / n
    per_token = np.where(s["dep"], 2 * s["moe_layers"] * (n - 1) / n * s["experts_active"],
                         2 * s["layers"] * ring)
    return (np.where(n > 1, per_token * s["isl"] * s["hidden"] * ACTIVATION_BYTES
                     / s["link_bw_uni"], 0.0) * s["kernel_factor"])


def prefill_s(s: dict, f: dict, compute: np.ndarray | None = None,
              comm: np.ndarray | None = None, touched: np.ndarray | None = None) -> np.ndarray:
    """Time to first token of an unloaded replica: prefill compute or one weight read, whichever
    is longer, plus its communication and one engine iteration's overhead (``compute``,
    ``comm``, ``touched``: ``prefill_compute_s``, ``prefill_comm_s`` and the experts ``isl``
    tokens touch, where the caller has them: issue 26, each was computed twice)."""
    n = s["num_gpus"]
    touched = _touched_experts(s, s["isl"]) if touched is None else touched
    weight_bytes = (s["shared_params"] + s["expert_params"] * touched) * s["bytes_per_weight"]
    t_memory = weight_bytes / n / (s["hbm_bw"] * f["eta_bw"]) * s["kernel_factor"]
    latency = np.where(n > 1, 2 * s["layers"] * collective_latency_s(f, n, s), 0.0)
    compute = prefill_compute_s(s, f, touched) if compute is None else compute
    comm = prefill_comm_s(s, f) if comm is None else comm
    return (np.maximum(compute, t_memory) + comm + latency
            + f["layer_overhead_s"] * s["layers"] + s["step_overhead_s"])


def gpu_power_fraction(f: dict, memory_busy: np.ndarray, compute_busy: np.ndarray) -> np.ndarray:
    """GPU draw / TDP: static, plus HBM traffic, plus tensor-core work; at most TDP."""
    return np.minimum(1.0, f["power_static"] + f["power_memory"] * memory_busy
                      + f["power_compute"] * compute_busy)


def evaluate(s: dict, f: dict, reasons: bool = True,
             keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Every output of the model for gathered specs ``s`` and per-row factors ``f``.

    Rows that cannot run (zero peak FLOP/s for an unsupported precision, no KV room) produce
    inf/NaN internally; they are masked to NaN with ``fits`` False and a ``reason`` (None
    for every row with ``reasons`` False).
    """
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _evaluate(s, f, reasons, keys)


def _evaluate(s: dict, f: dict, reasons: bool = True,
              keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    fit = memory_fit(s, f, reasons)
    # The engine's batch limit and its token budget per step set the batch of the offline
    # (max-throughput) regime; a given concurrency is bounded by memory only.
    cap = np.minimum(np.minimum(fit["max_batch_memory"], f["max_batch"]),
                     token_budget_batch(s))
    batch = np.where(np.isfinite(s["concurrency"]),
                     np.minimum(s["concurrency"], fit["max_batch_memory"]), cap)
    batch = np.maximum(batch, 1.0)
    s = speculation_at_batch(s, batch)
    step = decode_step_s(s, f, batch)
    touched_isl = _touched_experts(s, s["isl"])
    prefill_compute = prefill_compute_s(s, f, touched_isl)
    prefill_comm = prefill_comm_s(s, f)
    t_prefill = prefill_s(s, f, prefill_compute, prefill_comm, touched_isl)
    osl = s["osl"]
    steps = osl / s["accepted_tokens"]  # decode steps per sequence (fewer with speculation)
    # In-flight batching mixes prefill chunks into decode steps: over the life of a cohort of B
    # requests the replica is bound by total memory traffic or total compute, whichever is larger.
    # Disaggregated serving (Splitwise, DistServe): prefills run on their own replicas, so the
    # decode steps carry no prefill work (and lose the overlap of prefill compute with
    # memory-bound decode); the prompt's KV cache then crosses the scale-out network.
    split = s["disaggregated"]
    interleaved_compute = np.where(split, 0.0, prefill_compute)
    interleaved_comm = np.where(split, 0.0, prefill_comm)
    memory_time = steps * step["t_memory"]
    decode_compute = steps * step["t_compute"]
    decode_fixed = steps * (step["t_serial"] + step["t_comm"] + step["t_fixed"])
    busy_time = np.maximum(memory_time, decode_compute + batch * interleaved_compute)
    cohort_time = busy_time + decode_fixed + batch * interleaved_comm
    # Replica-seconds per query: the cohort's share, plus the prefill replica's time when split.
    seconds_per_query = cohort_time / batch + np.where(split, prefill_compute + prefill_comm, 0.0)
    # Issue 26: with ``keys`` only those outputs (and what they need) are computed.
    want = (lambda *names: True) if keys is None else (  # noqa: E731
        lambda *names: any(n in keys for n in names))
    out_tok_s = (osl / seconds_per_query
                 if want("out_tok_s_total", "gpu_joules_per_token") else None)
    # Power: the fraction of the time HBM and tensor cores are busy over the cohort (split
    # serving: decode replica and prefill replica, weighted by their time per query).
    decode_total = np.where(split, cohort_time / batch, cohort_time)
    memory_work = memory_time + steps * step["t_serial_memory"]
    memory_busy = np.clip(np.where(split, memory_work / batch, memory_work) / decode_total, 0, 1)
    decode_compute_work = decode_compute + steps * step["t_serial_compute"]
    compute_work = np.where(split, decode_compute_work / batch, decode_compute_work + batch
                            * interleaved_compute)
    compute_busy = np.clip(compute_work / decode_total, 0, 1)
    decode_load = gpu_power_fraction(f, memory_busy, compute_busy)
    prefill_load = gpu_power_fraction(f, np.zeros_like(memory_busy), np.ones_like(memory_busy))
    prefill_share = np.where(split, (prefill_compute + prefill_comm) / seconds_per_query, 0.0)
    gpu_load = prefill_share * prefill_load + (1 - prefill_share) * decode_load
    gpu_power_w = s["tdp_w"] * gpu_load
    host_w = s["host_power_w"]
    node_power_w = host_w + s["gpus_per_node"] * gpu_power_w
    replica_power_w = node_power_w * s["num_gpus"] / s["gpus_per_node"]
    kv_transfer = np.where(split, kv_sequence_bytes(s, s["isl"])
                           / (s["num_gpus"] * s["kv_transfer_bw"]), 0.0)
    ttft_s = (s["server_overhead_s"] + (1 + s["schedule_wait_steps"]) * step["t_step"]
              + t_prefill + kv_transfer)
    # Closed loop at B users: each user's cycle is TTFT + osl x TPOT; the replica's prefill work
    # (compute and communication of one prompt) is a single server fed at B / cycle.
    prefill_busy = np.where(split, 0.0, prefill_compute + prefill_comm)
    if want("ttft_loaded_ms", "out_tok_s_at_concurrency"):
        cycle = ttft_s + cohort_time
        rho_prefill = np.minimum(batch * prefill_busy / cycle, 0.95)
        ttft_loaded_s = (ttft_s + rho_prefill * prefill_busy / (2 * (1 - rho_prefill))
                         + s["closed_loop_burst"] * (batch - 1) / 2 * prefill_busy)
    fits = fit["fits"]
    nan = np.where(fits, 1.0, np.nan)
    outputs = {
        "fits": lambda: fits, "reason": lambda: fit["reason"],
        "batch": lambda: np.where(fits, batch, np.nan),
        "max_batch_memory": lambda: fit["max_batch_memory"],
        "weights_gb_per_gpu": lambda: fit["weights_gb_per_gpu"],
        "kv_capacity_gb": lambda: fit["kv_capacity_gb"],
        "out_tok_s_total": lambda: out_tok_s * nan,
        # Unloaded TTFT: the server's overhead, the scheduling wait behind running decode
        # steps, the prefill (and its KV transfer when split) and the first decode step.
        "ttft_ms": lambda: ttft_s * 1e3 * nan,
        # At the case's concurrency as a closed loop (B users each sending the next request
        # when the last ends): prefills of the B users queue for the replica's prefill work
        # (M/D/1 at the prefill load they bring); throughput B x osl / (TTFT + osl x TPOT).
        "ttft_loaded_ms": lambda: ttft_loaded_s * 1e3 * nan,
        "out_tok_s_at_concurrency": lambda: batch * osl / (ttft_loaded_s + cohort_time) * nan,
        "prefill_busy_s": lambda: prefill_busy * nan,
        "tpot_ms": lambda: (cohort_time / osl) * 1e3 * nan,
        # Parts of the cohort time, so that TPOT can be recomputed against another prefill mix
        # (see ``mixed_tpot_ms``).
        "decode_memory_s": lambda: memory_time * nan,
        "decode_compute_s": lambda: decode_compute * nan,
        "decode_fixed_s": lambda: decode_fixed * nan,
        "interleaved_prefill_compute_s": lambda: interleaved_compute * nan,
        "interleaved_prefill_comm_s": lambda: interleaved_comm * nan,
        "decode_step_ms": lambda: step["t_step"] * 1e3 * nan,
        "prefill_ms": lambda: t_prefill * 1e3 * nan,
        "bound": lambda: np.where(step["t_compute"] + step["t_serial_compute"]
                                  > step["t_memory"] + step["t_serial_memory"], "compute",
                                  "memory"),
        "gpu_power_w": lambda: gpu_power_w * nan,
        "node_power_kw": lambda: node_power_w / 1e3 * nan,
        "replica_power_kw": lambda: replica_power_w / 1e3 * nan,
        "node_seconds_per_query": lambda: (seconds_per_query * s["num_gpus"]
                                           / s["gpus_per_node"] * nan),
        "wh_per_query": lambda: replica_power_w * seconds_per_query / 3600.0 * nan,
        "gpu_joules_per_token": lambda: gpu_power_w * s["num_gpus"] / out_tok_s * nan,
    }
    return {k: value() for k, value in outputs.items() if keys is None or k in keys}


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
    specs = gather_specs(cases, catalog, file=file, calibration=calibration)
    factors = factor_arrays(specs["family"], calibration, specs["kind"], specs["engine"])
    result = evaluate(specs, factors)
    # At a given concurrency the user sees the loaded TTFT (the B users' prefills queue).
    loaded = np.isfinite(specs["concurrency"])
    result["ttft_unloaded_ms"] = result["ttft_ms"]
    result["ttft_ms"] = np.where(loaded, result["ttft_loaded_ms"], result["ttft_ms"])
    result["concurrency_over_memory"] = loaded & (specs["concurrency"]
                                                  > result["max_batch_memory"])
    columns = {f"{key}_id": specs[key] for key in ("model", "hardware", "precision")}
    columns["engine_id"] = specs["engine"]
    columns.update(result)
    columns["model_kind"] = specs["kind"]
    columns["uncertainty_pct"] = np.where(result["fits"], factors["uncertainty_pct"], np.nan)
    columns["calibrated"] = factors["calibrated"]
    # Text results stay object arrays (pandas would otherwise copy them into Arrow strings).
    added = pd.DataFrame({k: (pd.Series(v, index=cases.index, dtype=object)
                              if getattr(v, "dtype", None) == object else v)
                          for k, v in columns.items()}, index=cases.index)
    return pd.concat([cases.drop(columns=[c for c in added.columns if c in cases.columns]),
                      added], axis=1)
