"""One digest and one P5/P95 lognormal: the values of the code before issue 15, to the bit
(sweep point ids, manifests and provenance hashes depend on them; --resume finds points by id)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner.config import digest, stable_int
from planner.config.distributions import Z95, lognormal_params, sample_lognormal, stream
from planner.config.schema.loading import load_yaml_model
from planner.sweep.points import draw, expand
from planner.sweep.spec import SweepSpec, UncertainInput


def test_digest_values_are_the_old_ones():
    # sweep point digests (8 hex digits) and the engine's manifest hash (16), pre-issue-15 code
    assert digest({"a": 1, "b": [1.5, None]}, 8) == "a103d152"
    assert digest([{"x": 0.1}, {}], 8) == "2e8581d9"
    assert digest({"p": 2}, 8) == "dd81b5ad"
    assert digest({"p": 2}) == digest({"p": 2}, 16) and digest({"p": 2}).startswith("dd81b5ad")


def test_stable_int_is_the_old_stream_seed():
    assert stable_int("evaluate") == int.from_bytes(
        __import__("hashlib").sha256(b"evaluate").digest()[:8], "little")


def test_shipped_sweep_ids_and_manifest_hashes_are_unchanged():
    from planner.problem.instance import load_planning_data

    base = load_planning_data("instances/fleet-1b.yaml")
    spec = load_yaml_model("instances/sweeps/fleet-1b-sensitivity.yaml", SweepSpec)
    points = expand(spec, base, "spec.yaml")
    ids = [p.id for p in points]
    assert ids[:2] == ["base", "grid0-00000-6cf29ee0"]
    # (the last Monte Carlo draw resamples the calibration residuals: it moves with a
    # recalibration, which the issue-12 refits of this session did: b7a5cf47 -> 664853e4; issue
    # 25's second round (KV cache per checkpoint, MLA decode, CDNA3 clocks): -> 02c274b8; its
    # third round (power-limited clocks for every family): -> 26567014; its fourth round (the
    # v1.0 MoE rows read as attention data parallel): -> 57496d49; its fifth (vLLM's block-FP8
    # MoE factor, the engine and family refit): -> 437f543a; its eighth (DEP MoE workspace,
    # chunked attention): -> c598afdb)
    assert ids[-1] == "mc-00059-c598afdb"
    # (issue 25 added the `amd` scenario to fleet-1b.yaml: the instance's digest moves with its
    # text, f0bf5ad1ae7f5c99 -> 4d708f02ecd56439; the sweep's point ids above do not)
    assert digest(base) == "4d708f02ecd56439"
    assert digest(spec.model_dump(mode="json")) == "df21aec784433ca3"


def test_sweep_lognormal_draws_are_the_old_ones():
    u = UncertainInput(path="sites[*].pue", distribution="lognormal", p5=0.95, p95=1.15)
    old = np.random.default_rng(np.random.SeedSequence([42, __import__("zlib").crc32(
        b"sites[*].pue")])).lognormal((np.log(0.95) + np.log(1.15)) / 2,
                                      (np.log(1.15) - np.log(0.95)) / (2 * Z95), 5)
    assert np.array_equal(draw(u, 5, 42), old)
    assert draw(u, 3, 42).tolist() == old[:3].tolist()


def test_paper_lognormal_params_are_the_old_ones():
    for p5, p95 in [(1.05, 1.6), (0.4, 0.9), (1.5, 10.0), (1.5, 9.0), (0.95, 1.15)]:
        sigma = (np.log(p95) - np.log(p5)) / (2 * Z95)
        assert lognormal_params(p5, p95) == (float(np.log(p5) + Z95 * sigma), float(sigma))
    assert sample_lognormal(stream(7, "x"), 1.05, 1.6, 3).tolist() == \
        stream(7, "x").lognormal(*lognormal_params(1.05, 1.6), 3).tolist()


def test_the_two_roundings_of_mu_agree_but_for_the_last_bit():
    a, b = lognormal_params(0.95, 1.15), lognormal_params(0.95, 1.15, "midpoint")
    assert a[1] == b[1] and a[0] == pytest.approx(b[0], abs=1e-15)


def test_lognormal_params_reject_bad_percentiles_and_allow_a_constant():
    with pytest.raises(ValueError):
        lognormal_params(1.2, 1.1)
    with pytest.raises(ValueError):
        lognormal_params(0.0, 1.1)
    assert lognormal_params(1.1, 1.1)[1] == 0.0


@given(st.floats(0.01, 10), st.floats(1.01, 20))
def test_lognormal_params_reproduce_percentiles(p5, ratio):
    p95 = p5 * ratio
    mu, sigma = lognormal_params(p5, p95)
    assert np.exp(mu - Z95 * sigma) == pytest.approx(p5)
    assert np.exp(mu + Z95 * sigma) == pytest.approx(p95)
    assert np.exp(mu) == pytest.approx((p5 * p95) ** 0.5)


def test_lognormal_samples_hit_their_percentiles():
    draws = sample_lognormal(stream(1, "x"), 0.4, 0.9, 200_000)
    p5, p95 = np.percentile(draws, [5, 95])
    assert p5 == pytest.approx(0.4, rel=0.01)
    assert p95 == pytest.approx(0.9, rel=0.01)


def test_streams_are_named():
    assert np.array_equal(stream(42, "a").random(5), stream(42, "a").random(5))
    assert not np.array_equal(stream(42, "a").random(5), stream(42, "b").random(5))
