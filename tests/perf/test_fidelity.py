"""Issue 12: sourced catalog, published names, new physics by hand, validation and its errors."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from planner.catalog import data_path
from planner.catalog.loaders import check_models, load_catalog
from planner.cli import cli
from planner.errors import InputError
from planner.perf import datasets
from planner.perf.factors import load_calibration
from planner.perf.model import GIB, KV_FREE_FRACTION, RUNTIME_RESERVE_FRACTION, predict


@pytest.mark.parametrize("name, expected", [
    ("Llama-4-Scout-17B-16E", "llama-4-scout"),
    ("Llama-4-Maverick-17B-128E", "llama-4-maverick"),
    ("meta-llama/Llama-3.1-70B-Instruct", "llama-3.1-70b"),
    ("Qwen/Qwen3-235B-A22B-Instruct-2507-FP8", "qwen3-235b-a22b"),
    ("deepseek-ai/DeepSeek-V3.1", "deepseek-r1"),
    ("openai/gpt-oss-120b", "gpt-oss-120b"),
])
def test_published_model_names_are_read(name, expected):
    assert load_catalog().model_id(name) == expected


@pytest.mark.parametrize("name, expected", [("NVIDIA B200", "b200"), ("H100 80GB HBM3", "h100-sxm"),
                                            ("NVIDIA H200-SXM-141GB", "h200-sxm")])
def test_published_hardware_names_are_read(name, expected):
    assert load_catalog().hardware_id(name) == expected


def test_published_precision_names_and_unknown_names_get_nearest_ids():
    catalog = load_catalog()
    assert catalog.precision_id("mxfp4") == "fp4" and catalog.precision_id("bfloat16") == "bf16"
    with pytest.raises(InputError, match="nearest known: .*h200-sxm"):
        catalog.hardware_id("NVIDIA H200-NVL-141GB")


def test_every_model_field_is_sourced_and_the_loader_refuses_a_missing_one():
    models = pd.read_csv(data_path("models.csv"))
    assert not models["config_source"].str.contains(r"\[from memory\]").any()
    sourced = models[~models["config_source"].str.startswith("NO SOURCE")]
    assert sourced["config_source"].str.contains("external/model_configs.csv").all()
    broken = models.copy()
    broken.loc[2, "vocab"] = np.nan
    with pytest.raises(InputError, match=r"models.csv: row 4 \(llama-3.3-70b\).vocab: no value"):
        check_models(broken, "models.csv")
    broken = models.copy()
    broken.loc[0, "quality_source"] = " "
    with pytest.raises(InputError, match="quality_source"):
        check_models(broken, "models.csv")


@pytest.mark.parametrize("column", ["attention_chunk", "chunked_layers", "layers", "kv_heads"])
@pytest.mark.parametrize("value", [-5.0, np.inf, -np.inf])
def test_a_negative_or_infinite_model_number_is_refused_in_one_line(column, value):
    broken = pd.read_csv(data_path("models.csv"))
    broken[column] = broken[column].astype(float)
    broken.loc[13, column] = value  # llama-4-maverick (file row 15)
    with pytest.raises(InputError) as err:
        check_models(broken, "models.csv")
    message = str(err.value)
    assert f"row 15 (llama-4-maverick).{column}" in message and "finite number >= 0" in message
    assert "\n" not in message


def test_w4a16_on_hopper_reads_four_bit_weights_with_bf16_math():
    cases = pd.DataFrame([dict(model="llama-3.1-70b", hardware="h100-sxm", precision=p,
                               num_gpus=4, isl=1000, osl=1000, concurrency=1)
                          for p in ("fp4", "bf16")])
    out = predict(cases)
    assert out["fits"].all()
    # 4.5-bit weights (and an FP8 KV cache) read in about 0.28 of BF16's time ...
    ratio = out["decode_memory_s"][0] / out["decode_memory_s"][1]
    assert 0.27 < ratio < 0.30
    # ... and the math runs on the BF16 tensor cores at the weight-only efficiency.
    eta = load_calibration().families["hopper"].eta_weight_only
    assert out["decode_compute_s"][0] / out["decode_compute_s"][1] == pytest.approx(1 / eta)
    assert out["weights_gb_per_gpu"][0] == pytest.approx(70.6 * 0.5625 / 4)


def test_dep_memory_fit_by_hand():
    # Qwen3-235B-A22B FP8 on 4 B200 with attention data parallel + expert parallel: each GPU
    # holds every non-expert weight and a quarter of the routed experts.
    out = predict(pd.DataFrame([dict(model="qwen3-235b-a22b", hardware="b200", precision="fp8",
                                     num_gpus=4, isl=1000, osl=1000, parallelism=p)
                                for p in ("dep", "tp")]))
    total, active, experts, k = 235e9, 22e9, 128, 8
    expert_params = (total - active) * experts / (experts - k)
    shared = total - expert_params
    assert out["weights_gb_per_gpu"][0] == pytest.approx((shared + expert_params / 4) / 1e9)
    assert out["weights_gb_per_gpu"][1] == pytest.approx(total / 4 / 1e9)
    # TensorRT-LLM's MoE workspace for all 4 ranks' 8,192 profiling tokens (issue 25, seventh
    # round): per row top-8 x (2 x 4,096 + 5 x intermediate) + 3 x 4,096 bytes.
    intermediate = expert_params / (94 * experts * 3 * 4096)
    workspace = 4 * 8192 * (k * (2 * 4096 + 5 * intermediate) + 3 * 4096)
    assert workspace / 1e9 == pytest.approx(4.564, abs=1e-3)
    usable = (180 * GIB * (1 - RUNTIME_RESERVE_FRACTION) - (shared + expert_params / 4)
              - workspace)
    per_gpu_sequences = np.floor(usable * KV_FREE_FRACTION / (2000 * 94 * 2 * 4 * 128))
    assert out["max_batch_memory"][0] == 4 * per_gpu_sequences


def test_memory_bound_decode_draws_most_of_tdp():
    """The old law gave 43 % of TDP at batch 1; ML.ENERGY measures 486 W of 700 W at batch 8."""
    out = predict(pd.DataFrame([dict(model="llama-3.1-8b", hardware="h100-sxm", precision="bf16",
                                     num_gpus=1, isl=200, osl=400, concurrency=8,
                                     engine="vllm")]))
    assert out["bound"][0] == "memory"
    assert 0.6 < out["gpu_power_w"][0] / 700 < 0.9


def test_engine_is_a_dimension_and_unknown_engines_are_refused():
    cases = pd.DataFrame([dict(model="llama-3.1-70b", hardware="h100-sxm", precision="fp8",
                               num_gpus=4, isl=1000, osl=1000, engine=e) for e in ("trtllm", "vllm")])
    out = predict(cases)
    assert out["out_tok_s_total"][0] != out["out_tok_s_total"][1]
    with pytest.raises(InputError, match="row 1.engine: unknown engine"):
        predict(cases.assign(engine="lmdeploy"))


def test_dataset_row_with_an_unreadable_number_names_file_row_and_column(tmp_path, monkeypatch):
    table = pd.read_csv(data_path(datasets.MLENERGY_TABLE), dtype={"gpu_power_w": object})
    table.loc[3, "gpu_power_w"] = "12 kW"
    (tmp_path / "benchmarks").mkdir()
    table.to_csv(tmp_path / "benchmarks" / "mlenergy_v3.csv", index=False)
    monkeypatch.setattr(datasets, "data_path", lambda name: tmp_path / name)
    with pytest.raises(InputError, match=r"mlenergy_v3.csv: row 5.gpu_power_w: not a positive "
                                         r"number \(got '12 kW'\)"):
        datasets.mlenergy_rows()


def test_validate_reports_every_dataset_and_writes_its_files(tmp_path):
    result = CliRunner().invoke(cli, ["validate", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(tmp_path / "summary.csv")
    overall = summary[summary["grouping"] == "all"].set_index(["metric", "dataset"])
    assert overall.loc[("throughput", "trtllm"), "rows"] == 1029
    assert overall.loc[("gpu_power", "mlenergy"), "rows"] == 252
    # Measured levels of the shipped calibration (regression guards; issue 12's targets are
    # 12 % / 15 % / 25 % and no group above 20 %): TensorRT-LLM 9.0 % (median signed +0.3 %),
    # ML.ENERGY throughput 17.2 %, GPU power 11.1 %, J/token 21.1 % (issue 22's vLLM refit on
    # median ITL moved them from 17.9 / 9.9 / 21.6 %); worst group MoE small-active 17.2 %.
    assert overall.loc[("throughput", "trtllm"), "mape_pct"] <= 9.5
    assert abs(overall.loc[("throughput", "trtllm"), "median_signed_pct"]) <= 2.0
    assert overall.loc[("throughput", "mlenergy"), "mape_pct"] <= 18.5
    assert overall.loc[("gpu_power", "mlenergy"), "mape_pct"] <= 11.5
    assert overall.loc[("j_per_token", "mlenergy"), "mape_pct"] <= 22.5
    groups = summary[(summary["metric"] == "throughput") & (summary["dataset"] == "trtllm")
                     & (summary["grouping"] != "all")]
    assert groups["mape_pct"].max() <= 18.0, groups  # MoE small-active: 17.2 %
    coverage = pd.read_csv(tmp_path / "coverage.csv")
    # The target is about held-out rows: with a row's model (or its whole family) left
    # out of the fit, its error is inside the stated uncertainty 70-90 % of the time, in every
    # dataset and model kind. In-sample the fit is better than held out: 80-91 %.
    for column in ("coverage_held_out_model", "coverage_held_out_family"):
        assert coverage[column].between(0.7, 0.9).all(), coverage
    # (ML.ENERGY MoE small-active in sample: 100 % since issue 22's vLLM refit, whose FP4 MoE
    # kernel path fits gpt-oss well inside the held-out uncertainty of stage 1)
    assert coverage["coverage_in_sample"].between(0.7, 1.0).all(), coverage
    assert (tmp_path / "predicted_vs_measured.png").stat().st_size > 10_000


def test_heldout_errors_are_used_only_for_their_own_rows(tmp_path):
    """The held-out file beside a calibration is matched row for row; one written for other
    rows (another dataset version) is ignored rather than misattributed."""
    from planner.perf.validate import attach_heldout, heldout_path, write_heldout

    rows = pd.DataFrame({"dataset": ["trtllm", "trtllm"], "measured_tok_s": [100.0, 200.0],
                         "lomo_error_pct": [5.0, -30.0], "lofo_error_pct": [10.0, 40.0]})
    calibration = tmp_path / "mine.json"
    assert write_heldout(rows, calibration) == heldout_path(calibration)
    attached = attach_heldout(rows.drop(columns=["lomo_error_pct", "lofo_error_pct"]),
                              calibration)
    assert list(attached["lomo_error_pct"]) == [5.0, -30.0]
    other = rows.drop(columns=["lomo_error_pct", "lofo_error_pct"]).assign(
        measured_tok_s=[100.0, 250.0])
    assert "lomo_error_pct" not in attach_heldout(other, calibration)
