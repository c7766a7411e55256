"""Sweeps: spec validation names the bad path and value, resume after a simulated crash, local
and Dask engines agree, the table is tidy, the Monte Carlo is seeded."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from planner.cli import cli
from planner.errors import InputError
from planner.sweep.engine import run_sweep
from tests.conftest import INSTANCES

SMALL = str(INSTANCES / "small" / "two-hardware.yaml")

SPEC = {
    "name": "small",
    "grids": [{"mode": "product", "parameters": {"sites[0].pue": [1.1, 1.3],
                                                 "classes[0].queries_per_day": [1e8, 2e8]}},
              {"mode": "zip", "parameters": {"options.utilization_ceiling": [0.6, 0.9],
                                             "sites[0].inventory.h200-sxm": [0, 6]}}],
    "monte_carlo": {"samples": 4, "seed": 3, "inputs": [
        {"path": "adjustments.power_scale", "distribution": "lognormal", "p5": 0.8, "p95": 1.2},
        {"path": "sites[*].pue", "distribution": "uniform", "p5": 1.0, "p95": 1.1,
         "multiply": True}]},
}


def write_spec(tmp_path: Path, spec: dict, name: str = "spec.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(spec))
    return str(path)


def test_table_is_tidy_and_numbers_follow_the_overrides(tmp_path):
    result = run_sweep(SMALL, write_spec(tmp_path, SPEC), tmp_path / "out")
    t = result.table
    assert len(t) == 1 + 4 + 2 + 4 and (t["status"] == "optimal").all()
    assert {"sites[0].pue", "classes[0].queries_per_day", "adjustments.power_scale",
            "sites[*].pue (x)", "objective_gwh_per_day", "wh_per_query"} <= set(t.columns)
    grid = t[t["kind"] == "grid"].dropna(subset=["sites[0].pue"])
    # Energy is PUE x IT energy: the 1.3 points are 1.3/1.1 times the 1.1 points.
    by = grid.set_index(["classes[0].queries_per_day", "sites[0].pue"])["objective_gwh_per_day"]
    assert by[(1e8, 1.3)] / by[(1e8, 1.1)] == pytest.approx(1.3 / 1.1, rel=1e-6)
    # Doubling demand doubles energy (no cap; H200 inventory caps only the cheaper share).
    assert by[(2e8, 1.1)] > 1.9 * by[(1e8, 1.1)]
    on_disk = pd.read_parquet(tmp_path / "out" / "sweep.parquet")
    assert len(on_disk) == len(t)
    assert (tmp_path / "out" / "sweep.csv").exists()
    assert result.summary["monte_carlo_points"] == 4


def test_resume_after_a_simulated_crash_solves_only_the_missing_points(tmp_path):
    spec = write_spec(tmp_path, SPEC)
    out = tmp_path / "out"
    first = run_sweep(SMALL, spec, out)
    points = sorted((out / "points").glob("*.json"))
    # The crash: three points never finished, one left a temporary file behind, the table is
    # gone; a fourth point failed and must be retried.
    for p in points[:3]:
        p.unlink()
    (out / "points" / ".mc-00000.json.tmp").write_text("{half")
    (out / "sweep.parquet").unlink()
    failed = json.loads(points[5].read_text())
    failed["result"] = {"status": "failed", "error": "simulated"}
    points[5].write_text(json.dumps(failed))
    with pytest.raises(InputError, match="--resume"):
        run_sweep(SMALL, spec, out)
    second = run_sweep(SMALL, spec, out, resume=True)
    assert second.summary["solved_now"] == 4 and second.summary["skipped_done"] == 7
    cols = ["point_id", "objective_gwh_per_day"]
    pd.testing.assert_frame_equal(first.table[cols], second.table[cols])
    other = write_spec(tmp_path, {**SPEC, "name": "changed"}, "other.yaml")
    with pytest.raises(InputError, match="different instance or spec"):
        run_sweep(SMALL, other, out, resume=True)


def test_local_pool_and_dask_local_cluster_agree(tmp_path):
    spec = write_spec(tmp_path, SPEC)
    pool = run_sweep(SMALL, spec, tmp_path / "pool", jobs=2)
    dask = run_sweep(SMALL, spec, tmp_path / "dask", jobs=2, scheduler="local")
    assert pool.summary["engine"].startswith("process pool")
    assert dask.summary["engine"].startswith("dask LocalCluster")
    cols = ["point_id", "status", "objective_gwh_per_day", "peak_power_mw"]
    pd.testing.assert_frame_equal(pool.table[cols], dask.table[cols], rtol=1e-9)


def test_monte_carlo_draws_are_seeded_and_stable(tmp_path):
    a = run_sweep(SMALL, write_spec(tmp_path, SPEC), tmp_path / "a").table
    b = run_sweep(SMALL, write_spec(tmp_path, SPEC, "b.yaml"), tmp_path / "b").table
    mc = a["kind"] == "monte_carlo"
    pd.testing.assert_series_equal(a.loc[mc, "adjustments.power_scale"],
                                   b.loc[mc, "adjustments.power_scale"])
    assert a.loc[mc, "adjustments.power_scale"].between(0.5, 2).all()


@pytest.mark.parametrize("spec, field, value", [
    ({"grids": [{"parameters": {"sites[0].pue": [1.1, 9.0]}}]}, "pue", "9.0"),
    ({"grids": [{"parameters": {"options.hardware": [["h100-sxm"], ["h1OO"]]}}]},
     "options.hardware", "h1OO"),
    ({"grids": [{"parameters": {"sites[3].pue": [1.2]}}]}, "sites.3", "3"),
])
def test_spec_errors_name_the_path_and_value(tmp_path, spec, field, value):
    with pytest.raises(InputError) as exc:
        run_sweep(SMALL, write_spec(tmp_path, spec), tmp_path / "out")
    assert field in str(exc.value) and value in str(exc.value)
    assert not (tmp_path / "out" / "points").exists()  # nothing solved before validation


def test_spec_schema_errors(tmp_path):
    bad_zip = {"grids": [{"mode": "zip", "parameters": {"a": [1, 2], "b": [1]}}]}
    with pytest.raises(InputError, match="zip needs lists of one length"):
        run_sweep(SMALL, write_spec(tmp_path, bad_zip), tmp_path / "out")
    bad_mc = {"monte_carlo": {"samples": 2, "inputs": [{"path": "sites[*].pue"}]}}
    with pytest.raises(InputError, match="p5 <= p95"):
        run_sweep(SMALL, write_spec(tmp_path, bad_mc), tmp_path / "out")


def test_infeasible_points_are_results_and_failures_are_summarised(tmp_path):
    spec = {"include_base": False,
            "grids": [{"parameters": {"classes[0].slo.tpot_ms": [0.5, 1000]}}]}
    result = run_sweep(SMALL, write_spec(tmp_path, spec), tmp_path / "out")
    assert sorted(result.table["status"]) == ["infeasible", "optimal"]
    assert "tpot_slo" in result.table.loc[result.table["status"] == "infeasible",
                                          "error"].iloc[0]


def test_cli_sweep_writes_plots_and_json(tmp_path):
    spec = write_spec(tmp_path, {**SPEC, "grids": SPEC["grids"] + [
        {"parameters": {"classes[0].slo.tpot_ms": [40, 80, 200]}}]})
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["sweep", SMALL, spec, "--out", str(out), "--format",
                                      "json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["points"] == 14 and summary["status_counts"]
    for name in ("tornado.png", "distribution.png", "pareto_classes_0_.slo.tpot_ms.png"):
        assert (out / name).stat().st_size > 0, name
