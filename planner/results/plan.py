"""Result objects of a solve: tidy tables (assignment, deployments, classes, constraints) and the
JSON summary with provenance."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from formulations.coefficients import HOURS, Coefficients
from formulations.form import CAPACITY, DEMAND, INVENTORY, POWER_CAP
from formulations.loads import busy_node_seconds, site_power_kw
from planner.perf.factors import REFERENCE_ENGINE
from planner.results.summary import PlanSummary
from planner.solve.explain import shadow_units


@dataclass
class Plan:
    summary: PlanSummary
    assignment: pd.DataFrame
    deployments: pd.DataFrame
    classes: pd.DataFrame
    constraints: pd.DataFrame
    extra: dict = field(default_factory=dict)
    hourly: pd.DataFrame | None = None

    def tables(self) -> dict[str, pd.DataFrame]:
        tables = {"assignment": self.assignment, "deployments": self.deployments,
                  "classes": self.classes, "constraints": self.constraints}
        if self.hourly is not None:
            tables["hourly"] = self.hourly
        return tables


def hourly_table(c: Coefficients, power_kw: np.ndarray) -> pd.DataFrame:
    """One row per site and hour: facility power (IT x PUE) and the site's cap (NaN when none),
    from the S x 24 array of ``formulations.loads.site_power_kw``."""
    sites, hours = power_kw.shape
    cap = np.where(np.isfinite(c.site_cap_kw), c.site_cap_kw / 1e3, np.nan)
    return pd.DataFrame({"site": np.repeat(np.asarray(c.site_ids, dtype=object), hours),
                         "hour": np.tile(np.arange(hours), sites),
                         "facility_power_mw": power_kw.ravel() / 1e3,
                         "power_cap_mw": np.repeat(cap, hours)})


def deployment_labels(c: Coefficients) -> list[str]:
    d = c.deployments
    spec = d["speculative"] if "speculative" in d else np.zeros(len(d), dtype=bool)
    split = d["disaggregated"] if "disaggregated" in d else np.zeros(len(d), dtype=bool)
    engine = d["engine"] if "engine" in d else np.full(len(d), REFERENCE_ENGINE)
    return [f"{m}/{p}/{h}x{g}/b{b}{'+sd' if sd else ''}{'+pd' if pd_ else ''}"
            f"{'' if e == REFERENCE_ENGINE else '+' + e}@{c.site_ids[s]}"
            for m, p, h, g, b, sd, pd_, e, s in zip(d["model"], d["precision"], d["hardware"],
                                                    d["num_gpus"], d["max_concurrency"], spec,
                                                    split, engine, d["site_idx"])]


def build_tables(c: Coefficients, x: np.ndarray, n: np.ndarray, duals: dict, form,
                 objective_unit: str = "GWh/day",
                 values: np.ndarray | None = None) -> tuple[pd.DataFrame, ...]:
    """Assignment, deployment, class and constraint tables of a plan (x in queries/day);
    ``duals`` are labelled by the row blocks of ``form`` (None: no shadow prices)."""
    labels = np.array(deployment_labels(c))
    dep = c.deployments
    site_factor = c.site_pue * c.site_overhead
    busy = busy_node_seconds(c, x)  # D x 24
    util = np.divide(busy, n[:, None] * 3600, out=np.zeros_like(busy), where=n[:, None] > 1e-9)
    dyn_kwh = np.bincount(c.pair_dep, weights=x * c.dynamic_kwh, minlength=c.n_deployments)
    idle_kwh = n * c.dep_idle_kw * HOURS
    dep_gwh = (dyn_kwh + idle_kwh) * site_factor[c.dep_site] / 1e6
    dep_power_kw = (n[:, None] * c.dep_idle_kw[:, None]
                    + _hourly_dynamic_kw(c, x)) * c.site_pue[c.dep_site][:, None]
    used = (n > 1e-6) | (np.bincount(c.pair_dep, weights=x, minlength=c.n_deployments) > 0)
    deployments = pd.DataFrame({
        "deployment": labels, "model": dep["model"], "precision": dep["precision"],
        "hardware": dep["hardware"], "gpus_per_replica": dep["num_gpus"],
        "max_concurrency": dep["max_concurrency"],
        "speculative": dep["speculative"] if "speculative" in dep else False,
        "disaggregated": dep["disaggregated"] if "disaggregated" in dep else False,
        "engine": dep["engine"] if "engine" in dep else REFERENCE_ENGINE,
        "site": [c.site_ids[s] for s in dep["site_idx"]], "nodes": n,
        "replicas": n / dep["nodes_per_replica"].to_numpy(),
        "utilization_mean": util.mean(axis=1), "utilization_peak": util.max(axis=1),
        "peak_mw": dep_power_kw.max(axis=1) / 1e3, "gwh_per_day": dep_gwh})
    for col in ("family", "model_kind", "calibrated", "uncertainty_pct",  # coefficient provenance
                "coefficient_source", "provisioning_unit", "gpus_per_unit",  # (+ issue 13)
                "projected"):  # announced hardware without benchmarks (issue 24)
        if col in dep:
            deployments[col] = dep[col].to_numpy()
    if "gpus_per_unit" in dep:  # issue 13: n counts provisioned units; GPUs are physical
        deployments["gpus"] = n * dep["gpus_per_unit"].to_numpy(float)
    for h in range(HOURS):
        deployments[f"util_h{h:02d}"] = util[:, h]
    deployments = deployments[used].reset_index(drop=True)

    # Per query: its own load-dependent energy plus its share of the deployment's idle energy
    # (by node-seconds), facility side.
    ns_total = np.bincount(c.pair_dep, weights=x * c.node_seconds, minlength=c.n_deployments)
    idle_per_ns = np.divide(idle_kwh, ns_total, out=np.zeros_like(idle_kwh), where=ns_total > 0)
    # Only the served pairs make rows (issue 26: no table of every pair - millions of rows
    # with two string columns - to filter afterwards).
    served = np.flatnonzero(x > 1e-9 * c.demand.max())
    sd = c.pair_dep[served]
    wh = (c.dynamic_kwh[served] + idle_per_ns[sd] * c.node_seconds[served]) * site_factor[
        c.dep_site[sd]] * 1e3
    pairs = c.pairs
    class_ids = c.classes["id"].to_numpy()
    pc, xs = c.pair_class[served], x[served]
    assignment = pd.DataFrame({
        "class": class_ids[pc], "deployment": labels[sd],
        "queries_per_day": xs, "share": xs / c.demand[pc], "wh_per_query": wh,
        "ttft_ms": pairs["ttft_ms"].to_numpy()[served],
        "tpot_ms": pairs["tpot_ms"].to_numpy()[served]})
    # Issue 22: the TTFT without queueing and the utilisation the SLO leaves the pair.
    for col in ("ttft_unloaded_ms", "usable_utilization"):
        if col in pairs:
            assignment[col] = pairs[col].to_numpy()[served]
    assignment = assignment.sort_values(["class", "queries_per_day"],
                                        ascending=[True, False]).reset_index(drop=True)
    classes = []
    # Each class's rows, in the table's order (issue 26: one pass, not one scan per class).
    rows_of = assignment.groupby("class", sort=False).indices
    no_rows = np.zeros(0, dtype=int)
    class_records = c.classes.to_dict("records")
    for i, cid in enumerate(class_ids):
        a = assignment.iloc[rows_of.get(cid, no_rows)]
        q = a["queries_per_day"].to_numpy()
        s = class_records[i]
        worst_ttft, worst_tpot = a["ttft_ms"].max(), a["tpot_ms"].max()
        classes.append({
            "class": cid, "queries_per_day": c.demand[i],
            "wh_per_query": float((a["wh_per_query"] * q).sum() / q.sum()) if q.sum() else np.nan,
            "deployments_used": len(a), "ttft_slo_ms": s["ttft_slo_ms"],
            "worst_ttft_ms": worst_ttft,
            "ttft_margin_ms": (s["ttft_slo_ms"] - worst_ttft) if s["ttft_slo_ms"] else np.nan,
            "tpot_slo_ms": s["tpot_slo_ms"], "worst_tpot_ms": worst_tpot,
            "tpot_margin_ms": (s["tpot_slo_ms"] - worst_tpot) if s["tpot_slo_ms"] else np.nan,
            # Issue 22: the percentile the worst values are at (TTFT under Poisson arrivals to
            # the class's pool), and the least utilisation its TTFT SLO leaves a deployment.
            "slo_percentile": s.get("slo_percentile", np.nan),
            "usable_utilization_min": (float(a["usable_utilization"].min())
                                       if "usable_utilization" in a and len(a) else np.nan)})
    constraints = constraint_table(c, x, n, duals, form, objective_unit, values)
    return assignment, deployments, pd.DataFrame(classes), constraints


def _hourly_dynamic_kw(c: Coefficients, x: np.ndarray) -> np.ndarray:
    out = np.zeros((c.n_deployments, HOURS))
    # Only pairs with queries add anything (issue 26: not a pairs x 24 array of mostly zeros);
    # the same additions in the same order.
    p = np.flatnonzero(x)
    np.add.at(out, c.pair_dep[p], (x[p] * c.dynamic_kwh[p])[:, None] * c.profile[c.pair_class[p]]
              / HOURS)
    return out


def constraint_table(c: Coefficients, x, n, duals: dict, form,
                     objective_unit: str = "GWh/day", values: np.ndarray | None = None
                     ) -> pd.DataFrame:
    """One row per constraint group and key (per site for power, per class for demand, per
    class and site for a minimum share ...) with whether it binds and its shadow price in named
    units (LP duals, read by the coordinates of the form's row blocks). Every other row block
    the builder marks as user-facing is reported row by row from ``values`` (the form's
    columns), so a new constraint type shows up here without code of its own."""
    UNITS = shadow_units(objective_unit)  # noqa: N806 (issue 13: was always GWh/day)
    unit = form.unit if form is not None else 1.0
    rows = {name: block.coords for name, block in form.rows.items()} if form is not None else {}
    out = []
    power = site_power_kw(c, x, n)
    capped = np.flatnonzero(np.isfinite(c.site_cap_kw))
    power_dual = _dual_by(rows.get(POWER_CAP.name), duals.get(POWER_CAP.name), "site")
    for s in capped:
        site = c.site_ids[s]
        peak = power[s].max()
        out.append({"constraint": POWER_CAP.name, "key": site, "limit": c.site_cap_kw[s] / 1e3,
                    "value": peak / 1e3, "unit": "MW",
                    "binding": bool(peak >= c.site_cap_kw[s] * (1 - 1e-4)),
                    "shadow_price": power_dual.get(site, np.nan) * 1e3,
                    "shadow_unit": UNITS[POWER_CAP.name]})
    inv_dual = duals.get(INVENTORY.name, np.full(len(c.inventory), np.nan))
    site_ids = np.array(c.site_ids)
    for i, r in enumerate(c.inventory.itertuples()):
        site = site_ids[int(r.site_idx)]
        used = n[(c.dep_site == r.site_idx) & (c.dep_hardware == r.hardware)].sum()
        out.append({"constraint": INVENTORY.name, "key": f"{site}:{r.hardware}",
                    "limit": r.nodes, "value": used, "unit": "nodes",
                    "binding": bool(used >= r.nodes * (1 - 1e-4)),
                    "shadow_price": float(inv_dual[i]) if len(inv_dual) else np.nan,
                    "shadow_unit": UNITS[INVENTORY.name]})
    dual = duals.get(DEMAND.name, np.full(len(c.demand), np.nan))
    # Each class's x in pair order (a stable sort by class: the same elements in the same order
    # as x[c.pair_class == i], so the same sums) - one pass, not one scan per class (issue 26).
    by_class = np.argsort(c.pair_class, kind="stable")
    x_by_class = np.asarray(x)[by_class]
    bounds = np.searchsorted(c.pair_class[by_class], np.arange(len(c.demand) + 1))
    for i, cid in enumerate(c.classes["id"]):
        out.append({"constraint": DEMAND.name, "key": cid, "limit": c.demand[i],
                    "value": float(x_by_class[bounds[i]:bounds[i + 1]].sum()),
                    "unit": "queries/day",
                    "binding": True, "shadow_price": float(abs(dual[i]) / unit * 1e6),
                    "shadow_unit": UNITS[DEMAND.name]})
    if CAPACITY.name in duals and len(duals[CAPACITY.name]):
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
        out.append({"constraint": CAPACITY.name, "key": "all deployments",
                    "limit": c.utilization_ceiling, "value": float(at_ceiling.sum()),
                    "unit": "used deployments at the ceiling in some hour",
                    "binding": bool(at_ceiling.any()),
                    "shadow_price": float(max(priced.max(), 0.0)) if priced.size else 0.0,
                    "shadow_unit": UNITS[CAPACITY.name]})
    if form is not None and values is not None:
        out += reported_rows(form, values, duals, objective_unit)
    table = pd.DataFrame(out)
    if len(table):  # solver noise (1e-12) is no price: see PRICE_TOLERANCE
        tiny = table["shadow_price"].abs() <= PRICE_TOLERANCE * abs(c.daily_objective(x, n))
        table.loc[tiny, "shadow_price"] = 0.0
    return table


# A shadow price is zero when one more unit of the constraint's limit (1 MW, 1 node, 1 million
# queries/day, 1 node-hour) moves the objective by at most this fraction of the objective: the
# cost-minimising Melange plan's demand duals of 5.8e-12 million USD/day are solver noise.
PRICE_TOLERANCE = 1e-6


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
