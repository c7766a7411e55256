"""AMD Instinct in the catalog (issue 25): names as published, sources, mixed systems refused."""

import pytest

from planner.catalog.loaders import load_catalog
from planner.errors import InputError
from planner.perf.factors import engine_name


@pytest.mark.parametrize("name, hw", [
    ("AMD Instinct MI325X 256GB HBM3e", "mi325x"), ("AMD Instinct MI325X 256GB HBM3E", "mi325x"),
    ("AMD MI325X", "mi325x"), ("AMD MI355X", "mi355x"), ("MI300X-NPS1-SPX-192GB-750W", "mi300x"),
    ("AMD Instinct MI300X-NPS1-SPX-192GB-750W", "mi300x"), ("AMD Instinct MI300X 192GB HBM3", "mi300x"),
    ("AMD MI300X", "mi300x")])
def test_amd_names_as_published(name, hw):
    assert load_catalog().hardware_id(name) == hw


def test_mixed_accelerator_system_is_named_and_refused():
    with pytest.raises(InputError, match="mixed-accelerator"):
        load_catalog().hardware_id("AMD Instinct MI300X 192GB HBM3 (x32), AMD Instinct MI325X "
                                   "256GB HBM3e (x16)")


@pytest.mark.parametrize("hw, field, value, status", [
    ("mi300x", "tdp_w", 750, "official"), ("mi300x", "hbm_gb", 192, "official"),
    ("mi325x", "hbm_gb", 256, "official"), ("mi325x", "hbm_tb_s", 6.0, "secondary"),
    ("mi325x", "fp8_tflops", 2614.9, "secondary"), ("mi325x", "tdp_w", 1000, "secondary"),
    ("mi355x", "hbm_gb", 288, "official"), ("mi355x", "tdp_w", 1400, "secondary"),
    ("mi355x", "link_gb_s", 896, "assumed"), ("mi300x", "node_max_kw", 10.9, "assumed")])
def test_amd_spec_numbers_and_their_status(hw, field, value, status):
    catalog = load_catalog()
    assert catalog.hardware.loc[hw, field] == pytest.approx(value)
    long = catalog.hardware_sources
    row = long[(long["hardware"] == hw) & (long["field"] == field)].iloc[0]
    assert row["status"] == status


def test_amd_families():
    hw = load_catalog().hardware
    assert hw.loc[["mi300x", "mi325x", "mi355x"], "family"].tolist() == ["cdna3", "cdna3", "cdna4"]
    assert hw.loc["mi355x", "fp4_tflops"] > 0 and hw.loc["mi325x", "fp4_tflops"] == 0


@pytest.mark.parametrize("name, engine", [("sglang", "sglang"), ("ATOM", "atom"),
                                          ("vllm-rocm", "vllm"), ("vLLM", "vllm")])
def test_rocm_engine_names(name, engine):
    assert engine_name(name) == engine
