"""Load a planning instance: YAML, then a named scenario, then ``--set`` overrides, then validate.

Ids are checked against the catalog here, so a typo is reported with the file, the path inside
it and the nearest known id, before any work is done. It lives in the problem layer (it reads
the catalog, the calibration and the measurement files); ``planner.config`` below it only
addresses, changes and validates the mapping and imports nothing that computes.
"""

from __future__ import annotations

import copy
import logging
from pathlib import Path

from planner.catalog.loaders import load_catalog
from planner.config import Change, apply_scenario, apply_sets, digest
from planner.perf.factors import load_calibration
from planner.errors import InputError
from planner.problem.measurements import (check_measurement_ids, expand_measurement_file,
                                  instance_catalog_context)
from planner.config.schema.loading import read_yaml, validate_mapping
from planner.config.schema.plan import (DEMAND_RANGE, FAILOVER_UTILIZATION, MIN_QUERIES_PER_DAY,
                                       PlanningInstance)
from planner.config.validation import warn_once

log = logging.getLogger(__name__)


def load_planning_data(path: Path | str, scenario: str | None = None,
                       sets: list[str] | tuple[str, ...] = (),
                       changes: list[Change] | None = None) -> dict:
    """The instance's mapping after the scenario and ``--set`` overrides (not yet validated).

    Each change is logged (INFO) and, when ``changes`` is given, appended to it for provenance;
    the instance hash is of the validated instance and does not depend on it."""
    file = str(path)
    data = copy.deepcopy(read_yaml(path))
    data = expand_measurement_file(data, path)  # issue 13: measurements.file -> rows
    made = apply_scenario(data, scenario, file) if scenario else []
    made += apply_sets(data, sets, file)
    if changes is not None:
        changes.extend(made)
    return data


def load_planning_instance(path: Path | str, scenario: str | None = None,
                           sets: list[str] | tuple[str, ...] = (),
                           changes: list[Change] | None = None
                           ) -> tuple[PlanningInstance, str]:
    """The validated instance and a hash of the merged input (for provenance); ``changes``
    collects the scenario's and ``--set`` overrides applied (see :func:`load_planning_data`)."""
    return instance_from_mapping(load_planning_data(path, scenario, sets, changes), str(path))


def instance_from_mapping(data: dict, file: str) -> tuple[PlanningInstance, str]:
    """Validate a mapping (ids against the catalog too) and hash it."""
    instance = validate_mapping(data, PlanningInstance, file=file)
    check_ids(instance, file)
    dump = instance.model_dump(mode="json")
    for key in ("measurements", "custom_hardware", "custom_models", "provisioning", "roadmap"):
        if not dump.get(key):  # issue 13: unused new fields leave the digest as it was
            dump.pop(key, None)
    for cls in dump["classes"]:  # likewise a class without a minimum site share
        if cls.get("min_site_share") is None:
            cls.pop("min_site_share", None)
    if not any(site.get("failover") for site in dump["sites"]):  # and an instance without
        for site in dump["sites"]:  # failover
            site.pop("failover", None)
        if dump["options"].get("failover_utilization") == FAILOVER_UTILIZATION:
            dump["options"].pop("failover_utilization", None)
    return instance, digest(dump)


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
    site_ids = [s.id for s in instance.sites]
    for i, cls in enumerate(instance.classes):
        for site in cls.min_site_share or {}:
            if site not in site_ids:
                raise InputError(f"unknown site; known: {site_ids}", file=file,
                                 field=f"classes[{i}].min_site_share", value=site,
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
    if instance.roadmap is not None:  # issue 23: the horizon's cross-field rules
        from planner.config.schema.roadmap import check_roadmap

        check_roadmap(instance.roadmap, file, class_ids, site_ids, sorted(allowed),
                      {c.id: c.queries_per_day * scale for c in instance.classes},
                      lambda hw, field: catalog.hardware_id(hw, file=file, field=field))
