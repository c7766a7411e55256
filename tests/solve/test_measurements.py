"""Issue 13: measured profiles, user-defined hardware and models, provisioning units, the Mélange
importer, and the bad-input messages of each."""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from planner.problem.candidates import build_coefficients
from planner.cli import cli
from planner.errors import InputError
from planner.importers.melange import melange_instance, read_config
from planner.problem.instance import instance_from_mapping, load_planning_instance
from planner.pipeline import optimize

DATA = Path(__file__).resolve().parents[1] / "data"
MELANGE = DATA / "melange_example.json"
USD_PER_HOUR = 1e6 / 24  # million USD/day -> USD/h


def base(**options) -> dict:
    """Llama-3.1-8B BF16 on one H100 or one A100 GPU; the model prefers the H100."""
    data = {
        "name": "byo", "classes": [{
            "id": "chat", "queries_per_day": 1.0e6,
            "input_tokens": {"median": 1000, "shape": "fixed"},
            "output_tokens": {"median": 200, "shape": "fixed"}}],
        "sites": [{"id": "s", "pue": 1.2}],
        "options": {"models": ["llama-3.1-8b"], "precisions": ["bf16"],
                    "hardware": ["h100-sxm", "a100-sxm-80gb"], "gpus_per_replica": [1],
                    "max_concurrency": [64]}}
    data["options"].update(options)
    return data


def row(**kw) -> dict:
    out = {"model": "llama-3.1-8b", "hardware": "a100-sxm-80gb", "precision": "bf16",
           "num_gpus": 1, "input_tokens": 1000, "output_tokens": 200, "concurrency": 64,
           "output_tokens_per_s": 6000.0, "power_w": 500.0}
    out.update(kw)
    return out


def solve(data: dict, formulation: str = "lp"):
    instance, digest = instance_from_mapping(data, "test.yaml")
    return optimize(instance, digest, formulation)


# --- Mélange ---------------------------------------------------------------------------------

def test_melange_example_exact_optimum_under_a_second():
    start = time.perf_counter()
    data = melange_instance(read_config(MELANGE), str(MELANGE))
    plan = solve(data, "milp")
    seconds = time.perf_counter() - start
    assert plan.summary["status"] == "optimal"
    assert plan.summary["objective_value"] * USD_PER_HOUR == pytest.approx(4.68, abs=1e-9)
    gpus = dict(zip(plan.deployments["hardware"], plan.deployments["gpus"]))
    assert gpus == {"melange-a10g": 1.0, "melange-a100-80gb": 1.0}
    assert set(plan.summary["coefficient_sources"].values()) == {"measured"}
    assert seconds < 1.0


def test_cli_import_melange_writes_a_valid_instance(tmp_path):
    out = tmp_path / "melange.yaml"
    result = CliRunner().invoke(cli, ["import", "melange", str(MELANGE), "--out", str(out)])
    assert result.exit_code == 0, result.output
    instance, _ = load_planning_instance(out)
    assert instance.objective == "cost"
    assert len(instance.classes) == 4 and len(instance.measurements.rows) == 8
    result = CliRunner().invoke(cli, ["solve", str(out), "--formulation", "milp", "--format",
                                      "json"])
    assert result.exit_code == 0, result.output
    assert '"objective_unit": "million USD/day"' in result.output


def test_melange_config_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    config = read_config(MELANGE)
    config["gpu_info"]["A10G"]["tputs"] = [[1.0, 2.0, 3.0]]
    bad.write_text(__import__("json").dumps(config))
    result = CliRunner().invoke(cli, ["import", "melange", str(bad)])
    assert result.exit_code == 2
    assert "tputs shape" in result.output and "\n" not in result.output.strip()


# --- measurements replace predictions ---------------------------------------------------------

def test_measurement_flips_the_choice_and_is_reported():
    modelled = solve(base())
    assert list(modelled.deployments["hardware"]) == ["h100-sxm"]
    assert "coefficient_sources" not in modelled.summary  # no new feature, no new key
    data = base()
    data["measurements"] = {"rows": [row()]}
    measured = solve(data)
    assert list(measured.deployments["hardware"]) == ["a100-sxm-80gb"]
    sources = dict(zip(measured.deployments["hardware"],
                       measured.deployments["coefficient_source"]))
    assert sources == {"a100-sxm-80gb": "measured"}
    c, _ = build_coefficients(instance_from_mapping(data, "t")[0])
    a100 = int(np.flatnonzero(c.deployments["hardware"] == "a100-sxm-80gb")[0])
    pair = int(np.flatnonzero(c.pair_dep == a100)[0])
    # 200 output tokens at 6000 tok/s per GPU, 1 of 8 GPUs of a node: node-seconds per query.
    assert c.node_seconds[pair] == pytest.approx(200 / 6000 / 8)
    h100 = c.deployments["coefficient_source"][c.deployments["hardware"] == "h100-sxm"]
    assert list(h100) == ["modelled"]


def test_log_space_interpolation_between_measured_lengths():
    data = base(hardware=["a100-sxm-80gb"])
    data["classes"][0]["input_tokens"] = {"median": 1000, "shape": "fixed"}
    data["classes"][0]["output_tokens"] = {"median": 400, "shape": "fixed"}
    data["measurements"] = {"rows": [row(output_tokens=200, output_tokens_per_s=4000.0),
                                     row(output_tokens=800, output_tokens_per_s=1000.0)]}
    c, _ = build_coefficients(instance_from_mapping(data, "t")[0])
    # 400 is halfway between 200 and 800 in log space: sqrt(4000 x 1000) = 2000 tok/s.
    assert c.node_seconds[0] == pytest.approx(400 / 2000 / 8)
    assert c.deployments["coefficient_source"][0] == "measured"


def test_outside_the_measured_range_is_extrapolated_and_stated():
    data = base(hardware=["a100-sxm-80gb"])
    data["classes"][0]["output_tokens"] = {"median": 2000, "shape": "fixed"}
    data["measurements"] = {"rows": [row(output_tokens=200), row(output_tokens=800)]}
    plan = solve(data)
    assert plan.summary["coefficient_sources"] == {
        plan.deployments["deployment"][0]: "extrapolated"}
    warnings = plan.summary["candidates"]["measurements"]["warnings"]
    assert any("outside the measured grid" in w for w in warnings)


# --- provisioning units ------------------------------------------------------------------------

def test_per_gpu_renting_buys_one_gpu_not_a_node():
    data = base(hardware=["a100-sxm-80gb"], node_cost_usd_per_hour={"a100-sxm-80gb": 29.36})
    data["classes"][0]["queries_per_day"] = 1.0e5
    data["objective"] = "cost"
    data["sites"][0]["electricity_usd_per_kwh"] = 0.0
    per_node = solve(data, "milp")
    assert per_node.summary["objective_value"] * USD_PER_HOUR == pytest.approx(29.36)
    assert per_node.deployments["nodes"].sum() == 1
    data["provisioning"] = {"a100-sxm-80gb": {"unit": "gpu"}}
    data["options"]["node_cost_usd_per_hour"] = {"a100-sxm-80gb": 3.67}
    per_gpu = solve(data, "milp")
    assert per_gpu.summary["objective_value"] * USD_PER_HOUR == pytest.approx(3.67)
    assert per_gpu.deployments["gpus"].sum() == 1
    assert per_gpu.deployments["provisioning_unit"][0] == "gpu"
    # Energy stays physical: the same GPU-hours of load, idle power of 1 GPU instead of 8.
    assert per_gpu.summary["objective_gwh_per_day"] < per_node.summary["objective_gwh_per_day"]
    shadow = set(per_gpu.constraints["shadow_unit"])
    assert all("million USD/day" in u and "GWh" not in u for u in shadow)


def test_provisioning_leaves_energy_unchanged_at_continuous_counts():
    data = base(hardware=["h100-sxm"])
    lp = solve(data)
    data["provisioning"] = {"h100-sxm": {"unit": "instance", "gpus": 4}}
    units = solve(data)
    assert units.summary["objective_value"] == pytest.approx(lp.summary["objective_value"])
    assert units.deployments["nodes"][0] == pytest.approx(2 * lp.deployments["nodes"][0])


# --- user-defined hardware and models ---------------------------------------------------------

def test_custom_hardware_like_a_catalog_id_is_modelled():
    data = base(hardware=["h100-sxm", "my-h100-96gb"])
    data["custom_hardware"] = [{"id": "my-h100-96gb", "like": "h100-sxm", "hbm_gb": 96,
                                "hbm_tb_s": 4.0, "bf16_tflops": 1500}]
    c, _ = build_coefficients(instance_from_mapping(data, "t")[0])
    ns = dict(zip(c.deployments["hardware"], c.node_seconds))
    assert ns["my-h100-96gb"] < ns["h100-sxm"]  # more bandwidth and compute


def test_profile_only_model_and_hardware_need_measurements(caplog):
    data = base(models=["my-model"], hardware=["my-gpu"])
    data["custom_models"] = [{"id": "my-model"}]
    data["custom_hardware"] = [{"id": "my-gpu", "tdp_w": 300, "price_usd_per_hour": 1.0}]
    data["measurements"] = {"rows": [row(model="my-model", hardware="my-gpu")]}
    plan = solve(data)
    assert plan.deployments["coefficient_source"][0] == "measured"
    del data["measurements"]
    with caplog.at_level(logging.WARNING), pytest.raises(Exception):
        solve(data)
    assert "profile only and no measurement row covers it" in caplog.text


@pytest.mark.parametrize("patch, message", [
    ({"custom_hardware": [{"id": "h100-sxm", "like": "h100-sxm"}]}, "already a catalog"),
    ({"custom_hardware": [{"id": "x-gpu", "hbm_gb": 80}]}, "a spec sheet needs"),
    ({"provisioning": {"h100-sxm": {"unit": "instance"}}}, "needs `gpus`"),
    ({"provisioning": {"h100-sxmm": {"unit": "gpu"}}}, "nearest known: h100-sxm"),
])
def test_custom_definitions_bad_input(patch, message):
    data = base()
    data.update(patch)
    with pytest.raises(InputError, match=message):
        instance_from_mapping(data, "t.yaml")


# --- bad measurement rows ----------------------------------------------------------------------

@pytest.mark.parametrize("rows, message", [
    ([row(model="llama-3.1-8bb")], r"measurements.rows\[0\].model: unknown model id; nearest "
                                   r"known: llama-3.1-8b"),
    ([row(hardware="a100-sxm-80g")], r"rows\[0\].hardware: unknown hardware id; nearest"),
    ([row(output_tokens_per_s=0.0)], "output_tokens_per_s must be positive"),
    ([row(output_tokens_per_s=-5.0)], "must be positive"),
    ([row(requests_per_s=3.0)], "exactly one of"),
    ([row(), row()], "duplicate measurement key"),
    ([row(output_tokens=200), row(output_tokens=800),
      row(input_tokens=2000, output_tokens=200)], "do not form a grid"),
    ([row(), row(concurrency=None, output_tokens=800)], "concurrency on every row or on none"),
    ([row(), row(engine="vllm", output_tokens=800)], "keep one per deployment key"),
])
def test_bad_measurement_rows_one_line_errors(rows, message):
    data = base()
    data["measurements"] = {"rows": rows}
    with pytest.raises(InputError, match=message) as info:
        instance_from_mapping(data, "t.yaml")
    assert "\n" not in str(info.value)


def test_profile_contradicting_memory_fit_is_a_stated_warning(caplog):
    data = base(hardware=["a100-sxm-80gb"], max_concurrency=[4096])
    data["measurements"] = {"rows": [row(concurrency=4096, input_tokens=8000,
                                         output_tokens=8000)]}
    data["classes"][0]["input_tokens"] = {"median": 8000, "shape": "fixed"}
    data["classes"][0]["output_tokens"] = {"median": 8000, "shape": "fixed"}
    with caplog.at_level(logging.WARNING):
        plan = solve(data)
    warnings = plan.summary["candidates"]["measurements"]["warnings"]
    assert any("memory model fits" in w for w in warnings)
    assert "memory model fits" in caplog.text


def test_measurements_from_a_csv_next_to_the_instance(tmp_path):
    (tmp_path / "profile.csv").write_text(
        "model,hardware,precision,num_gpus,input_tokens,output_tokens,concurrency,"
        "output_tokens_per_s,power_w\n"
        "llama-3.1-8b,a100-sxm-80gb,bf16,1,1000,200,64,6000,500\n")
    data = base()
    data["measurements"] = {"file": "profile.csv"}
    path = tmp_path / "i.yaml"
    path.write_text(yaml.safe_dump(data))
    instance, _ = load_planning_instance(path)
    assert len(instance.measurements.rows) == 1
    bad = copy.deepcopy(data)
    bad["measurements"] = {"file": "missing.csv"}
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(InputError, match="measurements file not found"):
        load_planning_instance(path)
    (tmp_path / "profile.csv").write_text("model,hardwre\nx,y\n")
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(InputError, match="unknown column; nearest: hardware"):
        load_planning_instance(path)


def test_rows_matching_no_deployment_are_stated():
    data = base(hardware=["h100-sxm"])
    data["measurements"] = {"rows": [row(num_gpus=2)]}
    plan = solve(data)
    warnings = plan.summary["candidates"]["measurements"]["warnings"]
    assert any("match no deployment" in w for w in warnings)
    assert plan.deployments["coefficient_source"][0] == "modelled"


def test_levers_and_uncertainty_accept_profile_only_hardware(tmp_path):
    data = base(hardware=["h100-sxm", "my-gpu"])
    data["custom_hardware"] = [{"id": "my-gpu", "tdp_w": 300}]
    data["measurements"] = {"rows": [row(hardware="my-gpu", output_tokens_per_s=8000.0,
                                         power_w=400.0)]}
    data["levers"] = {"baseline": {"options.hardware": ["h100-sxm"]},
                      "groups": [{"name": "my-gpu",
                                  "set": {"options.hardware": ["h100-sxm", "my-gpu"]}}]}
    path = tmp_path / "lev.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["levers", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "my-gpux1" in result.output
    result = CliRunner().invoke(cli, ["uncertainty", str(path)])
    assert result.exit_code == 0, result.output


def test_profile_only_gaps_in_the_grid_are_stated():
    data = melange_instance(read_config(MELANGE), str(MELANGE))
    # The A10G cannot serve the long-input, long-output bucket (Mélange writes 0 req/s there).
    data["measurements"]["rows"] = [r for r in data["measurements"]["rows"]
                                    if not (r["hardware"] == "melange-a10g"
                                            and r["input_tokens"] == 50
                                            and r["output_tokens"] == 50)]
    plan = solve(data, "milp")
    warnings = plan.summary["candidates"]["measurements"]["warnings"]
    assert any("no measured point at 50/50" in w for w in warnings)
    served = plan.assignment[plan.assignment["class"] == "in1-out1"]["deployment"]
    assert all("a100" in d for d in served)
