"""The bottom layer: the coefficient data contract and the one formulation builder.

``build(c, Options(...))`` gives the labelled sparse form of the LP, the MILP
(``integer=True``), the aggregated LP/MILP (``aggregated=True``), the elastic LP of the
infeasibility diagnosis (``elastic=True``) and the robust CVaR LP (``robust=Robust(...)``).
Each constraint type is one registered unit (:data:`formulations.form.CONSTRAINTS`): its rows,
its mask and its independent re-check (:mod:`formulations.checks`); pricing over any form,
with no code per type, is :mod:`formulations.pricing`. Nothing here reads files, calls a solver
or imports from ``planner``.
"""

from formulations.coefficients import HOURS, Coefficients
from formulations.form import CONSTRAINTS, Block, Form, Options, Robust, build

FORMULATIONS = ("lp", "milp")  # what ``planner solve --formulation`` accepts

__all__ = ["CONSTRAINTS", "FORMULATIONS", "HOURS", "Block", "Coefficients", "Form", "Options",
           "Robust", "build"]
