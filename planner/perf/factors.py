"""Efficiency factors per hardware family: what the roofline cannot know and calibration fits.

Each family gets: achieved fraction of HBM bandwidth (``eta_bw``), of peak tensor FLOP/s in
decode (``eta_decode``) and in prefill (``eta_prefill``), the extra efficiency loss of
mixture-of-experts layers (``eta_moe``: small grouped GEMMs, routing imbalance), of attention
over the context relative to dense GEMMs (``eta_attention``: KV reads and attention FLOPs), a fixed overhead per layer and engine step
(``layer_overhead_s``: kernel launches, scheduling), a latency per tensor-parallel all-reduce (``allreduce_latency_s``) and the
largest in-flight batch the serving engine schedules (``max_batch``). Families without benchmark
rows use the ``default`` entry, fit on all rows pooled, with the leave-one-family-out error as
their stated uncertainty.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from planner.catalog import data_path
from planner.errors import InputError

CALIBRATION_FILE = "calibration.json"
FACTOR_NAMES = ("eta_bw", "eta_decode", "eta_prefill", "eta_moe", "eta_attention", "layer_overhead_s",
                "allreduce_latency_s", "max_batch", "moe_tile_tokens", "token_layer_passes",
                "eta_weight_only")
# GPU power as a fraction of TDP: static + memory traffic + tensor-core work (fit on ML.ENERGY).
POWER_NAMES = ("power_static", "power_memory", "power_compute")
# Board power the family's silicon draws at full tensor-core load at its rated clock (W); a GPU
# whose TDP is lower sustains its math at TDP / this of the rated peak (power-limited clocks:
# one number per family, the TDP a catalog fact per GPU). 0: the rated peak holds at the TDP.
# ``power_w_per_tflop``: the same board power at full tensor load and rated clock, per dense
# BF16 TFLOP/s of the GPU's rated peak (tensor-core silicon x clock): a sourced fact of the
# TSMC 4N/4NP node (techniques.csv), 0 on other nodes; used where ``power_at_peak_w`` is 0.
CAP_NAMES = ("power_at_peak_w", "power_w_per_tflop")
# Physical bounds of each factor (used as optimizer bounds and as sanity checks on load).
FACTOR_BOUNDS = {
    "eta_bw": (0.2, 0.95),  # no HBM sustains more than about 90-95 % of its peak
    "eta_decode": (0.05, 1.0),
    "eta_prefill": (0.05, 1.0),
    "eta_moe": (0.2, 1.0),
    "eta_attention": (0.1, 1.0),
    "layer_overhead_s": (1e-7, 1e-3),
    "allreduce_latency_s": (1e-7, 1e-3),
    "max_batch": (8.0, 8192.0),
    # Rows of a grouped-GEMM tile: an expert that receives fewer tokens still costs a tile.
    "moe_tile_tokens": (1.0, 256.0),
    # Non-GEMM memory passes over a token's hidden vector per layer (norms, activations, RoPE,
    # residuals, and per routed expert: routing, permutation, combine).
    "token_layer_passes": (0.0, 200.0),
    # Tensor-core efficiency of 4-bit weight-only GEMMs (dequantized to BF16 in the kernel)
    # relative to native BF16 ones.
    "eta_weight_only": (0.2, 1.0),
    "power_static": (0.05, 0.9),
    "power_memory": (0.0, 0.9),
    "power_compute": (0.0, 0.9),
    "power_at_peak_w": (0.0, 5000.0),
    "power_w_per_tflop": (0.0, 5.0),
}
# Priors used before any calibration (typical Hopper/TensorRT-LLM values).
PRIOR = {"eta_bw": 0.75, "eta_decode": 0.5, "eta_prefill": 0.6, "eta_moe": 0.8, "eta_attention": 0.7,
         "layer_overhead_s": 2e-5,
         "allreduce_latency_s": 8e-6, "max_batch": 1024.0, "moe_tile_tokens": 16.0,
         "token_layer_passes": 10.0, "eta_weight_only": 0.7, "power_static": 0.45, "power_memory": 0.35,
         "power_compute": 0.3, "power_at_peak_w": 0.0, "power_w_per_tflop": 0.0}


@dataclass(frozen=True)
class FamilyFactors:
    """Calibrated efficiency factors of one hardware family, and the error they were fit with."""

    eta_bw: float
    eta_decode: float
    eta_prefill: float
    eta_moe: float
    eta_attention: float
    layer_overhead_s: float
    allreduce_latency_s: float
    max_batch: float
    moe_tile_tokens: float = PRIOR["moe_tile_tokens"]
    token_layer_passes: float = PRIOR["token_layer_passes"]
    eta_weight_only: float = PRIOR["eta_weight_only"]
    power_static: float = PRIOR["power_static"]
    power_memory: float = PRIOR["power_memory"]
    power_compute: float = PRIOR["power_compute"]
    power_at_peak_w: float = PRIOR["power_at_peak_w"]
    power_w_per_tflop: float = PRIOR["power_w_per_tflop"]
    mape_pct: float = float("nan")  # in-sample error on the family's benchmark rows
    uncertainty_pct: float = float("nan")  # stated uncertainty of a prediction with these
    # Held-out throughput error per model kind (80th percentile of |error|): what a prediction
    # of that kind of model on this family can expect; falls back to ``uncertainty_pct``.
    uncertainty_by_kind: dict = field(default_factory=dict)
    power_mape_pct: float = float("nan")
    power_rows: int = 0
    n_rows: int = 0
    fitted_on: str = ""

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, n) for n in FACTOR_NAMES], dtype=float)

    def uncertainty_for(self, kind: str, engine: str | None = None) -> float:
        """Stated error of a prediction of this kind of model (on ``engine`` where its own
        held-out error was measured; else the reference engine's)."""
        if engine is not None and f"{kind}@{engine}" in self.uncertainty_by_kind:
            return float(self.uncertainty_by_kind[f"{kind}@{engine}"])
        return float(self.uncertainty_by_kind.get(kind, self.uncertainty_pct))


@dataclass(frozen=True)
class EngineFactors:
    """What a serving engine changes against the TensorRT-LLM reference the families are fit
    on: GPU kernel time (a multiplier of every kernel's time) and a fixed time per engine step
    (scheduling, sampling and Python work between kernels)."""

    kernel_time_factor: float = 1.0
    step_overhead_s: float = 0.0
    # CPU time per running sequence per step (scheduling, sampling and output processing that
    # the engine does per request between kernels).
    sequence_overhead_s: float = 0.0
    # Multiplier of the time of the routed-expert GEMMs and their weight reads (the engine's
    # grouped-GEMM / fused-MoE kernels against TensorRT-LLM's on the same GPU).
    moe_kernel_factor: float = 1.0
    # The MoE kernel factor of FP4 experts on a GPU with FP4 tensor cores, where the engine
    # runs them through other kernels than its own fused MoE; NaN: ``moe_kernel_factor``.
    # vLLM on Blackwell (SM100) runs MXFP4 MoE layers through FlashInfer's TensorRT-LLM-gen
    # kernels by default (vllm-project/vllm@afdb4a4, vllm/model_executor/layers/quantization/
    # mxfp4.py, get_mxfp4_backend: SM100 + FlashInfer -> SM100_FI_MXFP4_BF16), i.e. the
    # reference engine's MoE kernels: 1.0 (issue 22). On Hopper FP4 is weight-only (Triton /
    # Marlin, vLLM's own kernels) and keeps ``moe_kernel_factor``.
    fp4_moe_kernel_factor: float = float("nan")
    # Multiplier of ``moe_kernel_factor`` on FP8 experts whose checkpoint scales the weights per
    # 128x128 block (weight_scaling.csv): vLLM runs them through its Triton fused-MoE kernel
    # with block-wise scales (or DeepGEMM where installed and the shape fits:
    # vllm-project/vllm vllm/model_executor/layers/fused_moe/triton_deep_gemm_moe.py,
    # TritonOrDeepGemmExperts; fused_moe.py, fused_moe_kernel's block_shape path), not the
    # per-tensor FP8 path of the ModelOpt checkpoints the reference tables ran. Without a tuned
    # config for the device and shape, the Triton kernel's block-FP8 default tiles 64 token
    # rows by the 128x128 scale block (fused_moe.py get_default_config), against 16 rows for
    # unquantized experts at M <= E, and reloads a scale per K block. Fit per engine and
    # family on the engine's own rows; NaN: 1.
    block_fp8_moe_kernel_factor: float = float("nan")
    # Whether the engine's KV cache holds only the window of sliding-window layers (vLLM's
    # hybrid KV cache manager) or reserves the whole sequence in every layer (TensorRT-LLM's
    # trtllm-bench tables: assumed from their measured batch at long contexts).
    sliding_window_kv: bool = False
    # Tokens the engine schedules in one step (decode tokens plus prefill chunks):
    # TensorRT-LLM's and vLLM's default max_num_tokens / max_num_batched_tokens. It bounds the
    # offline regime's batch (``planner.perf.model.token_budget_batch``).
    max_num_tokens: float = 8192.0
    # Latency side (issue 22), fit on serving measurements (InferenceMAX, ML.ENERGY ITL); NaN /
    # 0 leave the family's physics as fit on the max-throughput tables.
    # Latency of one small-message all-reduce step (the engine's own one-shot / custom
    # all-reduce over NVLink at batch 1-64): replaces the family's ``allreduce_latency_s``,
    # which the max-throughput tables fit amortised over thousands of sequences.
    allreduce_latency_s: float = float("nan")
    # The server's own time in a TTFT: HTTP, tokenization, scheduling of the first step, the
    # detokenized first token (per request).
    server_overhead_s: float = 0.0
    # Decode steps a new request waits behind before its prefill is scheduled (continuous
    # batching with chunked prefill: on average part of the running step, up to one).
    schedule_wait_steps: float = 0.0
    # Closed-loop benchmarks (B users, each sending its next request when the last ends, with
    # similar lengths) keep their users in step: the fraction of the other users' prompts a
    # request's prefill queues behind, as (B - 1) / 2 x fraction prompts. Serving sweeps only;
    # Poisson traffic has no such term (the planner's queueing model covers it).
    closed_loop_burst: float = 0.0
    # The tail of the token interval (issue 25, ``planner.perf.tail``), fit per family on
    # ML.ENERGY's P99 ITL: a step carrying a prefill chunk pays this multiple of the chunk's
    # prefill time and this much per layer (outside the decode step's captured graph); a plain
    # step's P99 is 1 + ``tail_step_jitter`` of its time. Defaults: the chunk at its roofline.
    mixed_prefill_factor: float = 1.0
    mixed_step_layer_s: float = 0.0
    tail_step_jitter: float = 0.0
    version: str = ""  # the engine version the factors were fit on ("" = as published tables)
    fitted_on: str = "reference engine (the throughput factors are fit on it)"
    mape_pct: float = float("nan")
    n_rows: int = 0
    # Serving-latency errors on the rows fit (MAPE %), per metric: tpot, ttft, throughput.
    latency_mape_pct: dict = field(default_factory=dict)


REFERENCE_ENGINE = "trtllm"
ENGINE_BOUNDS = {"kernel_time_factor": (0.5, 3.0), "step_overhead_s": (0.0, 0.05),
                 "moe_kernel_factor": (0.25, 5.0), "block_fp8_moe_kernel_factor": (0.5, 4.0),
                 "sequence_overhead_s": (0.0, 1e-3), "max_num_tokens": (256.0, 1e6),
                 "server_overhead_s": (0.0, 1.0), "schedule_wait_steps": (0.0, 4.0),
                 "closed_loop_burst": (0.0, 1.0)}
# Names as published (InferenceMAX's ``framework``, images, instance files) -> engine ids.
ENGINE_ALIASES = {"trt": "trtllm", "tensorrt-llm": "trtllm", "tensorrt_llm": "trtllm",
                  "trt-llm": "trtllm", "tensorrtllm": "trtllm", "vllm": "vllm",
                  "sglang": "sglang", "atom": "atom", "rocm/atom": "atom",
                  # ROCm builds keep the engine's id; the build is in its version string
                  # (``0.9.0.2.dev108+g71faa1880.rocm641``, image ``...-rocm700-mi30x``).
                  "vllm-rocm": "vllm", "rocm/vllm": "vllm", "sglang-rocm": "sglang",
                  "lmsysorg/sglang": "sglang"}
VERSION_SEP = ":"  # engine id with its version: ``vllm:0.13.0``
# A family with no released rows -> the calibrated family whose factors (and engine fits) it
# extends with its own spec sheet (issue 25: CDNA4 / MI355X from CDNA3).
FAMILY_PARENT = {"cdna4": "cdna3"}
# Engines built for one vendor's GPUs only (TensorRT-LLM is CUDA-only), and the AMD families.
CUDA_ONLY_ENGINES = frozenset({"trtllm"})
AMD_FAMILIES = frozenset({"cdna3", "cdna4"})


def runs_on(engine: str, family: str) -> bool:
    """Whether an engine runs on a hardware family (TensorRT-LLM: NVIDIA only)."""
    return not (engine_name(str(engine).split(VERSION_SEP)[0]) in CUDA_ONLY_ENGINES
                and family in AMD_FAMILIES)


def is_reference_engine(engines) -> np.ndarray:
    """Per row: whether the engine id (``trtllm`` or ``trtllm:<version>``) is TensorRT-LLM,
    whose own sources the engine-specific physics cite (its MoE workspace, its MMHA fallback)."""
    base = np.array([str(e).split(VERSION_SEP)[0] for e in np.ravel(engines)], dtype=object)
    return (base == REFERENCE_ENGINE).reshape(np.shape(engines))


def engine_name(name: str) -> str:
    """An engine's id from its published name (``TensorRT-LLM`` -> ``trtllm``)."""
    key = str(name).strip().lower()
    return ENGINE_ALIASES.get(key, key)


def version_tuple(version: str) -> tuple:
    """``1.2.0rc2`` -> (1, 2, 0, -1, 2): numeric parts first, a pre-release below its release."""
    import re

    text = str(version).strip().lower().lstrip("v")
    parts = [int(p) for p in re.findall(r"\d+", text.split("rc")[0].split("post")[0])][:3]
    parts += [0] * (3 - len(parts))
    rc = re.search(r"rc(\d+)", text)
    return (*parts, -1 if rc else 0, int(rc.group(1)) if rc else 0)


@dataclass(frozen=True)
class Calibration:
    """Factors per family plus the pooled default, per engine, and the node's non-GPU power,
    with provenance."""

    families: dict[str, FamilyFactors]
    default: FamilyFactors
    provenance: dict
    engines: dict[str, EngineFactors] = field(
        default_factory=lambda: {REFERENCE_ENGINE: EngineFactors()})
    # Non-GPU node power (CPUs, fans, NICs, PSU losses) under load, as a fraction of the node's
    # rated power left after its GPUs' TDP (fit on MLPerf Power wall measurements).
    host_power_fraction: float = 0.5
    host_power_note: str = "prior"

    def versions(self, name: str) -> list[str]:
        """The measured versions of an engine, oldest first."""
        prefix = name + VERSION_SEP
        found = {k.split("@")[0][len(prefix):] for k in self.engines if k.startswith(prefix)}
        return sorted(found, key=version_tuple)

    def resolve_engine(self, name: str, version: str | None = None) -> str:
        """The calibrated engine id of a name as published and an optional version: the exact
        version where it was measured, else the nearest measured version of that engine (an
        unknown newer one gets the newest); no version: the engine as its max-throughput and
        energy tables measure it (``trtllm``: TensorRT-LLM's tables; ``vllm``: ML.ENERGY v3),
        or, for an engine known only from serving sweeps (``sglang``), its newest version."""
        name = engine_name(name)
        measured = self.versions(name)
        version = "" if version is None else str(version).strip().lower().lstrip("v")
        if version in ("", "nan", "none") or not measured:
            if name in self.engines or not measured:
                return name
            return name + VERSION_SEP + measured[-1]
        if version in measured:
            return name + VERSION_SEP + version
        key = version_tuple(version)
        if key >= version_tuple(measured[-1]):
            return name + VERSION_SEP + measured[-1]
        if key <= version_tuple(measured[0]):
            return name + VERSION_SEP + measured[0]
        # Between two measured versions: the nearer (major, minor, patch weighted 1e4/1e2/1).
        after = next(i for i, v in enumerate(measured) if version_tuple(v) > key)
        target = np.array(key[:3], float)
        distance = [float(np.abs(np.array(version_tuple(v)[:3], float) - target)
                          @ np.array([1e4, 1e2, 1.0])) for v in measured[after - 1:after + 1]]
        return name + VERSION_SEP + measured[after - 1 + int(np.argmin(distance))]

    def engine(self, name: str, family: str | None = None) -> EngineFactors:
        """An engine's factors on a hardware family (``engine@family`` where that pair was fit,
        else the engine's pooled factors). ``name`` may carry a version (``vllm:0.13.0``)."""
        versioned = VERSION_SEP in name
        if versioned:
            base, version = name.split(VERSION_SEP, 1)
            name = self.resolve_engine(base, version)
        else:
            base = engine_name(name)
            name = self.resolve_engine(name)
        for fam in ([family, FAMILY_PARENT.get(family)] if family is not None else []):
            if fam is None:
                continue
            if f"{name}@{fam}" in self.engines:
                return self.engines[f"{name}@{fam}"]
            if not versioned:
                # No version asked: the newest version measured on this family (an engine's
                # ROCm build is measured on AMD only: SGLang 0.5.5.post3 on CDNA3).
                mine = [v for v in self.versions(base)
                        if f"{base}{VERSION_SEP}{v}@{fam}" in self.engines]
                if mine:
                    return self.engines[f"{base}{VERSION_SEP}{mine[-1]}@{fam}"]
        try:
            return self.engines[name]
        except KeyError:
            known = ", ".join(sorted({k.split("@")[0] for k in self.engines}))
            raise InputError(f"unknown engine (calibrated engines: {known})", field="engine",
                             value=name, has_value=True) from None

    def for_family(self, family: str) -> FamilyFactors:
        return self.families.get(family, self.default)

    def is_calibrated(self, family: str) -> bool:
        """Fit on the family's own rows (a family extrapolated from another's fit and its spec
        sheet, as CDNA4 from CDNA3, is not)."""
        return (family in self.families
                and not self.families[family].fitted_on.startswith("extrapolated"))

    def to_json(self) -> dict:
        return {"families": {k: asdict(v) for k, v in self.families.items()},
                "default": asdict(self.default), "provenance": self.provenance,
                "engines": {k: asdict(v) for k, v in self.engines.items()},
                "host_power_fraction": self.host_power_fraction,
                "host_power_note": self.host_power_note}

    @classmethod
    def from_json(cls, data: dict, file: str | None = None) -> "Calibration":
        try:
            families = {k: FamilyFactors(**v) for k, v in data["families"].items()}
            default = FamilyFactors(**data["default"])
            engines = {k: EngineFactors(**v) for k, v in
                       data.get("engines", {REFERENCE_ENGINE: {}}).items()}
        except (KeyError, TypeError) as exc:
            raise InputError(f"malformed calibration file: {exc}", file=file) from exc
        for name, factors in {**families, "default": default}.items():
            for factor, (lo, hi) in FACTOR_BOUNDS.items():
                value = getattr(factors, factor)
                if not lo <= value <= hi:
                    raise InputError(f"factor outside its physical range [{lo}, {hi}]", file=file,
                                     field=f"{name}.{factor}", value=value, has_value=True)
        for name, engine in engines.items():
            for factor, (lo, hi) in ENGINE_BOUNDS.items():
                value = getattr(engine, factor)
                if np.isnan(value):
                    continue
                if not lo <= value <= hi:
                    raise InputError(f"engine factor outside its physical range [{lo}, {hi}]",
                                     file=file, field=f"engines.{name}.{factor}", value=value,
                                     has_value=True)
        return cls(families, default, data.get("provenance", {}), engines,
                   float(data.get("host_power_fraction", 0.5)),
                   str(data.get("host_power_note", "prior")))


def prior_calibration() -> Calibration:
    """Uncalibrated priors, for use before ``planner calibrate`` has ever run."""
    prior = FamilyFactors(**PRIOR, fitted_on="prior (uncalibrated)")
    return Calibration({}, prior, {"note": "uncalibrated priors"})


def load_calibration(path: Path | str | None = None) -> Calibration:
    """The shipped calibration (cached) or the given file; priors if none was ever written."""
    if path is None:
        return _shipped_calibration()
    path = Path(path)
    if not path.is_file():
        raise InputError("calibration file not found", file=str(path))
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc}", file=str(path)) from exc
    return Calibration.from_json(data, file=str(path))


@lru_cache(maxsize=1)
def _shipped_calibration() -> Calibration:
    path = data_path(CALIBRATION_FILE)
    if not path.is_file():
        return prior_calibration()
    return Calibration.from_json(json.loads(path.read_text()), file=str(path))
