"""The paper's per-query energy Monte Carlo for one model, fully vectorized.

E_query[Wh] = PUE * P_max[kW] * PU * L_eff / (3600 * TPS(L_in, L_out)) * 1000
(Oviedo et al., arXiv:2509.20241; L_eff = L_out unless input tokens are weighted.)
"""

from __future__ import annotations

import numpy as np

from planner.config.distributions import sample_lognormal
from planner.paper.sampling import sample_output_tokens
from planner.paper.throughput_fit import ThroughputFit

SECONDS_PER_HOUR = 3600.0
WATTS_PER_KW = 1000.0


def energy_per_query_wh(node_power_max_kw, power_utilization, pue, output_tokens, tokens_per_s,
                        input_tokens=0.0, input_token_weight=0.0):
    """Per-query energy in Wh for arrays of draws (broadcast)."""
    effective_tokens = np.asarray(output_tokens, float) + input_token_weight * np.asarray(
        input_tokens, float)
    node_power_w = np.asarray(node_power_max_kw, float) * WATTS_PER_KW * power_utilization
    return pue * node_power_w * effective_tokens / (SECONDS_PER_HOUR * np.asarray(tokens_per_s))


def simulate_model(rng: np.random.Generator, fit: ThroughputFit, node_power_max_kw: float,
                   power_utilization: tuple[float, float], pue: tuple[float, float],
                   median_output_tokens: float, input_tokens: float, input_token_weight: float,
                   samples: int) -> np.ndarray:
    """``samples`` draws of Wh/query for one model and one regime."""
    pu = sample_lognormal(rng, *power_utilization, samples)
    pue_draws = sample_lognormal(rng, *pue, samples)
    output_tokens = sample_output_tokens(rng, median_output_tokens, samples)
    tps = fit.predict(input_tokens, output_tokens)
    return energy_per_query_wh(node_power_max_kw, pu, pue_draws, output_tokens, tps,
                               input_tokens, input_token_weight)


def trim(samples: np.ndarray, trims: list[tuple[float, float]]) -> np.ndarray:
    """Keep samples inside successive percentile windows (the paper's P5-P95 then P10-P90)."""
    kept = samples
    for lo, hi in trims:
        low, high = np.percentile(kept, [lo, hi])
        kept = kept[(kept >= low) & (kept <= high)]
    return kept


def bootstrap_means(rng: np.random.Generator, samples: np.ndarray, resamples: int,
                    max_draws_per_chunk: int = 2_000_000) -> np.ndarray:
    """Means of ``resamples`` bootstrap resamples, drawn in chunks to bound memory."""
    n = samples.size
    per_chunk = max(1, max_draws_per_chunk // n)
    means = np.empty(resamples)
    for start in range(0, resamples, per_chunk):
        stop = min(resamples, start + per_chunk)
        idx = rng.integers(0, n, size=(stop - start, n), dtype=np.int32 if n < 2**31 else np.int64)
        means[start:stop] = samples[idx].mean(axis=1)
    return means


def summarize(samples: np.ndarray) -> dict[str, float]:
    """Median, quartiles, mean and P5/P95 of a sample."""
    p5, q1, median, q3, p95 = np.percentile(samples, [5, 25, 50, 75, 95])
    return {"median_wh": float(median), "q1_wh": float(q1), "q3_wh": float(q3),
            "mean_wh": float(samples.mean()), "p5_wh": float(p5), "p95_wh": float(p95),
            "n": int(samples.size)}
