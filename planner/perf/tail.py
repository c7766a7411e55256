"""The tail of the token interval (issue 25, P99 inter-token latency and P99 TPOT).

A token interval is one engine step. Most steps are plain decode steps; a step that also
carries a prefill chunk (continuous batching with chunked prefill mixes the prompts of the
requests that replace finished ones into the decode steps) is longer by the chunk's prefill
and by the mixed batch's own cost. The 99th-percentile interval is therefore a plain step
when fewer than 1 % of the steps carry a prompt, and otherwise a step carrying the prompt
tokens at the matching upper quantile:

- prompts arrive per decode step as a Poisson stream of mean ``B / osl`` (each finished
  request is replaced), each of exponentially distributed length with the workload's mean
  prompt length (the only length fact the rows give) [assumed shape]; the tokens a step
  carries are the compound-Poisson sum, and the P99 step's are its 99th percentile
  (``compound_poisson_quantile``), capped by the engine's token budget per step less the
  step's decode tokens (``max_num_tokens``: vLLM's default ``max_num_batched_tokens`` for
  its OpenAI server on GPUs of >= 70 GiB is 8192, vllm/engine/arg_utils.py
  ``get_batch_defaults``);
- a step that carries prefill tokens pays ``mixed_prefill_factor`` x their prefill time
  (compute under the decode memory time, communication after it) and
  ``mixed_step_layer_s`` per layer (the mixed batch runs outside the decode step's captured
  graph); a plain step's own P99 is ``1 + tail_step_jitter`` x its time. Those three are
  fit per hardware family and engine on ML.ENERGY's P99 ITL (``planner.perf.latency``).

MLPerf's latency bound is on the P99 over requests of each request's own TPOT (its decode
time over its tokens), not on the P99 interval: a request averages its ``osl`` intervals, so
its prompt load is the compound-Poisson sum over its life (``B`` prompts on average), taken
at the same 99th percentile (``p99_request_tpot_s``).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import gamma, poisson

P99 = 0.99


EXACT_RATE = 100.0  # above: Cornish-Fisher (the sum's skewness is 2.12 / sqrt(rate))


def compound_poisson_quantile(rate, mean_length, p: float = P99) -> np.ndarray:
    """q with P(S > q) = 1 - p for S the sum of N ~ Poisson(``rate``) lengths, each
    exponential with mean ``mean_length``; 0 where P(N > 0) <= 1 - p (vectorised). Exact
    (the Poisson mixture of Erlang tails, bisection) up to ``EXACT_RATE``; above it the
    Cornish-Fisher expansion: mean rate m, variance 2 rate m^2, skewness 3 / sqrt(2 rate)."""
    from scipy.stats import norm

    rate = np.atleast_1d(np.asarray(rate, float))
    mean = np.broadcast_to(np.asarray(mean_length, float), rate.shape)
    small = np.minimum(rate, EXACT_RATE)
    n = np.arange(1, int(EXACT_RATE + 10 * np.sqrt(EXACT_RATE) + 40) + 1)[:, None]
    weights = poisson.pmf(n, small[None, :])

    def tail(q):
        return (weights * gamma.sf(q[None, :], n, scale=mean[None, :])).sum(axis=0)

    lo = np.zeros_like(rate)
    hi = mean * (small + 10 * np.sqrt(small) + 40)
    for _ in range(60):
        mid = (lo + hi) / 2
        above = tail(mid) > 1 - p
        lo = np.where(above, mid, lo)
        hi = np.where(above, hi, mid)
    z = norm.ppf(p)
    skew = 3 / np.sqrt(2 * np.maximum(rate, 1e-12))
    large = mean * (rate + np.sqrt(2 * rate) * (z + (z**2 - 1) * skew / 6))
    exact = np.where(-np.expm1(-rate) > 1 - p, (lo + hi) / 2, 0.0)
    return np.where(rate > EXACT_RATE, large, exact)


def mixed_step_s(memory, compute, rest, tokens, prefill_compute_per_token,
                 prefill_comm_per_token, layers, mixed_prefill_factor, mixed_step_layer_s,
                 tail_step_jitter) -> np.ndarray:
    """One step's time at its P99: a decode step (``memory``, ``compute``, ``rest`` seconds)
    carrying ``tokens`` prefill tokens; a plain step at ``1 + tail_step_jitter`` of its time."""
    tokens = np.asarray(tokens, float)
    plain = np.maximum(memory, compute) + rest
    mixed = (np.maximum(memory, compute + mixed_prefill_factor * tokens
                        * prefill_compute_per_token) + rest
             + mixed_prefill_factor * tokens * prefill_comm_per_token
             + np.where(tokens > 0, mixed_step_layer_s * layers, 0.0))
    return np.maximum(plain * (1 + tail_step_jitter), mixed)


def p99_interval_s(parts: dict, batch, osl, isl, budget, layers, factors: dict,
                   p: float = P99) -> np.ndarray:
    """The P99 token interval. ``parts``: per-step decode ``memory``, ``compute``, ``rest``
    seconds and per-token prefill ``prefill_compute``, ``prefill_comm`` seconds; ``factors``:
    ``mixed_prefill_factor``, ``mixed_step_layer_s``, ``tail_step_jitter``."""
    batch = np.asarray(batch, float)
    tokens = np.minimum(compound_poisson_quantile(batch / osl, isl, p),
                        np.maximum(budget - batch, 0.0))
    return mixed_step_s(parts["memory"], parts["compute"], parts["rest"], tokens,
                        parts["prefill_compute"], parts["prefill_comm"], layers,
                        factors["mixed_prefill_factor"], factors["mixed_step_layer_s"],
                        factors["tail_step_jitter"])


def p99_request_tpot_s(parts: dict, batch, osl, isl, layers, factors: dict,
                       p: float = P99) -> np.ndarray:
    """The P99 over requests of a request's TPOT: its ``osl`` steps carry the prompts that
    arrive over its life (compound Poisson of mean ``batch`` prompts), at their 99th
    percentile, each mixed step paying the per-layer cost; spread over its steps."""
    batch = np.asarray(batch, float)
    osl = np.asarray(osl, float)
    life_tokens = compound_poisson_quantile(batch, isl, p)
    mixed_steps = np.minimum(life_tokens / isl, osl)
    f = factors["mixed_prefill_factor"]
    cohort = (np.maximum(parts["memory"] * osl, parts["compute"] * osl
                         + f * life_tokens * parts["prefill_compute"])
              + parts["rest"] * osl + f * life_tokens * parts["prefill_comm"]
              + mixed_steps * factors["mixed_step_layer_s"] * layers)
    return cohort / osl
