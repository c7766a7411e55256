"""Shapley attribution over lever groups: exact by subset enumeration, or sampled permutations.

Values are given per coalition as a bitmask (bit i set: group i is on). ``gain(mask)`` is what a
coalition achieves (e.g. GWh/day saved against the baseline); the shares sum to ``gain(all)``
exactly in the exact case and in every sampled permutation.
"""

from __future__ import annotations

from math import factorial
from typing import Callable

import numpy as np


def exact_shapley(n: int, gain: Callable[[int], float]) -> np.ndarray:
    """phi_i = sum over S not containing i of |S|! (n-|S|-1)! / n! (gain(S+i) - gain(S))."""
    weight = [factorial(k) * factorial(n - k - 1) / factorial(n) for k in range(n)]
    phi = np.zeros(n)
    for mask in range(1 << n):
        size = bin(mask).count("1")
        for i in range(n):
            if not mask >> i & 1:
                phi[i] += weight[size] * (gain(mask | 1 << i) - gain(mask))
    return phi


def sampled_shapley(n: int, gain: Callable[[int], float], permutations: int,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean marginal gains over random orders, and their standard errors."""
    rng = np.random.default_rng(seed)
    marginals = np.zeros((permutations, n))
    for k in range(permutations):
        mask, before = 0, gain(0)
        for i in rng.permutation(n):
            mask |= 1 << int(i)
            after = gain(mask)
            marginals[k, i] = after - before
            before = after
    return marginals.mean(axis=0), marginals.std(axis=0, ddof=1) / np.sqrt(permutations)


def subsets_needed(n: int) -> list[int]:
    """Coalitions an exact attribution solves, ordered so neighbours differ in one group
    (a Gray code), which keeps warm starts close."""
    return [i ^ (i >> 1) for i in range(1 << n)]
