"""Measured datasets shipped with the package, as cases the performance model can predict.

Each loader returns one row per measurement with the case columns (model, hardware, precision,
num_gpus, isl, osl, concurrency, engine, parallelism), the measured values it has
(``measured_tok_s``, ``measured_gpu_power_w``, ``measured_j_per_token``) and ``dataset``,
``source``. Rows of models or hardware outside the catalog are kept with ``in_catalog`` False
(reported, never fit on).

- ``trtllm``: TensorRT-LLM max-throughput tables (trtllm-bench, offline, output tokens/s of the
  whole replica); the public Hopper/Ampere/Ada table and the Blackwell/MoE table.
- ``mlenergy``: ML.ENERGY Benchmark v3 (vLLM 0.11.1, H100 and B200): output tokens/s, GPU power
  summed over the replica's GPUs (NVML) and J/token, at each max batch size (the running batch
  is the reported average batch).
- ``mlperf_power``: MLPerf Inference Power (TensorRT, 8-GPU servers): whole-server AC wall power.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.catalog import data_path
from planner.catalog.loaders import load_catalog
from planner.errors import InputError

TRTLLM_TABLES = ("benchmarks/trtllm_throughput.csv",
                 "benchmarks/trtllm_throughput_blackwell_moe.csv")
MLENERGY_TABLE = "benchmarks/mlenergy_v3.csv"
MLPERF_POWER_TABLE = "benchmarks/mlperf_power.csv"
# ML.ENERGY does not report prompt lengths: a typical prompt of each task [assumed]. Outputs are
# hundreds to thousands of tokens, so the decode-bound results move little with these.
MLENERGY_TASK_ISL = {"lm-arena-chat": 200.0, "gpqa": 250.0, "sourcegraph-fim": 1000.0}
# gpt-oss checkpoints are MXFP4: TensorRT-LLM's "FP8" label on Hopper names its activations.
MXFP4_CHECKPOINTS = ("gpt-oss-20b", "gpt-oss-120b")
# Table versions whose MoE rows ran attention data parallel + expert parallel although the table
# labels them "TP n": the v1.0 perf overview's recipe for MoE models is
# ``trtllm-bench --tp $tp_size --ep $ep_size`` with ``enable_attention_dp: true`` in its
# llm_options.yml (NVIDIA/TensorRT-LLM docs/source/performance/perf-overview.md @00f37686, the
# v1.0 edition, "For MoE models"); from v1.1 the tables name it (DEP n) and the release-1.2
# edition sets ``enable_attention_dp: true`` for Qwen3 MoE and Llama 4 Maverick. The v0.17-v0.21
# editions give no such recipe: their MoE rows stay tensor parallel.
ATTENTION_DP_MOE_VERSIONS = ("v1.0",)
# Table versions that ran chunked attention on a model's chunked layers (planner.perf.chunked):
# chunked attention in the generation phase was enabled by default by NVIDIA/TensorRT-LLM PR 4693
# (2025-05-27) and shipped in 0.21 ("Added support for chunked attention on Blackwell and Hopper";
# its known issue: "full chunked attention support has been added to make sure LLaMA4 model can
# functionally run with > 8K seq length": docs/source/release-notes.md, TensorRT-LLM Release
# 0.21.0); the v0.20 rows ran full attention.
CHUNKED_ATTENTION_VERSIONS = ("v0.21", "v1.0", "v1.1+")


def _read(name: str) -> pd.DataFrame:
    path = data_path(name)
    try:
        return pd.read_csv(path)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(f"cannot read dataset: {exc}", file=str(path)) from None


def _numeric(table: pd.DataFrame, column: str, file: str, positive: bool = True) -> np.ndarray:
    """A numeric column; a cell that is not a (positive) number names file, row and column."""
    values = pd.to_numeric(table[column], errors="coerce").to_numpy(float)
    bad = ~np.isfinite(values) | ((values <= 0) if positive else False)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("not a positive number", file=file, field=f"row {i + 2}.{column}",
                         value=table[column].iloc[i], has_value=True)
    return values


def _parallelism(text: pd.Series, file: str) -> tuple[np.ndarray, np.ndarray]:
    """'TP8' -> ('tp', 8); 'DEP4' -> ('dep', 4)."""
    parsed = text.astype(str).str.upper().str.extract(r"^(TP|DEP|EP)(\d+)$")
    bad = parsed[0].isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError("parallelism must look like TP8 or DEP4", file=file,
                         field=f"row {i + 2}.parallelism", value=text.iloc[i], has_value=True)
    kind = np.where(parsed[0] == "TP", "tp", "dep")
    return kind, parsed[1].astype(float).to_numpy()


def known(resolver, name) -> bool:
    """Whether a catalog resolver (``catalog.model_id``, ...) accepts ``name``."""
    try:
        resolver(name)
        return True
    except InputError:
        return False


def _mark_catalog(cases: pd.DataFrame) -> pd.DataFrame:
    catalog = load_catalog()
    ok = np.ones(len(cases), bool)
    for column, resolver in (("model", catalog.model_id), ("hardware", catalog.hardware_id),
                             ("precision", catalog.precision_id)):
        names = {n: known(resolver, n) for n in pd.unique(cases[column].astype(str))}
        ok &= cases[column].astype(str).map(names).to_numpy(bool)
    cases["in_catalog"] = ok
    ids = {n: (catalog.model_id(n) if known(catalog.model_id, n) else "")
           for n in pd.unique(cases["model"].astype(str))}
    cases["model_id"] = cases["model"].astype(str).map(ids)
    return cases


def trtllm_rows() -> pd.DataFrame:
    """Every shipped TensorRT-LLM max-throughput row as a case with ``measured_tok_s``."""
    frames = []
    for name in TRTLLM_TABLES:
        table = _read(name)
        file = str(data_path(name))
        kind, size = _parallelism(table["parallelism"], file)
        num_gpus = _numeric(table, "num_gpus", file)
        frames.append(pd.DataFrame({
            "dataset": "trtllm", "table": name.split("/")[-1], "version": table["version"],
            "model": table["model"], "hardware": table["gpu"], "precision": table["precision"],
            "num_gpus": num_gpus, "parallelism": kind, "isl": _numeric(table, "isl", file),
            "osl": _numeric(table, "osl", file), "concurrency": np.nan, "engine": "trtllm",
            "measured_tok_s": _numeric(table, "out_tok_s_total", file),
            "measured_gpu_power_w": np.nan, "measured_j_per_token": np.nan,
            "source": f"TensorRT-LLM performance overview {name.split('/')[-1]}"}))
    cases = _mark_catalog(pd.concat(frames, ignore_index=True))
    mxfp4 = cases["model_id"].isin(MXFP4_CHECKPOINTS)
    cases.loc[mxfp4, "precision"] = "fp4"
    chunked = cases["version"].astype(str).isin(CHUNKED_ATTENTION_VERSIONS)
    return attention_dp_moe(cases.assign(chunked_attention=chunked.to_numpy()))


def attention_dp_moe(cases: pd.DataFrame) -> pd.DataFrame:
    """The MoE rows of the ``ATTENTION_DP_MOE_VERSIONS`` tables as what ran: attention data
    parallel + expert parallel (``dep``: every GPU holds all non-expert weights and the KV cache
    of its own sequences), not the "TP n" their table names."""
    experts = load_catalog().models["experts"]
    moe = cases["model_id"].map(experts).fillna(0).to_numpy(float) > 0
    dep = (moe & cases["version"].astype(str).isin(ATTENTION_DP_MOE_VERSIONS).to_numpy()
           & (cases["parallelism"].to_numpy() == "tp") & (cases["num_gpus"].to_numpy() > 1))
    return cases.assign(parallelism=np.where(dep, "dep", cases["parallelism"]))


def mlenergy_rows() -> pd.DataFrame:
    """ML.ENERGY v3 rows as cases with measured tokens/s, GPU power and J/token.

    ``EP n`` with ``DP 1`` is vLLM's expert parallelism over a tensor-parallel attention: the
    same per-GPU weights as TP. ``DP > 1`` (attention data parallel) maps to ``dep``.
    """
    table = _read(MLENERGY_TABLE)
    file = str(data_path(MLENERGY_TABLE))
    dp = _numeric(table, "dp", file)
    tasks = table["task"].astype(str)
    unknown = ~tasks.isin(list(MLENERGY_TASK_ISL))
    if unknown.any():
        i = int(np.flatnonzero(unknown.to_numpy())[0])
        raise InputError(f"unknown task (known: {sorted(MLENERGY_TASK_ISL)})", file=file,
                         field=f"row {i + 2}.task", value=tasks.iloc[i], has_value=True)
    cases = pd.DataFrame({
        "dataset": "mlenergy", "table": "mlenergy_v3.csv", "version": table["engine_version"],
        "model": table["model"], "hardware": table["gpu"], "precision": table["precision"],
        "num_gpus": _numeric(table, "num_gpus", file),
        "parallelism": np.where(dp > 1, "dep", "tp"), "task": tasks,
        "isl": tasks.map(MLENERGY_TASK_ISL).to_numpy(float), "osl": _numeric(table, "osl", file),
        "concurrency": _numeric(table, "avg_batch", file), "engine": table["engine"],
        "measured_tok_s": _numeric(table, "tok_s", file),
        "measured_gpu_power_w": _numeric(table, "gpu_power_w", file),
        "measured_j_per_token": _numeric(table, "j_per_token", file),
        "measured_itl_ms": pd.to_numeric(table.get("median_itl_ms"), errors="coerce"),
        "measured_p99_itl_ms": pd.to_numeric(table.get("p99_itl_ms"), errors="coerce"),
        # vLLM's prompts here (200-1,000 tokens + ~400 out) never reach a chunk of 8,192:
        # full attention is what its chunked layers compute (planner.perf.chunked).
        "chunked_attention": False,
        "source": table["source"]})
    return _mark_catalog(cases)


def mlperf_power_rows() -> pd.DataFrame:
    """MLPerf Power rows (whole-server wall power at the measured offline throughput)."""
    table = _read(MLPERF_POWER_TABLE)
    file = str(data_path(MLPERF_POWER_TABLE))
    return pd.DataFrame({
        "dataset": "mlperf_power", "model": table["model"], "hardware": table["gpu"],
        "precision": table["precision"], "num_gpus": _numeric(table, "num_gpus", file),
        "maxq": table["maxq"].astype(bool), "measured_tok_s": _numeric(table, "tok_s", file),
        "measured_wall_power_w": _numeric(table, "wall_power_w", file),
        "source": table["source"]})


INFERENCEMAX_TABLE = "benchmarks/inferencemax.csv"
# InferenceMAX draws each request's lengths uniformly from 80-100 % of the nominal ISL/OSL: the
# mean request is 0.9 x nominal (its README; the rows state the nominal values).
INFERENCEMAX_LENGTH_FRACTION = 0.9


def inferencemax_rows(table_name: str = INFERENCEMAX_TABLE,
                      dataset: str = "inferencemax") -> pd.DataFrame:
    """SemiAnalysis InferenceMAX serving sweeps (NVIDIA by default, no disaggregation, no
    speculative decoding; the AMD table through ``table_name``) as cases at the measured
    concurrency, engine and engine version, with measured output tokens/s, median TTFT and
    median TPOT. Attention data parallel maps to ``dep``; expert parallel over
    tensor-parallel attention keeps TP's per-GPU weights (``tp``)."""
    table = _read(table_name)
    file = str(data_path(table_name))
    dp_attention = table["dp_attention"].astype(str).str.lower() == "true"
    cases = pd.DataFrame({
        "dataset": dataset, "table": table_name.rsplit("/", 1)[-1],
        "version": table["engine"] + " " + table["engine_version"].astype(str),
        "model": table["model"], "hardware": table["gpu"], "precision": table["precision"],
        "num_gpus": _numeric(table, "num_gpus", file),
        "parallelism": np.where(dp_attention, "dep", "tp"),
        "isl": _numeric(table, "isl", file) * INFERENCEMAX_LENGTH_FRACTION,
        "osl": _numeric(table, "osl", file) * INFERENCEMAX_LENGTH_FRACTION,
        "nominal_isl": table["isl"], "nominal_osl": table["osl"],
        "concurrency": _numeric(table, "concurrency", file), "engine": table["engine"],
        "engine_version": table["engine_version"].astype(str),
        "measured_tok_s": _numeric(table, "out_tok_s_total", file),
        "measured_ttft_ms": _numeric(table, "median_ttft_ms", file),
        "measured_tpot_ms": _numeric(table, "median_tpot_ms", file),
        "measured_gpu_power_w": np.nan, "measured_j_per_token": np.nan,
        "source": table["source"]})
    return _mark_catalog(cases)
