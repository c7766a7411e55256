"""Schema of what a user brings to an instance (issue 13): measured profiles, hardware and
instance types, models, and the unit in which each hardware is bought or rented.

* ``measurements``: rows keyed by model, hardware, precision, GPUs per replica, engine, input and
  output length and (optionally) concurrency, giving output tokens/s or requests/s per replica and
  optionally TTFT, TPOT and power. Where rows cover a deployment they replace the performance
  model's prediction (:mod:`planner.problem.measurements`).
* ``custom_hardware``: GPUs or instance types not in the catalog, with a spec sheet (or ``like:``
  a catalog id plus overrides) so that the performance model predicts them, or none at all
  (profile only: usable only where measurements cover it).
* ``custom_models``: models not in the catalog, with ``like:`` a catalog model plus overrides, or
  profile only.
* ``provisioning``: per hardware id, what is bought or rented: a ``gpu``, an ``instance`` of k
  GPUs, a ``node`` (the catalog's default) or a ``rack`` of k GPUs. The MILP counts these units;
  energy and power stay physical.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat, PositiveInt, model_validator

from planner.config.schema.common import Frozen

SPEC_FIELDS = ("hbm_gb", "hbm_tb_s", "bf16_tflops")  # a spec sheet also needs tdp_w


class Provisioning(Frozen):
    """The unit a hardware is bought or rented in."""

    unit: Literal["gpu", "instance", "node", "rack"] = Field(
        default="node", description="gpu, instance (of `gpus` GPUs), node (the hardware's "
                                    "GPUs per node) or rack (of `gpus` GPUs, e.g. NVL72)")
    gpus: PositiveInt | None = Field(default=None,
                                     description="GPUs per unit (needed for instance and rack)")

    @model_validator(mode="after")
    def _gpus(self) -> "Provisioning":
        if self.unit in ("instance", "rack") and self.gpus is None:
            raise ValueError(f"provisioning unit {self.unit!r} needs `gpus` (GPUs per unit)")
        if self.unit == "gpu" and self.gpus not in (None, 1):
            raise ValueError("provisioning unit 'gpu' has 1 GPU per unit")
        return self


class CustomHardware(Frozen):
    """A GPU or instance type the catalog lacks: a spec sheet, ``like`` a catalog id with
    overrides, or nothing (profile only)."""

    id: str = Field(description="Hardware id (kebab-case), used in options.hardware")
    like: str | None = Field(default=None,
                             description="Catalog hardware id whose specs fill what is not given")
    family: str | None = Field(default=None,
                               description="Calibration family (hopper, blackwell, ...); "
                                           "absent: the like id's, else uncalibrated defaults")
    gpus_per_node: PositiveInt | None = Field(
        default=None, description="GPUs per node / instance (default: like's, else 1)")
    hbm_gb: PositiveFloat | None = Field(default=None, description="Memory per GPU, GB")
    hbm_tb_s: PositiveFloat | None = Field(default=None, description="Memory bandwidth, TB/s")
    bf16_tflops: PositiveFloat | None = Field(default=None, description="Dense BF16 TFLOP/s")
    fp8_tflops: NonNegativeFloat | None = Field(default=None, description="Dense FP8 TFLOP/s")
    fp4_tflops: NonNegativeFloat | None = Field(default=None, description="Dense FP4 TFLOP/s")
    link_gb_s: PositiveFloat | None = Field(default=None, description="GPU-GPU link GB/s")
    tdp_w: PositiveFloat | None = Field(default=None, description="Power per GPU at full load, W")
    node_max_kw: PositiveFloat | None = Field(default=None, description="Node max power, kW")
    price_usd_per_hour: NonNegativeFloat | None = Field(
        default=None, description="Price per provisioned unit per hour (objective: cost)")
    provisioning: Provisioning | None = Field(default=None,
                                              description="Unit bought or rented")
    source: str = Field(default="", description="Where the numbers come from")

    @model_validator(mode="after")
    def _spec_complete(self) -> "CustomHardware":
        if self.like is None:
            given = [f for f in SPEC_FIELDS if getattr(self, f) is not None]
            needed = (*SPEC_FIELDS, "tdp_w")
            missing = [f for f in needed if getattr(self, f) is None]
            if given and missing:
                raise ValueError(f"hardware {self.id!r}: a spec sheet needs {', '.join(missing)} "
                                 f"too (or `like: <catalog id>`, or no specs for profile only)")
        return self

    @property
    def profile_only(self) -> bool:
        return self.like is None and self.hbm_gb is None


class CustomModel(Frozen):
    """A model the catalog lacks: ``like`` a catalog model with overrides, or profile only."""

    id: str = Field(description="Model id (kebab-case), used in options.models")
    like: str | None = Field(default=None,
                             description="Catalog model id whose architecture fills the rest")
    overrides: dict[str, float | str] = Field(
        default_factory=dict, description="Catalog model fields replaced (with `like`)")
    quality_mmlu: NonNegativeFloat | None = Field(
        default=None, description="Quality score (catalog scale, MMLU); default: like's, else 0")
    total_params_b: PositiveFloat | None = Field(
        default=None, description="Total parameters, billions (profile-only: only reported)")
    source: str = Field(default="", description="Where the numbers come from")

    @property
    def profile_only(self) -> bool:
        return self.like is None


class MeasurementRow(Frozen):
    """One measured operating point of one replica."""

    model: str = Field(description="Model id (catalog or custom_models)")
    hardware: str = Field(description="Hardware or instance-type id (catalog or custom_hardware)")
    precision: str = Field(default="fp16", description="Precision id")
    num_gpus: PositiveInt = Field(default=1, description="GPUs per replica")
    engine: str = Field(default="trtllm", description="Serving engine (a label; one per key)")
    input_tokens: PositiveFloat = Field(description="Input length of the measured requests")
    output_tokens: PositiveFloat = Field(description="Output length of the measured requests")
    concurrency: PositiveInt | None = Field(
        default=None, description="Concurrent requests; absent: the row holds at any concurrency")
    output_tokens_per_s: float | None = Field(default=None,
                                              description="Output tokens/s of the replica")
    requests_per_s: float | None = Field(default=None, description="Requests/s of the replica")
    ttft_ms: float | None = Field(default=None, description="Measured time to first token")
    tpot_ms: float | None = Field(default=None, description="Measured time per output token")
    power_w: float | None = Field(
        default=None, description="Average power of the replica while serving, W (its GPUs and "
                                  "its share of the host)")
    source: str = Field(default="", description="Where the row comes from")

    @model_validator(mode="after")
    def _one_throughput(self) -> "MeasurementRow":
        if (self.output_tokens_per_s is None) == (self.requests_per_s is None):
            raise ValueError("give exactly one of output_tokens_per_s and requests_per_s")
        for name in ("output_tokens_per_s", "requests_per_s", "ttft_ms", "tpot_ms", "power_w"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive (got {value})")
        return self

    @property
    def tokens_per_s(self) -> float:
        if self.output_tokens_per_s is not None:
            return self.output_tokens_per_s
        return self.requests_per_s * self.output_tokens


class Measurements(Frozen):
    """Measured profiles: rows inline, or a CSV with the same columns (read at load time,
    relative to the instance file)."""

    file: str | None = Field(default=None, description="CSV of rows (columns as the row fields)")
    rows: list[MeasurementRow] = Field(default_factory=list, description="Measured rows")
