"""Load a planning instance: YAML, then a named scenario, then ``--set`` overrides, then validate.

Ids are checked against the catalog here, so a typo is reported with the file, the path inside
it and the nearest known id, before any work is done.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path

import yaml

from planner.catalog.loaders import load_catalog
from planner.errors import InputError
from planner.measurements import (check_measurement_ids, expand_measurement_file,
                                  instance_catalog_context)
from planner.schema.loading import read_yaml, validate_mapping
from planner.schema.plan import PlanningInstance

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def split_path(path: str) -> list[str | int]:
    """'sites[0].power_cap_mw' -> ['sites', 0, 'power_cap_mw']; 'sites[*].pue' -> [.., '*', ..]."""
    parts: list[str | int] = []
    for name, index in _TOKEN.findall(path.replace("[*]", ".*")):
        parts.append(int(index) if index else name)
    if not parts:
        raise ValueError(f"empty path {path!r}")
    return parts


def set_path(data: dict, path: str, value, where: str) -> None:
    """Set ``path`` in nested dicts/lists; list items may be addressed by index, by ``id`` or
    all at once with ``[*]`` (``sites[*].pue=1.1``)."""
    _set_parts(data, split_path(path), value, where, path)


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


def parse_set(expression: str) -> tuple[str, object]:
    """'options.utilization_ceiling=0.7' -> (path, 0.7); the value is parsed as YAML."""
    if "=" not in expression:
        raise InputError("--set needs PATH=VALUE", field="--set", value=expression, has_value=True)
    path, raw = expression.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InputError(f"value is not valid YAML: {exc}", field=f"--set {path}") from exc
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
        for key, value in (scenarios[scenario] or {}).items():
            set_path(data, key, value, f"{file} (scenario {scenario})")
    for expression in sets:
        key, value = parse_set(expression)
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
    for i, model in enumerate(instance.options.models):
        catalog.model_id(model, file=file, field=f"options.models[{i}]")
    for i, precision in enumerate(instance.options.precisions):
        catalog.precision_id(precision, file=file, field=f"options.precisions[{i}]")
    for i, hw in enumerate(instance.options.hardware):
        catalog.hardware_id(hw, file=file, field=f"options.hardware[{i}]")
    for s, site in enumerate(instance.sites):
        for hw in site.inventory:
            catalog.hardware_id(hw, file=file, field=f"sites[{s}].inventory.{hw}")
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
