"""The plan's constraint table: one row per constraint group and key with its limit, value,
whether it binds and its shadow price in named units.

A constraint unit whose rows are not read one by one (a site's cap over 24 hours, a deployment's
capacity over its hours) has its summary builder in :data:`SUMMARY_ROWS`, keyed by the unit
object; every other row block the builder marks as user-facing (``report_unit``) is reported row
by row, so a new constraint type shows up here without code of its own."""

from __future__ import annotations

import numpy as np
import pandas as pd

from formulations.coefficients import Coefficients
from formulations.form import (CAPACITY, DEMAND, INVENTORY, MAX_DEPLOYMENTS, MIN_REPLICAS,
                               POWER_CAP)
from formulations.loads import busy_node_seconds, site_power_kw
from planner.solve.explain import shadow_units

# A shadow price is zero when one more unit of the constraint's limit (1 MW, 1 node, 1 million
# queries/day, 1 node-hour) moves the objective by at most this fraction of the objective: the
# cost-minimising Melange plan's demand duals of 5.8e-12 million USD/day are solver noise.
PRICE_TOLERANCE = 1e-6


def _power_cap_rows(c: Coefficients, x, n, duals: dict, form, rows: dict, units: dict,
                    integer: bool) -> list:
    """Each capped site: its peak facility power over the day against the cap."""
    power = site_power_kw(c, x, n)
    power_dual = _dual_by(rows.get(POWER_CAP.name), duals.get(POWER_CAP.name), "site")
    out = []
    for s in np.flatnonzero(np.isfinite(c.site_cap_kw)):
        site = c.site_ids[s]
        peak = power[s].max()
        out.append({"constraint": POWER_CAP.name, "key": site, "limit": c.site_cap_kw[s] / 1e3,
                    "value": peak / 1e3, "unit": "MW",
                    "binding": bool(peak >= c.site_cap_kw[s] * (1 - 1e-4)),
                    "shadow_price": power_dual.get(site, np.nan) * 1e3,
                    "shadow_unit": units[POWER_CAP.name]})
    return out


def _inventory_rows(c: Coefficients, x, n, duals: dict, form, rows: dict, units: dict,
                    integer: bool) -> list:
    """Each (site, hardware) pool: the nodes the plan uses against those installed."""
    inv_dual = duals.get(INVENTORY.name, np.full(len(c.inventory), np.nan))
    site_ids = np.array(c.site_ids)
    out = []
    for i, r in enumerate(c.inventory.itertuples()):
        site = site_ids[int(r.site_idx)]
        used = n[(c.dep_site == r.site_idx) & (c.dep_hardware == r.hardware)].sum()
        out.append({"constraint": INVENTORY.name, "key": f"{site}:{r.hardware}",
                    "limit": r.nodes, "value": used, "unit": "nodes",
                    "binding": bool(used >= r.nodes * (1 - 1e-4)),
                    "shadow_price": float(inv_dual[i]) if len(inv_dual) else np.nan,
                    "shadow_unit": units[INVENTORY.name]})
    return out


def _demand_rows(c: Coefficients, x, n, duals: dict, form, rows: dict, units: dict,
                 integer: bool) -> list:
    """Each class: queries/day served and the marginal cost of a million more."""
    unit = form.unit if form is not None else 1.0
    dual = duals.get(DEMAND.name, np.full(len(c.demand), np.nan))
    # Each class's x in pair order (a stable sort by class: the same elements in the same order
    # as x[c.pair_class == i], so the same sums) - one pass, not one scan per class (issue 26).
    by_class = np.argsort(c.pair_class, kind="stable")
    x_by_class = np.asarray(x)[by_class]
    bounds = np.searchsorted(c.pair_class[by_class], np.arange(len(c.demand) + 1))
    return [{"constraint": DEMAND.name, "key": cid, "limit": c.demand[i],
             "value": float(x_by_class[bounds[i]:bounds[i + 1]].sum()),
             "unit": "queries/day", "binding": True,
             "shadow_price": float(abs(dual[i]) / unit * 1e6), "shadow_unit": units[DEMAND.name]}
            for i, cid in enumerate(c.classes["id"])]


def _capacity_rows(c: Coefficients, x, n, duals: dict, form, rows: dict, units: dict,
                   integer: bool) -> list:
    """One row for all deployments: how many used ones run at the utilisation ceiling in some
    hour, and the highest price of a node-hour among them."""
    if CAPACITY.name not in duals or not len(duals[CAPACITY.name]):
        return []
    # Prices per node-hour: hourly rows are in node-seconds, aggregated rows in load units.
    seconds = form.meta.get("load_seconds", 1.0) if form.options.aggregated else 1.0
    per_hour = duals[CAPACITY.name] * 3600.0 / seconds
    deps = rows[CAPACITY.name]["deployment"].to_numpy()
    # Only deployments the plan uses (nodes > 0) count: an unused candidate's capacity
    # row (0 >= 0) may carry a dual, but nothing runs there (fleet-1b: 4, not 12).
    used = n > 1e-6
    busy = busy_node_seconds(c, x)
    peak = np.divide(busy.max(axis=1), n * 3600.0, out=np.zeros(len(n)), where=used)
    at_ceiling = used & (peak >= c.utilization_ceiling * (1 - 1e-4))
    priced = per_hour[used[deps]] if used.any() else np.zeros(0)
    return [{"constraint": CAPACITY.name, "key": "all deployments",
             "limit": c.utilization_ceiling, "value": float(at_ceiling.sum()),
             "unit": "used deployments at the ceiling in some hour",
             "binding": bool(at_ceiling.any()),
             "shadow_price": float(max(priced.max(), 0.0)) if priced.size else 0.0,
             "shadow_unit": units[CAPACITY.name]}]


def _max_deployments_rows(c: Coefficients, x, n, duals: dict, form, rows: dict, units: dict,
                          integer: bool) -> list:
    """A MILP plan: the distinct deployments it uses against max_deployments (no shadow price:
    a MILP has no duals)."""
    if not integer or c.max_deployments is None:
        return []
    used = int(np.sum(n > 0.5))
    return [{"constraint": MAX_DEPLOYMENTS.name, "key": "fleet", "limit": c.max_deployments,
             "value": used, "unit": "deployments", "binding": used >= c.max_deployments,
             "shadow_price": np.nan, "shadow_unit": ""}]


def _min_replicas_rows(c: Coefficients, x, n, duals: dict, form, rows: dict, units: dict,
                       integer: bool) -> list:
    """A MILP plan: the fewest replicas of a used deployment against min_replicas; binding
    when some used deployment runs exactly min_replicas (a whole node that holds more replicas
    than that is held by whole nodes, not by this rule)."""
    used = n > 0.5
    if not integer or c.min_replicas <= 1 or not used.any():
        return []
    fewest = float((n[used] / c.dep_nodes_per_replica[used]).min())
    return [{"constraint": MIN_REPLICAS.name, "key": "used deployments",
             "limit": c.min_replicas, "value": fewest,
             "unit": "replicas (fewest of a used deployment)",
             "binding": fewest <= c.min_replicas + 1e-6, "shadow_price": np.nan,
             "shadow_unit": ""}]


# The units summarised rather than read row by row, in the table's order.
SUMMARY_ROWS = {POWER_CAP: _power_cap_rows, INVENTORY: _inventory_rows, DEMAND: _demand_rows,
                CAPACITY: _capacity_rows, MAX_DEPLOYMENTS: _max_deployments_rows,
                MIN_REPLICAS: _min_replicas_rows}


def constraint_table(c: Coefficients, x, n, duals: dict, form,
                     objective_unit: str = "GWh/day", values: np.ndarray | None = None,
                     integer: bool = False) -> pd.DataFrame:
    """The plan's constraint table (LP duals read by the coordinates of the form's row blocks):
    the summarised units of :data:`SUMMARY_ROWS`, then every user-facing row block row by row
    from ``values`` (the form's columns). ``integer``: a MILP plan (its integer rules are
    summarised too; the duals are those of the LP with its whole nodes fixed)."""
    units = shadow_units(objective_unit)
    rows = {name: block.coords for name, block in form.rows.items()} if form is not None else {}
    out = []
    for summarise in SUMMARY_ROWS.values():
        out += summarise(c, x, n, duals, form, rows, units, integer)
    if form is not None and values is not None:
        out += reported_rows(form, values, duals, objective_unit)
    table = pd.DataFrame(out)
    if len(table):  # solver noise (1e-12) is no price: see PRICE_TOLERANCE
        tiny = table["shadow_price"].abs() <= PRICE_TOLERANCE * abs(c.daily_objective(x, n))
        table.loc[tiny, "shadow_price"] = 0.0
    return table


def reported_rows(form, values: np.ndarray, duals: dict, objective_unit: str) -> list[dict]:
    """Each row of every block with a ``report_unit``: its bound, its value, whether it binds
    and its shadow price per million of the row's unit."""
    out = []
    for name, block in form.rows.items():
        if block.report_unit is None:
            continue
        idx = block.index
        activity = form.a[idx] @ values
        lower, upper = form.row_lower[idx], form.row_upper[idx]
        bound = np.where(np.isfinite(lower), lower, upper)
        dual = duals.get(name, np.full(block.size, np.nan))
        keys = block.coords.drop(columns="constraint").astype(str).agg("@".join, axis=1)
        scale = block.report_scale
        for i in range(block.size):
            out.append({"constraint": block.kind.name if block.kind else name,
                        "key": keys.iloc[i], "limit": bound[i] * scale,
                        "value": activity[i] * scale, "unit": block.report_unit,
                        "binding": bool(abs(activity[i] - bound[i])
                                        <= 1e-6 * max(abs(bound[i]), 1.0)),
                        "shadow_price": float(abs(dual[i]) / scale * 1e6),
                        "shadow_unit": f"{objective_unit} per million {block.report_unit}"})
    return out


def _dual_by(coords: pd.DataFrame | None, dual: np.ndarray | None, key: str) -> dict:
    """Duals summed per value of a coordinate (a site's cap over its hours)."""
    if coords is None or dual is None or not len(dual):
        return {}
    return pd.Series(np.asarray(dual, float)).groupby(coords[key].to_numpy()).sum().to_dict()
