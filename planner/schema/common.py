"""Building blocks shared by the instance schemas."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, model_validator


class Frozen(BaseModel):
    """Strict, immutable base: unknown fields are errors, instances are hashable values."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def repeated(names: list[str]) -> list[str]:
    """Names that occur more than once, sorted (for 'must be unique' messages)."""
    return sorted({n for n in names if names.count(n) > 1})


class PercentileRange(Frozen):
    """A lognormal quantity given by its 5th and 95th percentiles (the paper's parameterisation)."""

    p5: PositiveFloat = Field(description="5th percentile (> 0)")
    p95: PositiveFloat = Field(description="95th percentile (> p5)")
    source: str | None = Field(default=None, description="Where the range comes from")

    @model_validator(mode="after")
    def _ordered(self) -> "PercentileRange":
        if self.p5 >= self.p95:
            raise ValueError(f"p5 must be below p95 (p5={self.p5}, p95={self.p95})")
        return self
