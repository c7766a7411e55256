"""Analytic P99 TTFT (planner.perf.queueing: Erlang C + Cosmetatos M/G/c slot wait, M/G/1 prefill
wait) against the simpy simulation of the same pool, over utilisation and replica counts.

    python scripts/bench_queueing.py [--requests 100000] [--slots 8] [--seed 0]

Prints one row per (replicas, utilisation): analytic and simulated P99 TTFT, their difference
(the simulation is the baseline) and the time of each (ratio analytic / simulated). The service
mix is a chat class: 5 output-length buckets (exponential, median 300 tokens), TPOT 20 ms,
unloaded TTFT 80-200 ms with 40-110 ms of prefill work.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import numpy as np

from planner.perf.queueing import service_moments, ttft_quantile
from planner.simulate.pool import Stream, simulate_pool

log = logging.getLogger("bench_queueing")
OSL = np.array([45.0, 150.0, 330.0, 650.0, 1400.0])  # bucket means of Exp(median 300)
WEIGHT = np.full(5, 0.2)
T0 = np.array([0.08, 0.10, 0.12, 0.15, 0.20])
PREFILL = np.array([0.04, 0.05, 0.07, 0.09, 0.11])
TPOT = 0.02


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--replicas", default="1,10,100,1000")
    parser.add_argument("--utilization", default="0.3,0.5,0.7,0.8,0.9,0.95")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    decode = OSL * TPOT
    moments = service_moments(T0[None], decode[None], PREFILL[None], WEIGHT)
    rows = []
    for n in [int(v) for v in args.replicas.split(",")]:
        for rho in [float(v) for v in args.utilization.split(",")]:
            rate = rho * n * args.slots / moments["mean_s"][0]
            t = time.perf_counter()
            analytic = float(ttft_quantile(0.99, T0[None], WEIGHT, rho, n, args.slots,
                                           **moments)[0])
            t_analytic = time.perf_counter() - t
            t = time.perf_counter()
            sim = simulate_pool([Stream(rate, WEIGHT, T0, PREFILL, decode, np.full(5, TPOT))],
                                n, args.slots, args.requests, seed=args.seed)[0]
            t_sim = time.perf_counter() - t
            simulated = float(np.percentile(sim["ttft_s"], 99))
            rows.append({"replicas": n, "slots": args.slots, "utilization": rho,
                         "analytic_p99_ttft_ms": round(analytic * 1e3, 1),
                         "simulated_p99_ttft_ms": round(simulated * 1e3, 1),
                         "error_pct": round((analytic / simulated - 1) * 100, 1),
                         "time_ratio_analytic_over_sim": round(t_analytic / t_sim, 5)})
            log.info("%s", rows[-1])
    print(json.dumps(rows))
    errors = np.abs([r["error_pct"] for r in rows])
    log.info("max |error| %.1f %%, median %.1f %%, %d of %d cells within 15 %%", errors.max(),
             np.median(errors), int((errors <= 15).sum()), errors.size)


if __name__ == "__main__":
    main()
