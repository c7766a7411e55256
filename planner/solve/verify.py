"""Independent re-check of a plan against every constraint, in plain numpy.

It recomputes loads from the coefficient arrays directly, so a modelling slip in a formulation
(a wrong sign, a missing hour) shows up as a violation here instead of a silently wrong plan.
It is imported by the pipeline and the tests only and shares no arithmetic with the builder or
the plan tables (which use ``formulations.loads``): a slip there cannot agree with itself here.
Loads are accumulated per (deployment, class) with ``np.bincount`` and then spread over the
hours with each class's own profile: vectorised over the plan's support (pairs with x > 0), no
pairs x hours array, and independent of the formulations' profile groups and load variables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from formulations.coefficients import HOURS, Coefficients

REL_TOL = 1e-5


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


def verify_plan(c: Coefficients, x: np.ndarray, n: np.ndarray, integer: bool = False
                ) -> pd.DataFrame:
    """Every violated constraint row (empty when the plan is feasible)."""
    problems = []
    if np.any(x < -REL_TOL * max(1.0, c.demand.max())) or np.any(n < -1e-6):
        problems.append({"constraint": "nonnegativity", "where": "x or n", "excess": float(
            min(x.min(), n.min()))})
    served = np.bincount(c.pair_class, weights=x, minlength=len(c.demand))
    for i in np.flatnonzero(np.abs(served - c.demand) > REL_TOL * c.demand):
        problems.append({"constraint": "demand", "where": c.classes["id"][i],
                         "excess": float(served[i] - c.demand[i])})
    busy = _busy(c, x)
    limit = c.utilization_ceiling * 3600 * np.maximum(n, 0)[:, None]  # -1e-9 nodes is 0
    over = busy - limit
    for d, h in zip(*np.nonzero(over > REL_TOL * np.maximum(limit, 1.0))):
        problems.append({"constraint": "capacity", "where": f"deployment {d} hour {h}",
                         "excess": float(over[d, h])})
    power = _power(c, x, n)
    for s, h in zip(*np.nonzero(power > c.site_cap_kw[:, None] * (1 + REL_TOL))):
        problems.append({"constraint": "power_cap", "where": f"{c.site_ids[s]} hour {h}",
                         "excess": float(power[s, h] - c.site_cap_kw[s])})
    for r in c.inventory.itertuples():
        used = n[(c.dep_site == r.site_idx) & (c.dep_hardware == r.hardware)].sum()
        if used > r.nodes * (1 + REL_TOL) + 1e-6:
            problems.append({"constraint": "inventory", "where": f"{c.site_ids[r.site_idx]} "
                             f"{r.hardware}", "excess": float(used - r.nodes)})
    if c.min_site_share is not None:
        pair_site = c.dep_site[c.pair_dep]
        for i, s in zip(*np.nonzero(c.min_site_share > 0)):
            need = c.min_site_share[i, s] * c.demand[i]
            got = float(x[(c.pair_class == i) & (pair_site == s)].sum())
            if got < need * (1 - REL_TOL) - 1e-6:
                problems.append({"constraint": "min_site_share",
                                 "where": f"{c.classes['id'][i]} at {c.site_ids[s]}",
                                 "excess": need - got})
    if integer and np.any(np.abs(n - np.rint(n)) > 1e-5):
        problems.append({"constraint": "integrality", "where": "n",
                         "excess": float(np.max(np.abs(n - np.rint(n))))})
    return pd.DataFrame(problems, columns=["constraint", "where", "excess"])
