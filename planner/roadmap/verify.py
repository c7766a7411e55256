"""Independent re-check of a roadmap plan, period by period, in plain numpy.

Each period's operations go through the single-plan verifier (:func:`verify_plan`) on that
period's coefficients. The time coupling is recomputed from the horizon's inputs, not from the
form: every cohort's live nodes = its installed nodes (or its order) less its cumulative
retirements, zero outside its life; orders only at arrivals the lead time and first delivery
allow (the ``orders`` table); the nodes a period uses at each (site, hardware) never exceed the
live nodes there; build limits; non-negativity and, for a MILP, whole nodes and orders.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from formulations.coefficients import Coefficients
from formulations.periods import Horizon
from planner.solve.verify import REL_TOL, verify_plan


def live_nodes(h: Horizon, orders: np.ndarray, retired: dict[tuple[int, int], float]
               ) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """T x K live nodes of every cohort (installed first, then order cohorts) from the inputs:
    start value, less cumulative retirements from the start of its life, 0 outside its life.
    ``retired``: {(cohort, period): nodes}. Returns (alive, [(site, hardware) per cohort])."""
    t_count = h.n_periods
    cohorts, table = h.cohorts, h.orders
    start = np.concatenate([cohorts["nodes"].to_numpy(float), np.asarray(orders, float)])
    first = np.concatenate([cohorts["first"].to_numpy(int), table["arrival"].to_numpy(int)])
    last = np.concatenate([cohorts["last"].to_numpy(int), table["last"].to_numpy(int)])
    keys = [(int(s), str(hw)) for s, hw in zip(cohorts["site_idx"], cohorts["hardware"])] + \
        [(int(s), str(hw)) for s, hw in zip(table["site_idx"], table["hardware"])]
    out = np.zeros((t_count, start.size))
    for k in range(start.size):
        value = start[k]
        for t in range(first[k], last[k] + 1):
            value -= retired.get((k, t), 0.0)
            out[t, k] = value
    return out, keys


def verify_roadmap(cs: list[Coefficients], h: Horizon, x: np.ndarray, n: np.ndarray,
                   orders: np.ndarray, retired: dict[tuple[int, int], float],
                   integer: bool = False, flows: list[dict] | None = None) -> pd.DataFrame:
    """Every violated rule of the roadmap plan (x: T x P queries/day, n: T x D nodes,
    ``orders`` per row of ``h.orders``), one row each; empty when the plan holds."""
    problems = []
    for t, c in enumerate(cs):
        bad = verify_plan(c, x[t], n[t], integer=integer, flows=flows[t] if flows
                          else None)
        for r in bad.itertuples():
            problems.append({"period": h.period_ids[t], "constraint": r.constraint,
                             "where": r.where, "excess": r.excess})
    orders = np.asarray(orders, float)
    if orders.size and orders.min() < -1e-6:
        problems.append({"period": "all", "constraint": "nonnegativity", "where": "orders",
                         "excess": float(orders.min())})
    if any(v < -1e-6 for v in retired.values()):
        problems.append({"period": "all", "constraint": "nonnegativity", "where": "retired",
                         "excess": float(min(retired.values()))})
    if integer and orders.size and np.max(np.abs(orders - np.rint(orders))) > 1e-5:
        problems.append({"period": "all", "constraint": "integrality", "where": "orders",
                         "excess": float(np.max(np.abs(orders - np.rint(orders))))})
    alive, keys = live_nodes(h, orders, retired)
    if alive.size and alive.min() < -1e-6 * max(1.0, np.abs(alive).max()):
        problems.append({"period": "all", "constraint": "cohort", "where": "retired more than "
                         "alive", "excess": float(alive.min())})
    c0 = cs[0]
    for t in range(h.n_periods):
        used: dict[tuple[int, str], float] = {}
        for d, (s, hw) in enumerate(zip(c0.dep_site, c0.dep_hardware)):
            used[(int(s), str(hw))] = used.get((int(s), str(hw)), 0.0) + float(n[t, d])
        have: dict[tuple[int, str], float] = {}
        for k, key in enumerate(keys):
            have[key] = have.get(key, 0.0) + float(alive[t, k])
        for key, nodes in used.items():
            limit = have.get(key, 0.0)
            if nodes > limit * (1 + REL_TOL) + 1e-6:
                problems.append({"period": h.period_ids[t], "constraint": "installed",
                                 "where": f"site {c0.site_ids[key[0]]} {key[1]}",
                                 "excess": nodes - limit})
    table = h.orders
    for lim in h.build_limit.itertuples():
        mask = ((table["hardware"].to_numpy() == lim.hardware)
                & (table["arrival"].to_numpy(int) == int(lim.arrival)))
        got = float(orders[mask].sum())
        if got > lim.nodes * (1 + REL_TOL) + 1e-6:
            problems.append({"period": h.period_ids[int(lim.arrival)],
                             "constraint": "build_limit", "where": lim.hardware,
                             "excess": got - lim.nodes})
    return pd.DataFrame(problems, columns=["period", "constraint", "where", "excess"])


def verify_dates(instance, h: Horizon) -> pd.DataFrame:
    """The horizon's arrays re-derived from the roadmap's dates, independently of
    :mod:`planner.roadmap.horizon`: every order cohort arrives no earlier than its order
    period's start plus the lead time and the first delivery, is ordered by the last order
    date, lives no longer than its lifetime (and as long), is never at a site whose installed
    base the hardware is; every installed vintage lives its lifetime from its date."""
    import datetime as dt

    from planner.catalog.loaders import load_catalog
    from planner.config.schema.roadmap import DAYS_PER_YEAR, HardwarePlan
    from planner.problem.measurements import instance_catalog_context

    r = instance.roadmap
    starts = [p.start for p in r.periods]
    with instance_catalog_context(instance):
        catalog = load_catalog()
        plans = {catalog.hardware_id(k): v for k, v in r.hardware.items()}
        base = {(s, catalog.hardware_id(hw)) for s, site in enumerate(instance.sites)
                for hw in site.inventory}
        site_ids = [s.id for s in instance.sites]
        base |= {(site_ids.index(v.site), catalog.hardware_id(v.hardware)) for v in r.installed}
    problems = []

    def life_ok(since: dt.date, last: int, years: float | None) -> bool:
        if years is None:
            return last == len(starts) - 1
        end = since + dt.timedelta(days=years * DAYS_PER_YEAR)
        return starts[last] < end and (last == len(starts) - 1 or starts[last + 1] >= end)

    for row in h.orders.itertuples():
        plan = plans.get(row.hardware, HardwarePlan())
        ordered, arrives = starts[int(row.ordered)], starts[int(row.arrival)]
        where = f"{site_ids[int(row.site_idx)]} {row.hardware} arriving {h.period_ids[row.arrival]}"
        if not plan.orderable or (int(row.site_idx), row.hardware) in base:
            problems.append({"period": h.period_ids[row.arrival], "constraint": "orderable",
                             "where": where, "excess": 1.0})
        if arrives < ordered + dt.timedelta(days=plan.lead_time_days):
            problems.append({"period": h.period_ids[row.arrival], "constraint": "lead_time",
                             "where": where, "excess": (ordered - arrives).days
                             + plan.lead_time_days})
        if plan.first_delivery is not None and arrives < plan.first_delivery:
            problems.append({"period": h.period_ids[row.arrival], "constraint": "availability",
                             "where": where, "excess": (plan.first_delivery - arrives).days})
        if plan.last_order is not None and ordered > plan.last_order:
            problems.append({"period": h.period_ids[row.arrival], "constraint": "last_order",
                             "where": where, "excess": (ordered - plan.last_order).days})
        if not life_ok(arrives, int(row.last), plan.lifetime_years):
            problems.append({"period": h.period_ids[row.arrival], "constraint": "lifetime",
                             "where": where, "excess": 1.0})
    for row in h.cohorts.itertuples():
        plan = plans.get(row.hardware, HardwarePlan())
        since = dt.date.fromisoformat(row.vintage)
        if since > starts[0] or not life_ok(since, int(row.last), plan.lifetime_years):
            problems.append({"period": "all", "constraint": "lifetime",
                             "where": f"{site_ids[int(row.site_idx)]} {row.hardware} "
                                      f"installed {row.vintage}", "excess": 1.0})
    return pd.DataFrame(problems, columns=["period", "constraint", "where", "excess"])
