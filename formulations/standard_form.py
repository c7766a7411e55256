"""The LP of :mod:`formulations.lp` as plain sparse arrays, for loading into HiGHS directly.

Lever attribution and sweeps solve the same LP many times with only bounds, costs or right-hand
sides changed. Holding the model in HiGHS (not re-canonicalising through cvxpy) lets each re-solve
start from the previous optimal basis. Columns are ``[x (P pairs, demand units), n (D nodes)]``;
rows are demand (=), capacity (<= 0), power cap (<= kW) and inventory (<= nodes), in that order.
A test checks that this form and the cvxpy LP reach the same optimum.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from formulations.constraints import (SECONDS_PER_HOUR, capacity_matrix, inventory_matrix,
                                      objective_weights, power_matrices)
from formulations.lp import demand_unit
from planner.coefficients import HOURS, Coefficients


@dataclass(frozen=True)
class StandardForm:
    """min cost @ v  s.t.  row_lower <= A v <= row_upper,  col_lower <= v <= col_upper."""

    a: sp.csc_matrix
    cost: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    col_lower: np.ndarray
    col_upper: np.ndarray
    n_pairs: int
    n_deployments: int
    unit: float
    row_groups: dict[str, slice]  # constraint group -> its rows

    @property
    def shape(self) -> tuple[int, int]:
        return self.a.shape


def standard_form(c: Coefficients, unit: float | None = None) -> StandardForm:
    """Sparse matrix form of the LP over coefficient arrays (no cvxpy, no solver)."""
    unit = demand_unit(c) if unit is None else unit
    p, d = c.n_pairs, c.n_deployments
    blocks, lower, upper, groups = [], [], [], {}
    start = 0

    def add(name: str, ax, an, lo, hi) -> None:
        nonlocal start
        blocks.append(sp.hstack([ax, an], format="csr"))
        lower.append(np.asarray(lo, float))
        upper.append(np.asarray(hi, float))
        groups[name] = slice(start, start + ax.shape[0])
        start += ax.shape[0]

    demand = sp.csr_matrix((np.ones(p), (c.pair_class, np.arange(p))), shape=(len(c.demand), p))
    add("demand", demand, sp.csr_matrix((len(c.demand), d)), c.demand / unit, c.demand / unit)
    repeat = sp.kron(np.ones((HOURS, 1)), sp.identity(d), format="csr")
    add("capacity", capacity_matrix(c, unit),
        -c.utilization_ceiling * SECONDS_PER_HOUR * repeat,
        np.full(HOURS * d, -np.inf), np.zeros(HOURS * d))
    capped = np.flatnonzero(np.isfinite(c.site_cap_kw))
    if capped.size:
        ax, an = power_matrices(c, unit, capped)
        add("power_cap", ax, an, np.full(ax.shape[0], -np.inf),
            np.repeat(c.site_cap_kw[capped], HOURS))
    a_inv, _ = inventory_matrix(c)
    if a_inv.shape[0]:
        add("inventory", sp.csr_matrix((a_inv.shape[0], p)), a_inv,
            np.full(a_inv.shape[0], -np.inf), c.inventory["nodes"].to_numpy(float))
    per_query, per_node = objective_weights(c, unit)
    return StandardForm(
        a=sp.vstack(blocks, format="csc"), cost=np.concatenate([per_query, per_node]),
        row_lower=np.concatenate(lower), row_upper=np.concatenate(upper),
        col_lower=np.zeros(p + d), col_upper=np.full(p + d, np.inf),
        n_pairs=p, n_deployments=d, unit=unit, row_groups=groups)

