"""Run folders for the report tests, made once per session through the CLI: fleet-1b solved,
fleet-1b swept over a few points, the small lever instance attributed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from planner.cli import cli
from tests.conftest import INSTANCES

FLEET = str(INSTANCES / "fleet-1b.yaml")
SWEEP_SPEC = {
    "name": "fleet-1b-mini",
    "grids": [{"mode": "product", "parameters": {"sites.us-east.power_cap_mw": [0.4, 0.8]}},
              {"mode": "zip", "parameters": {"classes.chat.slo.ttft_ms": [15, 250],
                                             "classes.chat.slo.tpot_ms": [6, 40]}}],
    "scenarios": ["no-cap"],
    "monte_carlo": {"samples": 2, "seed": 1, "inputs": [
        {"path": "adjustments.power_scale", "distribution": "lognormal", "p5": 0.8,
         "p95": 1.25}]},
}


def run_cli(*args: str) -> None:
    result = CliRunner().invoke(cli, ["-q", *args])
    assert result.exit_code == 0, result.output


@pytest.fixture(scope="session")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    run_cli("solve", FLEET, "--out", str(root / "solve"))
    spec = root / "sweep.yaml"
    spec.write_text(yaml.safe_dump(SWEEP_SPEC))
    run_cli("sweep", FLEET, str(spec), "--out", str(root / "sweep"))
    run_cli("levers", str(INSTANCES / "small" / "levers-small.yaml"), "--out",
            str(root / "levers"))
    return {"solve": root / "solve", "sweep": root / "sweep", "levers": root / "levers"}


@pytest.fixture(scope="session")
def fleet_report(runs, tmp_path_factory) -> tuple[Path, float]:
    """The fleet-1b report (solve + levers + sweep) through the CLI, and its build seconds."""
    import time

    out = tmp_path_factory.mktemp("report") / "report.html"
    t0 = time.perf_counter()
    run_cli("report", str(runs["solve"]), str(runs["levers"]), str(runs["sweep"]), "--out",
            str(out))
    return out, time.perf_counter() - t0
