"""Independent re-check of a plan against every registered constraint unit.

Each unit of :data:`formulations.form.CONSTRAINTS` that a user states carries its own re-check
(:mod:`formulations.checks`, plain numpy that shares no arithmetic with the builder); this runs
all of them, plus nonnegativity and integrality, so a unit added to the registry is re-checked
without a line here. It is imported by the pipeline, the lever engine and the tests.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from formulations.checks import REL_TOL, PlanValues
from formulations.coefficients import Coefficients
from formulations.form import PLAN_CHECKS, checked

__all__ = ["REL_TOL", "PlanValues", "result_flows", "verify_plan"]


def result_flows(result, unit: float) -> dict[str, np.ndarray]:
    """A solve result's per-pair column blocks other than x (layers x pairs) in queries/day."""
    return {name: flow * unit for name, flow in (result.flows or {}).items()}


def verify_plan(c: Coefficients, x: np.ndarray, n: np.ndarray, integer: bool = False,
                flows: dict[str, np.ndarray] | None = None) -> pd.DataFrame:
    """Every violated constraint row (empty when the plan is feasible). ``x`` in queries/day;
    ``flows``: the plan's other per-pair columns (layers x pairs, queries/day), by block name
    (:func:`result_flows`), which a unit's check reads (failover: its re-routing)."""
    plan = PlanValues(np.asarray(x, float), np.asarray(n, float), integer, dict(flows or {}))
    problems = []
    for check in (*PLAN_CHECKS, *(u.check for u in checked())):
        problems += check(c, plan)
    return pd.DataFrame(problems, columns=["constraint", "where", "excess"])
