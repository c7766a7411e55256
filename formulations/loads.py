"""What a plan puts on each deployment and site in each hour, for the solve paths and the plan
tables: busy node-seconds and facility power, accumulated per profile group (the builder's
own grouping of classes). The independent verifier (``planner.solve.verify``) recomputes the
same quantities its own way, per class, and shares nothing with this module."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from formulations.coefficients import HOURS, Coefficients
from formulations.constraints import profile_groups


def _by_group(entity: np.ndarray, n_entities: int, c: Coefficients,
              weights: np.ndarray) -> np.ndarray:
    """entities x 24: daily totals per (entity, profile group) spread over the group's hours."""
    class_group, group_profile = profile_groups(c.profile)
    daily = sp.csr_matrix((weights, (entity, class_group[c.pair_class])),
                          shape=(n_entities, group_profile.shape[0]))
    return np.asarray(daily @ (group_profile / HOURS))


def busy_node_seconds(c: Coefficients, x: np.ndarray) -> np.ndarray:
    """D x 24 busy node-seconds of a plan (x in queries/day)."""
    return _by_group(c.pair_dep, c.n_deployments, c, np.asarray(x, float) * c.node_seconds)


def site_power_kw(c: Coefficients, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """S x 24 facility power (kW): idle of provisioned nodes plus load-dependent power, x PUE."""
    n_sites = len(c.site_ids)
    dynamic = _by_group(c.dep_site[c.pair_dep], n_sites, c, np.asarray(x, float) * c.dynamic_kwh)
    idle = np.zeros(n_sites)
    np.add.at(idle, c.dep_site, np.asarray(n, float) * c.dep_idle_kw)
    return (dynamic + idle[:, None]) * c.site_pue[:, None]
