"""The shipped catalog: complete, sourced, and consistent with the reference facts."""

import pytest

from planner.catalog.loaders import (HARDWARE_NUMERIC, check_kv_cache, kv_bytes_per_token_full,
                                     load_catalog)
from planner.errors import InputError

HARDWARE = ["h100-sxm", "h200-sxm", "gh200", "a100-sxm-80gb", "l40s", "b200", "gb200", "b300",
            "gb300", "rubin", "mi300x", "mi325x", "mi355x"]
MODELS = ["llama-3.1-8b", "llama-3.1-70b", "llama-3.3-70b", "llama-3.1-405b", "mistral-7b",
          "mixtral-8x7b", "mixtral-8x22b", "deepseek-r1", "qwen3-30b-a3b", "qwen3-235b-a22b",
          "gpt-oss-20b", "gpt-oss-120b", "llama-4-scout", "llama-4-maverick",
          "nemotron-ultra-253b", "llama-2-70b"]


def test_every_required_id_is_present():
    catalog = load_catalog()
    assert set(HARDWARE) == set(catalog.hardware.index)
    assert set(MODELS) == set(catalog.models.index)
    assert {"fp16", "bf16", "fp8", "fp4", "int4-awq"} == set(catalog.precisions.index)


def test_every_hardware_number_has_a_source():
    catalog = load_catalog()
    long = catalog.hardware_sources
    for hw in HARDWARE:
        fields = set(long[long["hardware"] == hw]["field"])
        assert set(HARDWARE_NUMERIC) <= fields, hw
    assert long["source"].str.len().min() > 5
    assert set(long["status"]) <= {"official", "secondary", "derived", "assumed", "projected",
                                   "unverified"}


def test_rubin_is_marked_projected_and_only_rubin():
    hw = load_catalog().hardware
    assert hw.loc["rubin", "projected"]
    assert hw["projected"].sum() == 1


@pytest.mark.parametrize("hw, field, value", [
    ("h100-sxm", "fp8_tflops", 1979), ("h100-sxm", "hbm_tb_s", 3.35),
    ("h100-sxm", "node_max_kw", 10.2), ("h200-sxm", "hbm_gb", 141), ("b200", "node_max_kw", 14.3),
    ("b200", "fp4_tflops", 9000), ("mi300x", "hbm_gb", 192), ("mi355x", "tdp_w", 1400),
])
def test_reference_spec_values(hw, field, value):
    assert load_catalog().hardware.loc[hw, field] == pytest.approx(value)


@pytest.mark.parametrize("model, kv_bytes", [
    ("llama-3.1-8b", 131072), ("llama-3.1-70b", 327680), ("llama-3.1-405b", 516096),
    ("deepseek-r1", 70272), ("mixtral-8x22b", 229376), ("qwen3-235b-a22b", 192512),
    ("qwen3-30b-a3b", 98304),
])
def test_kv_bytes_per_token_match_reference_section_c(model, kv_bytes):
    models = load_catalog().models
    assert kv_bytes_per_token_full(models, 2.0)[model] == kv_bytes


def test_moe_active_params_below_total_and_quality_in_range():
    models = load_catalog().models
    assert (models["active_params_b"] <= models["total_params_b"]).all()
    moe = models[models["experts"] > 0]
    assert (moe["active_params_b"] < moe["total_params_b"]).all()
    assert models["quality_mmlu"].between(50, 100).all()


@pytest.mark.parametrize("name, expected", [
    ("H100-SXM-80GB", "h100-sxm"), ("B200-180GB", "b200"), ("GB200-192GB(NVL72)", "gb200"),
    ("H200-SXM-141GB", "h200-sxm"), ("A100-SXM4-80GB", "a100-sxm-80gb"), ("L40S", "l40s"),
])
def test_hardware_aliases(name, expected):
    assert load_catalog().hardware_id(name) == expected


@pytest.mark.parametrize("name, expected", [
    ("Llama-3.1-70B", "llama-3.1-70b"), ("Qwen3-235B-A22B", "qwen3-235b-a22b"),
    ("gpt-oss-120b", "gpt-oss-120b"), ("DeepSeek-R1-0528", "deepseek-r1"),
])
def test_model_aliases(name, expected):
    assert load_catalog().model_id(name) == expected


def test_unknown_id_names_nearest():
    with pytest.raises(InputError, match="nearest known: h100-sxm"):
        load_catalog().hardware_id("h100-sxn")


def test_kv_cache_rows_name_their_checkpoint_and_source():
    catalog = load_catalog()
    table = catalog.kv_cache
    assert table["source"].str.len().min() > 20 and table["checkpoint"].str.len().min() > 10
    bad = table.copy()
    bad.loc[bad.index[2], "source"] = ""
    with pytest.raises(InputError, match=r"kv_cache.csv.*row 4\.source"):
        check_kv_cache(bad, catalog.precisions.index, "kv_cache.csv")
    bad = table.copy()
    bad.loc[bad.index[0], "kv_cache"] = "fp7"
    with pytest.raises(InputError, match="fp7"):
        check_kv_cache(bad, catalog.precisions.index, "kv_cache.csv")


def test_weight_scaling_rows_name_their_checkpoint_and_source():
    """weight_scaling.csv, the checkpoints' FP8 weight scaling, is refused without a source
    (one line naming file, row and field)."""
    catalog = load_catalog()
    table = catalog.weight_scaling
    assert set(table["weight_scaling"]) == {"block128"}
    assert table["source"].str.len().min() > 20 and table["checkpoint"].str.len().min() > 10
    bad = table.copy()
    bad.loc[bad.index[1], "source"] = ""
    with pytest.raises(InputError, match=r"weight_scaling.csv.*row 3\.source"):
        check_kv_cache(bad, catalog.precisions.index, "weight_scaling.csv",
                       value="weight_scaling")


@pytest.mark.parametrize("scaling", ["block64", "Block128", " ", float("nan")])
def test_weight_scaling_refuses_an_unknown_or_empty_scaling(scaling):
    """A misspelt scaling would count silently as not block-scaled: refused in one line naming
    file, row, field and value (an empty one as having no value)."""
    catalog = load_catalog()
    bad = catalog.weight_scaling.copy()
    bad.loc[bad.index[0], "weight_scaling"] = scaling
    with pytest.raises(InputError, match=r"weight_scaling.csv.*row 2\.weight_scaling") as err:
        check_kv_cache(bad, catalog.precisions.index, "weight_scaling.csv",
                       value="weight_scaling")
    assert "\n" not in str(err.value)
    if isinstance(scaling, str) and scaling.strip():
        assert "unknown weight scaling" in str(err.value) and scaling in str(err.value)
