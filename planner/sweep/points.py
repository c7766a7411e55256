"""Expand a sweep spec into points: each a set of overrides on the instance, validated up front
so that a bad path or value is reported before any solve, with the spec file, path and value."""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
from dataclasses import dataclass, field

import numpy as np

from planner.energy.montecarlo import stream
from planner.errors import InputError, echo
from planner.instance import instance_from_mapping, set_path, split_path
from planner.sweep.spec import SweepSpec, UncertainInput

Z95 = 1.6448536269514722  # standard normal 95th percentile


@dataclass(frozen=True)
class Point:
    """One solve: overrides applied to the instance (``multiply`` ones scale the base value)."""

    id: str
    kind: str  # base, grid, scenario, monte_carlo
    scenario: str | None
    overrides: dict = field(default_factory=dict)
    multiply: dict = field(default_factory=dict)
    columns: dict = field(default_factory=dict)  # swept values, one column each in the table

    def as_json(self) -> dict:
        return {"id": self.id, "kind": self.kind, "scenario": self.scenario,
                "overrides": self.overrides, "multiply": self.multiply, "columns": self.columns}


def point_data(base: dict, point: Point, where: str) -> dict:
    """The instance mapping of a point (scenario first, then overrides, then multipliers)."""
    data = copy.deepcopy(base)
    if point.scenario:
        scenarios = data.get("scenarios") or {}
        if point.scenario not in scenarios:
            raise InputError(f"unknown scenario; known: {sorted(scenarios)}", file=where,
                             field="scenarios", value=point.scenario, has_value=True)
        for key, value in scenarios[point.scenario].items():
            set_path(data, key, value, f"{where} (scenario {point.scenario})")
    for key, value in point.overrides.items():
        set_path(data, key, value, where)
    for key, factor in point.multiply.items():
        for path in concrete_paths(data, key):
            current = get_path(data, path)
            if current is None and path.startswith("adjustments."):
                current = 1.0  # an absent multiplier is 1
            if not isinstance(current, (int, float)) or isinstance(current, bool):
                raise InputError("multiply needs a number at this path", file=where, field=path,
                                 value=current, has_value=True)
            set_path(data, path, current * factor, where)
    return data


def get_path(data, path: str):
    target = data
    for part in split_path(path):
        if isinstance(target, list) and isinstance(part, str):
            target = next((item for item in target if isinstance(item, dict)
                           and item.get("id") == part), None)
        elif isinstance(target, list):
            target = target[part] if part < len(target) else None
        elif isinstance(target, dict):
            target = target.get(part)
        else:
            return None
        if target is None:
            return None
    return target


def concrete_paths(data, path: str) -> list[str]:
    """'sites[*].pue' -> ['sites[0].pue', 'sites[1].pue'] for the instance at hand."""
    if "[*]" not in path:
        return [path]
    head, tail = path.split("[*]", 1)
    items = get_path(data, head) or []
    return [p for i in range(len(items)) for p in concrete_paths(data, f"{head}[{i}]{tail}")]


def _digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:8]


def expand(spec: SweepSpec, base: dict, spec_file: str,
           instance_file: str | None = None) -> list[Point]:
    """Every point of the spec, in a stable order with stable ids (resume relies on both)."""
    points = []
    scenario = spec.base_scenario
    if spec.include_base:
        points.append(Point("base", "base", scenario))
    for g, grid in enumerate(spec.grids):
        paths = list(grid.parameters)
        combos = (itertools.product(*grid.parameters.values()) if grid.mode == "product"
                  else zip(*grid.parameters.values()))
        for k, values in enumerate(combos):
            overrides = dict(zip(paths, values))
            points.append(Point(f"grid{g}-{k:05d}-{_digest(overrides)}", "grid", scenario,
                                overrides, {}, dict(overrides)))
    for name in spec.scenarios:
        points.append(Point(f"scenario-{name}", "scenario", name))
    if spec.monte_carlo:
        mc = spec.monte_carlo
        draws = {u.path: draw(u, mc.samples, mc.seed) for u in mc.inputs}
        for k in range(mc.samples):
            overrides = {u.path: float(draws[u.path][k]) for u in mc.inputs if not u.multiply
                         and u.distribution != "calibration_residuals"}
            multiply = {u.path: float(draws[u.path][k]) for u in mc.inputs if u.multiply
                        or u.distribution == "calibration_residuals"}
            columns = {**overrides, **{f"{p} (x)": v for p, v in multiply.items()}}
            points.append(Point(f"mc-{k:05d}-{_digest([overrides, multiply])}", "monte_carlo",
                                scenario, overrides, multiply, columns))
    validate_points(points, base, spec_file, instance_file)
    return points


def validate_points(points: list[Point], base: dict, spec_file: str,
                    instance_file: str | None = None) -> None:
    """Build every point's instance once; the first bad one is reported with its path/value.

    The instance itself is validated first, against its own file: an error in it is the
    instance's, not the spec's."""
    if instance_file is not None:
        instance_from_mapping(base, instance_file)
    for point in points:
        try:
            instance_from_mapping(point_data(base, point, spec_file), spec_file)
        except InputError as exc:
            changed = {**point.overrides, **point.multiply}
            raise InputError(f"{exc.reason} (sweep point {point.id}, overrides "
                             f"{echo(changed, 200)})",
                             file=spec_file, field=exc.field, value=exc.value,
                             has_value=exc.has_value) from None


def draw(u: UncertainInput, n: int, seed: int) -> np.ndarray:
    rng = stream(seed, u.path)
    if u.distribution == "lognormal":
        mu = (np.log(u.p5) + np.log(u.p95)) / 2
        sigma = (np.log(u.p95) - np.log(u.p5)) / (2 * Z95)
        return rng.lognormal(mu, sigma, n)
    if u.distribution == "uniform":
        pad = (u.p95 - u.p5) * 0.05 / 0.9
        return rng.uniform(u.p5 - pad, u.p95 + pad, n)
    return rng.choice(throughput_residual_ratios(), size=n, replace=True)


def throughput_residual_ratios() -> np.ndarray:
    """Measured / predicted tok/s over the calibration rows: the model's empirical error."""
    from planner.perf.calibrate import error_rows, load_throughput_rows
    from planner.perf.factors import load_calibration

    errors = error_rows(load_throughput_rows(), load_calibration())
    ratio = errors["measured_tok_s"] / errors["out_tok_s_total"]
    return ratio[np.isfinite(ratio)].to_numpy()
