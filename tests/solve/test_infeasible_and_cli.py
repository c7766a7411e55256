"""Infeasible instances are explained; the solve CLI writes its tables and exit codes."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.pipeline import InfeasibleError, optimize
from tests.conftest import INSTANCES
from tests.solve.conftest import load

SMALL = str(INSTANCES / "small" / "milp-small.yaml")


def test_impossible_slo_names_class_and_closest_value():
    instance, digest = load("small/one-deployment.yaml", sets=["classes[0].slo.tpot_ms=1"])
    with pytest.raises(InfeasibleError) as err:
        optimize(instance, digest)
    detail = err.value.details[0]
    assert detail["class"] == "chat" and detail["constraint"] == "tpot_slo"
    assert detail["closest"] > 1
    assert "class chat: tpot_slo limit 1 ms, closest achievable" in str(err.value)


def test_quality_floor_out_of_reach():
    instance, digest = load("small/one-deployment.yaml", sets=["classes[0].min_quality=99"])
    with pytest.raises(InfeasibleError, match="quality_floor limit 99"):
        optimize(instance, digest)


def test_power_cap_too_tight_reports_least_power():
    instance, digest = load("small/one-deployment.yaml")
    free = optimize(instance, digest).summary["peak_power_mw"]
    tight, _ = load("small/one-deployment.yaml", sets=[f"sites[0].power_cap_mw={free / 2}"])
    with pytest.raises(InfeasibleError) as err:
        optimize(tight, digest)
    detail = err.value.details[0]
    assert detail["site"] == "site-a" and detail["constraint"] == "power_cap"
    assert detail["closest"] == pytest.approx(free, rel=1e-4)


def test_cli_solve_json_and_tables(tmp_path):
    result = CliRunner().invoke(cli, ["solve", SMALL, "--formulation", "milp", "--format", "json",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    for key in ("status", "objective_gwh_per_day", "peak_power_mw", "wh_per_query", "mip_gap",
                "timings_s", "provenance"):
        assert key in summary
    assert summary["provenance"]["instance_hash"]
    assert summary["lp_bound_gwh_per_day"] <= summary["objective_gwh_per_day"] + 1e-12
    for name in ("assignment", "deployments", "classes", "constraints"):
        csv = pd.read_csv(tmp_path / f"{name}.csv")
        parquet = pd.read_parquet(tmp_path / f"{name}.parquet")
        assert len(csv) == len(parquet) > 0
    assignment = pd.read_csv(tmp_path / "assignment.csv")
    served = assignment.groupby("class")["queries_per_day"].sum()
    assert served["chat"] == pytest.approx(3e6) and served["long"] == pytest.approx(2e5)
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "optimal"


def test_cli_infeasible_exit_code(tmp_path):
    result = CliRunner().invoke(cli, ["solve", SMALL, "--set", "classes[0].slo.tpot_ms=0.5"])
    assert result.exit_code == 3
    assert "class chat: tpot_slo" in result.stderr


def test_cli_bad_set_and_unknown_id():
    result = CliRunner().invoke(cli, ["solve", SMALL, "--set", "options.hardware=[h100-sxn]"])
    assert result.exit_code == 2 and "options.hardware[0]" in result.stderr
    result = CliRunner().invoke(cli, ["solve", SMALL, "--set", "sites.nowhere.pue=1.1"])
    assert result.exit_code == 2 and "no list item with this id" in result.stderr
    result = CliRunner().invoke(cli, ["solve", SMALL, "--scenario", "nope"])
    assert result.exit_code == 2 and "unknown scenario" in result.stderr


def test_fleet_1b_power_cap_binds():
    instance, digest = load("fleet-1b.yaml")
    plan = optimize(instance, digest)
    cap = plan.constraints.query("constraint == 'power_cap'").iloc[0]
    assert cap["binding"] and cap["shadow_price"] > 0
    assert plan.summary["queries_per_day"] == pytest.approx(1e9)
    uncapped, _ = load("fleet-1b.yaml", scenario="no-cap")
    assert optimize(uncapped, digest).summary["objective_gwh_per_day"] < \
        plan.summary["objective_gwh_per_day"]


def test_cli_solve_writes_hourly_power_per_site(tmp_path):
    result = CliRunner().invoke(cli, ["solve", SMALL, "--format", "json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    hourly = pd.read_parquet(tmp_path / "hourly.parquet")
    assert list(hourly.columns) == ["site", "hour", "facility_power_mw", "power_cap_mw"]
    assert len(hourly) == 24 * hourly["site"].nunique()
    total = hourly.groupby("hour")["facility_power_mw"].sum()
    assert total.max() == pytest.approx(summary["peak_power_mw"], rel=1e-9)


def test_cli_infeasible_writes_diagnosis(tmp_path):
    result = CliRunner().invoke(cli, ["solve", SMALL, "--set", "classes[0].slo.tpot_ms=0.5",
                                      "--out", str(tmp_path)])
    assert result.exit_code == 3
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "infeasible"
    assert summary["diagnosis"][0]["class"] == "chat"
    assert summary["diagnosis"][0]["constraint"] == "tpot_slo"
    assert summary["provenance"]["instance_hash"]


def test_deployments_table_says_where_coefficients_come_from(tmp_path):
    result = CliRunner().invoke(cli, ["solve", SMALL, "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    dep = pd.read_parquet(tmp_path / "deployments.parquet")
    assert {"family", "calibrated", "uncertainty_pct"} <= set(dep.columns)
    hopper = dep[dep["family"] == "hopper"]
    assert hopper["calibrated"].all() and (hopper["uncertainty_pct"] > 0).all()


@pytest.mark.parametrize("formulation", ["lp", "milp"])
@pytest.mark.parametrize("cap_mw", [1e-12, 1e-9, 1e-6, 1e-3])
def test_a_tiny_cap_is_a_plan_or_a_diagnosis_never_an_internal_error(cap_mw, formulation):
    """fleet-1b with us-east capped at a milliwatt or less: the solver leaves flows of ~0.1
    queries/day (2e-7 of its variables' unit, its feasibility tolerance) on deployments it
    gives 0 nodes; they used to fail the re-check as an internal error. Now they are dust,
    and every cap ends in a verified plan that serves us-south alone (exit 0), never exit 1."""
    result = CliRunner().invoke(cli, ["-q", "solve", str(INSTANCES / "fleet-1b.yaml"),
                                      "--formulation", formulation, "--format", "json",
                                      "--set", f"sites[0].power_cap_mw={cap_mw}"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["status"] in ("optimal", "time_limit")
    assert summary["objective_gwh_per_day"] > 0


def test_a_tiny_cap_where_the_rest_cannot_absorb_is_diagnosed():
    """us-south capped at a nanowatt-scale 1e-9 MW: us-east's 0.6 MW cannot serve fleet-1b
    alone; exit 3 with the site, the constraint and the closest achievable cap."""
    result = CliRunner().invoke(cli, ["-q", "solve", str(INSTANCES / "fleet-1b.yaml"),
                                      "--set", "sites[1].power_cap_mw=1e-9"])
    assert result.exit_code == 3, result.output
    assert "power_cap" in result.output and "closest achievable" in result.output


def test_overrides_are_recorded_in_the_summary_provenance(tmp_path):
    result = CliRunner().invoke(cli, ["solve", SMALL, "--set", "sites[0].pue=1.3",
                                      "--time-limit", "30", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    overrides = json.loads((tmp_path / "summary.json").read_text())["provenance"]["overrides"]
    assert [(o["path"], o["old"], o["new"]) for o in overrides] == [
        ("sites[0].pue", 1.2, 1.3), ("solver.time_limit_s", None, 30.0)]
    infeasible = tmp_path / "infeasible"
    result = CliRunner().invoke(cli, ["solve", SMALL, "--set", "classes[0].slo.tpot_ms=0.5",
                                      "--out", str(infeasible)])
    assert result.exit_code == 3
    overrides = json.loads((infeasible / "summary.json").read_text())["provenance"]["overrides"]
    assert [(o["path"], o["new"]) for o in overrides] == [("classes[0].slo.tpot_ms", 0.5)]
