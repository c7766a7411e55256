"""Levers over time: the instance's lever groups (``levers:``) measured on the roadmap, period
by period. The baseline roadmap (``levers.baseline`` applied), every lever alone on it, and all
levers together are each solved as a whole roadmap (perfect foresight); the table gives each
period's GWh/day and the reduction (x-fold) against the baseline. Option lists that several
levers widen combine by union, as in ``planner levers``; other values: the last lever wins.
"""

from __future__ import annotations

import logging

import pandas as pd

from planner.config import apply_overrides
from planner.problem.instance import instance_from_mapping
from planner.errors import InputError

log = logging.getLogger(__name__)


def combine(override_sets: list[dict]) -> dict:
    """Overrides of several levers at once: lists unioned (None absorbs), else last wins."""
    merged: dict = {}
    for overrides in override_sets:
        for path, value in overrides.items():
            before = merged.get(path, ...)
            if isinstance(value, list) and isinstance(before, list):
                merged[path] = list(dict.fromkeys(before + value))
            elif value is None and path in merged and isinstance(before, list):
                merged[path] = None
            elif before is None and isinstance(value, list):
                merged[path] = None
            else:
                merged[path] = value
    return merged


def levers_over_time(data: dict, file: str, formulation: str = "lp") -> tuple[pd.DataFrame, dict]:
    """(per period and variant: GWh/day and reduction against the baseline; summary)."""
    from planner.roadmap.solve import optimize_roadmap

    spec = data.get("levers")
    if not spec:
        raise InputError("no levers section: levers over time need levers.baseline and "
                         "levers.groups (see planner levers)", file=file, field="levers")
    base = apply_overrides(data, spec.get("baseline") or {}, f"{file} (levers.baseline)",
                           "levers baseline")
    groups = spec["groups"]
    variants = [("baseline", {})] + [(g["name"], g["set"]) for g in groups] + \
        [("all levers", combine([g["set"] for g in groups]))]
    rows, totals = [], {}
    for name, overrides in variants:
        where = f"{file} (lever {name})"
        instance, digest = instance_from_mapping(apply_overrides(base, overrides, where,
                                                                 f"lever {name}"), where)
        s = optimize_roadmap(instance, digest, formulation, "perfect", compare=False).summary
        totals[name] = s["gwh"]
        for p in s["periods"]:
            rows.append({"variant": name, "period": p["id"], "gwh_per_day": p["gwh_per_day"],
                         "wh_per_query": p["wh_per_query"]})
    table = pd.DataFrame(rows)
    baseline = table[table["variant"] == "baseline"].set_index("period")["gwh_per_day"]
    table["reduction"] = baseline.reindex(table["period"]).to_numpy() / table["gwh_per_day"]
    summary = {"baseline_gwh": totals["baseline"], "all_levers_gwh": totals["all levers"],
               "gwh": totals,
               "reduction": {k: totals["baseline"] / v for k, v in totals.items() if v > 0}}
    return table, summary
