"""Uncertain inputs given by their 5th and 95th percentiles, and named random streams.

Shared by the paper replica (:mod:`planner.paper`) and the sweep's Monte Carlo
(:mod:`planner.sweep.points`); it lives here, below both, so neither imports the other.
"""

from __future__ import annotations

import zlib
from typing import Literal

import numpy as np

Z95 = 1.6448536269514722  # standard normal quantile at 0.95


def stream(seed: int, key: str) -> np.random.Generator:
    """An independent random stream named by ``key``: adding a model never changes another's draws."""
    return np.random.default_rng(np.random.SeedSequence([seed, zlib.crc32(key.encode())]))


def lognormal_params(p5: float, p95: float,
                     mu_from: Literal["p5", "midpoint"] = "p5") -> tuple[float, float]:
    """(mu, sigma) of a lognormal whose 5th and 95th percentiles are ``p5`` and ``p95``
    (``p5 == p95`` is a constant: sigma 0).

    mu = ln P5 + z95 sigma (the paper's code, ``mu_from="p5"``) and mu = (ln P5 + ln P95) / 2
    (the sweep's, ``"midpoint"``) are the same number but differ in the last bit for some
    inputs; the paper replica's figures and the sweep's Monte Carlo point ids (which hash the
    drawn values, so ``--resume`` finds finished points) each depend on their own rounding.
    """
    if not 0 < p5 <= p95:
        raise ValueError(f"need 0 < p5 <= p95, got p5={p5}, p95={p95}")
    sigma = (np.log(p95) - np.log(p5)) / (2 * Z95)
    mu = np.log(p5) + Z95 * sigma if mu_from == "p5" else (np.log(p5) + np.log(p95)) / 2
    return float(mu), float(sigma)


def sample_lognormal(rng: np.random.Generator, p5: float, p95: float, size: int,
                     mu_from: Literal["p5", "midpoint"] = "p5") -> np.ndarray:
    """Lognormal draws given by P5/P95."""
    mu, sigma = lognormal_params(p5, p95, mu_from)
    return rng.lognormal(mu, sigma, size)
