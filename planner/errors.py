"""The planner's error taxonomy: one class per exit code, each message one line.

| exit | class              | meaning                                                             |
|------|--------------------|---------------------------------------------------------------------|
| 0    | -                  | success (a time-limited MILP with an incumbent included)            |
| 1    | InternalError      | a bug or a numerical failure of the solver; please report it        |
| 2    | InputError         | bad input: the file, the field inside it and the offending value    |
| 3    | InfeasibleError    | no feasible plan: which class/site, which constraint, closest value |
| 4    | NoSolutionError    | the solver's time limit ended without any plan                      |

Errors a user can act on name the file, the field inside it and the offending value; values
are echoed truncated (``MAX_ECHO`` characters), so a huge value never becomes a huge message.
"""

from __future__ import annotations

EXIT_INTERNAL = 1
EXIT_INPUT = 2
EXIT_INFEASIBLE = 3
EXIT_NO_SOLUTION = 4

MAX_ECHO = 80  # characters of an offending value echoed in a message
REPORT_HINT = ("this is a bug or a numerical failure, not bad input: please report it with the "
               "instance and the output of --debug")


def echo(value: object, limit: int = MAX_ECHO) -> str:
    """``repr(value)`` cut to ``limit`` characters (with the full length said when cut)."""
    try:
        text = repr(value)
    except Exception:  # a value whose repr fails is still reported
        text = f"<{type(value).__name__}>"
    if len(text) > limit:
        text = f"{text[:limit]}... ({len(text)} characters)"
    return " ".join(text.split("\n"))


def one_line(text: str, limit: int = 1000) -> str:
    """Collapse newlines and cut very long text (messages are one line on stderr)."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} characters)"


class PlannerError(Exception):
    """Base class of every error the CLI reports as one line; ``exit_code`` picks the code."""

    exit_code = EXIT_INPUT


class InputError(PlannerError):
    """Bad user input: a missing or malformed file, a field out of range, an unknown id."""

    exit_code = EXIT_INPUT

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 value: object = None, has_value: bool = False):
        self.file = file
        self.field = field
        self.value = value
        self.has_value = has_value
        self.reason = message
        super().__init__(self._render())

    def _render(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file))
        if self.field:
            parts.append(one_line(self.field, 200))
        prefix = ": ".join(parts)
        reason = one_line(self.reason)
        text = f"{prefix}: {reason}" if prefix else reason
        if self.has_value:
            text += f" (got {echo(self.value)})"
        return text


class InfeasibleError(PlannerError):
    """The instance has no feasible plan; the message says which class/site and constraint."""

    exit_code = EXIT_INFEASIBLE

    def __init__(self, message: str, details: list[dict] | None = None):
        self.details = details or []
        super().__init__(one_line(message))


class NoSolutionError(PlannerError):
    """The solver stopped at its time limit without any feasible plan."""

    exit_code = EXIT_NO_SOLUTION


class InternalError(PlannerError):
    """A bug or a numerical failure (never the user's input): exit 1 with a hint to report it."""

    exit_code = EXIT_INTERNAL

    def __init__(self, message: str):
        super().__init__(f"internal error: {one_line(message)} ({REPORT_HINT})")


class SolverNumericError(InternalError):
    """HiGHS failed numerically (status error/unknown) on a well-formed problem."""


class VerificationError(InternalError):
    """A returned plan failed the independent re-check beyond tolerance."""
