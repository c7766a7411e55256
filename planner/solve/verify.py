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

__all__ = ["REL_TOL", "PlanValues", "verify_plan"]


def verify_plan(c: Coefficients, x: np.ndarray, n: np.ndarray, integer: bool = False,
                failover_flow: np.ndarray | None = None) -> pd.DataFrame:
    """Every violated constraint row (empty when the plan is feasible). ``x`` in queries/day;
    ``failover_flow`` (sites x pairs, queries/day) is the plan's re-routing if a failover site
    is lost (needed when a site sets ``failover``)."""
    plan = PlanValues(np.asarray(x, float), np.asarray(n, float), integer, failover_flow)
    problems = []
    for check in (*PLAN_CHECKS, *(u.check for u in checked())):
        problems += check(c, plan)
    return pd.DataFrame(problems, columns=["constraint", "where", "excess"])
