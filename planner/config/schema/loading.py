"""Read a YAML file into a pydantic model; every failure names the file, the field and the value."""

from __future__ import annotations

import difflib
import typing
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from planner.errors import InputError, one_line
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


MORE_ERRORS_SHOWN = 4
MORE_ERROR_CHARS = 160  # each further error is named briefly; the first one is given in full
MESSAGE_CHARS = 1200  # the whole line, whatever the first error's value


def _models_in(annotation) -> list[type[BaseModel]]:
    """The pydantic models an annotation can hold (through Optional, unions, lists, dicts,
    Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found += _models_in(arg)
    return found


def known_fields(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names a mapping at ``loc`` (the path of an unknown key, less the key) may
    have, walking the schema; list indices and free mapping keys (an inventory's hardware)
    are stepped over."""
    models = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt = []
        for m in models:
            field = m.model_fields.get(part)
            if field is not None:
                nxt += _models_in(field.annotation)
        models = nxt or models  # a free mapping key: stay with the models holding the mapping
    return sorted({name for m in models for name in m.model_fields})


def _one(err: dict, file: str | None, model: type[BaseModel] | None,
         list_known: bool = True) -> InputError:
    loc = tuple(p for p in err["loc"] if p not in ("function-after", "function-before"))
    message = err["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    has_value = err["type"] != "missing"
    value = err.get("input")
    if err["type"] == "extra_forbidden" and loc and model is not None:
        names = known_fields(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), names, n=3, cutoff=0.6)
        message = "unknown field"
        if close:
            message += f"; did you mean {' or '.join(close)}?"
        elif names and list_known:
            message += f"; known: {', '.join(names)}"
    if isinstance(value, dict) and has_value and err["type"] != "extra_forbidden":
        has_value = False  # a whole mapping is too long to echo; the path says where it is
    return InputError(message, file=file, field=format_location(loc), value=value,
                      has_value=has_value)


def first_validation_error(exc: ValidationError, file: str | None,
                           model: type[BaseModel] | None = None) -> InputError:
    """Every pydantic error in one line: the first in full (file, field, value, and for an
    unknown field the nearest known names or the known ones), then up to four more by field
    and reason, then how many more, so a file with several mistakes is fixed in one round."""
    raw = exc.errors(include_url=False)
    first = _one(raw[0], file, model)
    if len(raw) > 1:
        more = [_one(err, file, model, list_known=False) for err in raw[1:1 + MORE_ERRORS_SHOWN]]
        rest = len(raw) - 1 - len(more)
        also = "; ".join(one_line(f"{e.field}: {e.reason}", MORE_ERROR_CHARS) for e in more)
        text = first._render() + "; also " + also + (f"; and {rest} more" if rest else "")
        first.args = (one_line(text, MESSAGE_CHARS),)
    return first


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
        raise first_validation_error(exc, file, model) from exc


def load_yaml_model(path: Path | str, model: type[M]) -> M:
    """Read and validate ``path`` as ``model``."""
    return validate_mapping(read_yaml(path), model, file=str(path))
