"""Errors a user can act on: each names the file, the field inside it and the offending value."""

from __future__ import annotations


class PlannerError(Exception):
    """Base class for errors the CLI reports as one line with exit code 2."""


class InputError(PlannerError):
    """Bad user input: a missing or malformed file, a field out of range, an unknown id."""

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
            parts.append(self.field)
        prefix = ": ".join(parts)
        text = f"{prefix}: {self.reason}" if prefix else self.reason
        if self.has_value:
            text += f" (got {self.value!r})"
        return text
