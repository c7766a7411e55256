"""Unit tests of the sampling, the energy formula, trimming and the bootstrap."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from planner.config.distributions import stream
from planner.paper.montecarlo import (bootstrap_means, energy_per_query_wh, summarize,
                                       trim)
from planner.paper.sampling import sample_output_tokens
from planner.paper.throughput_fit import fit_throughput


def test_energy_formula_by_hand():
    # 10.2 kW x 0.6 x 1.3 PUE for 300 tokens at 1,000 tok/s: 7.956 kW x 0.3 s = 0.663 Wh.
    wh = energy_per_query_wh(10.2, 0.6, 1.3, 300, 1000.0)
    assert wh == pytest.approx(10.2 * 0.6 * 1.3 * 1000 * 300 / (3600 * 1000))
    assert wh == pytest.approx(0.663)


def test_input_token_weight_adds_prefill_tokens():
    base = energy_per_query_wh(10.0, 1.0, 1.0, 300, 1000.0, input_tokens=600,
                               input_token_weight=0.0)
    weighted = energy_per_query_wh(10.0, 1.0, 1.0, 300, 1000.0, input_tokens=600,
                                   input_token_weight=1 / 30)
    assert weighted / base == pytest.approx(320 / 300)


def test_output_tokens_exponential_with_median():
    draws = sample_output_tokens(stream(1, "y"), 300, 200_000)
    assert np.median(draws) == pytest.approx(300, rel=0.01)
    assert draws.min() >= 1 and np.all(draws == np.rint(draws))
    q1, q3 = np.percentile(draws, [25, 75])  # theoretical 124.5 and 600
    assert q1 == pytest.approx(124.5, rel=0.02)
    assert q3 == pytest.approx(600, rel=0.02)


def test_trim_keeps_inner_window():
    x = np.arange(1, 1001, dtype=float)
    kept = trim(x, [(5, 95)])
    assert kept.min() >= 50 and kept.max() <= 951
    assert kept.size == pytest.approx(900, abs=2)
    assert trim(x, [(5, 95), (10, 90)]).size == pytest.approx(720, abs=3)


def test_bootstrap_means_center_on_the_mean_with_clt_spread():
    x = stream(3, "z").exponential(1.0, 5000)
    means = bootstrap_means(stream(3, "b"), x, 400, max_draws_per_chunk=100_000)
    assert means.mean() == pytest.approx(x.mean(), rel=0.005)
    assert means.std() == pytest.approx(x.std() / np.sqrt(x.size), rel=0.15)


def test_regression_recovers_exact_power_law_and_caps():
    l_in = np.array([128, 2048, 500, 5000, 128.0])
    l_out = np.array([128, 128, 2000, 500, 2048.0])
    tps = np.exp(10 - 0.5 * np.log(l_in) + 0.25 * np.log(l_out))
    rows = pd.DataFrame({"tps": tps, "input_tokens": l_in, "output_tokens": l_out})
    fit = fit_throughput(rows, "m")
    assert fit.coef == pytest.approx((10, -0.5, 0.25))
    assert fit.mape == pytest.approx(0, abs=1e-9)
    # Extrapolation above the highest observed TPS is capped there.
    assert fit.predict(1, 1e6) == pytest.approx(tps.max())


def test_fewer_than_three_points_fall_back_to_constant_max():
    rows = pd.DataFrame({"tps": [5200.0, 720.0], "input_tokens": [500, 5000],
                         "output_tokens": [2000, 500]})
    fit = fit_throughput(rows, "nemotron")
    assert fit.kind == "constant-max"
    assert np.all(fit.predict([10, 10_000], [10, 10_000]) == 5200.0)


@settings(max_examples=30, deadline=None)
@given(st.floats(1, 20), st.floats(0.1, 1.0), st.floats(1.0, 2.0), st.floats(1, 1e5),
       st.floats(10, 1e5))
def test_energy_is_linear_in_power_and_inverse_in_throughput(p_max, pu, pue, tokens, tps):
    e = energy_per_query_wh(p_max, pu, pue, tokens, tps)
    assert energy_per_query_wh(2 * p_max, pu, pue, tokens, tps) == pytest.approx(2 * e)
    assert energy_per_query_wh(p_max, pu, pue, tokens, 2 * tps) == pytest.approx(e / 2)


def test_summarize_quartiles():
    stats = summarize(np.arange(101, dtype=float))
    assert (stats["q1_wh"], stats["median_wh"], stats["q3_wh"]) == (25, 50, 75)
