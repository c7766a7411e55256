"""The CLI: JSON shape, table, plot, version, and one-line errors with exit code 2."""

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from planner.cli import cli
from tests.conftest import INSTANCES

V2 = str(INSTANCES / "paper-v2.yaml")


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_version_and_help():
    assert run("--version").output.startswith("planner, version ")
    result = run("--help")
    assert result.exit_code == 0 and "estimate" in result.output


def test_json_has_the_promised_shape():
    result = run("estimate", V2, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for model in ("deepseek-r1", "llama-3.1-405b", "nemotron-ultra-253b", "mixtral-8x22b",
                  "llama-3.1-70b"):
        for regime in ("traditional", "long"):
            entry = data["models"][model][regime]
            assert entry["q1_wh"] < entry["median_wh"] < entry["q3_wh"]
    assert data["blend"]["traditional"]["median_wh"] == pytest.approx(0.31, rel=0.03)
    assert data["blend"]["long"]["median_wh"] == pytest.approx(3.91, rel=0.03)
    fleet = data["fleet_gwh_per_day"]
    assert fleet["traditional"] == pytest.approx(0.73, rel=0.03)
    assert fleet["mix"] == pytest.approx(1.71, rel=0.03)
    assert fleet["mix_with_levers"] == pytest.approx(0.80, rel=0.03)


def test_table_show_fit_and_plot(tmp_path):
    png = tmp_path / "dist.png"
    result = run("estimate", V2, "--show-fit", "--plot", str(png), "--samples", "2000")
    assert result.exit_code == 0, result.output
    assert "b1_log_input" in result.output and "blend (top 3, trimmed)" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_json_show_fit_includes_coefficients():
    data = json.loads(run("estimate", V2, "--format", "json", "--show-fit",
                          "--samples", "2000").output)
    fit = {row["model"]: row for row in data["throughput_fit"]}
    assert fit["llama-3.1-70b"]["b0"] == pytest.approx(10.824, abs=1e-3)


def write_variant(tmp_path: Path, edit) -> str:
    data = yaml.safe_load(Path(V2).read_text())
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def set_pue(data):
    data["pue"] = {"p5": 1.6, "p95": 1.05}


def negative_power(data):
    data["models"][1]["node_power_max_kw"] = -3


def zero_samples(data):
    data["samples_per_model"] = 0


def unknown_model(data):
    data["models"][2]["id"] = "llama-3.1-450b"


def unknown_field(data):
    data["pue"]["p50"] = 1.2


def bad_mix(data):
    data["fleet"]["mix"] = {"traditional": 0.9, "long": 0.2}


@pytest.mark.parametrize("edit, field, value", [
    (set_pue, "pue", None),
    (negative_power, "models[1].node_power_max_kw", "-3"),
    (zero_samples, "samples_per_model", "0"),
    (unknown_model, "models[2].id", "'llama-3.1-450b'"),
    (unknown_field, "pue.p50", "1.2"),
    (bad_mix, "fleet.mix", None),
])
def test_bad_input_is_one_line_with_file_field_value(tmp_path, edit, field, value):
    path = write_variant(tmp_path, edit)
    result = CliRunner().invoke(cli, ["estimate", path])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert path in lines[0] and field in lines[0]
    if value is not None:
        assert value in lines[0]
    assert "Traceback" not in result.output


def test_p5_not_below_p95_names_both_values(tmp_path):
    path = write_variant(tmp_path, set_pue)
    line = CliRunner().invoke(cli, ["estimate", path]).stderr
    assert "p5=1.6" in line and "p95=1.05" in line


def test_unknown_model_suggests_nearest(tmp_path):
    path = write_variant(tmp_path, unknown_model)
    assert "did you mean llama-3.1-405b" in CliRunner().invoke(cli, ["estimate", path]).stderr


def test_missing_file(tmp_path):
    result = CliRunner().invoke(cli, ["estimate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "nope.yaml: file not found" in result.stderr


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nmodels: [a, b\npue: {p5: 1}\n")
    result = CliRunner().invoke(cli, ["estimate", str(path)])
    assert result.exit_code == 2
    assert "broken.yaml" in result.stderr and "malformed YAML at line" in result.stderr


def test_non_mapping_yaml(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    result = CliRunner().invoke(cli, ["estimate", str(path)])
    assert result.exit_code == 2 and "top level must be a mapping" in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    """--debug adds the traceback and keeps the exit code (issue 17: it used to turn 2 into 1)."""
    result = CliRunner().invoke(cli, ["--debug", "estimate", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "Traceback" in result.stderr and "file not found" in result.stderr
