"""Schema of an instance's ``robustness:`` section: how coefficient uncertainty is sampled, how
a plan's uncertainty is reported and what the robust formulation minimises (issue 14)."""

from __future__ import annotations

from pydantic import Field, PositiveFloat

from planner.config.schema.common import Frozen


class Robustness(Frozen):
    """Coefficient uncertainty, the fixed plan's Monte Carlo and the robust (CVaR) plan."""

    robust: bool = Field(default=False,
                         description="Solve the robust plan (as `planner solve --robust`)")
    risk_level: float = Field(default=0.9, gt=0, lt=1,
                              description="alpha of the minimised CVaR_alpha of fleet energy "
                                          "(0.9: the mean of the worst 10 % of scenarios)")
    confidence: float = Field(default=0.95, gt=0, lt=1,
                              description="Level at which capacity and power-cap rows hold "
                                          "(per-pair quantile for capacity, CVaR for the cap)")
    scenarios: int = Field(default=200, ge=10, description="Sampled scenarios in the robust LP")
    samples: int = Field(default=1000, ge=10,
                         description="Monte Carlo draws that evaluate a plan (out of sample: a "
                                     "different stream from the robust LP's scenarios)")
    seed: int = Field(default=0, description="Seed of the coefficient draws")
    correlated_share: float = Field(
        default=0.5, ge=0, le=1,
        description="Share of each coefficient's log-variance common to its group (hardware "
                    "family x model kind [x engine]); the rest is independent per pair")
    uncertainty_scale: PositiveFloat = Field(
        default=1.0, description="Multiplies every stated uncertainty (sensitivity)")
