"""Result objects of a solve: tidy tables (assignment, deployments, classes, constraints) and the
JSON summary with provenance."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from formulations.coefficients import HOURS, Coefficients
from planner.perf.factors import REFERENCE_ENGINE
from planner.verify import hourly_node_seconds, hourly_site_power_kw


@dataclass
class Plan:
    summary: dict
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
    from the S x 24 array of ``hourly_site_power_kw``."""
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


def build_tables(c: Coefficients, x: np.ndarray, n: np.ndarray, duals: dict, rows: dict,
                 unit: float, slo: pd.DataFrame, objective_unit: str = "GWh/day"
                 ) -> tuple[pd.DataFrame, ...]:
    """Assignment, deployment, class and constraint tables of a plan (x in queries/day)."""
    labels = np.array(deployment_labels(c))
    dep = c.deployments
    site_factor = c.site_pue * c.site_overhead
    busy = hourly_node_seconds(c, x)  # D x 24
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
                "coefficient_source", "provisioning_unit", "gpus_per_unit"):  # (+ issue 13)
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
    wh = (c.dynamic_kwh + idle_per_ns[c.pair_dep] * c.node_seconds) * site_factor[
        c.dep_site[c.pair_dep]] * 1e3
    served = x > 1e-9 * c.demand.max()
    pairs = c.pairs
    class_ids = c.classes["id"].to_numpy()
    assignment = pd.DataFrame({
        "class": class_ids[c.pair_class], "deployment": labels[c.pair_dep],
        "queries_per_day": x, "share": x / c.demand[c.pair_class], "wh_per_query": wh,
        "ttft_ms": pairs["ttft_ms"].to_numpy(), "tpot_ms": pairs["tpot_ms"].to_numpy()})
    assignment = assignment[served].sort_values(["class", "queries_per_day"],
                                                ascending=[True, False]).reset_index(drop=True)
    classes = []
    for i, cid in enumerate(class_ids):
        a = assignment[assignment["class"] == cid]
        q = a["queries_per_day"].to_numpy()
        s = slo.iloc[i]
        worst_ttft, worst_tpot = a["ttft_ms"].max(), a["tpot_ms"].max()
        classes.append({
            "class": cid, "queries_per_day": c.demand[i],
            "wh_per_query": float((a["wh_per_query"] * q).sum() / q.sum()) if q.sum() else np.nan,
            "deployments_used": len(a), "ttft_slo_ms": s["ttft_slo_ms"],
            "worst_ttft_ms": worst_ttft,
            "ttft_margin_ms": (s["ttft_slo_ms"] - worst_ttft) if s["ttft_slo_ms"] else np.nan,
            "tpot_slo_ms": s["tpot_slo_ms"], "worst_tpot_ms": worst_tpot,
            "tpot_margin_ms": (s["tpot_slo_ms"] - worst_tpot) if s["tpot_slo_ms"] else np.nan})
    constraints = constraint_table(c, x, n, duals, rows, unit, objective_unit)
    return assignment, deployments, pd.DataFrame(classes), constraints


def _hourly_dynamic_kw(c: Coefficients, x: np.ndarray) -> np.ndarray:
    out = np.zeros((c.n_deployments, HOURS))
    np.add.at(out, c.pair_dep, (x * c.dynamic_kwh)[:, None] * c.profile[c.pair_class] / HOURS)
    return out


UNITS = {"demand": "GWh/day per million queries/day",
         "capacity": "GWh/day per node-hour of capacity",
         "power_cap": "GWh/day saved per MW of extra cap",
         "inventory": "GWh/day saved per extra node"}


def shadow_units(objective_unit: str = "GWh/day") -> dict[str, str]:
    """Shadow-price units in the objective's own units (million USD/day for cost, ...)."""
    return {k: v.replace("GWh/day", objective_unit) for k, v in UNITS.items()}


def constraint_table(c: Coefficients, x, n, duals: dict, rows: dict, unit: float,
                     objective_unit: str = "GWh/day") -> pd.DataFrame:
    """One row per constraint group and key (per site for power, per class for demand ...)
    with whether it binds and its shadow price in named units (LP duals)."""
    UNITS = shadow_units(objective_unit)  # noqa: N806 (issue 13: was always GWh/day)
    out = []
    power = hourly_site_power_kw(c, x, n)
    if "power_cap" in rows and len(rows["power_cap"]):
        r = rows["power_cap"]
        dual = duals.get("power_cap", np.full(len(r), np.nan))
        for site, group in r.groupby("site", sort=False):
            s = c.site_ids.index(site)
            idx = group.index.to_numpy()
            peak = power[s].max()
            out.append({"constraint": "power_cap", "key": site, "limit": c.site_cap_kw[s] / 1e3,
                        "value": peak / 1e3, "unit": "MW",
                        "binding": bool(peak >= c.site_cap_kw[s] * (1 - 1e-4)),
                        "shadow_price": float(np.nansum(dual[idx]) * 1e3),
                        "shadow_unit": UNITS["power_cap"]})
    if "inventory" in rows and len(rows["inventory"]):
        dual = duals.get("inventory", np.full(len(rows["inventory"]), np.nan))
        for i, r in enumerate(rows["inventory"].itertuples()):
            used = n[(np.array(c.site_ids)[c.dep_site] == r.site) & (c.dep_hardware == r.hardware)].sum()
            out.append({"constraint": "inventory", "key": f"{r.site}:{r.hardware}",
                        "limit": r.nodes, "value": used, "unit": "nodes",
                        "binding": bool(used >= r.nodes * (1 - 1e-4)),
                        "shadow_price": float(dual[i]), "shadow_unit": UNITS["inventory"]})
    dual = duals.get("demand", np.full(len(c.demand), np.nan))
    for i, cid in enumerate(c.classes["id"]):
        out.append({"constraint": "demand", "key": cid, "limit": c.demand[i],
                    "value": float(x[c.pair_class == i].sum()), "unit": "queries/day",
                    "binding": True, "shadow_price": float(abs(dual[i]) / unit * 1e6),
                    "shadow_unit": UNITS["demand"]})
    if "capacity" in duals:
        cap_dual = duals["capacity"].reshape(HOURS, c.n_deployments)
        binding = (cap_dual > 1e-12).any(axis=0)
        out.append({"constraint": "capacity", "key": "all deployments",
                    "limit": c.utilization_ceiling, "value": float(binding.sum()),
                    "unit": "deployments with a binding hour", "binding": bool(binding.any()),
                    "shadow_price": float(cap_dual.max() * 3600),
                    "shadow_unit": UNITS["capacity"]})
    return pd.DataFrame(out)
