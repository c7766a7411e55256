"""Expand a sweep spec into points: each a set of overrides on the instance, validated up front
so that a bad path or value is reported before any solve, with the spec file, path and value."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field

import numpy as np

from planner.config import apply_scenario, digest, multiply_values, set_values
from planner.config.distributions import sample_lognormal, stream
from planner.errors import InputError, echo
from planner.problem.instance import instance_from_mapping
from planner.sweep.spec import SweepSpec, UncertainInput


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
    """The instance mapping of a point (scenario first, then overrides, then multipliers);
    each change is logged as coming from the point."""
    data = copy.deepcopy(base)
    source = f"sweep point {point.id}"
    if point.scenario:
        apply_scenario(data, point.scenario, where, f"{source} (scenario {point.scenario})")
    set_values(data, point.overrides, where, source)
    multiply_values(data, point.multiply, where, source)
    return data


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
            points.append(Point(f"grid{g}-{k:05d}-{digest(overrides, 8)}", "grid", scenario,
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
            points.append(Point(f"mc-{k:05d}-{digest([overrides, multiply], 8)}", "monte_carlo",
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
    if u.distribution == "lognormal":  # mu from the midpoint: the shipped point ids hash it
        return sample_lognormal(rng, u.p5, u.p95, n, mu_from="midpoint")
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
