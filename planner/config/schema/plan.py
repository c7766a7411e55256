"""Schema of a planning instance: query classes, sites, allowed options, objective, scenarios."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (Field, NonNegativeFloat, PositiveFloat, PositiveInt, field_validator,
                      model_validator)

from planner.config.schema.common import Frozen, Id, repeated
from planner.config.schema.custom import CustomHardware, CustomModel, Measurements, Provisioning
from planner.config.schema.roadmap import Roadmap
from planner.config.schema.robustness import Robustness
from planner.config.validation import StrictBool

HOURS = 24
MAX_TOKENS = 1e7  # longest sequence a length distribution may describe (tokens)
# Smallest class demand relative to the largest that the LP resolves: HiGHS's feasibility
# tolerance (1e-7) on demand rows scaled by the largest demand / 1e3 (issue 17: a class of
# 10 queries/day next to one of 1e11 was served 0 and failed the re-check).
DEMAND_RANGE = 1e-8
# Stated, not sourced: while a site is lost the survivors may run hotter than the planned ceiling
# (0.8 by default); 0.95 keeps 5 % of each hour for queueing and stragglers.
FAILOVER_UTILIZATION = 0.95
MIN_QUERIES_PER_DAY = 0.01  # a class's demand (after demand_scale): far above that tolerance


class TokenBucket(Frozen):
    """One point of an explicit length distribution."""

    tokens: float = Field(ge=1, le=MAX_TOKENS, description="Tokens (1 to 1e7)")
    weight: PositiveFloat = Field(le=1e12,
                                  description="Relative weight (normalised over the buckets)")


class TokenDistribution(Frozen):
    """A length distribution: a median and a shape, or explicit buckets with weights.

    Shapes: ``exponential`` (the paper's choice for output lengths), ``lognormal`` (with
    ``sigma``), ``fixed``. Continuous shapes are discretised into ``buckets`` equal-probability
    bins, each represented by its conditional median.
    """

    median: float | None = Field(default=None, ge=1, le=MAX_TOKENS,
                                 description="Median tokens (1 to 1e7)")
    shape: Literal["exponential", "lognormal", "fixed"] = Field(
        default="exponential", description="Distribution family when a median is given")
    sigma: PositiveFloat = Field(default=0.8, le=5.0,
                                 description="Log-space sd for the lognormal shape (up to 5)")
    buckets: list[TokenBucket] | None = Field(default=None, min_length=1, max_length=1000,
                                              description="Explicit buckets (at least one)")
    n_buckets: PositiveInt = Field(default=5, le=50, description="Bins for continuous shapes")
    max_tokens: float | None = Field(default=None, ge=1, le=MAX_TOKENS,
                                     description="Truncate above (budget); not below the median")

    @model_validator(mode="after")
    def _one_form(self) -> "TokenDistribution":
        if (self.median is None) == (self.buckets is None):
            raise ValueError("give either a median (with a shape) or explicit buckets, not both")
        if self.max_tokens is not None:
            median = self.median if self.median is not None else _weighted_median(self.buckets)
            if self.max_tokens < median:
                raise ValueError(
                    f"max_tokens {self.max_tokens:g} is below the median {median:g}: more than "
                    f"half of the queries would be cut to max_tokens; lower the median instead "
                    f"(or raise max_tokens)")
        return self


def _weighted_median(buckets: list[TokenBucket]) -> float:
    ordered = sorted(buckets, key=lambda b: b.tokens)
    total = sum(b.weight for b in ordered)
    running = 0.0
    for b in ordered:
        running += b.weight
        if running >= total / 2:
            return b.tokens
    return ordered[-1].tokens


class SLO(Frozen):
    """Latency objectives, met when the stated share of the class's queries meets them."""

    ttft_ms: PositiveFloat | None = Field(default=None, le=1e7,
                                          description="Time to first token, ms")
    tpot_ms: PositiveFloat | None = Field(default=None, le=1e7,
                                          description="Time per output token, ms")
    percentile: float = Field(default=90.0, gt=1, le=100,
                              description="Share (%) of the class's length distribution that "
                                          "must meet the SLO, in percent (50 = the median)")

    @field_validator("percentile", mode="before")
    @classmethod
    def _percent(cls, value):
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1:
            raise ValueError(f"percentile is in percent, in (1, 100]: {value:g} would mean "
                             f"{value:g} % of queries; write {value * 100:g} for "
                             f"{value * 100:g} %")
        return value


class QueryClass(Frozen):
    """A population of queries with one length distribution, SLO and quality floor."""

    id: Id = Field(description="Class id (kebab-case)")
    queries_per_day: PositiveFloat = Field(le=1e13, description="Queries per day (up to 1e13)")
    input_tokens: TokenDistribution = Field(description="Input length distribution")
    output_tokens: TokenDistribution = Field(description="Output length distribution")
    slo: SLO = Field(default_factory=SLO, description="Latency SLO")
    min_quality: NonNegativeFloat = Field(default=0.0, le=100,
                                          description="Minimum quality score (catalog scale, MMLU)")
    diurnal: list[Annotated[float, Field(gt=0, le=1e6)]] | None = Field(
        default=None, description="24 hourly relative demand values (normalised to mean 1)")
    models: list[Id] | None = Field(default=None, min_length=1,
                                    description="Restrict to these models (null: any)")
    test_time_scaling: StrictBool = Field(
        default=False,
        description="Reasoning queries whose output lengths include the chain of thought. Only "
                    "such classes are credited the score of a model whose score needs "
                    "reasoning (catalog score_needs_reasoning: DeepSeek-R1, gpt-oss at high "
                    "effort); elsewhere those tokens would be missing from the energy")
    min_site_share: dict[Id, Annotated[float, Field(gt=0, le=1)]] | None = Field(
        default=None,
        description="Least share of this class's queries served at each listed site (data "
                    "residency, resilience): {site id: share in (0, 1]}, shares summing to at "
                    "most 1")

    @field_validator("min_site_share")
    @classmethod
    def _shares(cls, shares: dict[str, float] | None) -> dict[str, float] | None:
        if shares and sum(shares.values()) > 1 + 1e-9:
            raise ValueError(f"min_site_share sums to {sum(shares.values()):.4g}; at most 1")
        return shares

    @field_validator("diurnal")
    @classmethod
    def _hours(cls, profile: list[float] | None) -> list[float] | None:
        if profile is not None and len(profile) != HOURS:
            raise ValueError(f"diurnal needs {HOURS} hourly values (got {len(profile)})")
        return profile


class Site(Frozen):
    """A data center: PUE, facility power cap and inventory of nodes per hardware id."""

    id: Id = Field(description="Site id")
    pue: float = Field(default=1.2, ge=1.0, le=3.0, description="Power usage effectiveness")
    power_cap_mw: PositiveFloat | None = Field(default=None, le=1e5,
                                               description="Facility-side cap, MW (None: none)")
    overhead_factor: float = Field(default=1.0, ge=1.0, le=10.0,
                                   description="Fleet overhead multiplier (1 to 10)")
    inventory: dict[Id, NonNegativeFloat] = Field(
        default_factory=dict, description="Nodes available per hardware id; absent = buildable")
    carbon_kg_per_kwh: NonNegativeFloat | None = Field(default=None, le=10.0,
                                                       description="Grid carbon intensity")
    electricity_usd_per_kwh: NonNegativeFloat | None = Field(
        default=None, le=100.0,
        description="Electricity price, USD per facility kWh (objective: cost)")
    failover: StrictBool = Field(
        default=False,
        description="N-1: the plan must survive losing this site, the other sites absorbing "
                    "its queries within their caps and inventories, on the nodes already "
                    "planned, at options.failover_utilization")

    @field_validator("inventory")
    @classmethod
    def _inventory_range(cls, inventory: dict[str, float]) -> dict[str, float]:
        for hw, nodes in inventory.items():
            if nodes > 1e7:
                raise ValueError(f"inventory of {hw} is {nodes:g} nodes; at most 1e7")
        return inventory


class Options(Frozen):
    """The option set the optimizer chooses from."""

    models: list[Id] = Field(min_length=1, max_length=64, description="Allowed model ids")
    precisions: list[Id] = Field(default=["fp8"], min_length=1, max_length=16,
                                 description="Allowed precisions")
    hardware: list[Id] = Field(min_length=1, max_length=64, description="Allowed hardware ids")
    gpus_per_replica: list[Annotated[int, Field(ge=1, le=1024)]] = Field(
        default=[1, 2, 4, 8], min_length=1, max_length=16, description="Tensor-parallel sizes")
    max_concurrency: list[Annotated[int, Field(ge=1, le=100_000)]] = Field(
        default=[16, 64, 256], min_length=1, max_length=32,
        description="Batch (concurrency) levels")
    speculative_decoding: list[StrictBool] = Field(
        default=[False], min_length=1,
        description="Serving with speculative decoding: [false], [true] or both (a choice)")
    disaggregation: list[StrictBool] = Field(
        default=[False], min_length=1,
        description="Prefill/decode disaggregation (prefills on their own replicas, no prefill "
                    "stalls in decode): [false], [true] or both (a choice)")
    engines: list[str] = Field(
        default=["trtllm"], min_length=1,
        description="Serving engines (calibrated in calibration.json: trtllm, the reference the "
                    "throughput tables measure and the most efficient measured; vllm, fit on "
                    "ML.ENERGY v3; with a version, the serving-sweep latency calibration: "
                    "vllm:0.13.0, vllm:0.11.2, sglang:0.5.6, trtllm:1.2.0rc2, an unknown version "
                    "the nearest): one, or several as a choice")
    utilization_ceiling: float = Field(default=0.8, ge=0.05, le=1,
                                       description="Largest planned busy fraction per hour "
                                                   "(0.05 to 1)")
    min_replicas: PositiveInt = Field(default=1, le=100_000,
                                      description="MILP: minimum replicas if deployed")
    node_cost_usd_per_hour: dict[Id, Annotated[float, Field(ge=0, le=1e6)]] = Field(
        default_factory=dict,
        description="Per hardware id: cost of a provisioned node per hour, electricity excluded "
                    "(amortised capex, hosting); needed by objective: cost")
    max_deployments: PositiveInt | None = Field(default=None, le=1_000_000,
                                                description="MILP: most distinct deployments")
    failover_utilization: float = Field(
        default=FAILOVER_UTILIZATION, ge=0.05, le=1,
        description="Largest busy fraction per hour the surviving sites may run at while a "
                    "failover site is lost (0.05 to 1; default 0.95: an emergency runs hotter "
                    "than the planned ceiling, 0.8 by default, and keeps 5 % for queueing)")


class SolverOptions(Frozen):
    """Solver limits."""

    time_limit_s: float = Field(default=60.0, ge=0.01, le=1e6,
                                description="Wall-clock limit (s)")
    mip_gap: float = Field(default=0.005, ge=0, lt=1, description="Relative MIP gap target")


class Adjustments(Frozen):
    """Multipliers for sensitivity analysis and Monte Carlo sweeps (1 = as modelled)."""

    demand_scale: float = Field(default=1.0, ge=1e-6, le=1e6,
                                description="Multiplies every class's demand (1e-6 to 1e6)")
    throughput_scale: float = Field(
        default=1.0, ge=0.01, le=100,
        description="Multiplies modelled tok/s (divides node-seconds and latency; 0.01 to 100)")
    power_scale: float = Field(default=1.0, ge=0.01, le=100,
                               description="Multiplies node power, idle and active (0.01 to 100)")


class LeverGroup(Frozen):
    """One lever: overrides relative to the baseline (option expansions or parameter changes)."""

    name: Id = Field(description="Lever name (kebab-case)")
    description: str = Field(default="", description="What the lever does")
    source: str = Field(default="", description="Where its values or effect sizes come from")
    set: dict[str, Any] = Field(min_length=1, description="{path: value} applied on the baseline")

    @field_validator("set")
    @classmethod
    def _paths(cls, overrides: dict[str, Any]) -> dict[str, Any]:
        return _check_paths(overrides)


def _check_paths(overrides: dict[str, Any]) -> dict[str, Any]:
    """Every key of a {path: value} mapping is a well-formed instance path."""
    from planner.errors import InputError
    from planner.config.paths import split_path

    for path in overrides:
        try:
            split_path(path)
        except InputError as exc:
            raise ValueError(f"{exc.reason} (got {path!r})") from None
    return overrides


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

    @field_validator("baseline")
    @classmethod
    def _baseline_paths(cls, overrides: dict[str, Any]) -> dict[str, Any]:
        return _check_paths(overrides)
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

    name: Id = Field(description="Instance name")
    description: str = Field(default="", description="What it models")
    seed: int = Field(default=0, ge=0, le=2**63 - 1,
                      description="Seed (reserved for sampled inputs; not negative)")
    classes: list[QueryClass] = Field(min_length=1, description="Query classes")
    sites: list[Site] = Field(min_length=1, description="Sites")
    options: Options = Field(description="Allowed options")
    objective: Literal["energy", "carbon", "cost"] = Field(
        default="energy", description="Minimised: GWh/day, kt CO2/day or million USD/day")
    solver: SolverOptions = Field(default_factory=SolverOptions, description="Solver limits")
    scenarios: dict[str, dict] = Field(default_factory=dict,
                                       description="Named overrides: {path: value}")

    @field_validator("scenarios")
    @classmethod
    def _scenario_paths(cls, scenarios: dict[str, dict]) -> dict[str, dict]:
        for overrides in scenarios.values():
            _check_paths(overrides)
        return scenarios
    levers: LeverSpec | None = Field(default=None, description="Lever attribution (planner levers)")
    adjustments: Adjustments = Field(default_factory=Adjustments,
                                     description="Sensitivity multipliers")
    robustness: Robustness = Field(default_factory=Robustness,
                                   description="Coefficient uncertainty and the robust plan")
    # --- issue 13: what the user brings (planner/config/schema/custom.py, planner/problem/measurements.py) ---
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
    roadmap: Roadmap | None = Field(
        default=None, description="The instance over a horizon of periods (planner roadmap): "
                                  "demand growth, hardware orders, vintages, caps over time")

    @model_validator(mode="after")
    def _unique_ids(self) -> "PlanningInstance":
        for what, ids in (("classes", [c.id for c in self.classes]),
                          ("sites", [s.id for s in self.sites])):
            dupes = repeated(ids)
            if dupes:
                raise ValueError(f"{what} ids must be unique (repeated: {', '.join(dupes)})")
        if any(s.failover for s in self.sites) and len(self.sites) < 2:
            raise ValueError("sites[].failover needs another site to fail over to")
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
