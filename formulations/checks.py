"""The re-check half of each constraint unit: plain numpy over the coefficient arrays.

Each ``check_*`` takes the coefficients and a :class:`PlanValues` and returns the violated rows
of its constraint type (dicts: constraint, where, excess). Every unit in
:data:`formulations.form.CONSTRAINTS` that a user can state names its check; the verifier
(``planner.solve.verify.verify_plan``) runs them all. The checks recompute loads from the
coefficient arrays directly, so a modelling slip in a formulation (a wrong sign, a missing
hour) shows up as a violation here instead of a silently wrong plan: they share no arithmetic
with the builder (``formulations.constraints``, ``formulations.form``) or the plan tables
(``formulations.loads``), so a slip there cannot agree with itself here.
Loads are accumulated per (deployment, class) with ``np.bincount`` and then spread over the
hours with each class's own profile: vectorised over the plan's support (pairs with x > 0), no
pairs x hours array, and independent of the formulations' profile groups and load variables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from formulations.coefficients import HOURS, SECONDS_PER_HOUR, Coefficients

REL_TOL = 1e-5


@dataclass(frozen=True)
class PlanValues:
    """A plan as the checks read it: x (queries/day per pair), n (nodes per deployment),
    ``integer`` (a MILP plan: whole nodes, minimum replicas, the deployment limit) and the
    plan's other per-pair columns by block name (layers x pairs, queries/day; e.g. failover
    flows: queries/day re-routed to a pair if a site is lost)."""

    x: np.ndarray
    n: np.ndarray
    integer: bool = False
    flows: dict = field(default_factory=dict)


def _per_entity_class(entity: np.ndarray, n_entities: int, c: Coefficients,
                      weights: np.ndarray) -> np.ndarray:
    """entities x 24: sum over the plan's pairs of weight x the class's hourly share."""
    x_support = np.flatnonzero(weights != 0)
    n_classes = c.profile.shape[0]
    key = entity[x_support].astype(np.int64) * n_classes + c.pair_class[x_support]
    daily = np.bincount(key, weights=weights[x_support], minlength=n_entities * n_classes)
    return daily.reshape(n_entities, n_classes) @ (c.profile / HOURS)


def _busy(c: Coefficients, x: np.ndarray) -> np.ndarray:
    """D x 24 busy node-seconds (x in queries/day)."""
    return _per_entity_class(c.pair_dep, c.n_deployments, c,
                             np.asarray(x, float) * c.node_seconds)


def _power(c: Coefficients, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """S x 24 facility power (kW): idle of provisioned nodes plus load-dependent power, x PUE."""
    n_sites = len(c.site_ids)
    pair_site = c.dep_site[c.pair_dep]
    dynamic = _per_entity_class(pair_site, n_sites, c, np.asarray(x, float) * c.dynamic_kwh)
    idle = np.bincount(c.dep_site, weights=np.asarray(n, float) * c.dep_idle_kw,
                       minlength=n_sites)
    return (dynamic + idle[:, None]) * c.site_pue[:, None]


def check_nonnegativity(c: Coefficients, plan: PlanValues) -> list[dict]:
    x, n = plan.x, plan.n
    if np.any(x < -REL_TOL * max(1.0, c.demand.max())) or np.any(n < -1e-6):
        return [{"constraint": "nonnegativity", "where": "x or n",
                 "excess": float(min(x.min(), n.min()))}]
    return []


def check_demand(c: Coefficients, plan: PlanValues) -> list[dict]:
    served = np.bincount(c.pair_class, weights=plan.x, minlength=len(c.demand))
    return [{"constraint": "demand", "where": c.classes["id"][i],
             "excess": float(served[i] - c.demand[i])}
            for i in np.flatnonzero(np.abs(served - c.demand) > REL_TOL * c.demand)]


def _over_ceiling(c: Coefficients, busy: np.ndarray, n: np.ndarray, ceiling: float
                  ) -> list[tuple[int, int, float]]:
    limit = ceiling * SECONDS_PER_HOUR * np.maximum(n, 0)[:, None]  # -1e-9 nodes is 0
    over = busy - limit
    return [(int(d), int(h), float(over[d, h]))
            for d, h in zip(*np.nonzero(over > REL_TOL * np.maximum(limit, 1.0)))]


def check_capacity(c: Coefficients, plan: PlanValues) -> list[dict]:
    return [{"constraint": "capacity", "where": f"deployment {d} hour {h}", "excess": excess}
            for d, h, excess in _over_ceiling(c, _busy(c, plan.x), plan.n,
                                              c.utilization_ceiling)]


def _over_cap(c: Coefficients, power: np.ndarray, sites=None) -> list[tuple[int, int, float]]:
    over = power > c.site_cap_kw[:, None] * (1 + REL_TOL)
    return [(int(s), int(h), float(power[s, h] - c.site_cap_kw[s]))
            for s, h in zip(*np.nonzero(over)) if sites is None or sites[s]]


def check_power_cap(c: Coefficients, plan: PlanValues) -> list[dict]:
    return [{"constraint": "power_cap", "where": f"{c.site_ids[s]} hour {h}", "excess": excess}
            for s, h, excess in _over_cap(c, _power(c, plan.x, plan.n))]


def check_inventory(c: Coefficients, plan: PlanValues) -> list[dict]:
    out = []
    for r in c.inventory.itertuples():
        used = plan.n[(c.dep_site == r.site_idx) & (c.dep_hardware == r.hardware)].sum()
        if used > r.nodes * (1 + REL_TOL) + 1e-6:
            out.append({"constraint": "inventory", "where": f"{c.site_ids[r.site_idx]} "
                        f"{r.hardware}", "excess": float(used - r.nodes)})
    return out


def check_min_site_share(c: Coefficients, plan: PlanValues) -> list[dict]:
    if c.min_site_share is None:
        return []
    out = []
    pair_site = c.dep_site[c.pair_dep]
    for i, s in zip(*np.nonzero(c.min_site_share > 0)):
        need = c.min_site_share[i, s] * c.demand[i]
        got = float(plan.x[(c.pair_class == i) & (pair_site == s)].sum())
        if got < need * (1 - REL_TOL) - 1e-6:
            out.append({"constraint": "min_site_share",
                        "where": f"{c.classes['id'][i]} at {c.site_ids[s]}",
                        "excess": need - got})
    return out


def check_integrality(c: Coefficients, plan: PlanValues) -> list[dict]:
    if plan.integer and np.any(np.abs(plan.n - np.rint(plan.n)) > 1e-5):
        return [{"constraint": "integrality", "where": "n",
                 "excess": float(np.max(np.abs(plan.n - np.rint(plan.n))))}]
    return []


def check_min_replicas(c: Coefficients, plan: PlanValues) -> list[dict]:
    """A used deployment (n > 0) of a MILP plan runs at least min_replicas whole replicas."""
    if not plan.integer:
        return []
    need = np.ceil(c.min_replicas * c.dep_nodes_per_replica - 1e-9)
    short = (plan.n > 0.5) & (plan.n < need - 1e-6)
    return [{"constraint": "min_replicas", "where": f"deployment {d}",
             "excess": float(need[d] - plan.n[d])} for d in np.flatnonzero(short)]


def check_max_deployments(c: Coefficients, plan: PlanValues) -> list[dict]:
    """A MILP plan uses at most max_deployments distinct deployments (n > 0)."""
    if not plan.integer or c.max_deployments is None:
        return []
    used = int(np.sum(plan.n > 0.5))
    if used > c.max_deployments:
        return [{"constraint": "max_deployments", "where": "fleet",
                 "excess": float(used - c.max_deployments)}]
    return []


def check_failover(c: Coefficients, plan: PlanValues) -> list[dict]:
    """For each failover site f, with the plan's re-routing w^f (``plan.flows['failover_flow']``,
    sites x pairs): every class's queries at f are re-routed to pairs at other sites, and those
    sites carry their own load plus the re-routed one within the failover utilisation and
    their caps (nodes as planned)."""
    if c.site_failover is None or not np.any(c.site_failover):
        return []
    flow = plan.flows.get("failover_flow")
    if flow is None:
        return [{"constraint": "failover", "where": "plan", "excess": np.nan}]
    out = []
    pair_site = c.dep_site[c.pair_dep]
    n_classes = len(c.demand)
    for f in np.flatnonzero(c.site_failover):
        w = np.asarray(flow[f], float)
        elsewhere = pair_site != f
        if np.any(w[~elsewhere] > REL_TOL * max(1.0, c.demand.max())) or np.any(
                w < -REL_TOL * max(1.0, c.demand.max())):
            out.append({"constraint": "failover", "where": f"{c.site_ids[f]} lost: flows",
                        "excess": float(np.abs(w[~elsewhere]).sum())})
        lost = np.bincount(c.pair_class[~elsewhere], weights=plan.x[~elsewhere],
                           minlength=n_classes)
        moved = np.bincount(c.pair_class[elsewhere], weights=w[elsewhere], minlength=n_classes)
        for i in np.flatnonzero(moved < lost * (1 - REL_TOL) - 1e-6):
            out.append({"constraint": "failover", "where": f"{c.site_ids[f]} lost: "
                        f"{c.classes['id'][i]}", "excess": float(lost[i] - moved[i])})
        load = np.where(elsewhere, plan.x + w, 0.0)
        survivors = c.dep_site != f
        for d, h, excess in _over_ceiling(c, _busy(c, load), np.where(survivors, plan.n, 0.0),
                                          c.failover_utilization):
            if survivors[d]:
                out.append({"constraint": "failover", "where": f"{c.site_ids[f]} lost: "
                            f"deployment {d} hour {h}", "excess": excess})
        others = np.arange(len(c.site_ids)) != f
        for s, h, excess in _over_cap(c, _power(c, load, np.where(survivors, plan.n, 0.0)),
                                      others):
            out.append({"constraint": "failover", "where": f"{c.site_ids[f]} lost: "
                        f"{c.site_ids[s]} hour {h}", "excess": excess})
    return out
