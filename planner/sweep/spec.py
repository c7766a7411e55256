"""Schema of a sweep spec: grids (product or zip) over instance paths, named scenarios, and Monte
Carlo over uncertain inputs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, PositiveFloat, PositiveInt, field_validator, model_validator

from planner.config.schema.common import Frozen
from planner.config.validation import StrictBool


def _check_path(path: str) -> str:
    from planner.errors import InputError
    from planner.config.paths import split_path

    try:
        split_path(path)
    except InputError as exc:
        raise ValueError(f"{exc.reason}") from None
    return path.strip()


class Grid(Frozen):
    """Values per instance path; ``product`` crosses them, ``zip`` walks them in lockstep."""

    mode: Literal["product", "zip"] = Field(default="product", description="product or zip")
    parameters: dict[str, list[Any]] = Field(min_length=1,
                                             description="{instance path: [values]}")

    @field_validator("parameters")
    @classmethod
    def _paths(cls, parameters: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for path in parameters:
            _check_path(path)
        return parameters

    @property
    def size(self) -> int:
        """Points of this block (product or zip), counted without expanding it."""
        lengths = [len(v) for v in self.parameters.values()]
        if self.mode == "zip":
            return lengths[0] if lengths else 0
        size = 1
        for n in lengths:
            size *= n
        return size

    @model_validator(mode="after")
    def _lengths(self) -> "Grid":
        for path, values in self.parameters.items():
            if not values:
                raise ValueError(f"parameter {path!r} has no values")
        if self.mode == "zip":
            lengths = {p: len(v) for p, v in self.parameters.items()}
            if len(set(lengths.values())) > 1:
                raise ValueError(f"zip needs lists of one length (got {lengths})")
        return self


class UncertainInput(Frozen):
    """One Monte Carlo input: an instance path (``[*]`` allowed) or an adjustment, drawn from a
    lognormal or uniform given by its 5th and 95th percentiles, or from the calibration's
    throughput residuals (``distribution: calibration_residuals``)."""

    path: str = Field(description="Instance path, e.g. sites[*].pue or adjustments.power_scale")
    distribution: Literal["lognormal", "uniform", "calibration_residuals"] = Field(
        default="lognormal", description="Distribution")
    p5: PositiveFloat | None = Field(default=None, description="5th percentile")
    p95: PositiveFloat | None = Field(default=None, description="95th percentile")
    multiply: StrictBool = Field(default=False,
                                 description="Multiply the instance's value instead of replacing "
                                             "it")

    @field_validator("path")
    @classmethod
    def _path(cls, path: str) -> str:
        return _check_path(path)

    @model_validator(mode="after")
    def _params(self) -> "UncertainInput":
        if self.distribution != "calibration_residuals":
            if self.p5 is None or self.p95 is None or self.p95 < self.p5:
                raise ValueError(f"{self.path}: give p5 <= p95 for a {self.distribution} input")
        return self


class MonteCarlo(Frozen):
    samples: PositiveInt = Field(description="Number of draws")
    seed: int = Field(default=0, ge=0, le=2**63 - 1,
                      description="Seed (named streams per input; not negative)")
    inputs: list[UncertainInput] = Field(min_length=1, description="Uncertain inputs")


class SweepSpec(Frozen):
    """What to sweep. Every point is one full solve of the instance with overrides applied."""

    name: str = Field(default="sweep", description="Sweep name")
    formulation: Literal["lp", "milp"] = Field(default="lp", description="Formulation per point")
    base_scenario: str | None = Field(default=None, description="Scenario applied to every point")
    grids: list[Grid] = Field(default_factory=list, description="Grid blocks")
    scenarios: list[str] = Field(default_factory=list, description="Named scenarios, one point each")
    monte_carlo: MonteCarlo | None = Field(default=None, description="Monte Carlo block")
    include_base: StrictBool = Field(default=True,
                                     description="Also solve the unmodified instance")

    @model_validator(mode="after")
    def _something(self) -> "SweepSpec":
        if not (self.grids or self.scenarios or self.monte_carlo or self.include_base):
            raise ValueError("the sweep has no points")
        return self

    def count_points(self) -> int:
        """Points of the spec, counted without expanding any grid."""
        return (int(self.include_base) + sum(g.size for g in self.grids) + len(self.scenarios)
                + (self.monte_carlo.samples if self.monte_carlo else 0))
