"""``planner import melange CONFIG.json``: a Mélange configuration as a planning instance.

Mélange (Griggs et al., "Mélange: Cost Efficient Large Language Model Serving by Exploiting GPU
Heterogeneity", arXiv:2404.14527) takes a JSON config:

    {"gpu_info": {"A10G": {"cost": 1.01, "tputs": [[...], ...]}, ...},   # $/h, req/s per bucket
     "workload_distribution": [[...], ...],   # share of requests per (input, output) size bucket
     "total_request_rate": 30,                # req/s
     "slice_factor": 1}                       # its ILP splits each bucket into this many slices

and buys GPUs so that, per GPU type, the load (req/s / profiled req/s of each slice placed on it)
fits in the count. The planning instance is the same problem without slices: one class per
non-empty bucket (fixed input and output length), a profile-only model, each GPU a profile-only
hardware rented per GPU at its price, the profiled req/s as measurement rows, a flat day, the
utilization ceiling at 1 (Mélange's tputs are already the most each GPU sustains under its SLO),
no SLO of our own, objective cost with electricity at 0 USD/kWh (Mélange prices GPUs only).

Bucket lengths: Mélange's config carries bucket indices only; ``input_lengths`` and
``output_lengths`` (representative tokens per bucket) may be given in the config, else the
geometric midpoints of DEFAULT_BOUNDARIES are used [assumed: size boundaries in the style of the
Mélange paper's request-size histograms; they only name the buckets, since the profile-only
model is used at exactly these points].
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from planner.errors import InputError

DEFAULT_BOUNDARIES = [1, 25, 100, 250, 500, 1000, 2000, 4000, 8000, 16000, 32000]
SECONDS_PER_DAY = 86400.0
MODEL_ID = "melange-model"
# Spec-sheet board power of GPUs Mélange profiles, so the plan can state an energy too
# [NVIDIA datasheets: A10G 150 W (AWS g5: A10G at 150 W), L4 72 W, A100 SXM 400 W, H100 SXM 700 W].
KNOWN_TDP_W = {"a10g": 150.0, "l4": 72.0, "a100-80gb": 400.0, "a100": 400.0, "h100": 700.0,
               "h100-80gb": 700.0}


def hardware_id(name: str) -> str:
    """'A100-80GB' -> 'melange-a100-80gb' (kept apart from the catalog's modelled ids)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return f"melange-{slug}"


def _matrix(value, name: str, file: str) -> np.ndarray:
    try:
        m = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise InputError("must be a matrix of numbers", file=file, field=name) from None
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2:
        raise InputError("must be a 2-D matrix (input buckets x output buckets)", file=file,
                         field=name)
    return m


def _lengths(config: dict, key: str, n: int, file: str) -> list[float]:
    if key in config:
        values = [float(v) for v in config[key]]
        if len(values) != n or any(v <= 0 for v in values):
            raise InputError(f"needs {n} positive lengths", file=file, field=key)
        return values
    if n > len(DEFAULT_BOUNDARIES) - 1:
        raise InputError(f"{n} buckets: give `{key}` (tokens per bucket)", file=file, field=key)
    b = DEFAULT_BOUNDARIES
    return [float(round(np.sqrt(b[i] * b[i + 1]))) for i in range(n)]


def melange_instance(config: dict, file: str = "<config>", name: str | None = None) -> dict:
    """The planning instance (a mapping ready for YAML) equivalent to a Mélange config."""
    for key in ("gpu_info", "workload_distribution", "total_request_rate"):
        if key not in config:
            raise InputError("missing key", file=file, field=key)
    dist = _matrix(config["workload_distribution"], "workload_distribution", file)
    if (dist < 0).any() or dist.sum() <= 0:
        raise InputError("shares must be non-negative with a positive sum", file=file,
                         field="workload_distribution")
    dist = dist / dist.sum()
    rate = float(config["total_request_rate"])
    if not rate > 0:
        raise InputError("must be positive", file=file, field="total_request_rate", value=rate,
                         has_value=True)
    isl = _lengths(config, "input_lengths", dist.shape[0], file)
    osl = _lengths(config, "output_lengths", dist.shape[1], file)
    classes = []
    for i, j in zip(*np.nonzero(dist > 0)):
        classes.append({
            "id": f"in{i}-out{j}", "queries_per_day": float(rate * dist[i, j] * SECONDS_PER_DAY),
            "input_tokens": {"median": isl[i], "shape": "fixed", "n_buckets": 1},
            "output_tokens": {"median": osl[j], "shape": "fixed", "n_buckets": 1}})
    hardware, rows, prices = [], [], {}
    for gpu, info in config["gpu_info"].items():
        where = f"gpu_info.{gpu}"
        if "cost" not in info or "tputs" not in info:
            raise InputError("needs `cost` ($/h) and `tputs` (req/s per bucket)", file=file,
                             field=where)
        tputs = _matrix(info["tputs"], f"{where}.tputs", file)
        if tputs.shape != dist.shape:
            raise InputError(f"tputs shape {tputs.shape} differs from workload_distribution "
                             f"{dist.shape}", file=file, field=f"{where}.tputs")
        hw = hardware_id(gpu)
        entry = {"id": hw, "price_usd_per_hour": float(info["cost"]),
                 "provisioning": {"unit": "gpu"}, "gpus_per_node": 1,
                 "source": f"Mélange config {Path(file).name}: gpu_info.{gpu}"}
        tdp = KNOWN_TDP_W.get(re.sub(r"[^a-z0-9]+", "-", gpu.lower()).strip("-"))
        if tdp:
            entry["tdp_w"] = tdp
        hardware.append(entry)
        prices[hw] = float(info["cost"])
        for i in range(dist.shape[0]):
            for j in range(dist.shape[1]):
                if tputs[i, j] > 0:  # 0: this GPU cannot serve the bucket under the SLO
                    rows.append({"model": MODEL_ID, "hardware": hw, "precision": "fp16",
                                 "num_gpus": 1, "engine": "vllm", "input_tokens": isl[i],
                                 "output_tokens": osl[j], "requests_per_s": float(tputs[i, j]),
                                 "source": f"Mélange config {Path(file).name}: "
                                           f"gpu_info.{gpu}.tputs[{i}][{j}]"})
    return {
        "name": name or f"melange-{Path(file).stem}",
        "description": (f"Imported from the Mélange config {Path(file).name}: "
                        f"{rate:g} req/s over {len(classes)} size buckets, "
                        f"{len(hardware)} GPU types rented per GPU; profiled req/s as "
                        f"measurements (already under Mélange's SLO, so no SLO here and a "
                        f"utilization ceiling of 1). Exact split of every bucket across GPU "
                        f"types, where Mélange splits buckets into "
                        f"{config.get('slice_factor', 1)} equal slice(s)."),
        "classes": classes,
        "sites": [{"id": "cloud", "pue": 1.0, "electricity_usd_per_kwh": 0.0}],
        "custom_models": [{"id": MODEL_ID, "source": "Mélange config: the profiled model"}],
        "custom_hardware": hardware,
        "measurements": {"rows": rows},
        "options": {"models": [MODEL_ID], "precisions": ["fp16"],
                    "hardware": [h["id"] for h in hardware], "gpus_per_replica": [1],
                    "max_concurrency": [1], "utilization_ceiling": 1.0, "min_replicas": 1},
        "objective": "cost",
        "solver": {"mip_gap": 0.0, "time_limit_s": 60.0},
    }


def read_config(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=str(path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}", file=str(path)) from exc
    if not isinstance(data, dict):
        raise InputError("top level must be an object", file=str(path))
    return data
