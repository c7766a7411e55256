"""Why a plan is infeasible: a class no candidate can serve (with the closest TTFT, TPOT or
quality any candidate reaches), or the power cap, inventory or minimum site share that the
demand cannot fit under (the elastic LP: the least raise that works), or an integer rule of the
MILP (each relaxed in turn)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from formulations.coefficients import Coefficients
from formulations.constraints import demand_unit
from formulations.form import (INVENTORY, MAX_DEPLOYMENTS, MIN_REPLICAS, POWER_CAP, Options,
                               build, unit_of)
from formulations.loads import site_power_kw
from planner.problem.candidates import CandidateReport
from planner.solve.explain import explanation
from planner.solve.highs import solve_highs
from planner.solve.result import Status


def explain_ineligible(report: CandidateReport) -> list[dict]:
    """Classes no candidate can serve, with the constraint and the closest achievable value."""
    out = []
    for row in report.class_best.itertuples():
        if row.eligible > 0:
            continue
        if row.best_quality >= row.min_quality and row.fit_with_quality == 0:
            out.append({"class": row[1], "constraint": "memory_fit", "limit": row.min_quality,
                        "closest": np.nan, "unit": "MMLU",
                        "note": "no model meeting the quality floor fits on any allowed "
                                "hardware and parallelism"})
        if row.ttft_slo_ms and row.best_ttft_ms > row.ttft_slo_ms:
            out.append({"class": row[1], "constraint": "ttft_slo",
                        "limit": row.ttft_slo_ms, "closest": row.best_ttft_ms, "unit": "ms"})
        if row.tpot_slo_ms and row.best_tpot_ms > row.tpot_slo_ms:
            out.append({"class": row[1], "constraint": "tpot_slo", "limit": row.tpot_slo_ms,
                        "closest": row.best_tpot_ms, "unit": "ms"})
        if row.best_quality < row.min_quality:
            out.append({"class": row[1], "constraint": "quality_floor", "limit": row.min_quality,
                        "closest": row.best_quality, "unit": "MMLU"})
        if not any(o["class"] == row[1] for o in out):
            out += _joint_conflict(row)
    for o in out:
        o["class"] = str(o["class"])
    return out


def _joint_conflict(row) -> list[dict]:
    """SLO and quality floor each reachable, never together: the closest value of each given
    the other (latency among candidates meeting the floor, quality among those meeting the SLO)."""
    out = []
    cls = str(row[1])
    note = "each is reachable alone, not together"
    best_ttft = getattr(row, "best_ttft_with_quality_ms", np.nan)
    best_tpot = getattr(row, "best_tpot_with_quality_ms", np.nan)
    best_quality = getattr(row, "best_quality_with_slo", np.nan)
    if row.ttft_slo_ms and np.isfinite(best_ttft) and best_ttft > row.ttft_slo_ms:
        out.append({"class": cls, "constraint": "ttft_slo (with the quality floor)",
                    "limit": row.ttft_slo_ms, "closest": best_ttft, "unit": "ms", "note": note})
    elif row.tpot_slo_ms and np.isfinite(best_tpot) and best_tpot > row.tpot_slo_ms:
        out.append({"class": cls, "constraint": "tpot_slo (with the quality floor)",
                    "limit": row.tpot_slo_ms, "closest": best_tpot, "unit": "ms", "note": note})
    if np.isfinite(best_quality) and best_quality < row.min_quality:
        out.append({"class": cls, "constraint": "quality_floor (with the SLO)",
                    "limit": row.min_quality, "closest": best_quality, "unit": "MMLU",
                    "note": note})
    if not out:
        out.append({"class": cls, "constraint": "slo_and_quality_jointly", "limit": np.nan,
                    "closest": np.nan, "unit": ""})
    for d in out[:-1]:  # the note once, on the last finding
        d.pop("note", None)
    return out


def milp_diagnosis(c: Coefficients, time_limit_s: float, mip_gap: float) -> list[dict]:
    """The LP relaxation is feasible but the MILP is not: which integer rule. Each rule is
    relaxed in turn (maximum deployments, minimum replicas) and the MILP re-solved; the closest
    achievable value is the fewest deployments / the most replicas that still give a plan.
    If neither alone explains it, whole nodes against inventory or the power cap do."""
    from planner.solve.lazy_milp import solve_milp

    limit = max(min(time_limit_s, 30.0), 1.0)

    def feasible(coefficients: Coefficients) -> bool:
        return solve_milp(coefficients, limit, max(mip_gap, 0.05)).result.status \
            is not Status.INFEASIBLE

    out = []
    if c.max_deployments is not None and feasible(replace(c, max_deployments=None)):
        # The fewest deployments that serve the demand: the MILP minimising sum y.
        form = build(replace(c, max_deployments=None), Options(integer=True))
        fewest = replace(form, cost=np.where(np.arange(form.a.shape[1]) >= form.cols["y"].index.start,
                                              1.0, 0.0))
        result = solve_highs(fewest, limit, 0.0)
        closest = float(np.rint(result.y).sum()) if result.y is not None else np.nan
        out.append({"site": "all", "constraint": MAX_DEPLOYMENTS.name, "limit": c.max_deployments,
                    "closest": closest, "unit": "deployments",
                    "note": "the demand needs more distinct deployments than max_deployments "
                            "allows"})
    if c.min_replicas > 1 and feasible(replace(c, min_replicas=1)):
        low, high = 1, c.min_replicas - 1  # low is feasible; find the most replicas that are
        for _ in range(8):
            if low >= high:
                break
            mid = (low + high + 1) // 2
            if feasible(replace(c, min_replicas=mid)):
                low = mid
            else:
                high = mid - 1
        out.append({"site": "all", "constraint": MIN_REPLICAS.name, "limit": c.min_replicas,
                    "closest": float(low), "unit": "replicas",
                    "note": "minimum replicas per used deployment do not fit the inventory, "
                            "the power cap or the deployment limit"})
    if not out and not c.inventory.empty:
        # Whole nodes against inventory: the MILP without inventory, and its nodes per pool.
        relaxed = solve_milp(replace(c, inventory=c.inventory.iloc[0:0]), limit,
                             max(mip_gap, 0.05)).result
        if relaxed.n is not None:
            for r in c.inventory.itertuples():
                used = float(relaxed.n[(c.dep_site == r.site_idx)
                                       & (c.dep_hardware == r.hardware)].sum())
                if used > r.nodes + 1e-6:
                    out.append({"site": c.site_ids[int(r.site_idx)],
                                "constraint": f"{INVENTORY.name}[{r.hardware}] (whole nodes)",
                                "limit": r.nodes, "closest": used, "unit": "nodes"})
    if not out and np.isfinite(c.site_cap_kw).any():
        relaxed = solve_milp(replace(c, site_cap_kw=np.full_like(c.site_cap_kw, np.inf)), limit,
                             max(mip_gap, 0.05)).result
        if relaxed.n is not None:
            peak = site_power_kw(c, relaxed.x * demand_unit(c), relaxed.n).max(axis=1)
            for s in np.flatnonzero(np.isfinite(c.site_cap_kw)):
                if peak[s] > c.site_cap_kw[s] * (1 + 1e-6):
                    out.append({"site": c.site_ids[s], "constraint": f"{POWER_CAP.name} (whole nodes)",
                                "limit": c.site_cap_kw[s] / 1e3, "closest": peak[s] / 1e3,
                                "unit": "MW"})
    if not out:
        out.append({"site": "all", "constraint": "whole_nodes", "limit": np.nan,
                    "closest": np.nan, "unit": "",
                    "note": "the LP relaxation has a plan, but whole nodes (with minimum "
                            "replicas and the deployment limit) do not fit the inventory or "
                            "the power cap"})
    return out


def elastic_diagnosis(c: Coefficients) -> list[dict]:
    """The elastic LP (every elastic row block relaxed by priced slack, energy a distant
    second): the least raise of each capped site's power, the fewest extra nodes of each
    inventory pool and the smallest shortfall of each minimum site share that make the demand
    servable."""
    form = build(c, Options(elastic=True))
    result = solve_highs(form, 60.0)
    if result.values is None:
        return []
    out = []
    for name, block in form.cols.items():
        if not name.startswith("slack_"):
            continue
        slack = result.values[block.index]
        for i in np.flatnonzero(slack > 1e-6):
            key = block.coords.iloc[i]
            out.append(_elastic_finding(c, block, key, float(slack[i]), form.unit))
    return out


def _elastic_finding(c: Coefficients, block, key, slack: float, unit: float) -> dict:
    words = explanation(unit_of(block))
    if words is not None and words.elastic is not None:
        return words.elastic(c, key, slack, unit)
    name = block.name[len("slack_"):]
    return {"site": "all", "constraint": name, "limit": np.nan, "closest": np.nan,
            "unit": "", "note": f"needs {slack:.4g} of slack"}


def message(details: list[dict]) -> str:
    """One line; each distinct finding once."""
    parts = []
    for d in details:
        who = (f"class {d['class']}" if "class" in d else
               "fleet" if d.get("site") == "all" else f"site {d['site']}")
        if np.isfinite(d.get("closest", np.nan)):
            text = (f"{who}: {d['constraint']} limit {d['limit']:.4g} {d['unit']}, closest "
                    f"achievable {d['closest']:.4g} {d['unit']}")
            if d.get("note"):
                text += f" ({d['note']})"
        elif d.get("note"):
            text = f"{who}: {d['note']} ({d['constraint']})"
        else:
            text = f"{who}: no candidate meets its SLO and quality floor together"
        if text not in parts:
            parts.append(text)
    return "infeasible: " + "; ".join(parts)


