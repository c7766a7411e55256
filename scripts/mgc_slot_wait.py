"""The pure M/G/c slot queue of scripts/bench_queueing.py's chat mix, by the Kiefer-Wolfowitz
recursion (FCFS: each arrival takes the earliest free slot), against the analytic factors:
P(wait) against Erlang C, and the mean wait given waiting over M/M/c's (E[S] / (c (1 - rho)))
against Cosmetatos' factor (planner.perf.queueing.slot_wait_factor) and Allen-Cunneen's
(1 + Cs^2)/2 (issue 22, fourth round).

    python scripts/mgc_slot_wait.py [--slots 8] [--requests 400000] [--seed 0]
"""

from __future__ import annotations

import argparse
import heapq

import numpy as np

from planner.perf.queueing import erlang_c, slot_wait_factor

OSL = np.array([45.0, 150.0, 330.0, 650.0, 1400.0])
T0 = np.array([0.08, 0.10, 0.12, 0.15, 0.20])
S = T0 + OSL * 0.02  # slot holding time per bucket (equal weights), as in bench_queueing.py


def waits(c: int, rho: float, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(S.mean() / (rho * c), n))
    service = S[rng.integers(0, S.size, n)]
    free, out = [0.0] * c, np.empty(n)
    for i in range(n):
        start = max(heapq.heappop(free), arrivals[i])
        out[i] = start - arrivals[i]
        heapq.heappush(free, start + service[i])
    return out[n // 5:]  # the first 20 % as warm-up, as simulate_pool does


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--slots", type=int, default=8)
    parser.add_argument("--requests", type=int, default=400_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    mean, scv = S.mean(), (S**2).mean() / S.mean() ** 2 - 1
    print(f"E[S] {mean:.3f} s, Cs^2 {scv:.4f}, Allen-Cunneen {(1 + scv) / 2:.3f}")
    for rho in (0.5, 0.7, 0.8, 0.9):
        w = waits(args.slots, rho, args.requests, args.seed)
        mmc = mean / (args.slots * (1 - rho))
        print(f"c {args.slots} rho {rho}: P(wait) {(w > 0).mean():.4f} "
              f"(Erlang C {float(erlang_c(args.slots, rho * args.slots)):.4f}), "
              f"E[W | W > 0] / M/M/c {w[w > 0].mean() / mmc:.3f} "
              f"(Cosmetatos {float(slot_wait_factor(rho, args.slots, scv)):.3f})")


if __name__ == "__main__":
    main()
