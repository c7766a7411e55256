"""Load a planning instance: YAML, then a named scenario, then ``--set`` overrides, then validate.

Ids are checked against the catalog here, so a typo is reported with the file, the path inside
it and the nearest known id, before any work is done.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from pathlib import Path

import yaml

from planner.catalog.loaders import load_catalog
from planner.perf.factors import load_calibration
from planner.errors import InputError
from planner.measurements import (check_measurement_ids, expand_measurement_file,
                                  instance_catalog_context)
from planner.schema.loading import read_yaml, validate_mapping
from planner.schema.plan import DEMAND_RANGE, MIN_QUERIES_PER_DAY, PlanningInstance
from planner.validation import load_yaml_text, warn_once

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


_PATH = re.compile(r"^[^.\[\]]+(\[(\d+|\*)\])*(\.[^.\[\]]+(\[(\d+|\*)\])*)*$")


def split_path(path: str, where: str | None = None) -> list[str | int]:
    """'sites[0].power_cap_mw' -> ['sites', 0, 'power_cap_mw']; 'sites[*].pue' -> [.., '*', ..].

    An empty path, an empty part (``a..b``, ``.x``) or a malformed index is an InputError."""
    if not isinstance(path, str) or not _PATH.match(path.strip()) or any(
            not part.strip() for part in re.split(r"[.\[\]]+", path.strip()) if part != ""):
        raise InputError("malformed path: write field names joined by '.', list items as [0], "
                         "[*] or by id (sites.us-east.pue)", file=where, field="path",
                         value=path, has_value=True)
    parts: list[str | int] = []
    for name, index in _TOKEN.findall(path.strip().replace("[*]", ".*")):
        parts.append(int(index) if index else name.strip())
    return parts


def set_path(data: dict, path: str, value, where: str) -> None:
    """Set ``path`` in nested dicts/lists; list items may be addressed by index, by ``id`` or
    all at once with ``[*]`` (``sites[*].pue=1.1``)."""
    _set_parts(data, split_path(path, where), value, where, path)


def _set_parts(data, parts: list, value, where: str, path: str) -> None:
    target = data
    for i, part in enumerate(parts[:-1]):
        if part == "*":
            if not isinstance(target, list):
                raise InputError("[*] needs a list", file=where, field=path)
            for item in target:
                _set_parts(item, parts[i + 1:], copy.deepcopy(value), where, path)
            return
        target = _step(target, part, parts[: i + 1], where)
    last = parts[-1]
    if isinstance(target, list):
        if isinstance(last, int) and last < len(target):
            target[last] = value
            return
        raise InputError("index out of range", file=where, field=path, value=last, has_value=True)
    if not isinstance(target, dict):
        raise InputError("cannot set a field inside a scalar", file=where, field=path)
    target[last] = value


def _step(target, part, so_far, where):
    shown = ".".join(str(p) for p in so_far)
    if isinstance(target, list):
        if isinstance(part, int):
            if part < len(target):
                return target[part]
            raise InputError("index out of range", file=where, field=shown, value=part,
                             has_value=True)
        for item in target:  # address list items by their id: sites.dc-east.pue
            if isinstance(item, dict) and item.get("id") == part:
                return item
        raise InputError("no list item with this id", file=where, field=shown, value=part,
                         has_value=True)
    if isinstance(target, dict):
        if part not in target or target[part] is None:
            target[part] = {}
        return target[part]
    raise InputError("cannot descend into a scalar", file=where, field=shown)


def parse_set(expression: str, where: str | None = None) -> tuple[str, object]:
    """'options.utilization_ceiling=0.7' -> (path, 0.7); the value is parsed as YAML.
    ``where`` names the instance the override is for (``FILE (--set)``) in errors."""
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


def load_planning_data(path: Path | str, scenario: str | None = None,
                       sets: list[str] | tuple[str, ...] = ()) -> dict:
    """The instance's mapping after the scenario and ``--set`` overrides (not yet validated)."""
    file = str(path)
    data = copy.deepcopy(read_yaml(path))
    data = expand_measurement_file(data, path)  # issue 13: measurements.file -> rows
    if scenario:
        scenarios = data.get("scenarios") or {}
        if scenario not in scenarios:
            raise InputError(f"unknown scenario; known: {sorted(scenarios)}", file=file,
                             field="scenarios", value=scenario, has_value=True)
        if not isinstance(scenarios[scenario] or {}, dict):
            raise InputError("a scenario is a mapping of {path: value}", file=file,
                             field=f"scenarios.{scenario}", value=scenarios[scenario],
                             has_value=True)
        for key, value in (scenarios[scenario] or {}).items():
            set_path(data, key, value, f"{file} (scenario {scenario})")
    for expression in sets:
        key, value = parse_set(expression, f"{file} (--set)")
        set_path(data, key, value, f"{file} (--set)")
    return data


def apply_overrides(data: dict, overrides: dict, where: str) -> dict:
    """A copy of ``data`` with ``{path: value}`` overrides applied in order."""
    data = copy.deepcopy(data)
    for key, value in overrides.items():
        set_path(data, key, value, where)
    return data


def load_planning_instance(path: Path | str, scenario: str | None = None,
                           sets: list[str] | tuple[str, ...] = ()) -> tuple[PlanningInstance, str]:
    """The validated instance and a hash of the merged input (for provenance)."""
    return instance_from_mapping(load_planning_data(path, scenario, sets), str(path))


def instance_from_mapping(data: dict, file: str) -> tuple[PlanningInstance, str]:
    """Validate a mapping (ids against the catalog too) and hash it."""
    instance = validate_mapping(data, PlanningInstance, file=file)
    check_ids(instance, file)
    dump = instance.model_dump(mode="json")
    for key in ("measurements", "custom_hardware", "custom_models", "provisioning"):
        if not dump.get(key):  # issue 13: unused new fields leave the digest as it was
            dump.pop(key, None)
    digest = hashlib.sha256(json.dumps(dump, sort_keys=True).encode()).hexdigest()[:16]
    return instance, digest


def check_ids(instance: PlanningInstance, file: str) -> None:
    """Every id must be a catalog id (or alias); errors name the path and the nearest ids."""
    # issue 13: the instance's own hardware and models count as catalog ids; measurement rows
    # are checked too (unknown ids, duplicate keys, grids).
    with instance_catalog_context(instance, file):
        _check_ids(instance, file)
        check_measurement_ids(instance, file)


def _check_ids(instance: PlanningInstance, file: str) -> None:
    catalog = load_catalog()
    largest = max(c.queries_per_day for c in instance.classes)
    scale = instance.adjustments.demand_scale
    for i, cls in enumerate(instance.classes):
        if cls.queries_per_day * scale < MIN_QUERIES_PER_DAY:
            raise InputError(
                f"fewer than {MIN_QUERIES_PER_DAY:g} queries/day"
                + (f" after adjustments.demand_scale={scale:g}" if scale != 1 else ""),
                file=file, field=f"classes[{i}].queries_per_day", value=cls.queries_per_day,
                has_value=True)
        if cls.queries_per_day < DEMAND_RANGE * largest:
            raise InputError(
                f"below {DEMAND_RANGE:g} of the largest class ({largest:g} queries/day): beyond "
                f"the solver's resolution (it would be served 0); plan it separately or drop it",
                file=file, field=f"classes[{i}].queries_per_day", value=cls.queries_per_day,
                has_value=True)
    for i, model in enumerate(instance.options.models):
        catalog.model_id(model, file=file, field=f"options.models[{i}]")
    for i, precision in enumerate(instance.options.precisions):
        catalog.precision_id(precision, file=file, field=f"options.precisions[{i}]")
    for i, hw in enumerate(instance.options.hardware):
        catalog.hardware_id(hw, file=file, field=f"options.hardware[{i}]")
    allowed = {catalog.hardware_id(hw) for hw in instance.options.hardware}
    calibration = load_calibration()
    for i, engine in enumerate(instance.options.engines):
        try:
            calibration.engine(engine.strip().lower())
        except InputError as exc:
            raise InputError(exc.reason, file=file, field=f"options.engines[{i}]", value=engine,
                             has_value=True) from None
    for s, site in enumerate(instance.sites):
        for hw in site.inventory:
            hw_id = catalog.hardware_id(hw, file=file, field=f"sites[{s}].inventory.{hw}")
            if hw_id not in allowed:
                warn_once(log, f"{file}: sites[{s}].inventory.{hw}: hardware not in "
                               f"options.hardware; its inventory is unused")
    class_ids = [cls.id for cls in instance.classes]
    for k, category in enumerate(instance.levers.categories if instance.levers else []):
        for cid in category.classes or []:
            if cid not in class_ids:
                raise InputError(f"unknown class id (classes: {', '.join(class_ids)})",
                                 file=file, field=f"levers.categories[{k}].classes",
                                 value=cid, has_value=True)
    for c, cls in enumerate(instance.classes):
        for i, model in enumerate(cls.models or []):
            catalog.model_id(model, file=file, field=f"classes[{c}].models[{i}]")
