"""Random draws with the paper's parameterisations, vectorized."""

from __future__ import annotations

import numpy as np

Z95 = 1.6448536269514722  # standard normal quantile at 0.95


def lognormal_params(p5: float, p95: float) -> tuple[float, float]:
    """(mu, sigma) of a lognormal whose 5th and 95th percentiles are ``p5`` and ``p95``."""
    if not 0 < p5 < p95:
        raise ValueError(f"need 0 < p5 < p95, got p5={p5}, p95={p95}")
    sigma = (np.log(p95) - np.log(p5)) / (2 * Z95)
    mu = np.log(p5) + Z95 * sigma
    return float(mu), float(sigma)


def sample_lognormal(rng: np.random.Generator, p5: float, p95: float, size: int) -> np.ndarray:
    """Lognormal draws given by P5/P95."""
    mu, sigma = lognormal_params(p5, p95)
    return rng.lognormal(mu, sigma, size)


def sample_output_tokens(rng: np.random.Generator, median: float, size: int) -> np.ndarray:
    """Exponential output lengths with the given median, rounded to whole tokens, at least 1.

    The paper rounds exponential draws to integers; a zero-token answer would make the
    throughput regression's log undefined, so the floor is one token (about 0.1 % of draws at a
    median of 300).
    """
    scale = median / np.log(2.0)
    return np.maximum(np.rint(rng.exponential(scale, size)), 1.0)
