"""Result objects of a solve: tidy tables (assignment, deployments, classes, constraints) and the
JSON summary with provenance."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from formulations.coefficients import HOURS, Coefficients
from formulations.loads import busy_node_seconds
from planner.perf.factors import REFERENCE_ENGINE
from planner.results.summary import PlanSummary
from planner.results.constraints import constraint_table


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
                 values: np.ndarray | None = None,
                 integer: bool = False) -> tuple[pd.DataFrame, ...]:
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
    # Each class's rows, in the table's order (issue 26: one pass, not one scan per class;
    # numpy slices of the columns, not a pandas frame per class).
    rows_of = assignment.groupby("class", sort=False).indices
    no_rows = np.zeros(0, dtype=int)
    class_records = c.classes.to_dict("records")
    col = {k: assignment[k].to_numpy(float) for k in ("queries_per_day", "wh_per_query",
                                                       "ttft_ms", "tpot_ms")}
    usable = (assignment["usable_utilization"].to_numpy(float)
              if "usable_utilization" in assignment else None)
    for i, cid in enumerate(class_ids):
        rows = rows_of.get(cid, no_rows)
        q = col["queries_per_day"][rows]
        s = class_records[i]
        worst_ttft = _skipna_max(col["ttft_ms"][rows])
        worst_tpot = _skipna_max(col["tpot_ms"][rows])
        classes.append({
            "class": cid, "queries_per_day": c.demand[i],
            "wh_per_query": (float(_skipna_sum(col["wh_per_query"][rows] * q) / q.sum())
                             if q.sum() else np.nan),
            "deployments_used": len(rows), "ttft_slo_ms": s["ttft_slo_ms"],
            "worst_ttft_ms": worst_ttft,
            "ttft_margin_ms": (s["ttft_slo_ms"] - worst_ttft) if s["ttft_slo_ms"] else np.nan,
            "tpot_slo_ms": s["tpot_slo_ms"], "worst_tpot_ms": worst_tpot,
            "tpot_margin_ms": (s["tpot_slo_ms"] - worst_tpot) if s["tpot_slo_ms"] else np.nan,
            # Issue 22: the percentile the worst values are at (TTFT under Poisson arrivals to
            # the class's pool), and the least utilisation its TTFT SLO leaves a deployment.
            "slo_percentile": s.get("slo_percentile", np.nan),
            "usable_utilization_min": (-_skipna_max(-usable[rows])
                                       if usable is not None and len(rows) else np.nan)})
    constraints = constraint_table(c, x, n, duals, form, objective_unit, values, integer)
    return assignment, deployments, pd.DataFrame(classes), constraints


def _skipna_max(v: np.ndarray) -> float:
    """pandas' Series.max (NaN skipped; NaN when nothing is left)."""
    v = v[~np.isnan(v)]
    return np.float64(v.max()) if v.size else np.nan


def _skipna_sum(v: np.ndarray) -> float:
    """pandas' Series.sum (NaN counted as 0)."""
    return np.where(np.isnan(v), 0.0, v).sum()


def _hourly_dynamic_kw(c: Coefficients, x: np.ndarray) -> np.ndarray:
    out = np.zeros((c.n_deployments, HOURS))
    # Only pairs with queries add anything (issue 26: not a pairs x 24 array of mostly zeros);
    # the same additions in the same order.
    p = np.flatnonzero(x)
    np.add.at(out, c.pair_dep[p], (x[p] * c.dynamic_kwh[p])[:, None] * c.profile[c.pair_class[p]]
              / HOURS)
    return out
