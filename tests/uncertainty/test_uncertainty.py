"""Issue 14: plan uncertainty (fixed-plan Monte Carlo), the robust CVaR plan, bad input."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from formulations.form import Options, Robust, build
from planner.cli import cli
from formulations.coefficients import HOURS, Coefficients
from planner.errors import InputError
from planner.problem.instance import instance_from_mapping, load_planning_data, load_planning_instance
from planner.pipeline import InfeasibleError, optimize
from planner.pipeline import optimize_robust
from planner.solve.robust import sample_cvar
from planner.solve import solve
from planner.results.uncertainty import (check_level, check_samples, error_model, evaluate_fixed_plan,
                                 plan_uncertainty, quantile_multiplier, sample_multipliers)
from tests.conftest import INSTANCES

SMALL = INSTANCES / "small" / "two-hardware.yaml"


def tiny(uncertainty=(5.0, 30.0), cap_kw=np.inf) -> Coefficients:
    """One class of 1e6 queries/day, two deployments with identical nominal numbers (same idle
    power, node-seconds and energy per query) in different error groups."""
    deployments = pd.DataFrame({
        "model": ["m-a", "m-b"], "precision": ["fp8", "fp8"], "hardware": ["hw-a", "hw-b"],
        "num_gpus": [8, 8], "max_concurrency": [64, 64], "speculative": [False, False],
        "disaggregated": [False, False], "site_idx": [0, 0], "nodes_per_replica": [1.0, 1.0],
        "idle_kw": [2.0, 2.0], "family": ["fam-a", "fam-b"], "model_kind": ["dense", "dense"],
        "calibrated": [True, False]})
    pairs = pd.DataFrame({"class_idx": [0, 0], "dep_idx": [0, 1], "node_seconds": [1.0, 1.0],
                          "dynamic_kwh": [0.001, 0.001], "ttft_ms": [100.0, 100.0],
                          "tpot_ms": [20.0, 20.0], "uncertainty_pct": list(uncertainty)})
    classes = pd.DataFrame({"id": ["chat"], "queries_per_day": [1e6]})
    return Coefficients(
        classes=classes, deployments=deployments, pairs=pairs, profile=np.ones((1, HOURS)),
        demand=np.array([1e6]), pair_class=np.array([0, 0]), pair_dep=np.array([0, 1]),
        node_seconds=np.array([1.0, 1.0]), dynamic_kwh=np.array([0.001, 0.001]),
        dep_idle_kw=np.array([2.0, 2.0]), dep_site=np.array([0, 0]),
        dep_hardware=np.array(["hw-a", "hw-b"]), dep_nodes_per_replica=np.array([1.0, 1.0]),
        site_pue=np.array([1.2]), site_overhead=np.array([1.0]),
        site_cap_kw=np.array([cap_kw]), site_weight=np.array([1.0]),
        inventory=pd.DataFrame(columns=["site_idx", "hardware", "nodes"]),
        utilization_ceiling=0.8, site_ids=("s",))


def test_tiny_robust_picks_the_certain_deployment_nominal_is_indifferent():
    c = tiny()
    # Nominal: every split costs the same (hand-checked: 1e6 q x 0.001 kWh x 1.2 + idle of
    # 1e6 / (0.8 x 86400) nodes x 2 kW x 24 h x 1.2), so both pure plans are optimal.
    nodes = 1e6 / (0.8 * 86400)
    expected = (1e6 * 0.001 * 1.2 + nodes * 2.0 * 24 * 1.2) / 1e6
    result = solve(build(c))
    assert result.objective == pytest.approx(expected, rel=1e-6)
    per_query, per_node = c.energy_weights()
    for d in (0, 1):
        x = np.zeros(2)
        x[d] = 1e6
        n = np.zeros(2)
        n[d] = nodes
        assert per_query @ x + per_node @ n == pytest.approx(expected, rel=1e-9)
    # Robust: all of the demand on the 5 % deployment.
    model = error_model(c)
    scenarios = sample_multipliers(model, 200, 0, stream="robust")
    built = build(c, Options(robust=Robust(scenarios, 0.9, quantile_multiplier(model, 0.95),
                                           0.95)))
    robust = solve(built)
    x = robust.x * built.unit
    assert x[0] == pytest.approx(1e6, rel=1e-6) and x[1] == pytest.approx(0, abs=1e-3)


def test_error_model_structure_and_missing_uncertainty_treated_as_exact():
    c = tiny(uncertainty=(10.0, np.nan))
    model = error_model(c, correlated_share=0.5)
    assert model.sigma[0] == pytest.approx(np.sqrt(np.pi / 2) * 0.10)
    assert model.sigma[1] == 0 and model.exact.tolist() == [False, True]
    m = sample_multipliers(model, 50, 1)
    assert np.all(m[:, 1] == 1.0) and m[:, 0].std() > 0
    summary, table, _ = plan_uncertainty(c, np.array([5e5, 5e5]), np.array([8.0, 8.0]), 50, 1)
    assert summary["treated_as_exact"] == ["chat|m-b/fp8/hw-bx8/b64@s"]
    assert table["variance_share"].sum() == pytest.approx(1.0)
    assert table.loc[table["deployment"].str.startswith("m-b"), "treated_as_exact"].all()


def test_monte_carlo_is_seeded_and_reproducible():
    c = tiny()
    model = error_model(c)
    a, b = sample_multipliers(model, 100, 7), sample_multipliers(model, 100, 7)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, sample_multipliers(model, 100, 8))
    assert np.array_equal(sample_multipliers(model, 30, 7), a[:30])  # draw k is draw k
    x, n = np.array([1e6, 0]), np.array([15.0, 0])
    s1, _, _ = plan_uncertainty(c, x, n, 100, 7)
    s2, _, _ = plan_uncertainty(c, x, n, 100, 7)
    for key in ("gwh_per_day", "peak_mw", "p_cap_exceeded"):
        assert s1[key] == s2[key]
    # Correlation: the group draw is shared, so pairs of one group move together.
    c2 = tiny()
    c2.deployments["family"] = ["fam-a", "fam-a"]
    m = sample_multipliers(error_model(c2, correlated_share=1.0), 200, 0)
    assert np.allclose(np.log(m[:, 0]) / np.log(m[:, 0]).std(),
                       np.log(m[:, 1]) / np.log(m[:, 1]).std())


def test_fixed_plan_checks_against_hand_values():
    c = tiny(cap_kw=20.0)
    x, n = np.array([1e6, 0.0]), np.array([1e6 / (0.8 * 86400), 0.0])
    m = np.array([[1.0, 1.0], [1.3, 1.0], [0.9, 1.0]])
    mc = evaluate_fixed_plan(c, x, n, m)
    # Dynamic GWh scales with m; idle does not.
    idle = n[0] * 2.0 * 24 * 1.2 / 1e6
    assert mc.gwh_per_day == pytest.approx(1e6 * 0.001 * 1.2 * m[:, 0] / 1e6 + idle)
    assert mc.max_utilization == pytest.approx(0.8 * m[:, 0])
    power = (n[0] * 2.0 + 1e6 / 24 * 0.001 * m[:, 0]) * 1.2  # kW in every hour
    assert mc.cap_exceeded.tolist() == (power > 20.0).tolist()
    assert mc.extra_nodes == pytest.approx(np.maximum(n[0] * m[:, 0] - n[0], 0))


def test_sample_cvar_matches_definition():
    v = np.arange(1.0, 101.0)
    assert sample_cvar(v, 0.9) == pytest.approx(np.mean(v[90:]), rel=0.02)


def test_bad_levels_and_sample_counts_are_one_line_errors():
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(InputError):
            check_level(bad)
    with pytest.raises(InputError, match="at least 10"):
        check_samples(9)
    data = load_planning_data(SMALL)
    for field, value in (("risk_level", 1.0), ("confidence", 0.0), ("samples", 5),
                         ("scenarios", 3)):
        bad = dict(data, robustness={field: value})
        with pytest.raises(InputError) as err:
            instance_from_mapping(bad, "x.yaml")
        assert "\n" not in str(err.value) and f"robustness.{field}" in str(err.value)


def test_cli_bad_input_exits_2_with_one_line():
    runner = CliRunner()
    for args in (["--samples", "5"], ["--risk-level", "1.5"], ["--risk-level", "0"]):
        result = runner.invoke(cli, ["uncertainty", str(SMALL), *args])
        assert result.exit_code == 2, result.output
        assert result.output.strip().count("\n") == 0 and "robustness." in result.output


def test_infeasible_robust_problem_is_diagnosed():
    instance, digest = load_planning_instance(SMALL)
    peak = optimize(instance, digest).summary["peak_power_mw"]
    tight, digest = load_planning_instance(
        SMALL, sets=[f"sites[0].power_cap_mw={peak * 1.01}"])
    optimize(tight, digest)  # the nominal plan exists
    with pytest.raises(InfeasibleError, match="robustness.confidence") as err:
        optimize_robust(tight, digest)
    assert err.value.exit_code == 3 and "power_cap" in str(err.value)
    result = CliRunner().invoke(cli, ["solve", str(SMALL), "--robust", "--set",
                                      f"sites[0].power_cap_mw={peak * 1.01}"])
    assert result.exit_code == 3 and "robustness.confidence" in result.output


def test_robust_plan_on_small_instance_is_verified_and_safer():
    instance, digest = load_planning_instance(SMALL)
    nominal = optimize(instance, digest)
    robust = optimize_robust(instance, digest)
    assert robust.summary["objective_gwh_per_day"] >= nominal.summary["objective_gwh_per_day"]
    e_n, e_r = nominal.extra, robust.extra
    s_n, _, _ = plan_uncertainty(e_n["coefficients"], e_n["x"], e_n["n"], 200, 0)
    s_r, _, _ = plan_uncertainty(e_r["coefficients"], e_r["x"], e_r["n"], 200, 0)
    assert s_r["p_utilization_above_ceiling"] < s_n["p_utilization_above_ceiling"]


def test_fleet_1b_thousand_draws_under_10_s():
    instance, digest = load_planning_instance(INSTANCES / "fleet-1b.yaml")
    plan = optimize(instance, digest)
    e = plan.extra
    t0 = time.perf_counter()
    summary, table, _ = plan_uncertainty(e["coefficients"], e["x"], e["n"], 1000, 0)
    assert time.perf_counter() - t0 < 10
    g = summary["gwh_per_day"]
    assert g["p10"] < summary["point_gwh_per_day"] < g["p90"]
    assert set(table["source"]) <= {"measured", "benchmarked", "modelled", "extrapolated"}
    assert 0 <= summary["p_cap_exceeded"] <= 1


def test_solve_robust_cli_json(tmp_path):
    result = CliRunner().invoke(cli, ["solve", str(SMALL), "--robust", "--format", "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["robust"]["risk_level"] == 0.9
    out = tmp_path / "u"
    result = CliRunner().invoke(cli, ["uncertainty", str(SMALL), "--robust", "--samples", "50",
                                      "--out", str(out), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert set(data["plans"]) == {"nominal", "robust"} and "comparison" in data
    assert (out / "energy_distribution.png").stat().st_size > 1000
    assert (out / "uncertainty_deployments_robust.csv").exists()


def test_solve_uncertainty_summary_fields_and_benchmarked_source(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["-q", "solve", str(SMALL), "--uncertainty", "100", "--format",
                                 "json", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    u = json.loads(result.output)["uncertainty"]
    assert u["draws"] == 100 and u["treated_as_exact"] == []
    assert u["gwh_per_day"]["p10"] <= u["gwh_per_day"]["median"] <= u["gwh_per_day"]["p90"]
    table = pd.read_csv(tmp_path / "uncertainty_deployments_nominal.csv")
    # Llama-3.1-70B FP8 on H100/H200 has benchmark rows: its coefficients are 'benchmarked'
    # (the calibrated model on a combination it was fit on; 'measured' is a user's profile).
    assert set(table["source"]) == {"benchmarked"}
    assert table["variance_share"].sum() == pytest.approx(1.0)
    bad = runner.invoke(cli, ["solve", str(SMALL), "--uncertainty", "9"])
    assert bad.exit_code == 2 and bad.output.count("\n") == 1 and "--uncertainty" in bad.output


def test_robust_cap_rows_hold_cvar_of_power_under_the_cap():
    from dataclasses import replace

    from planner.solve.robust import site_hour_power

    # Deployment b is 2.5x cheaper per query but 40 % uncertain: without a cap the CVaR plan
    # puts everything on it (power CVaR_0.95 about 94 kW); a 90 kW cap held in CVaR forces a
    # split whose power CVaR sits exactly on the cap.
    def problem(cap):
        c = replace(tiny(uncertainty=(5.0, 40.0), cap_kw=cap),
                    dynamic_kwh=np.array([0.001, 0.0004]))
        model = error_model(c)
        scenarios = sample_multipliers(model, 200, 0, stream="robust")
        built = build(c, Options(robust=Robust(scenarios, 0.9, quantile_multiplier(model, 0.5),
                                               0.95)))
        result = solve(built)
        x, n = result.x * built.unit, result.n
        return x, sample_cvar(site_hour_power(c, x, n, scenarios, 0), 0.95).max()

    x_free, cvar_free = problem(np.inf)
    assert x_free[1] == pytest.approx(1e6, rel=1e-6) and cvar_free > 90.0
    x_cap, cvar_cap = problem(90.0)
    assert 0 < x_cap[1] < 1e6
    assert cvar_cap == pytest.approx(90.0, rel=1e-6)
