"""Schema of a roadmap: the instance over a horizon of periods (``planner roadmap``).

Every period solves the instance's classes, sites and options; what changes from period to
period is stated here: demand growth, day profiles, site caps, which hardware can be ordered
(from when, how long it takes to arrive, how many a period, at what capex) and the installed
base by vintage. The cross-field rules that need the file, the field and the value in one line
(periods out of order, a lead time longer than the horizon, ...) are in :func:`check_roadmap`.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Literal

from pydantic import Field, NonNegativeFloat, PositiveFloat

from planner.config.schema.common import Frozen, Id

DAYS_PER_YEAR = 365.25
MAX_DEMAND = 1e13  # queries/day, the schema's limit on a class


class Period(Frozen):
    """One period of the horizon: its operations are a representative day times its days."""

    id: Id = Field(description="Period id (e.g. 2027Q1)")
    start: dt.date = Field(description="First day (ISO date)")
    end: dt.date = Field(description="Day after the last (ISO date, exclusive)")
    day_profile: Id | None = Field(
        default=None, description="Name of its day profile in roadmap.day_profiles (null: the "
                                  "classes' own diurnal profiles)")


class HardwarePlan(Frozen):
    """What buying one hardware id means over the horizon."""

    orderable: bool = Field(default=True, description="New nodes can be ordered")
    first_delivery: dt.date | None = Field(
        default=None, description="No order arrives before this date (a projected part's first "
                                  "delivery); null: any time")
    last_order: dt.date | None = Field(
        default=None, description="No order is placed after this date (end of sale); null: never")
    lead_time_days: NonNegativeFloat = Field(
        default=0.0, le=36525, description="Days from order to usable nodes (an order placed at "
                                           "a period's start is usable from the first period "
                                           "starting that many days later)")
    max_nodes_per_period: NonNegativeFloat | None = Field(
        default=None, le=1e7, description="Most nodes delivered per period, all sites together "
                                          "(supply or build limit); null: unlimited")
    lifetime_years: PositiveFloat | None = Field(
        default=None, le=100, description="Years a node serves after installation; null: "
                                          "beyond the horizon")
    capex_usd_per_node: NonNegativeFloat = Field(
        default=0.0, le=1e9, description="Purchase price per node, paid on arrival (objective: "
                                         "cost, discounted)")
    capex_by_period: dict[Id, Annotated[float, Field(ge=0, le=1e9)]] = Field(
        default_factory=dict, description="Purchase price per node of an order arriving from "
                                          "that period id on (falling prices); before the "
                                          "first listed period: capex_usd_per_node")
    embodied_t_co2_per_node: NonNegativeFloat = Field(
        default=0.0, le=1e6, description="Embodied (manufacturing) emissions per node, t CO2, "
                                         "counted on arrival (objective: carbon); give its "
                                         "source")
    source: str = Field(default="", description="Where the dates, lead time and prices come from")


class Vintage(Frozen):
    """Installed nodes of one hardware at one site, by installation date."""

    site: Id = Field(description="Site id")
    hardware: Id = Field(description="Hardware id")
    nodes: NonNegativeFloat = Field(le=1e7, description="Nodes of this vintage")
    installed: dt.date = Field(description="Installation date (not after the horizon's start)")


class CapStep(Frozen):
    """A site's power cap from a period on."""

    site: Id = Field(description="Site id")
    period: Id = Field(description="Period id from which the cap holds")
    power_cap_mw: PositiveFloat | None = Field(default=None, le=1e5,
                                               description="Facility-side cap, MW (null: none)")


class SiteStep(Frozen):
    """A site's electricity price or grid carbon intensity from a period on."""

    site: Id = Field(description="Site id")
    period: Id = Field(description="Period id from which the values hold")
    electricity_usd_per_kwh: NonNegativeFloat | None = Field(
        default=None, le=100.0, description="Electricity price, USD per facility kWh (null: "
                                            "unchanged)")
    carbon_kg_per_kwh: NonNegativeFloat | None = Field(
        default=None, le=10.0, description="Grid carbon intensity (null: unchanged)")


class Roadmap(Frozen):
    """The horizon: periods, demand growth, hardware over time, installed base by vintage."""

    periods: list[Period] = Field(min_length=1, max_length=400,
                                  description="Consecutive periods, in order, not overlapping")
    demand_growth_per_year: dict[Id, Annotated[float, Field(gt=-1, le=100)]] = Field(
        default_factory=dict,
        description="Yearly demand growth per class id ('*': every class not listed), compounded "
                    "from the first period's start to each period's start (0.5 = +50 %/year)")
    growth_source: str = Field(default="", description="Where the growth rates come from")
    day_profiles: dict[Id, dict[Id, list[Annotated[float, Field(gt=0, le=1e6)]]]] = Field(
        default_factory=dict,
        description="Named day profiles: {name: {class id: 24 hourly values}}; a class not "
                    "listed keeps its diurnal profile")
    hardware: dict[Id, HardwarePlan] = Field(
        default_factory=dict, description="Per hardware id: orders over time (a hardware not "
                                          "listed is orderable at once, no lead time, no limit)")
    installed: list[Vintage] = Field(
        default_factory=list,
        description="Installed base by vintage; a (site, hardware) listed here replaces the "
                    "site's inventory figure, which otherwise counts as installed at the start")
    power_caps: list[CapStep] = Field(default_factory=list,
                                      description="Site caps changing from a period on")
    site_changes: list[SiteStep] = Field(
        default_factory=list, description="Site electricity prices or carbon intensities "
                                          "changing from a period on")
    discount_rate: float = Field(default=0.0, ge=0, le=1,
                                 description="Yearly discount rate of the cost objective (NPV)")
    idle_policy: Literal["off", "warm"] = Field(
        default="off", description="Installed nodes the plan does not use: 'off' (no energy) or "
                                   "'warm' (idle power x PUE, in energy and in the cap)")
    allow_early_retirement: bool = Field(
        default=True, description="Nodes may be retired before their lifetime ends")

    def days(self) -> list[float]:
        return [float((p.end - p.start).days) for p in self.periods]


def _unused(text: str) -> None:
    """Said once, not an error: a scenario or lever baseline may narrow options.hardware."""
    import logging

    from planner.config.validation import warn_once

    warn_once(logging.getLogger(__name__), text)


def check_roadmap(roadmap: Roadmap, file: str, class_ids: list[str], site_ids: list[str],
                  hardware_ids: list[str], base_demand: dict[str, float],
                  resolve=lambda hw, field: hw) -> None:
    """The roadmap's cross-field rules, each a one-line InputError naming file, field and
    value. ``hardware_ids``: the instance's allowed hardware (catalog ids); ``resolve(name,
    field)``: a hardware name as a catalog id (raising on an unknown one)."""
    from planner.errors import InputError

    def fail(reason: str, field: str, value) -> None:
        raise InputError(reason, file=file, field=f"roadmap.{field}", value=value,
                         has_value=True)

    periods = roadmap.periods
    ids = [p.id for p in periods]
    for i, p in enumerate(periods):
        if p.end <= p.start:
            fail(f"period ends ({p.end}) on or before it starts", f"periods[{i}].end", str(p.end))
        if ids.count(p.id) > 1:
            fail("period ids must be unique", f"periods[{i}].id", p.id)
        if i and p.start < periods[i - 1].end:
            fail(f"periods out of order or overlapping: starts before {periods[i - 1].id} ends "
                 f"({periods[i - 1].end})", f"periods[{i}].start", str(p.start))
        if i and p.start > periods[i - 1].end:
            fail(f"a gap after {periods[i - 1].id} (ends {periods[i - 1].end}); periods are "
                 f"consecutive", f"periods[{i}].start", str(p.start))
        if roadmap.day_profiles and p.day_profile is None:
            fail(f"period has no day profile (day_profiles: {sorted(roadmap.day_profiles)})",
                 f"periods[{i}].day_profile", None)
        if p.day_profile is not None and p.day_profile not in roadmap.day_profiles:
            fail(f"unknown day profile; known: {sorted(roadmap.day_profiles)}",
                 f"periods[{i}].day_profile", p.day_profile)
    start, end = periods[0].start, periods[-1].end
    horizon_days = (end - start).days
    for name, profile in roadmap.day_profiles.items():
        for cid, values in profile.items():
            if cid not in class_ids:
                fail(f"unknown class id; known: {class_ids}", f"day_profiles.{name}", cid)
            if len(values) != 24:
                fail(f"a day profile needs 24 hourly values (got {len(values)})",
                     f"day_profiles.{name}.{cid}", len(values))
    for cid, rate in roadmap.demand_growth_per_year.items():
        if cid != "*" and cid not in class_ids:
            fail(f"unknown class id; known: {class_ids} or '*'", "demand_growth_per_year", cid)
        years = horizon_days / DAYS_PER_YEAR
        with_rate = [q for c, q in base_demand.items()
                     if c == cid or (cid == "*" and c not in roadmap.demand_growth_per_year)]
        try:
            factor = (1.0 + rate) ** years
        except OverflowError:
            factor = math.inf
        if not with_rate:
            continue
        if not math.isfinite(factor) or max(with_rate) * factor > MAX_DEMAND:
            fail(f"gives {max(with_rate) * factor:.3g} queries/day by the horizon's end (at most "
                 f"{MAX_DEMAND:g}): infinite for the solver", f"demand_growth_per_year.{cid}",
                 rate)
        if min(with_rate) * factor <= 0:
            fail("gives zero or negative demand", f"demand_growth_per_year.{cid}", rate)
    for hw, plan in roadmap.hardware.items():
        if resolve(hw, f"roadmap.hardware.{hw}") not in hardware_ids:
            _unused(f"{file}: roadmap.hardware.{hw}: hardware not in options.hardware; its "
                    f"plan is unused")
            continue
        if plan.lead_time_days > horizon_days:
            fail(f"lead time longer than the horizon ({horizon_days} days, {start} to {end})",
                 f"hardware.{hw}.lead_time_days", plan.lead_time_days)
        if plan.first_delivery is not None and plan.first_delivery >= end:
            fail(f"available only after the horizon (ends {end})",
                 f"hardware.{hw}.first_delivery", str(plan.first_delivery))
    for i, v in enumerate(roadmap.installed):
        if v.site not in site_ids:
            fail(f"unknown site; known: {site_ids}", f"installed[{i}].site", v.site)
        if resolve(v.hardware, f"roadmap.installed[{i}].hardware") not in hardware_ids:
            _unused(f"{file}: roadmap.installed[{i}].hardware: {v.hardware} not in "
                    f"options.hardware; this vintage is unused")
        if v.installed > start:
            fail(f"vintage in the future: installed after the horizon starts ({start}); a later "
                 f"arrival is an order", f"installed[{i}].installed", str(v.installed))
    for hw, plan in roadmap.hardware.items():
        for pid in plan.capex_by_period:
            if pid not in ids:
                fail(f"unknown period; known: {ids}", f"hardware.{hw}.capex_by_period", pid)
    for i, step in enumerate(roadmap.site_changes):
        if step.site not in site_ids:
            fail(f"unknown site; known: {site_ids}", f"site_changes[{i}].site", step.site)
        if step.period not in ids:
            fail(f"unknown period; known: {ids}", f"site_changes[{i}].period", step.period)
    for i, step in enumerate(roadmap.power_caps):
        if step.site not in site_ids:
            fail(f"unknown site; known: {site_ids}", f"power_caps[{i}].site", step.site)
        if step.period not in ids:
            fail(f"unknown period; known: {ids}", f"power_caps[{i}].period", step.period)
