"""Shared fixtures: paths to shipped instances and a cached estimate per instance."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
INSTANCES = ROOT / "instances"


def synthetic_instance(n_classes: int, seed: int = 0):
    """scripts/bench_solve.py's synthetic planning instance (the benchmarks' generator), for
    tests that compare solve paths on more classes than the shipped instances have."""
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from bench_solve import synthetic_instance as generate
    finally:
        sys.path.pop(0)
    return generate(n_classes, seed)


@lru_cache(maxsize=None)
def estimate_of(name: str):
    from planner.paper.estimator import load_estimate_instance, run_estimate

    instance, table = load_estimate_instance(INSTANCES / name)
    return run_estimate(instance, table)


@pytest.fixture(scope="session")
def v2():
    return estimate_of("paper-v2.yaml")


@pytest.fixture(scope="session")
def v1():
    return estimate_of("paper-v1.yaml")
