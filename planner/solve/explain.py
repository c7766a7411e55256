"""The planner-side half of each constraint unit: its diagnosis text (what the elastic LP's
slack on its rows means, with the closest achievable value) and its plain-words sentence for
a binding row's shadow price. Keyed by the unit objects of :data:`formulations.form.CONSTRAINTS`
(never by matching names), so the diagnosis, the plan's constraint table and the report
iterate over one registry; a test checks every checked unit has an entry here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from formulations.coefficients import Coefficients
from formulations.form import (CAPACITY, CONSTRAINTS, DEMAND, FAILOVER, INVENTORY,
                               MAX_DEPLOYMENTS, MIN_REPLICAS, MIN_SITE_SHARE, POWER_CAP,
                               Constraint)


@dataclass(frozen=True)
class Explanation:
    """``words``: the rule in one line; ``elastic(c, key, slack, unit)``: the finding when the
    elastic LP relaxes one of its rows (key: the slack's coordinates); ``sentence(key, amount,
    row, fmt)``: a binding row's shadow price in words (amount: the price as 'x MWh/day', fmt:
    the report's number format);
    ``shadow_unit``: the unit of its shadow price in the constraint table."""

    words: str
    elastic: Callable | None = None
    sentence: Callable | None = None
    shadow_unit: str | None = None


def _power_cap_finding(c: Coefficients, key, slack: float, unit: float) -> dict:
    s = list(c.site_ids).index(key["site"])
    return {"site": key["site"], "constraint": POWER_CAP.name, "limit": c.site_cap_kw[s] / 1e3,
            "closest": (c.site_cap_kw[s] + slack) / 1e3, "unit": "MW"}


def _inventory_finding(c: Coefficients, key, slack: float, unit: float) -> dict:
    return {"site": key["site"], "constraint": f"{INVENTORY.name}[{key['hardware']}]",
            "limit": key["nodes"], "closest": key["nodes"] + slack, "unit": "nodes"}


def _share_finding(c: Coefficients, key, slack: float, unit: float) -> dict:
    i = list(c.classes["id"]).index(key["class"])
    share = float(c.min_site_share[i, list(c.site_ids).index(key["site"])])
    return {"class": key["class"], "constraint": f"{MIN_SITE_SHARE.name}[{key['site']}]",
            "limit": share, "closest": share - slack * unit / c.demand[i], "unit": "share"}


def _failover_finding(c: Coefficients, key, slack: float, unit: float) -> dict:
    return {"class": key["class"], "constraint": f"{FAILOVER.name}[{key['site']}]",
            "limit": 0.0, "closest": slack * unit, "unit": "queries/day left unserved",
            "note": f"if {key['site']} is lost the other sites cannot absorb this class within "
                    f"their caps and inventories at failover_utilization "
                    f"{c.failover_utilization:g}"}


def _capacity_words(key: str, amount: str, row, fmt) -> str:
    n = int(round(float(row.value)))  # deployments of the plan (nodes > 0) at the ceiling
    return (f"{n} deployment{'s' if n != 1 else ''} of the plan run at the utilization "
            f"ceiling ({fmt(row.limit, 3)}) in some hour; 1 more node-hour there saves "
            f"{'up to ' if amount != 'nothing measurable' else ''}{amount}")


EXPLAIN: dict[Constraint, Explanation] = {
    DEMAND: Explanation(
        "every class's queries/day are served",
        sentence=lambda key, amount, row, fmt: f"1 million more {key} queries/day cost {amount}",
        shadow_unit="GWh/day per million queries/day"),
    CAPACITY: Explanation(
        "in every hour a deployment's busy node-seconds stay under the utilization ceiling",
        sentence=_capacity_words, shadow_unit="GWh/day per node-hour of capacity"),
    POWER_CAP: Explanation(
        "a capped site's facility power stays under its cap in every hour",
        elastic=_power_cap_finding,
        sentence=lambda key, amount, row, fmt: f"1 MW more cap at {key} saves {amount}",
        shadow_unit="GWh/day saved per MW of extra cap"),
    INVENTORY: Explanation(
        "nodes of each hardware at a site stay within what is installed",
        elastic=_inventory_finding,
        sentence=lambda key, amount, row, fmt: "1 more installed {1} node at {0} saves {2}".format(
            *key.partition(":")[::2], amount),
        shadow_unit="GWh/day saved per extra node"),
    MIN_SITE_SHARE: Explanation(
        "a class serves at least its share of queries at a site", elastic=_share_finding),
    MIN_REPLICAS: Explanation("a used deployment runs at least min_replicas replicas (MILP)"),
    MAX_DEPLOYMENTS: Explanation("at most max_deployments distinct deployments (MILP)"),
    FAILOVER: Explanation(
        "if a failover site is lost, the other sites absorb its queries within their caps and "
        "inventories at the failover utilisation", elastic=_failover_finding,
        sentence=lambda key, amount, row, fmt: "1 million more queries/day to absorb if {0} is "
        "lost ({1}) cost {2}".format(*key.partition("@")[::2], amount)),
}


def explanation(unit: Constraint | None) -> Explanation | None:
    return EXPLAIN.get(unit) if unit is not None else None


def unit_named(name: str) -> Constraint | None:
    """The registered unit of a constraint table's ``constraint`` column (tables read back from
    disk carry the unit's name only)."""
    return next((u for u in CONSTRAINTS if u.name == name), None)


def shadow_units(objective_unit: str = "GWh/day") -> dict[str, str]:
    """Shadow-price units of the table's constraints in the objective's own units."""
    return {u.name: e.shadow_unit.replace("GWh/day", objective_unit)
            for u, e in EXPLAIN.items() if e.shadow_unit}
