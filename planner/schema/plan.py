"""Schema of a planning instance: query classes, sites, allowed options, objective, scenarios."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator,
                      model_validator)

from planner.schema.common import Frozen, repeated
from planner.schema.custom import CustomHardware, CustomModel, Measurements, Provisioning
from planner.schema.robustness import Robustness

HOURS = 24


class TokenBucket(Frozen):
    """One point of an explicit length distribution."""

    tokens: PositiveFloat = Field(description="Tokens")
    weight: PositiveFloat = Field(description="Relative weight (normalised over the buckets)")


class TokenDistribution(Frozen):
    """A length distribution: a median and a shape, or explicit buckets with weights.

    Shapes: ``exponential`` (the paper's choice for output lengths), ``lognormal`` (with
    ``sigma``), ``fixed``. Continuous shapes are discretised into ``buckets`` equal-probability
    bins, each represented by its conditional median.
    """

    median: PositiveFloat | None = Field(default=None, description="Median tokens")
    shape: Literal["exponential", "lognormal", "fixed"] = Field(
        default="exponential", description="Distribution family when a median is given")
    sigma: PositiveFloat = Field(default=0.8, description="Log-space sd for the lognormal shape")
    buckets: list[TokenBucket] | None = Field(default=None, description="Explicit buckets")
    n_buckets: PositiveInt = Field(default=5, le=50, description="Bins for continuous shapes")
    max_tokens: PositiveFloat | None = Field(default=None, description="Truncate above (budget)")

    @model_validator(mode="after")
    def _one_form(self) -> "TokenDistribution":
        if (self.median is None) == (self.buckets is None):
            raise ValueError("give either a median (with a shape) or explicit buckets, not both")
        return self


class SLO(Frozen):
    """Latency objectives, met when the stated share of the class's queries meets them."""

    ttft_ms: PositiveFloat | None = Field(default=None, description="Time to first token, ms")
    tpot_ms: PositiveFloat | None = Field(default=None, description="Time per output token, ms")
    percentile: float = Field(default=90.0, gt=0, le=100,
                              description="Share (%) of the class's length distribution that "
                                          "must meet the SLO")


class QueryClass(Frozen):
    """A population of queries with one length distribution, SLO and quality floor."""

    id: str = Field(description="Class id (kebab-case)")
    queries_per_day: PositiveFloat = Field(description="Queries per day")
    input_tokens: TokenDistribution = Field(description="Input length distribution")
    output_tokens: TokenDistribution = Field(description="Output length distribution")
    slo: SLO = Field(default_factory=SLO, description="Latency SLO")
    min_quality: NonNegativeFloat = Field(default=0.0,
                                          description="Minimum quality score (catalog scale, MMLU)")
    diurnal: list[PositiveFloat] | None = Field(
        default=None, description="24 hourly relative demand values (normalised to mean 1)")
    models: list[str] | None = Field(default=None, description="Restrict to these models")
    test_time_scaling: bool = Field(
        default=False,
        description="Reasoning queries whose output lengths include the chain of thought. Only "
                    "such classes are credited the score of a model whose score needs "
                    "reasoning (catalog score_needs_reasoning: DeepSeek-R1, gpt-oss at high "
                    "effort); elsewhere those tokens would be missing from the energy")

    @field_validator("diurnal")
    @classmethod
    def _hours(cls, profile: list[float] | None) -> list[float] | None:
        if profile is not None and len(profile) != HOURS:
            raise ValueError(f"diurnal needs {HOURS} hourly values (got {len(profile)})")
        return profile


class Site(Frozen):
    """A data center: PUE, facility power cap and inventory of nodes per hardware id."""

    id: str = Field(description="Site id")
    pue: float = Field(default=1.2, ge=1.0, le=3.0, description="Power usage effectiveness")
    power_cap_mw: PositiveFloat | None = Field(default=None,
                                               description="Facility-side cap, MW (None: none)")
    overhead_factor: float = Field(default=1.0, ge=1.0, description="Fleet overhead multiplier")
    inventory: dict[str, NonNegativeFloat] = Field(
        default_factory=dict, description="Nodes available per hardware id; absent = buildable")
    carbon_kg_per_kwh: NonNegativeFloat | None = Field(default=None,
                                                       description="Grid carbon intensity")
    electricity_usd_per_kwh: NonNegativeFloat | None = Field(
        default=None, description="Electricity price, USD per facility kWh (objective: cost)")


class Options(Frozen):
    """The option set the optimizer chooses from."""

    models: list[str] = Field(min_length=1, description="Allowed model ids")
    precisions: list[str] = Field(default=["fp8"], min_length=1, description="Allowed precisions")
    hardware: list[str] = Field(min_length=1, description="Allowed hardware ids")
    gpus_per_replica: list[PositiveInt] = Field(default=[1, 2, 4, 8], min_length=1,
                                                description="Tensor-parallel sizes")
    max_concurrency: list[PositiveInt] = Field(default=[16, 64, 256], min_length=1,
                                               description="Batch (concurrency) levels")
    speculative_decoding: list[bool] = Field(
        default=[False], min_length=1,
        description="Serving with speculative decoding: [false], [true] or both (a choice)")
    disaggregation: list[bool] = Field(
        default=[False], min_length=1,
        description="Prefill/decode disaggregation (prefills on their own replicas, no prefill "
                    "stalls in decode): [false], [true] or both (a choice)")
    utilization_ceiling: float = Field(default=0.8, gt=0, le=1,
                                       description="Largest planned busy fraction per hour")
    min_replicas: PositiveInt = Field(default=1, description="MILP: minimum replicas if deployed")
    node_cost_usd_per_hour: dict[str, NonNegativeFloat] = Field(
        default_factory=dict,
        description="Per hardware id: cost of a provisioned node per hour, electricity excluded "
                    "(amortised capex, hosting); needed by objective: cost")
    max_deployments: PositiveInt | None = Field(default=None,
                                                description="MILP: most distinct deployments")


class SolverOptions(Frozen):
    """Solver limits."""

    time_limit_s: PositiveFloat = Field(default=60.0, description="Wall-clock limit")
    mip_gap: float = Field(default=0.005, ge=0, lt=1, description="Relative MIP gap target")


class Adjustments(Frozen):
    """Multipliers for sensitivity analysis and Monte Carlo sweeps (1 = as modelled)."""

    demand_scale: PositiveFloat = Field(default=1.0, description="Multiplies every class's demand")
    throughput_scale: PositiveFloat = Field(
        default=1.0, description="Multiplies modelled tok/s (divides node-seconds and latency)")
    power_scale: PositiveFloat = Field(default=1.0,
                                       description="Multiplies node power, idle and active")


class LeverGroup(Frozen):
    """One lever: overrides relative to the baseline (option expansions or parameter changes)."""

    name: str = Field(description="Lever name (kebab-case)")
    description: str = Field(default="", description="What the lever does")
    source: str = Field(default="", description="Where its values or effect sizes come from")
    set: dict[str, Any] = Field(min_length=1, description="{path: value} applied on the baseline")


class LeverCategory(Frozen):
    """A published lever category (the paper's model / serving / hardware / routing levers) as a
    union of lever groups, so the measured effect can be set against the published range."""

    name: str = Field(description="Category name")
    groups: list[str] = Field(min_length=1, description="Lever group names it combines")
    published_range: tuple[PositiveFloat, PositiveFloat] = Field(
        description="Published reduction range [low, high], x-fold")
    classes: list[str] | None = Field(
        default=None, description="Class ids it is measured on (default: the whole fleet)")
    source: str = Field(default="", description="Where the published range comes from")

    @model_validator(mode="after")
    def _ordered(self) -> "LeverCategory":
        low, high = self.published_range
        if low > high:
            raise ValueError(f"published_range low {low} is above high {high}")
        return self


class LeverSpec(Frozen):
    """The baseline (the paper's assumptions) and the lever groups attributed against it."""

    baseline: dict[str, Any] = Field(default_factory=dict,
                                     description="{path: value} that turn the instance into the "
                                                 "baseline")
    baseline_source: str = Field(default="", description="Why the baseline looks like this")
    groups: list[LeverGroup] = Field(min_length=1, description="Lever groups")
    shapley_permutations: PositiveInt = Field(
        default=2000, description="Sampled permutations when there are more than 8 groups")
    reconcile: list[LeverGroup] = Field(
        default_factory=list,
        description="Steps from the baseline to the paper's own assumptions, applied one after "
                    "another (not levers: differences in assumptions), each solved and reported")

    categories: list[LeverCategory] = Field(
        default_factory=list,
        description="Published lever categories, each a union of groups, reported against "
                    "their published ranges")

    @model_validator(mode="after")
    def _unique_names(self) -> "LeverSpec":
        dupes = repeated([g.name for g in self.groups])
        if dupes:
            raise ValueError(f"lever names must be unique (repeated: {', '.join(dupes)})")
        names = {g.name for g in self.groups}
        for category in self.categories:
            unknown = [g for g in category.groups if g not in names]
            if unknown:
                raise ValueError(f"category {category.name!r} names unknown lever groups "
                                 f"{unknown} (groups: {sorted(names)})")
        return self


class PlanningInstance(Frozen):
    """A planning instance."""

    name: str = Field(description="Instance name")
    description: str = Field(default="", description="What it models")
    seed: int = Field(default=0, description="Seed (reserved for sampled inputs)")
    classes: list[QueryClass] = Field(min_length=1, description="Query classes")
    sites: list[Site] = Field(min_length=1, description="Sites")
    options: Options = Field(description="Allowed options")
    objective: Literal["energy", "carbon", "cost"] = Field(
        default="energy", description="Minimised: GWh/day, kt CO2/day or million USD/day")
    solver: SolverOptions = Field(default_factory=SolverOptions, description="Solver limits")
    scenarios: dict[str, dict] = Field(default_factory=dict,
                                       description="Named overrides: {path: value}")
    levers: LeverSpec | None = Field(default=None, description="Lever attribution (planner levers)")
    adjustments: Adjustments = Field(default_factory=Adjustments,
                                     description="Sensitivity multipliers")
    robustness: Robustness = Field(default_factory=Robustness,
                                   description="Coefficient uncertainty and the robust plan")
    # --- issue 13: what the user brings (planner/schema/custom.py, planner/measurements.py) ---
    measurements: Measurements | None = Field(
        default=None, description="Measured profiles that replace the model's predictions")
    custom_hardware: list[CustomHardware] = Field(
        default_factory=list, description="Hardware / instance types not in the catalog")
    custom_models: list[CustomModel] = Field(default_factory=list,
                                             description="Models not in the catalog")
    provisioning: dict[str, Provisioning] = Field(
        default_factory=dict, description="Per hardware id: the unit bought or rented (gpu, "
                                          "instance, node, rack); default node. Prices "
                                          "(node_cost_usd_per_hour) and inventory count it")
    # --- end issue 13 ---

    @model_validator(mode="after")
    def _unique_ids(self) -> "PlanningInstance":
        for what, ids in (("classes", [c.id for c in self.classes]),
                          ("sites", [s.id for s in self.sites])):
            dupes = repeated(ids)
            if dupes:
                raise ValueError(f"{what} ids must be unique (repeated: {', '.join(dupes)})")
        if self.objective == "carbon" and any(s.carbon_kg_per_kwh is None for s in self.sites):
            raise ValueError("objective 'carbon' needs carbon_kg_per_kwh on every site")
        if self.objective == "cost":
            missing = [f"sites[{i}].electricity_usd_per_kwh" for i, s in enumerate(self.sites)
                       if s.electricity_usd_per_kwh is None]
            priced = {h.id for h in self.custom_hardware if h.price_usd_per_hour is not None}
            missing += [f"options.node_cost_usd_per_hour[{hw}]" for hw in self.options.hardware
                        if hw not in self.options.node_cost_usd_per_hour and hw not in priced]
            if missing:
                raise ValueError(f"objective 'cost' needs {', '.join(missing)}")
        return self
