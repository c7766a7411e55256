"""Building blocks shared by the instance schemas."""

from __future__ import annotations

from typing import Annotated

from pydantic import (BaseModel, ConfigDict, Field, PositiveFloat, StringConstraints,
                      model_validator)


class Frozen(BaseModel):
    """Strict, immutable base: unknown fields are errors, instances are hashable values, and no
    number may be infinite or NaN (``.inf`` in YAML, ``inf`` as a string)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
"""A non-empty id or name (surrounding blanks stripped)."""


def repeated(names: list[str]) -> list[str]:
    """Names that occur more than once, sorted (for 'must be unique' messages)."""
    return sorted({n for n in names if names.count(n) > 1})


class PercentileRange(Frozen):
    """A lognormal quantity given by its 5th and 95th percentiles (the paper's parameterisation)."""

    p5: PositiveFloat = Field(le=1e6, description="5th percentile (> 0)")
    p95: PositiveFloat = Field(le=1e6, description="95th percentile (> p5)")
    source: str | None = Field(default=None, description="Where the range comes from")

    @model_validator(mode="after")
    def _ordered(self) -> "PercentileRange":
        if self.p5 >= self.p95:
            raise ValueError(f"p5 must be below p95 (p5={self.p5}, p95={self.p95})")
        return self
