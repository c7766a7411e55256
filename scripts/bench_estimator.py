"""Benchmark: the vectorized Monte Carlo against a per-sample Python loop, in the same run.

Target (issue 2): 10^6 samples per model in under 2 s on 2 cores. The loop baseline draws the
same distributions one sample at a time; it is timed on fewer samples and its rate extrapolated,
since a million Python iterations per model would take minutes.

    python scripts/bench_estimator.py [--samples 1000000] [--loop-samples 20000]
"""

from __future__ import annotations

import argparse
import math
import random
import time
from pathlib import Path

import numpy as np

from planner.paper.estimator import load_estimate_instance, run_estimate
from planner.config.distributions import lognormal_params, stream
from planner.paper.montecarlo import simulate_model

INSTANCE = Path(__file__).resolve().parents[1] / "instances" / "paper-v2.yaml"


def loop_simulate(fit, p_max_kw, pu, pue, median_out, l_in, n, seed):
    """The naive per-sample version: what the vectorized code replaces."""
    rnd = random.Random(seed)
    mu_pu, s_pu = lognormal_params(*pu)
    mu_pue, s_pue = lognormal_params(*pue)
    lam = math.log(2) / median_out
    out = []
    for _ in range(n):
        pu_i = rnd.lognormvariate(mu_pu, s_pu)
        pue_i = rnd.lognormvariate(mu_pue, s_pue)
        l_out = max(round(rnd.expovariate(lam)), 1)
        tps = float(fit.predict(l_in, l_out))
        out.append(pue_i * p_max_kw * 1000 * pu_i * l_out / (3600 * tps))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1_000_000)
    parser.add_argument("--loop-samples", type=int, default=20_000)
    args = parser.parse_args()

    instance, table = load_estimate_instance(INSTANCE)
    result = run_estimate(instance.model_copy(update={"samples_per_model": 1000}), table)
    pu = (instance.power_utilization.p5, instance.power_utilization.p95)
    pue = (instance.pue.p5, instance.pue.p95)

    print(f"per-model Monte Carlo, {args.samples:,} samples, regime 'traditional'")
    print(f"{'model':<22s} {'vectorized s':>13s} {'loop s (extrap.)':>17s} {'speed-up':>9s}")
    total_vec = 0.0
    for spec in instance.models:
        fit = result.fits[spec.id]
        t0 = time.perf_counter()
        simulate_model(stream(1, spec.id), fit, spec.node_power_max_kw, pu, pue, 300.0,
                       instance.input_tokens, 0.0, args.samples)
        vec = time.perf_counter() - t0
        t0 = time.perf_counter()
        loop_simulate(fit, spec.node_power_max_kw, pu, pue, 300.0, instance.input_tokens,
                      args.loop_samples, 1)
        loop = (time.perf_counter() - t0) * args.samples / args.loop_samples
        total_vec += vec
        verdict = "OK" if vec < 2.0 else "SLOW"
        print(f"{spec.id:<22s} {vec:13.3f} {loop:17.1f} {loop / vec:8.0f}x  {verdict}")

    big = instance.model_copy(update={"samples_per_model": args.samples,
                                      "fleet": instance.fleet.model_copy(
                                          update={"bootstrap_resamples": 20})})
    t0 = time.perf_counter()
    full = run_estimate(big, table)
    wall = time.perf_counter() - t0
    print(f"\nwhole estimate at {args.samples:,} samples/model x {len(instance.models)} models x "
          f"{len(instance.regimes)} regimes (20 bootstrap resamples): {wall:.2f} s")
    print("phases:", {k: round(v, 3) for k, v in full.timings_s.items()})
    default = run_estimate(instance, table)
    print(f"shipped instance as configured (10k samples, 1000 bootstrap resamples): "
          f"{sum(default.timings_s.values()):.2f} s; phases "
          f"{ {k: round(v, 3) for k, v in default.timings_s.items()} }")
    print(f"blend median at {args.samples:,} samples: "
          f"{np.median(full.blend['traditional']):.4f} Wh traditional, "
          f"{np.median(full.blend['long']):.4f} Wh long")


if __name__ == "__main__":
    main()
