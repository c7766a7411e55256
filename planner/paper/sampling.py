"""Random draws with the paper's parameterisations, vectorized (the P5/P95 lognormal is
:mod:`planner.config.distributions`, shared with the sweep)."""

from __future__ import annotations

import numpy as np


def sample_output_tokens(rng: np.random.Generator, median: float, size: int) -> np.ndarray:
    """Exponential output lengths with the given median, rounded to whole tokens, at least 1.

    The paper rounds exponential draws to integers; a zero-token answer would make the
    throughput regression's log undefined, so the floor is one token (about 0.1 % of draws at a
    median of 300).
    """
    scale = median / np.log(2.0)
    return np.maximum(np.rint(rng.exponential(scale, size)), 1.0)
