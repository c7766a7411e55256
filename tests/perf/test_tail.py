"""The tail of the token interval (issue 25): hand-solved cases of planner.perf.tail."""

import numpy as np
import pytest

from planner.perf.tail import (compound_poisson_quantile, mixed_step_s, p99_interval_s,
                               p99_request_tpot_s)

ZERO = {"mixed_prefill_factor": 1.0, "mixed_step_layer_s": 0.0, "tail_step_jitter": 0.0}


def test_no_prompt_in_one_percent_of_steps_gives_zero_tokens():
    # P(N > 0) = 1 - exp(-0.005) = 0.50 % <= 1 %: the P99 step carries no prompt.
    assert compound_poisson_quantile(0.005, 200.0)[0] == 0.0


def test_small_rate_hand_solved():
    # rate 0.02, mean 100: P(S > q) = 0.019604 e^-x + 0.000196 e^-x (1 + x) (N >= 3 below
    # 1e-6), x = q / 100; = 0.01 at x = 0.68973 (fixed point by hand): q = 68.97.
    assert compound_poisson_quantile(0.02, 100.0)[0] == pytest.approx(68.97, abs=0.1)


def test_against_monte_carlo():
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, 400_000)
    sums = np.array([rng.exponential(200.0, n).sum() for n in counts[:100_000]])
    assert compound_poisson_quantile(3.0, 200.0)[0] == pytest.approx(
        np.quantile(sums, 0.99), rel=0.03)


def test_mixed_step_hand_solved():
    # plain: max(10, 4) + 2 = 12 ms, its P99 x 1.1 = 13.2 ms. With 100 prefill tokens at
    # 0.1 ms compute and 0.01 ms communication each, factor 2, 0.1 ms per layer x 80 layers:
    # max(10, 4 + 20) + 2 + 2 + 8 = 36 ms.
    args = dict(memory=0.010, compute=0.004, rest=0.002, prefill_compute_per_token=1e-4,
                prefill_comm_per_token=1e-5, layers=80, mixed_prefill_factor=2.0,
                mixed_step_layer_s=1e-4, tail_step_jitter=0.1)
    assert mixed_step_s(tokens=100, **args) == pytest.approx(0.036)
    assert mixed_step_s(tokens=0, **args) == pytest.approx(0.0132)


def test_p99_interval_capped_by_the_token_budget():
    # 10 prompts of 1,000 tokens per step on average: the 99th percentile is far above the
    # budget, so the step carries 8,192 - 100 decode tokens = 8,092 prefill tokens.
    parts = {"memory": np.array([0.01]), "compute": np.array([0.0]), "rest": np.array([0.0]),
             "prefill_compute": np.array([1e-5]), "prefill_comm": np.array([0.0])}
    got = p99_interval_s(parts, np.array([100.0]), np.array([10.0]), np.array([1000.0]),
                         np.array([8192.0]), np.array([1.0]), ZERO)
    assert got[0] == pytest.approx(8092 * 1e-5)


def test_p99_request_tpot_hand_solved():
    # A request of 100 steps at batch 0.005 sees no prompt at its P99: the plain step, 12 ms.
    parts = {"memory": np.array([0.010]), "compute": np.array([0.004]),
             "rest": np.array([0.002]), "prefill_compute": np.array([1e-4]),
             "prefill_comm": np.array([0.0])}
    got = p99_request_tpot_s(parts, np.array([0.005]), np.array([100.0]), np.array([50.0]),
                             np.array([80.0]), ZERO)
    assert got[0] == pytest.approx(0.012)
    # Batch 0.02 (mean 100-token prompts): 68.97 tokens over its life (test above), 0.69
    # mixed steps at 1 ms per layer x 1 layer; compute 100 x 4 ms + 6.897 ms stays under
    # memory's 1,000 ms: (1,000 + 200 + 0.6897) / 100 = 12.0069 ms.
    factors = {**ZERO, "mixed_step_layer_s": 1e-3}
    got = p99_request_tpot_s(parts, np.array([0.02]), np.array([100.0]), np.array([100.0]),
                             np.array([1.0]), factors)
    assert got[0] == pytest.approx(0.0120069, rel=1e-3)


def test_mlperf_bounds_as_in_mlperf_conf():
    from planner.perf.amd import SCENARIO_TPOT_MS, SCENARIO_TTFT_MS

    assert (SCENARIO_TPOT_MS["Server"], SCENARIO_TTFT_MS["Server"]) == (200.0, 2000.0)
    assert (SCENARIO_TPOT_MS["Interactive"], SCENARIO_TTFT_MS["Interactive"]) == (40.0, 450.0)


def test_large_rate_expansion_meets_the_exact_sum():
    # Cornish-Fisher above rate 100 against the exact mixture just below it, and against a
    # Monte Carlo sum at rate 800 (the MLPerf Server batches).
    from planner.perf import tail

    exact = tail.compound_poisson_quantile(99.999, 600.0)[0]
    expanded = tail.compound_poisson_quantile(100.001, 600.0)[0]
    assert expanded == pytest.approx(exact, rel=0.01)
    rng = np.random.default_rng(1)
    sums = rng.gamma(np.maximum(rng.poisson(800.0, 200_000), 1e-9), 600.0)
    assert tail.compound_poisson_quantile(800.0, 600.0)[0] == pytest.approx(
        np.quantile(sums, 0.99), rel=0.01)


def test_mlperf_p99_ttft_is_the_prefill_queue_by_hand():
    # B = 100, unloaded TTFT 50 ms, 100 tokens at 20 ms: service 2.05 s, 48.78 requests/s;
    # prefill 10 ms: rho 0.4878, Kingman's tail rho exp(-t / theta), theta = 0.01 / (2 (1 -
    # rho)) = 9.762 ms, P99 wait = theta ln(rho / 0.01) = 37.95 ms: TTFT 87.95 ms (the slot
    # pool of 2 B = 200 at 0.5 waits with Erlang-C probability ~1e-10).
    import pandas as pd

    from planner.perf.amd import p99_ttft_ms

    out = pd.DataFrame({"batch": [100.0, 100.0], "ttft_unloaded_ms": [50.0, 50.0],
                        "osl": [100.0, 100.0], "tpot_ms": [20.0, 20.0],
                        "prefill_busy_s": [0.01, 0.0]})
    got = p99_ttft_ms(out)
    assert got[0] == pytest.approx(87.95, rel=1e-3)
    assert got[1] == pytest.approx(50.0, rel=1e-3)
