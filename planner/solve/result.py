"""One status model and one result for every backend and every solve path.

Each backend maps its solver's termination onto :class:`Status` (as linopy maps each solver's
into one TerminationCondition), and returns a :class:`Result`: the status, the objective, every
column's value, the duals labelled by the form's row blocks, the bound and gap of a MILP.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from formulations.form import pair_flows
from planner.errors import NoSolutionError, SolverNumericError


class Status(str, enum.Enum):
    """Every outcome of a solve and of a sweep point (the sweep table's ``status`` column)."""

    OPTIMAL = "optimal"  # optimal (a MILP: within its gap)
    TIME_LIMIT = "time_limit"  # an incumbent, with its gap
    INFEASIBLE = "infeasible"
    NO_SOLUTION = "no_solution"  # limit reached without an incumbent
    ERROR = "error"  # the solver failed (numerics, a crash): no plan
    FAILED = "failed"  # a sweep point or draw raised before or around the solve (bad input)
    MISSING = "missing"  # a sweep point not solved (interrupted)


SOLVED = (Status.OPTIMAL, Status.TIME_LIMIT)  # a plan exists
SOLVED_VALUES = tuple(s.value for s in SOLVED)  # as the sweep table's status column holds them


@dataclass
class GapPoint:
    """One change of a MILP's bounds: its history in the summary (``as_dict``)."""

    seconds: float  # since the start of the MILP solve
    stage: str  # "lp", "rounding", "restricted", "branch_and_bound", "priced round k"
    upper: float | None  # best plan so far (None: none yet)
    lower: float  # best proven bound so far

    @property
    def gap(self) -> float | None:
        if self.upper is None or not np.isfinite(self.upper):
            return None
        return max(self.upper - self.lower, 0.0) / max(abs(self.upper), 1e-300)

    def as_dict(self) -> dict:
        return {"seconds": round(self.seconds, 4), "stage": self.stage, "upper": self.upper,
                "lower": self.lower, "gap": self.gap}


@dataclass
class Result:
    """A solve's outcome. ``x``, ``n``, ``y`` are the form's x (demand units), n and y columns;
    ``duals`` maps each row block to its duals in the sign convention of a minimisation's
    Lagrangian (>= 0 on a binding <= row), per the block's coordinates."""

    status: Status
    objective: float = np.nan
    x: np.ndarray | None = None
    n: np.ndarray | None = None
    y: np.ndarray | None = None
    mip_gap: float | None = None
    dual_bound: float | None = None
    seconds: float = 0.0
    duals: dict[str, np.ndarray] = field(default_factory=dict)
    values: np.ndarray | None = None  # every column of the form
    reduced_costs: np.ndarray | None = None  # every column (solver's sign)
    row_dual: np.ndarray | None = None  # every row (solver's sign)
    iterations: int = 0
    flows: dict[str, np.ndarray] = field(default_factory=dict)  # other pair blocks, layers x P

    @property
    def optimal(self) -> bool:
        return self.status is Status.OPTIMAL

    def require_plan(self, what: str, limit: float, diagnose) -> None:
        """Raise why there is no plan, if there is none: ``diagnose()`` (the infeasibility
        diagnosis) when infeasible, else no solution within the time limit, else the solver's
        failure. Every solve path ends here, so the three sentences are said one way."""
        if self.status is Status.INFEASIBLE:
            raise diagnose()
        if self.x is not None or self.values is not None:
            return
        if self.status is Status.NO_SOLUTION:
            raise NoSolutionError(f"no solution within the time limit: no feasible {what} "
                                  f"found after {self.seconds:.1f} s (time limit {limit} s)")
        raise SolverNumericError(f"the solver ended with status {self.status.value} after "
                                 f"{self.seconds:.1f} s without a {what}")

    @classmethod
    def from_values(cls, form, status: Status, objective: float, values: np.ndarray,
                    row_dual: np.ndarray | None = None, col_dual: np.ndarray | None = None,
                    **kwargs) -> "Result":
        """The result of a solve of ``form`` with these column values and row duals."""
        values = np.asarray(values, float)
        kwargs.setdefault("flows", pair_flows(form, values))
        pick = {name: values[block.index].copy() for name, block in form.cols.items()
                if name in ("x", "n", "y")}
        duals = {}
        if row_dual is not None:
            row_dual = np.asarray(row_dual, float)
            duals = {name: -row_dual[block.index] for name, block in form.rows.items()}
        return cls(status, float(objective), pick.get("x"), pick.get("n"), pick.get("y"),
                   duals=duals, values=values, row_dual=row_dual,
                   reduced_costs=None if col_dual is None else np.asarray(col_dual, float),
                   **kwargs)
