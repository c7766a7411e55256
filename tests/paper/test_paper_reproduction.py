"""The estimator reproduces the published numbers of arXiv:2509.20241 within 3 %."""

import pytest

REL = 0.03


def close(value, target):
    return value == pytest.approx(target, rel=REL)


def test_v2_blend_traditional(v2):
    blend = v2.summary()["blend"]["traditional"]
    assert close(blend["median_wh"], 0.31)
    assert close(blend["q1_wh"], 0.16)
    assert close(blend["q3_wh"], 0.60)


def test_v2_blend_long(v2):
    blend = v2.summary()["blend"]["long"]
    assert close(blend["median_wh"], 3.91)
    assert close(blend["q1_wh"], 2.15)
    assert close(blend["q3_wh"], 7.05)


def test_v2_fleet(v2):
    fleet = v2.summary()["fleet_gwh_per_day"]
    assert close(fleet["traditional"], 0.73)
    assert close(fleet["mix"], 1.71)
    assert close(fleet["mix_with_levers"], 0.80)


def test_v2_blend_is_the_three_largest_models(v2):
    for regime in ("traditional", "long"):
        assert set(v2.blend_models[regime]) == {"deepseek-r1", "llama-3.1-405b",
                                                "nemotron-ultra-253b"}


def test_v2_long_is_thirteen_times_traditional(v2):
    blend = v2.summary()["blend"]
    ratio = blend["long"]["median_wh"] / blend["traditional"]["median_wh"]
    assert 12.0 < ratio < 14.0  # the paper's "13x"


def test_v1_blend(v1):
    blend = v1.summary()["blend"]
    assert close(blend["traditional"]["median_wh"], 0.34)
    assert close(blend["traditional"]["q1_wh"], 0.18)
    assert close(blend["traditional"]["q3_wh"], 0.67)
    assert close(blend["long"]["median_wh"], 4.32)


def test_v1_fleet(v1):
    fleet = v1.summary()["fleet_gwh_per_day"]
    assert close(fleet["traditional"], 0.8)
    assert close(fleet["mix"], 1.76)  # published as "1.8"; reconstruction 0.9*0.807+0.1*10.37
    assert fleet["mix_with_levers"] == pytest.approx(0.9, rel=0.05)  # published as "0.9"


def test_v2_single_levers_match_the_papers_medians(v2):
    levers = v2.summary()["levers"]["traditional"]
    # Medians of the lognormal divisors: sqrt(p5 * p95).
    assert levers["hardware"]["reduction"] == pytest.approx((1.5 * 2.5) ** 0.5, rel=REL)
    assert levers["model"]["reduction"] == pytest.approx((1.5 * 10) ** 0.5, rel=REL)
    assert levers["serving"]["reduction"] == pytest.approx((1.5 * 5) ** 0.5, rel=REL)
    assert 8 <= levers["combined"]["reduction"] <= 25


def test_fleet_interval_brackets_the_median(v2):
    summary = v2.summary()
    for key, value in summary["fleet_gwh_per_day"].items():
        interval = summary["fleet_interval_gwh_per_day"][key]
        assert interval["p5"] <= value <= interval["p95"]
