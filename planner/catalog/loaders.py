"""Loaders for the shipped catalog: hardware, models, precisions, each number with its source.

Hardware is stored long (one row per number, each with unit, status and source) and pivoted
here; models and precisions are stored wide with source columns. Tables are cached: the catalog
is read once per process.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
import re

import numpy as np
import pandas as pd

from planner.catalog import data_path
from planner.catalog.aliases import nearest, normalize_name, strip_release_suffixes
from planner.errors import InputError

HARDWARE_NUMERIC = ["bf16_tflops", "fp8_tflops", "fp4_tflops", "hbm_gb", "hbm_tb_s", "link_gb_s",
                    "tdp_w", "gpus_per_node", "node_max_kw", "node_idle_kw", "projected"]

# Names used by the benchmark tables (TensorRT-LLM perf overview, paper table) for catalog ids.
HARDWARE_ALIASES = {
    "b200-sxm-180gb": "b200", "b200-sxm": "b200", "h200-sxm5": "h200-sxm",
    "h100-sxm5-80gb": "h100-sxm", "a100-sxm-80gb": "a100-sxm-80gb", "a100-80gb-sxm4": "a100-sxm-80gb",
    "h100-sxm-80gb": "h100-sxm", "h100": "h100-sxm", "h100-80gb-hbm3": "h100-sxm",
    "h100-sxm5": "h100-sxm",
    "h200-sxm-141gb": "h200-sxm", "h200": "h200-sxm", "h200-140gb-hbm3": "h200-sxm",
    "gh200-480gb": "gh200", "gh200-96gb": "gh200", "gh200-144gb": "gh200",
    "a100-sxm4-80gb": "a100-sxm-80gb", "a100": "a100-sxm-80gb", "a100-80gb": "a100-sxm-80gb",
    "b200-180gb": "b200", "b200-192gb": "b200",
    "gb200-192gb(nvl72)": "gb200", "gb200-nvl72": "gb200", "gb200-192gb": "gb200",
    "b300-288gb": "b300", "gb300-288gb(nvl72)": "gb300", "gb300-nvl72": "gb300",
    "vera-rubin": "rubin", "vr200": "rubin",
    # AMD Instinct names as published (MLPerf system JSONs, InferenceMAX): vendor prefix dropped.
    "mi300x-nps1-spx-192gb-750w": "mi300x", "mi300x-192gb-hbm3": "mi300x", "mi300x-192gb": "mi300x",
    "mi300x-oam": "mi300x", "mi325x-256gb-hbm3e": "mi325x", "mi325x-256gb": "mi325x",
    "mi355x-288gb-hbm3e": "mi355x", "mi355x-288gb": "mi355x",
}
# A system of several accelerator kinds, as MLPerf writes it ("AMD Instinct MI300X 192GB HBM3
# (x32), AMD Instinct MI325X 256GB HBM3e (x16)"): no one hardware id describes it.
MIXED_ACCELERATORS = re.compile(r"\(x\d+\)|,")

PRECISION_ALIASES = {"nvfp4": "fp4", "mxfp4": "fp4", "w4a16": "int4-awq", "int4": "int4-awq",
                     "awq": "int4-awq", "int4_awq": "int4-awq", "float16": "fp16",
                     "bfloat16": "bf16", "e4m3": "fp8", "fp8-e4m3": "fp8", "float8": "fp8",
                     "fp16": "fp16", "half": "fp16", "nvfp4-w4a4": "fp4", "w4a4": "fp4"}


@dataclass(frozen=True)
class Catalog:
    """The three catalog tables, indexed by id."""

    hardware: pd.DataFrame
    hardware_sources: pd.DataFrame
    models: pd.DataFrame
    precisions: pd.DataFrame
    techniques: pd.DataFrame  # serving techniques: (technique, field) -> value, with source
    # KV-cache precision per engine and checkpoint (kv_cache.csv); None: the precision's own.
    kv_cache: pd.DataFrame | None = None
    # How each engine's checkpoint scales its FP8 weights (weight_scaling.csv): ``block128``
    # (128x128 blocks); without a row, per tensor or per channel.
    weight_scaling: pd.DataFrame | None = None

    def technique(self, technique: str, field: str) -> float:
        return float(self.techniques.loc[(technique, field), "value"])

    def hardware_id(self, name: str, *, file: str | None = None, field: str = "hardware") -> str:
        if MIXED_ACCELERATORS.search(str(name)):
            raise InputError("a mixed-accelerator system (several accelerator kinds in one "
                             "submission) has no single hardware id; give each kind's rows "
                             "separately", file=file, field=field, value=name, has_value=True)
        return _resolve(name, self.hardware.index, HARDWARE_ALIASES, "hardware", file, field)

    def model_id(self, name: str, *, file: str | None = None, field: str = "model") -> str:
        from planner.catalog.aliases import MODEL_ALIASES

        return _resolve(name, self.models.index, MODEL_ALIASES, "model", file, field)

    def precision_id(self, name: str, *, file: str | None = None, field: str = "precision") -> str:
        return _resolve(name, self.precisions.index, PRECISION_ALIASES, "precision", file, field)


def _resolve(name: str, known: pd.Index, aliases: dict[str, str], kind: str, file: str | None,
             field: str) -> str:
    key = normalize_name(name)
    for candidate in (key, strip_release_suffixes(key)):
        candidate = aliases.get(candidate, candidate)
        if candidate in known:
            return candidate
    hint = nearest(key, list(known))
    message = f"unknown {kind} id"
    if hint:
        message += f"; nearest known: {', '.join(hint)}"
    raise InputError(message, file=file, field=field, value=name, has_value=True)


# Issue 13: an instance's own hardware and models extend the catalog while its candidates are
# built (planner.problem.measurements.instance_catalog); outside that, the shipped catalog.
_EXTENDED: ContextVar[Catalog | None] = ContextVar("planner_extended_catalog", default=None)


def load_catalog() -> Catalog:
    """The shipped catalog (cached), or the instance-extended one inside ``extended_catalog``."""
    extended = _EXTENDED.get()
    return extended if extended is not None else load_shipped_catalog()


@contextmanager
def extended_catalog(catalog: Catalog | None):
    """Make ``load_catalog()`` return ``catalog`` inside the block (None: no change)."""
    if catalog is None:
        yield
        return
    token = _EXTENDED.set(catalog)
    try:
        yield
    finally:
        _EXTENDED.reset(token)


@lru_cache(maxsize=1)
def load_shipped_catalog() -> Catalog:
    """Read and check the shipped catalog (cached)."""
    long = pd.read_csv(data_path("hardware.csv"))
    wide = long.pivot(index="hardware", columns="field", values="value")
    missing = [c for c in HARDWARE_NUMERIC + ["family"] if c not in wide.columns]
    if missing:
        raise ValueError(f"hardware.csv lacks fields {missing}")
    hardware = wide[["family"]].copy()
    for col in HARDWARE_NUMERIC:
        hardware[col] = pd.to_numeric(wide[col], errors="raise")
    hardware["projected"] = hardware["projected"].astype(bool)
    if long["source"].isna().any():
        raise ValueError("hardware.csv has numbers without a source")
    models = check_models(pd.read_csv(data_path("models.csv")), "models.csv").set_index("model")
    precisions = pd.read_csv(data_path("precisions.csv")).set_index("precision")
    for name, table, cols in (("precisions.csv", precisions, ["source", "quality_source"]),):
        if table[cols].isna().any().any():
            raise ValueError(f"{name} has rows without a source")
    techniques = pd.read_csv(data_path("techniques.csv")).set_index(["technique", "field"])
    if techniques["source"].isna().any():
        raise ValueError("techniques.csv has numbers without a source")
    kv_cache = check_kv_cache(pd.read_csv(data_path("kv_cache.csv")), precisions.index,
                              "kv_cache.csv")
    scaling = check_kv_cache(pd.read_csv(data_path("weight_scaling.csv")), precisions.index,
                             "weight_scaling.csv", value="weight_scaling")
    return Catalog(*(_object_strings(t) for t in (hardware, long, models, precisions)),
                   techniques, kv_cache, scaling)


# The weight scalings weight_scaling.csv may name (only ``block128`` changes the model; the
# others say so explicitly where a row is wanted).
WEIGHT_SCALINGS = ("block128", "per_tensor", "per_channel")


def check_kv_cache(table: pd.DataFrame, precisions: pd.Index, file: str,
                   value: str = "kv_cache") -> pd.DataFrame:
    """Refuse a checkpoint row (kv_cache.csv, weight_scaling.csv) without a checkpoint or a
    source, naming an unknown precision, or (weight_scaling.csv) an unknown scaling, which
    would otherwise count silently as not block-scaled."""
    required = ["engine", "model", "precision", "families", value, "checkpoint", "source"]
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(f"missing columns {missing}", file=file)
    for i, row in table.reset_index(drop=True).iterrows():
        for column in required:
            if pd.isna(row[column]) or not str(row[column]).strip():
                raise InputError("no value (every row names its checkpoint and source)",
                                 file=file, field=f"row {i + 2}.{column}")
        for column in ("precision", value) if value == "kv_cache" else ("precision",):
            if row[column] not in precisions:
                raise InputError("unknown precision id", file=file,
                                 field=f"row {i + 2}.{column}", value=row[column],
                                 has_value=True)
        if value != "kv_cache" and row[value] not in WEIGHT_SCALINGS:
            raise InputError(f"unknown weight scaling (one of {', '.join(WEIGHT_SCALINGS)})",
                             file=file, field=f"row {i + 2}.{value}", value=row[value],
                             has_value=True)
    return table.astype(object)


def kv_cache_precision(catalog: Catalog, models: np.ndarray, precisions: np.ndarray,
                       engines: np.ndarray, families: np.ndarray) -> np.ndarray:
    """The KV cache's precision id per case, from kv_cache.csv: the engine's most specific row
    for (model, precision, hardware family) (a named model before ``*``, a named family before
    ``*``); without a row, the precision's own KV element (precisions.csv)."""
    return _checkpoint_fact(catalog.kv_cache, "kv_cache", models, precisions, engines,
                            families, np.asarray(precisions, dtype=object).copy())


def block_scaled_fp8(catalog: Catalog, models: np.ndarray, precisions: np.ndarray,
                     engines: np.ndarray, families: np.ndarray) -> np.ndarray:
    """Whether each case's checkpoint scales its FP8 weights per 128x128 block
    (weight_scaling.csv: ``block128``), as the engine's most specific row says."""
    out = _checkpoint_fact(catalog.weight_scaling, "weight_scaling", models, precisions,
                           engines, families, np.full(len(models), "", dtype=object))
    return out == "block128"


def _checkpoint_fact(table: pd.DataFrame | None, column: str, models, precisions, engines,
                     families, out: np.ndarray) -> np.ndarray:
    """``column`` of the engine's most specific row per (model, precision, family) of a
    checkpoint table; ``out``'s value where no row matches."""
    if table is None or not len(table):
        return out
    codes, keys = pd.factorize(pd.Series(engines, dtype=object).astype(str) + "|"
                               + pd.Series(models, dtype=object).astype(str) + "|"
                               + pd.Series(precisions, dtype=object).astype(str) + "|"
                               + pd.Series(families, dtype=object).astype(str))
    for code, key in enumerate(keys):
        engine, model, precision, family = key.split("|")
        best, rank = None, -1
        for r in table.itertuples():
            fams = str(r.families).split(";")
            if (r.engine != engine or r.precision != precision or r.model not in (model, "*")
                    or not (family in fams or "*" in fams)):
                continue
            score = 2 * (r.model != "*") + ("*" not in fams)
            if score > rank:
                best, rank = getattr(r, column), score
        if best is not None:
            out[codes == code] = best
    return out
    lookup = {(r.engine, r.model, r.precision): r.kv_cache for r in table.itertuples()}
    codes, keys = pd.factorize(pd.Series(engines, dtype=object).astype(str) + "|"
                               + pd.Series(models, dtype=object).astype(str) + "|"
                               + pd.Series(precisions, dtype=object).astype(str))
    for code, key in enumerate(keys):
        engine, model, precision = key.split("|")
        kv = lookup.get((engine, model, precision), lookup.get((engine, "*", precision)))
        if kv is not None:
            out[codes == code] = kv
    return out


def _object_strings(table: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain object arrays: the model gathers them for 10^5+ cases by position,
    which is a numpy take for object columns and far slower through Arrow strings."""
    table = table.copy()
    for column in table.columns:
        if not pd.api.types.is_numeric_dtype(table[column]) and table[column].dtype != bool:
            table[column] = table[column].astype(object)
    if not pd.api.types.is_numeric_dtype(table.index):
        table.index = pd.Index(table.index.astype(object), name=table.index.name)
    return table


MODEL_NUMERIC = ["total_params_b", "active_params_b", "layers", "attention_layers", "hidden", "heads",
                 "kv_heads", "head_dim", "kv_lora_rank", "qk_rope_dim", "sliding_window",
                 "attention_chunk", "chunked_layers", "experts", "experts_active", "shared_experts",
                 "dense_layers", "vocab", "context", "quality_mmlu"]
MODEL_SOURCES = {"params_source": ["total_params_b", "active_params_b"],
                 "config_source": ["layers", "attention_layers", "hidden", "heads", "kv_heads",
                                   "head_dim", "attention", "kv_lora_rank", "qk_rope_dim",
                                   "sliding_window", "attention_chunk", "chunked_layers",
                                   "experts", "experts_active",
                                   "shared_experts", "dense_layers", "vocab", "context"],
                 "quality_source": ["quality_mmlu", "quality_setting"]}


def check_models(models: pd.DataFrame, file: str) -> pd.DataFrame:
    """Refuse a model row with a missing field or a field without a source (no silent default).

    Every architecture number must be present, and each group of fields (parameter counts,
    config.json fields, quality score) must name where it came from; a source may say
    "NO SOURCE: ..." explicitly, which is stated, not hidden.
    """
    required = ["model", "display_name", "attention", "quality_setting", "score_needs_reasoning",
                *MODEL_NUMERIC, *MODEL_SOURCES]
    missing = [c for c in required if c not in models.columns]
    if missing:
        raise InputError(f"missing columns {missing}", file=file)
    for i, row in models.reset_index(drop=True).iterrows():
        for column in required:
            value = row[column]
            if pd.isna(value) or (isinstance(value, str) and not value.strip()):
                source = next((s for s, cols in MODEL_SOURCES.items() if column in cols), None)
                reason = (f"no value (a model field is never defaulted; give it with its "
                          f"{source})" if source else "no value")
                raise InputError(reason, file=file, field=f"row {i + 2} ({row['model']}).{column}")
        for column in MODEL_NUMERIC:
            try:
                number = float(row[column])
            except (TypeError, ValueError):
                raise InputError("not a number", file=file,
                                 field=f"row {i + 2} ({row['model']}).{column}",
                                 value=str(row[column])[:40], has_value=True) from None
            # a count or a size: a negative or infinite one would pass into the model as
            # nonsense (negative layers, infinite heads) rather than be refused
            if not np.isfinite(number) or number < 0:
                raise InputError("not a finite number >= 0", file=file,
                                 field=f"row {i + 2} ({row['model']}).{column}",
                                 value=str(row[column])[:40], has_value=True)
    return models


def model_kind(models: pd.DataFrame) -> pd.Series:
    """Model kind for error reporting and uncertainty: dense, or MoE by active parameters
    (``moe-small-active``: under 20B active parameters per token, many small experts)."""
    moe = models["experts"] > 0
    small = models["active_params_b"] < 20
    kind = np.where(~moe, "dense", np.where(small, "moe-small-active", "moe-large-active"))
    return pd.Series(kind, index=models.index)


def kv_bytes_per_token_full(models: pd.DataFrame, kv_bytes_per_element: np.ndarray | float) -> pd.Series:
    """KV-cache bytes per token of context in the layers that attend to the whole context."""
    gqa = 2 * models["attention_layers"] * models["kv_heads"] * models["head_dim"]
    mla = models["attention_layers"] * (models["kv_lora_rank"] + models["qk_rope_dim"])
    elems = np.where(models["attention"] == "mla", mla, gqa)
    return pd.Series(elems * kv_bytes_per_element, index=models.index)
