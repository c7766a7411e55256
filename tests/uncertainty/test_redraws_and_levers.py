"""Issue 14: re-optimised draws on the sweep engine (resume) and lever reductions with intervals."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.problem.instance import load_planning_data, load_planning_instance
from planner.pipeline import optimize
from planner.sweep.redraw import run_redraws
from planner.results.uncertainty import error_model, evaluate_fixed_plan, sample_multipliers
from tests.conftest import INSTANCES

SMALL = INSTANCES / "small" / "two-hardware.yaml"
LEVERS = INSTANCES / "small" / "levers-small.yaml"


def test_redraws_persist_resume_and_match_the_fixed_plan_draws(tmp_path):
    data = load_planning_data(SMALL)
    table, summary = run_redraws(data, str(SMALL), tmp_path, 10, jobs=2)
    assert summary["engine"].startswith("process pool")
    assert summary["solved_now"] == 10 and summary["status_counts"] == {"optimal": 10}
    # The regret is not materially negative: the point plan with nodes restored is feasible in
    # every draw except that restoring may exceed the 3 installed H200 (reprovisioning ignores
    # inventory), which is worth a few 1e-6 GWh/day here.
    assert (table["regret_gwh_per_day"] >= -1e-4 * table["objective_gwh_per_day"]).all()
    assert table["regret_gwh_per_day"].max() > 0
    # Draw k is the k-th row of the fixed plan's Monte Carlo.
    instance, digest = load_planning_instance(SMALL)
    plan = optimize(instance, digest)
    c, x, n = plan.extra["coefficients"], plan.extra["x"], plan.extra["n"]
    m = sample_multipliers(error_model(c), 10, instance.robustness.seed)
    mc = evaluate_fixed_plan(c, x, n, m)
    assert table["point_plan_gwh_per_day"].to_numpy() == pytest.approx(mc.gwh_per_day)
    # A crash loses only the draws in flight: remove three, resume solves only those (inline:
    # the same numbers as the pool).
    for k in (2, 5, 7):
        (tmp_path / "redraw_points" / f"redraw-{k:05d}.json").unlink()
    again, summary2 = run_redraws(data, str(SMALL), tmp_path, 10, resume=True)
    assert summary2["solved_now"] == 3 and summary2["skipped_done"] == 7
    assert again["objective_gwh_per_day"].to_numpy() == pytest.approx(
        table["objective_gwh_per_day"].to_numpy())
    from planner.errors import InputError

    with pytest.raises(InputError, match="--resume"):
        run_redraws(data, str(SMALL), tmp_path, 10)


def test_levers_with_uncertainty_cli(tmp_path):
    result = CliRunner().invoke(cli, ["-q", "levers", str(LEVERS), "--uncertainty", "10",
                                      "--format", "json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    u = json.loads(result.output)["uncertainty"]
    assert u["draws"] == 10
    rows = {r["lever"]: r for r in u["levers"]}
    assert "all levers" in rows
    for r in rows.values():
        assert r["reduction_p10"] <= r["reduction_median"] <= r["reduction_p90"]
        assert r["draws_solved"] == 10
    assert (tmp_path / "levers_uncertainty.csv").exists()
    bad = CliRunner().invoke(cli, ["-q", "levers", str(LEVERS), "--uncertainty", "3"])
    assert bad.exit_code == 2 and "at least 10" in bad.output


def test_redraws_on_an_instance_with_interchangeable_deployments(tmp_path):
    """Llama-3.1-70B and 3.3-70B share one architecture, so the pipeline merges their equal
    deployments; the draws must use the problem the point plan solved (a mismatch once failed
    every draw with a shape error)."""
    data = load_planning_data(SMALL)
    data["options"]["models"] = ["llama-3.1-70b", "llama-3.3-70b"]
    table, summary = run_redraws(data, str(SMALL), tmp_path, 10, jobs=1)
    assert summary["status_counts"] == {"optimal": 10}, table
