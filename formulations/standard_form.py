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
from formulations.milp import milp_link_bounds
from formulations.coefficients import HOURS, Coefficients


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
    integrality: np.ndarray | None = None  # per column, 1 = integer (MILP only)

    @property
    def shape(self) -> tuple[int, int]:
        return self.a.shape


def standard_form(c: Coefficients, unit: float | None = None,
                  capacity_rows: np.ndarray | None = None,
                  power_rows: np.ndarray | None = None) -> StandardForm:
    """Sparse matrix form of the LP over coefficient arrays (no cvxpy, no solver).

    ``capacity_rows`` / ``power_rows`` keep only those rows, as in :func:`formulations.lp.build_lp`.
    """
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
    keep = np.arange(HOURS * d) if capacity_rows is None else np.asarray(capacity_rows, int)
    add("capacity", capacity_matrix(c, unit)[keep],
        -c.utilization_ceiling * SECONDS_PER_HOUR * repeat[keep],
        np.full(keep.size, -np.inf), np.zeros(keep.size))
    capped = np.flatnonzero(np.isfinite(c.site_cap_kw))
    if capped.size:
        ax, an = power_matrices(c, unit, capped)
        keep = np.arange(ax.shape[0]) if power_rows is None else np.asarray(power_rows, int)
        add("power_cap", ax[keep], an[keep], np.full(keep.size, -np.inf),
            np.repeat(c.site_cap_kw[capped], HOURS)[keep])
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



def milp_standard_form(c: Coefficients, unit: float | None = None,
                       capacity_rows: np.ndarray | None = None,
                       power_rows: np.ndarray | None = None) -> StandardForm:
    """The MILP of :mod:`formulations.milp` as sparse arrays: columns ``[x, n, y]`` with n
    integer and y binary; rows of the LP, then link (n - M y <= 0), minimum replicas
    (n - m y >= 0) and, when set, the maximum number of deployments (sum y <= K)."""
    lp = standard_form(c, unit, capacity_rows, power_rows)
    p, d = c.n_pairs, c.n_deployments
    big_m, min_nodes = milp_link_bounds(c)
    eye = sp.identity(d, format="csr")
    rows = [sp.hstack([lp.a.tocsr(), sp.csr_matrix((lp.a.shape[0], d))], format="csr"),
            sp.hstack([sp.csr_matrix((d, p)), eye, -sp.diags(big_m)], format="csr"),
            sp.hstack([sp.csr_matrix((d, p)), eye, -sp.diags(min_nodes)], format="csr")]
    lower = [lp.row_lower, np.full(d, -np.inf), np.zeros(d)]
    upper = [lp.row_upper, np.zeros(d), np.full(d, np.inf)]
    groups = dict(lp.row_groups)
    start = lp.a.shape[0]
    for name in ("link", "min_replicas"):
        groups[name] = slice(start, start + d)
        start += d
    if c.max_deployments is not None:
        rows.append(sp.hstack([sp.csr_matrix((1, p + d)), np.ones((1, d))], format="csr"))
        lower.append(np.array([-np.inf]))
        upper.append(np.array([float(c.max_deployments)]))
        groups["max_deployments"] = slice(start, start + 1)
    return StandardForm(
        a=sp.vstack(rows, format="csc"), cost=np.concatenate([lp.cost, np.zeros(d)]),
        row_lower=np.concatenate(lower), row_upper=np.concatenate(upper),
        col_lower=np.zeros(p + 2 * d),
        col_upper=np.concatenate([np.full(p + d, np.inf), np.ones(d)]),
        n_pairs=p, n_deployments=d, unit=lp.unit, row_groups=groups,
        integrality=np.concatenate([np.zeros(p), np.ones(2 * d)]).astype(int))
