"""Every change made to an instance mapping before validation: a named scenario, ``--set``
expressions, a sweep point's overrides and multipliers, a lever's overrides.

Each change is logged (``path: old -> new (source)``, as calliope reports its overrides; the
user's own ``--set`` and scenario at NOTE, shown by default, the rest at INFO) and returned as a :class:`Change`, so a caller can put what was changed, and by
whom, into provenance. ``where`` is what errors name as the file (``FILE (scenario NAME)``);
``source`` is what the log names (``scenario NAME``, ``--set``, ``sweep point ID``,
``lever NAME``).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass

from planner.config.paths import concrete_paths, get_path, set_path, split_path
from planner.errors import InputError

log = logging.getLogger(__name__)

NOTE = 25  # between INFO and WARNING: what the user asked for on this run, shown by default
logging.addLevelName(NOTE, "NOTE")


@dataclass(frozen=True)
class Change:
    """One value changed at a concrete path (a ``[*]`` override gives one per item)."""

    path: str
    old: object  # None where the path was absent
    new: object
    source: str

    def as_json(self) -> dict:
        return {"path": self.path, "old": self.old, "new": self.new, "source": self.source}

    def __str__(self) -> str:
        return f"{self.path}: {self.old!r} -> {self.new!r} ({self.source})"


def _record(changes: list[Change], path: str, old, new, source: str) -> None:
    change = Change(path, old, copy.deepcopy(new), source)
    # The user's own --set and --scenario are shown by default (NOTE); a sweep point's or a
    # lever's changes, thousands of them, at INFO (-v).
    asked = source == "--set" or source.startswith("scenario ")
    log.log(NOTE if asked else logging.INFO, "override %s", change)
    changes.append(change)


def set_values(data: dict, overrides: dict, where: str, source: str) -> list[Change]:
    """Apply ``{path: value}`` overrides to ``data`` in place, in order; the changes made."""
    changes: list[Change] = []
    for path, value in overrides.items():
        split_path(path, where)  # a malformed path is the file's error before anything else
        paths = concrete_paths(data, path, where)
        old = [get_path(data, p) for p in paths]
        set_path(data, path, value, where)
        for concrete, before in zip(paths, old):
            _record(changes, concrete, before, get_path(data, concrete), source)
    return changes


def apply_overrides(data: dict, overrides: dict, where: str, source: str | None = None) -> dict:
    """A copy of ``data`` with ``{path: value}`` overrides applied in order (logged)."""
    data = copy.deepcopy(data)
    set_values(data, overrides, where, source or where)
    return data


def multiply_values(data: dict, factors: dict, where: str, source: str) -> list[Change]:
    """Scale the number at each path (``[*]`` allowed) in place; an absent ``adjustments.*``
    multiplier counts as 1. Anything but a number there is an InputError."""
    changes: list[Change] = []
    for key, factor in factors.items():
        for path in concrete_paths(data, key, where):
            before = current = get_path(data, path)
            if current is None and path.startswith("adjustments."):
                current = 1.0  # an absent multiplier is 1
            if not isinstance(current, (int, float)) or isinstance(current, bool):
                raise InputError("multiply needs a number at this path", file=where, field=path,
                                 value=current, has_value=True)
            set_path(data, path, current * factor, where)
            _record(changes, path, before, current * factor, source)
    return changes


def apply_scenario(data: dict, name: str, file: str, source: str | None = None) -> list[Change]:
    """Apply the instance's scenario ``name`` (a mapping of ``{path: value}``) in place."""
    scenarios = data.get("scenarios") or {}
    if name not in scenarios:
        raise InputError(f"unknown scenario; known: {sorted(scenarios)}", file=file,
                         field="scenarios", value=name, has_value=True)
    overrides = scenarios[name] or {}
    if not isinstance(overrides, dict):
        raise InputError("a scenario is a mapping of {path: value}", file=file,
                         field=f"scenarios.{name}", value=scenarios[name], has_value=True)
    return set_values(data, overrides, f"{file} (scenario {name})", source or f"scenario {name}")


def parse_set(expression: str, where: str | None = None) -> tuple[str, object]:
    """'options.utilization_ceiling=0.7' -> (path, 0.7); the value is parsed as YAML.
    ``where`` names the instance the override is for (``FILE (--set)``) in errors."""
    import yaml

    from planner.config.validation import load_yaml_text  # the strict loader ('on' stays a string)

    if "=" not in expression:
        raise InputError("--set needs PATH=VALUE", file=where, field="--set", value=expression,
                         has_value=True)
    path, raw = expression.split("=", 1)
    if not path.strip():
        raise InputError("--set needs a PATH before '='", file=where, field="--set",
                         value=expression, has_value=True)
    split_path(path, where or "--set")
    try:
        value = load_yaml_text(raw)
    except (yaml.YAMLError, RecursionError, ValueError) as exc:
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise InputError(f"value is not valid YAML: {problem}", file=where,
                         field=f"--set {path}", value=raw, has_value=True) from None
    return path.strip(), value


def apply_sets(data: dict, expressions, file: str) -> list[Change]:
    """Apply ``--set PATH=VALUE`` expressions in place, in order. An item may also be a pair
    ``(PATH=VALUE, FLAG)``: a command's own flag (``--robust``, ``--time-limit``) that sets a
    field, logged and named in errors as that flag rather than as ``--set``."""
    changes: list[Change] = []
    for item in expressions:
        expression, source = item if isinstance(item, tuple) else (item, "--set")
        path, value = parse_set(expression, f"{file} ({source})")
        changes += set_values(data, {path: value}, f"{file} ({source})", source)
    return changes


def union_overrides(override_sets) -> dict:
    """Merge ``{path: [allowed values]}`` overrides by union instead of letting the last win
    (levers that widen the same option list combine); None means 'no restriction' and absorbs
    any list."""
    merged: dict = {}
    for overrides in override_sets:
        for path, value in overrides.items():
            before = merged.get(path, [])
            merged[path] = (None if before is None or value is None
                            else list(dict.fromkeys(list(before) + list(value))))
    return merged
