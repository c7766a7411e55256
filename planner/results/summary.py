"""The plan summary's keys and types, in one place: what ``summary.json`` holds and what the
report, the CLI and the sweep worker read. A ``TypedDict`` (the summary is written as JSON as
it is), so a type checker sees every key a consumer reads."""

from __future__ import annotations

from typing import Any, TypedDict


class PlanSummary(TypedDict, total=False):
    status: str  # planner.solve.result.Status value: optimal, time_limit
    objective: str  # energy, carbon or cost
    objective_unit: str  # GWh/day, kt CO2/day, million USD/day
    objective_value: float  # in objective_unit, without the tie-breaking energy term
    objective_gwh_per_day: float  # the fleet's energy whatever is minimised
    distributed: dict  # issue 26: a --scheduler solve's cluster and its workers' peak memory
    # issue 22: the fixed point on the plan's own pools (re-solves, converged, pairs changed)
    pooling: dict[str, Any]
    peak_power_mw: float  # facility-side peak over the day, all sites
    wh_per_query: float
    queries_per_day: float
    mip_gap: float | None  # proven (MILP); 0 for an LP
    mip_gap_history: list[dict] | None  # planner.solve.result.GapPoint.as_dict() each
    solve_path: str | None  # direct, colgen, priced, lazy
    lp_bound: float | None
    lp_bound_gwh_per_day: float | None
    nodes: float
    deployments_used: int
    candidates: dict[str, Any]  # counts of generated, fitting, eligible, pruned candidates
    timings_s: dict[str, float]
    provenance: dict[str, Any]  # instance hash, versions, options, catalog digest
    warnings: list[str]
    coefficient_sources: dict[str, str]  # deployment -> measured / modelled / extrapolated
    robust: dict[str, Any]  # the robust plan's formulation, levels and rounds
    uncertainty: dict[str, Any]  # solve --uncertainty N
