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
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from planner.catalog import data_path
from planner.errors import InputError

CALIBRATION_FILE = "calibration.json"
FACTOR_NAMES = ("eta_bw", "eta_decode", "eta_prefill", "eta_moe", "eta_attention", "layer_overhead_s",
                "allreduce_latency_s", "max_batch")
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
}
# Priors used before any calibration (typical Hopper/TensorRT-LLM values).
PRIOR = {"eta_bw": 0.75, "eta_decode": 0.5, "eta_prefill": 0.6, "eta_moe": 0.8, "eta_attention": 0.7,
         "layer_overhead_s": 2e-5,
         "allreduce_latency_s": 8e-6, "max_batch": 1024.0}


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
    mape_pct: float = float("nan")  # in-sample error on the family's benchmark rows
    uncertainty_pct: float = float("nan")  # stated uncertainty of a prediction with these
    n_rows: int = 0
    fitted_on: str = ""

    def vector(self) -> np.ndarray:
        return np.array([getattr(self, n) for n in FACTOR_NAMES], dtype=float)


@dataclass(frozen=True)
class Calibration:
    """Factors per family plus the pooled default, with provenance."""

    families: dict[str, FamilyFactors]
    default: FamilyFactors
    provenance: dict

    def for_family(self, family: str) -> FamilyFactors:
        return self.families.get(family, self.default)

    def is_calibrated(self, family: str) -> bool:
        return family in self.families

    def to_json(self) -> dict:
        return {"families": {k: asdict(v) for k, v in self.families.items()},
                "default": asdict(self.default), "provenance": self.provenance}

    @classmethod
    def from_json(cls, data: dict, file: str | None = None) -> "Calibration":
        try:
            families = {k: FamilyFactors(**v) for k, v in data["families"].items()}
            default = FamilyFactors(**data["default"])
        except (KeyError, TypeError) as exc:
            raise InputError(f"malformed calibration file: {exc}", file=file) from exc
        for name, factors in {**families, "default": default}.items():
            for factor, (lo, hi) in FACTOR_BOUNDS.items():
                value = getattr(factors, factor)
                if not lo <= value <= hi:
                    raise InputError(f"factor outside its physical range [{lo}, {hi}]", file=file,
                                     field=f"{name}.{factor}", value=value, has_value=True)
        return cls(families, default, data.get("provenance", {}))


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
