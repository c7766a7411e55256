"""From an instance's ``roadmap`` section (dates) to the formulation's plain arrays: each
period's coefficients and the :class:`~formulations.periods.Horizon` (cohorts, orders, limits).

Rules (docs/roadmap.md): a period's demand is the instance's, compounded by the class's yearly
growth from the first period's start to the period's start; its day profile is the named one
(or the classes' diurnal); a site's cap is the last ``power_caps`` step at or before the period
(or the site's own). A hardware listed in a site's inventory (or ``roadmap.installed``) is that
site's installed base, by vintage, and is not ordered there; elsewhere it is ordered per its
``roadmap.hardware`` entry (a hardware not listed: at once, no lead time, no limit). An order
placed at a period's start is usable from the first period starting ``lead_time_days`` later and
not before ``first_delivery``; it is not placed after ``last_order``. A node lives
``lifetime_years`` from its arrival (an installed one from its vintage's date).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pandas as pd

from formulations.coefficients import Coefficients
from formulations.periods import Horizon
from planner.catalog.loaders import load_catalog
from planner.config.schema.plan import PlanningInstance
from planner.config.schema.roadmap import DAYS_PER_YEAR, HardwarePlan, Roadmap
from planner.problem.measurements import instance_catalog_context


def one_period_roadmap(instance: PlanningInstance, days: int = 1) -> Roadmap:
    """The roadmap of a single period: no growth, no lead time, no capex, orders unlimited
    where a site lists no inventory, the installed base = the inventory (= ``planner solve``)."""
    start = dt.date(2027, 1, 1)
    return Roadmap(periods=[{"id": "p1", "start": start,
                             "end": start + dt.timedelta(days=days)}])


def years_between(a: dt.date, b: dt.date) -> float:
    return (b - a).days / DAYS_PER_YEAR


def period_coefficients(instance: PlanningInstance, c: Coefficients) -> list[Coefficients]:
    """Each period's coefficients: the same candidates with the period's demand, day profile
    and caps, and no static inventory (the cohorts carry it)."""
    r = instance.roadmap
    start0 = r.periods[0].start
    ids = list(c.classes["id"])
    default = r.demand_growth_per_year.get("*", 0.0)
    rate = np.array([r.demand_growth_per_year.get(cid, default) for cid in ids], float)
    site_index = {s.id: i for i, s in enumerate(instance.sites)}
    period_index = {p.id: t for t, p in enumerate(r.periods)}
    steps = sorted(r.power_caps, key=lambda s: period_index[s.period])
    empty = pd.DataFrame(columns=["site_idx", "hardware", "nodes"])
    out = []
    for t, p in enumerate(r.periods):
        demand = c.demand * (1.0 + rate) ** years_between(start0, p.start)
        profile = c.profile.copy()
        for cid, values in (r.day_profiles.get(p.day_profile) or {}).items():
            v = np.asarray(values, float)
            profile[ids.index(cid)] = v / v.mean()
        cap = c.site_cap_kw.copy()
        for step in steps:
            if period_index[step.period] <= t:
                cap[site_index[step.site]] = (step.power_cap_mw * 1e3 if step.power_cap_mw
                                              else np.inf)
        weight = c.site_weight.copy()
        key = {"carbon": "carbon_kg_per_kwh", "cost": "electricity_usd_per_kwh"}.get(
            instance.objective)
        for step in sorted(r.site_changes, key=lambda s: period_index[s.period]):
            value = getattr(step, key) if key else None
            if period_index[step.period] <= t and value is not None:
                weight[site_index[step.site]] = value
        out.append(replace(c, classes=c.classes.assign(queries_per_day=demand), demand=demand,
                           profile=profile, site_cap_kw=cap, inventory=empty,
                           site_weight=weight))
    return out


def discount_factors(instance: PlanningInstance) -> np.ndarray:
    """Per period: (1 + r)^-years from the horizon's start (the cost objective only)."""
    r = instance.roadmap
    if instance.objective != "cost" or r.discount_rate == 0:
        return np.ones(len(r.periods))
    start0 = r.periods[0].start
    return np.array([(1 + r.discount_rate) ** -years_between(start0, p.start)
                     for p in r.periods])


def _first_at_or_after(starts: list[dt.date], date: dt.date) -> int | None:
    for t, s in enumerate(starts):
        if s >= date:
            return t
    return None


def _last_alive(starts: list[dt.date], since: dt.date, lifetime_years: float | None) -> int:
    """Last period index that starts before the end of a life begun at ``since``."""
    if lifetime_years is None:
        return len(starts) - 1
    end = since + dt.timedelta(days=lifetime_years * DAYS_PER_YEAR)
    alive = [t for t, s in enumerate(starts) if s < end]
    return alive[-1] if alive else -1


def build_horizon(instance: PlanningInstance, c: Coefficients) -> Horizon:
    """The horizon's cohorts, orders and limits from the roadmap's dates."""
    with instance_catalog_context(instance):
        return _build_horizon(instance, c)


def _build_horizon(instance: PlanningInstance, c: Coefficients) -> Horizon:
    catalog = load_catalog()
    r = instance.roadmap
    starts = [p.start for p in r.periods]
    ids = [p.id for p in r.periods]
    start0 = starts[0]
    plans = {catalog.hardware_id(hw): plan for hw, plan in r.hardware.items()}
    allowed = list(dict.fromkeys(catalog.hardware_id(hw) for hw in instance.options.hardware))
    vintages: dict[tuple[int, str], list[tuple[float, dt.date]]] = {}
    for v in r.installed:
        key = ([s.id for s in instance.sites].index(v.site), catalog.hardware_id(v.hardware))
        vintages.setdefault(key, []).append((v.nodes, v.installed))
    for s, site in enumerate(instance.sites):
        for hw, nodes in site.inventory.items():
            vintages.setdefault((s, catalog.hardware_id(hw)), [(float(nodes), start0)])
    cohort_rows = []
    for (s, hw), items in sorted(vintages.items()):
        life = plans.get(hw, HardwarePlan()).lifetime_years
        for nodes, date in items:
            cohort_rows.append({"site_idx": s, "hardware": hw, "nodes": float(nodes),
                                "vintage": date.isoformat(), "first": 0,
                                "last": _last_alive(starts, date, life)})
    cohorts = pd.DataFrame(cohort_rows, columns=["site_idx", "hardware", "nodes", "vintage",
                                                 "first", "last"])
    cohorts = cohorts[cohorts["last"] >= 0].reset_index(drop=True)
    order_rows, limits = [], []
    for hw in allowed:
        plan = plans.get(hw, HardwarePlan())
        if not plan.orderable:
            continue
        arrival_of = {}
        for p, start in enumerate(starts):
            if plan.last_order is not None and start > plan.last_order:
                continue
            a = _first_at_or_after(starts, start + dt.timedelta(days=plan.lead_time_days))
            if a is not None and plan.first_delivery is not None and \
                    starts[a] < plan.first_delivery:
                a = _first_at_or_after(starts, plan.first_delivery)
            if a is not None:
                arrival_of[a] = p  # the latest order period that still arrives at a
        def capex(a: int, plan=plan) -> float:
            """Objective units per node of an order arriving in period a."""
            if instance.objective == "carbon":
                return plan.embodied_t_co2_per_node / 1e3  # kt CO2
            if instance.objective != "cost":
                return 0.0
            price = plan.capex_usd_per_node
            for pid, value in sorted(plan.capex_by_period.items(),
                                     key=lambda kv: ids.index(kv[0])):
                if ids.index(pid) <= a:
                    price = value
            return price / 1e6  # million USD
        for s in range(len(instance.sites)):
            if (s, hw) in vintages:
                continue  # a site's installed base is not ordered there
            for a, p in sorted(arrival_of.items()):
                order_rows.append({"site_idx": s, "hardware": hw, "arrival": a, "ordered": p,
                                   "last": _last_alive(starts, starts[a], plan.lifetime_years),
                                   "capex": capex(a)})
        if plan.max_nodes_per_period is not None:
            limits += [{"hardware": hw, "arrival": a, "nodes": plan.max_nodes_per_period}
                       for a in sorted(arrival_of)]
    orders = pd.DataFrame(order_rows, columns=["site_idx", "hardware", "arrival", "ordered",
                                               "last", "capex"])
    days = np.array(r.days(), float)
    return Horizon(period_ids=tuple(p.id for p in r.periods), days=days,
                   discount=discount_factors(instance), cohorts=cohorts, orders=orders,
                   build_limit=pd.DataFrame(limits, columns=["hardware", "arrival", "nodes"]),
                   idle_kw=idle_kw_per_node(instance, c, allowed),
                   idle_warm=r.idle_policy == "warm", retire=r.allow_early_retirement)


def idle_kw_per_node(instance: PlanningInstance, c: Coefficients, hardware: list[str]) -> dict:
    """Idle IT kW of a node of each hardware: its deployments' (the candidates'), else the
    performance model's for the catalog entry."""
    out = {}
    for hw in hardware:
        mask = c.dep_hardware == hw
        if mask.any():
            out[hw] = float(np.max(c.dep_idle_kw[mask]))
    missing = [hw for hw in hardware if hw not in out]
    if missing:
        from planner.perf.factors import load_calibration
        from planner.perf.model import node_idle_kw

        spec = load_catalog().hardware.loc[missing]
        values = node_idle_kw(spec, load_calibration()) * instance.adjustments.power_scale
        out.update({hw: float(v) for hw, v in zip(missing, values)})
    return out
