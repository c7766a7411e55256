"""Read a YAML file into a pydantic model; every failure names the file, the field and the value."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from planner.errors import InputError
from planner.config.validation import existing_file, load_yaml_text

M = TypeVar("M", bound=BaseModel)


def format_location(loc: tuple) -> str:
    """Pydantic's error location as a path a person can find in the file: ``models[2].pue.p5``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "<root>"


def first_validation_error(exc: ValidationError, file: str | None) -> InputError:
    """The first pydantic error as an InputError (the rest are logged by the caller if wanted)."""
    err = exc.errors(include_url=False)[0]
    loc = tuple(p for p in err["loc"] if p not in ("function-after", "function-before"))
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    has_value = err["type"] != "missing"
    value = err.get("input")
    if isinstance(value, dict) and has_value and err["type"] not in ("extra_forbidden",):
        has_value = False  # a whole mapping is too long to echo; the path says where it is
    return InputError(message, file=file, field=format_location(loc), value=value,
                      has_value=has_value)


def read_yaml(path: Path | str) -> dict:
    """Parse a YAML mapping; a missing file, a syntax error or a non-mapping top level is an error."""
    path = existing_file(path)
    try:
        data = load_yaml_text(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["?"])[0]
        raise InputError(f"malformed YAML at {where}: {problem}", file=str(path)) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read file: {exc}", file=str(path)) from exc
    except RecursionError:
        raise InputError("malformed YAML: nested too deeply", file=str(path)) from None
    if not isinstance(data, dict):
        raise InputError("top level must be a mapping of fields", file=str(path),
                         value=type(data).__name__, has_value=True)
    return data


def validate_mapping(data: dict, model: type[M], file: str | None = None) -> M:
    """Validate an already-parsed mapping (after scenario merges, say) with file-aware errors."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise first_validation_error(exc, file) from exc


def load_yaml_model(path: Path | str, model: type[M]) -> M:
    """Read and validate ``path`` as ``model``."""
    return validate_mapping(read_yaml(path), model, file=str(path))
