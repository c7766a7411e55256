"""Discretise a class's token-length distribution into weighted buckets."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri  # the normal quantile (scipy.stats.norm.ppf), light to import

from planner.config.schema.plan import TokenDistribution


def buckets(dist: TokenDistribution) -> tuple[np.ndarray, np.ndarray]:
    """(tokens, weights): equal-probability bins represented by their conditional medians."""
    if dist.buckets is not None:
        tokens = np.array([b.tokens for b in dist.buckets], dtype=float)
        weights = np.array([b.weight for b in dist.buckets], dtype=float)
    elif dist.shape == "fixed":
        tokens, weights = np.array([dist.median]), np.array([1.0])
    else:
        k = dist.n_buckets
        p = (np.arange(k) + 0.5) / k
        if dist.shape == "exponential":
            tokens = -np.log1p(-p) * dist.median / np.log(2.0)
        else:
            tokens = dist.median * np.exp(dist.sigma * ndtri(p))
        weights = np.full(k, 1.0 / k)
    if dist.max_tokens is not None:
        tokens = np.minimum(tokens, dist.max_tokens)
    tokens = np.maximum(np.rint(tokens), 1.0)
    return tokens, weights / weights.sum()


def joint_buckets(inp: TokenDistribution, out: TokenDistribution):
    """Cross product of input and output buckets (independent lengths)."""
    ti, wi = buckets(inp)
    to, wo = buckets(out)
    isl = np.repeat(ti, to.size)
    osl = np.tile(to, ti.size)
    weight = np.repeat(wi, to.size) * np.tile(wo, ti.size)
    return isl, osl, weight
