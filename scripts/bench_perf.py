"""Benchmark: the vectorized performance model against a row-by-row loop, in the same run.

Target (issue 3): at least 100k cases/s. The baseline calls the same model one case at a time
(what a naive per-deployment loop would do) on a smaller sample, and its rate is compared.

    python scripts/bench_perf.py [--cases 200000] [--loop-cases 300]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from planner.catalog.loaders import load_catalog
from planner.perf.model import predict


def random_cases(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    catalog = load_catalog()
    return pd.DataFrame({
        "model": rng.choice(catalog.models.index.to_numpy(), n),
        "hardware": rng.choice(catalog.hardware.index.to_numpy(), n),
        "precision": rng.choice(["bf16", "fp8", "fp4", "int4-awq"], n),
        "num_gpus": rng.choice([1, 2, 4, 8], n),
        "isl": rng.integers(64, 32_000, n),
        "osl": rng.integers(16, 8_000, n),
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200_000)
    parser.add_argument("--loop-cases", type=int, default=300)
    args = parser.parse_args()
    cases = random_cases(args.cases)
    predict(cases.head(10))  # warm the catalog and calibration caches
    t0 = time.perf_counter()
    out = predict(cases)
    vec = time.perf_counter() - t0
    rate = args.cases / vec
    small = cases.head(args.loop_cases)
    t0 = time.perf_counter()
    for i in range(len(small)):
        predict(small.iloc[[i]])
    loop_rate = len(small) / (time.perf_counter() - t0)
    print(f"vectorized: {args.cases:,} cases in {vec:.2f} s = {rate:,.0f} cases/s "
          f"({out['fits'].mean():.0%} fit)  {'OK' if rate >= 100_000 else 'BELOW TARGET'} "
          f"(target 100,000 cases/s)")
    print(f"row-by-row baseline: {loop_rate:,.0f} cases/s; speed-up {rate / loop_rate:,.0f}x")


if __name__ == "__main__":
    main()
