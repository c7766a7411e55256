"""What a new user trips on (issue 24, part 6): a misspelt field gets the nearest names, every
mistake of a file in one error, the user's own overrides shown by default, no warning on a
default run of a shipped instance, and no progress-bar lines in captured output."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from planner.cli import cli
from tests.conftest import INSTANCES

TWO = INSTANCES / "small" / "two-hardware.yaml"


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def misspelt(tmp_path: Path) -> str:
    data = yaml.safe_load(TWO.read_text())
    data["classes"][0]["queries_per_dy"] = data["classes"][0].pop("queries_per_day")
    data["sites"][0]["peu"] = data["sites"][0].pop("pue")
    data["options"]["utilisation_ceiling"] = data["options"].pop("utilization_ceiling")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_unknown_fields_get_the_nearest_known_names_all_in_one_error(tmp_path):
    path = misspelt(tmp_path)
    result = run("solve", path)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line, every mistake in it
    line = lines[0]
    assert line.startswith(f"error: {path}: ")
    assert "classes[0].queries_per_dy: unknown field; did you mean queries_per_day?" in line
    assert "sites[0].peu: unknown field; did you mean pue?" in line
    assert ("options.utilisation_ceiling: unknown field; did you mean utilization_ceiling?"
            in line)
    assert "classes[0].queries_per_day: Field required" in line


def test_a_name_with_nothing_near_lists_the_known_fields(tmp_path):
    data = yaml.safe_load(TWO.read_text())
    data["sites"][0]["zzzz"] = 1
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    line = run("solve", str(path)).stderr.strip()
    assert "sites[0].zzzz: unknown field; known: " in line
    for name in ("id", "inventory", "power_cap_mw", "pue"):
        assert name in line


def test_many_mistakes_are_counted_past_the_first_five(tmp_path):
    data = yaml.safe_load(TWO.read_text())
    for i in range(8):
        data["options"][f"bogus_{i}"] = i
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    line = run("solve", str(path)).stderr.strip()
    assert line.count("unknown field") == 5 and line.endswith("and 3 more")


def test_the_users_overrides_are_shown_without_verbose():
    result = run("solve", str(TWO), "--set", "sites[0].pue=1.3")
    assert result.exit_code == 0, result.output
    assert "override sites[0].pue: 1.2 -> 1.3 (--set)" in result.stderr
    quiet = run("-q", "solve", str(TWO), "--set", "sites[0].pue=1.3")
    assert quiet.stderr == ""


def test_a_default_run_of_the_shipped_instance_prints_no_warning():
    """fleet-1b carries min_replicas: 2 for its MILP; the default LP run notes that it ignores
    it in the summary's warnings, not as a warning on every run."""
    result = run("solve", str(INSTANCES / "fleet-1b.yaml"), "--format", "json")
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.stderr
    import json
    warnings = json.loads(result.stdout)["warnings"]
    assert any("min_replicas=2 is a MILP rule" in w for w in warnings)


def test_progress_bars_stay_out_of_captured_output():
    result = run("levers", str(INSTANCES / "small" / "levers-small.yaml"))
    assert result.exit_code == 0, result.output
    assert "lever subsets" not in result.stderr and "lever subsets" not in result.stdout
