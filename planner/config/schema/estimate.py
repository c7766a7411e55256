"""Schema of an estimator instance: the paper's bottom-up Monte Carlo, parameter for parameter."""

from __future__ import annotations

from pydantic import (Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator,
                      model_validator)

from planner.config.schema.common import Frozen, PercentileRange


class ModelSpec(Frozen):
    """One model of the estimate: its catalog id and the node it is costed on."""

    id: str = Field(description="Catalog model id, e.g. 'llama-3.1-405b'")
    node_power_max_kw: PositiveFloat = Field(le=1000.0,
                                             description="P_max of the serving node in kW")
    source: str | None = Field(default=None, description="Where P_max comes from")


class Regime(Frozen):
    """A query regime: output lengths are exponential with this median (the paper's choice)."""

    median_output_tokens: float = Field(ge=1, le=1e7,
                                        description="Median output tokens per query")


class Lever(Frozen):
    """An efficiency lever the paper assumes: a lognormal divisor of per-query energy."""

    name: str = Field(description="Lever name, e.g. 'serving'")
    reduction: PercentileRange = Field(description="Divisor of energy per query, P5/P95")


class BlendSpec(Frozen):
    """How the '>200B' blend is made: top-k models by median energy, trimmed, pooled."""

    top_k: PositiveInt = Field(default=3, description="Number of highest-energy models pooled")
    trims: list[tuple[float, float]] = Field(
        default=[(5.0, 95.0), (10.0, 90.0)],
        description="Successive percentile trims applied to each model's samples before pooling")

    @field_validator("trims")
    @classmethod
    def _trims_ordered(cls, trims: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for lo, hi in trims:
            if not 0 <= lo < hi <= 100:
                raise ValueError(f"trim percentiles must satisfy 0 <= lo < hi <= 100 (got {lo}, {hi})")
        return trims


class FleetSpec(Frozen):
    """Fleet totals: mean energy x queries/day x overhead, with a bootstrap interval."""

    queries_per_day: PositiveFloat = Field(le=1e13, description="Queries per day of the fleet")
    overhead_factors: list[PositiveFloat] = Field(
        description="Multiplied together: orchestration, backup and other fleet overheads")
    overhead_factors_by_regime: dict[str, list[PositiveFloat]] = Field(
        default_factory=dict, description="Per-regime overrides of overhead_factors")
    mix: dict[str, NonNegativeFloat] = Field(description="Share of queries per regime (sums to 1)")
    levers: dict[str, PercentileRange] = Field(
        default_factory=dict,
        description="Per-regime lognormal divisor for the 'with levers' fleet case (the paper "
                    "applies the serving lever only)")
    bootstrap_resamples: PositiveInt = Field(default=1000, le=100_000,
                                             description="Bootstrap resamples")

    @field_validator("mix")
    @classmethod
    def _mix_sums_to_one(cls, mix: dict[str, float]) -> dict[str, float]:
        total = sum(mix.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"mix shares must sum to 1 (sum is {total:g})")
        return mix


class EstimateInstance(Frozen):
    """Everything the paper's estimator needs, with a source beside each assumption."""

    name: str = Field(description="Instance name")
    description: str = Field(default="", description="What this instance reproduces")
    seed: int = Field(default=42, ge=0, le=2**63 - 1,
                      description="Seed of every random draw (not negative)")
    samples_per_model: PositiveInt = Field(default=10_000, le=10_000_000,
                                           description="Monte Carlo samples (up to 1e7)")
    throughput_table: str = Field(default="paper_throughput_db.csv",
                                  description="Benchmark table (next to the instance or shipped)")
    precision: str = Field(default="fp8", description="Only table rows of this precision are fit")
    input_tokens: float = Field(default=500, ge=1, le=1e7,
                                description="Fixed input length L_in")
    input_token_weight: NonNegativeFloat = Field(le=1.0,
        default=0.0, description="Weight of an input token in L_eff = L_out + w L_in (paper "
                                 "sensitivity: 1/30); 0 means L_eff = L_out")
    power_utilization: PercentileRange = Field(description="Node power as a fraction of P_max")
    pue: PercentileRange = Field(description="Power usage effectiveness")
    models: list[ModelSpec] = Field(min_length=1, description="Models estimated")
    regimes: dict[str, Regime] = Field(min_length=1, description="Query regimes by name")
    blend: BlendSpec = Field(default_factory=BlendSpec, description="The '>200B' blend")
    levers: list[Lever] = Field(default_factory=list, description="Per-query lever scenarios")
    fleet: FleetSpec = Field(description="Fleet totals")

    @field_validator("power_utilization")
    @classmethod
    def _utilization_is_fraction(cls, pu: PercentileRange) -> PercentileRange:
        if pu.p95 > 1.0:
            raise ValueError(f"p95 is a fraction of P_max and must be <= 1 (got {pu.p95})")
        return pu

    @field_validator("pue")
    @classmethod
    def _pue_at_least_one(cls, pue: PercentileRange) -> PercentileRange:
        if pue.p5 < 1.0:
            raise ValueError(f"PUE cannot be below 1 (p5={pue.p5})")
        return pue

    @field_validator("models")
    @classmethod
    def _unique_models(cls, models: list[ModelSpec]) -> list[ModelSpec]:
        ids = [m.id for m in models]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"model ids must be unique (repeated: {', '.join(dupes)})")
        return models

    @model_validator(mode="after")
    def _regimes_known(self) -> "EstimateInstance":
        known = set(self.regimes)
        for where, names in (("fleet.mix", self.fleet.mix), ("fleet.levers", self.fleet.levers),
                             ("fleet.overhead_factors_by_regime",
                              self.fleet.overhead_factors_by_regime)):
            unknown = sorted(set(names) - known)
            if unknown:
                raise ValueError(f"{where} names unknown regimes {unknown}; known: {sorted(known)}")
        if self.blend.top_k > len(self.models):
            raise ValueError(f"blend.top_k={self.blend.top_k} exceeds the {len(self.models)} models")
        return self
