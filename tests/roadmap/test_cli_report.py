"""`planner roadmap` end to end: JSON fields, --out tables, exit 3 with its one line, and
`planner report` reading the run (installed base, orders, energy per period, binding words)."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import cli
from tests.conftest import INSTANCES

TWO = str(INSTANCES / "small" / "roadmap-2p.yaml")


def test_roadmap_json_and_out(tmp_path):
    out = tmp_path / "rm"
    res = CliRunner().invoke(cli, ["-q", "roadmap", TWO, "--format", "json", "--out", str(out)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    for key in ("status", "objective_value", "objective_unit", "mip_gap", "periods",
                "value_of_foresight"):
        assert key in data
    assert data["objective_unit"] == "million USD (NPV)"
    first = data["periods"][0]
    for key in ("id", "gwh", "gwh_per_day", "peak_mw", "wh_per_query", "installed", "orders",
                "retired", "deployments", "binding"):
        assert key in first
    assert first["orders"][0]["hardware"] == "b200" and first["orders"][0]["arrives"] == "2027"
    assert first["gwh"] == pytest.approx(first["gwh_per_day"] * 365)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["kind"] == "roadmap"
    periods = pd.read_parquet(out / "roadmap_periods.parquet")
    assert list(periods["period"]) == ["2027", "2028"]
    assert pd.read_csv(out / "roadmap_orders.csv")["nodes"].iloc[0] == pytest.approx(
        first["orders"][0]["nodes"])
    html = tmp_path / "r.html"
    res = CliRunner().invoke(cli, ["report", str(out), "--out", str(html), "--xlsx",
                                   str(tmp_path / "r.xlsx")])
    assert res.exit_code == 0, res.output
    text = html.read_text()
    for title in ("Installed base over the periods", "Order timeline",
                  "Energy per period", "Binding constraints per period"):
        assert title in text
    sheets = pd.read_excel(tmp_path / "r.xlsx", sheet_name=None)
    assert any("roadmap-orders" in name for name in sheets)


def test_roadmap_infeasible_exit_3_one_line():
    res = CliRunner().invoke(cli, ["-q", "roadmap", TWO, "--set", "sites[0].inventory.h100-sxm=2",
                                   "--set", "roadmap.hardware.b200.lead_time_days=365"])
    assert res.exit_code == 3
    assert res.output.strip().splitlines()[-1] == (
        "error: class chat in 2027 needs 2 more nodes; the earliest order of b200 arrives 2028")


def test_an_instance_without_roadmap_is_exit_2():
    res = CliRunner().invoke(cli, ["-q", "roadmap", str(INSTANCES / "small" / "two-hardware.yaml")])
    assert res.exit_code == 2
    assert "roadmap" in res.output


def test_sweep_of_a_roadmap_instance_solves_roadmaps(tmp_path):
    """The 2p instance at r = 0 buys B200 now (objective below doing nothing), at r = 0.99 it
    does not (objective = the H100 fleet's cost, discounted; the threshold is r* = 0.94 since
    issue 25's fourth-round recalibration, 0.44 before)."""
    import yaml

    from planner.sweep.engine import run_sweep

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump({"name": "rm", "grids": [
        {"mode": "product", "parameters": {"roadmap.discount_rate": [0.0, 0.99]}}]}))
    result = run_sweep(TWO, str(spec), str(tmp_path / "sw"))
    table = result.table.set_index("roadmap.discount_rate")
    assert set(table["status"]) == {"optimal"}
    alone = json.loads(CliRunner().invoke(cli, ["-q", "roadmap", TWO, "--format", "json",
                                                "--no-compare"]).output)
    assert table.loc[0.0, "objective_value"] == pytest.approx(alone["objective_value"])
    assert table.loc[0.99, "gwh"] > table.loc[0.0, "gwh"]  # no B200: more energy


def test_levers_over_time_on_roadmap_3y(tmp_path):
    """Option expansions only widen the feasible set, so over the horizon every lever alone is
    at most the baseline and all levers at most each alone; in 2027Q1 nothing of the next
    generation can have arrived (a quarter's lead time), so that lever changes nothing there."""
    out = tmp_path / "lev"
    res = CliRunner().invoke(cli, ["-q", "roadmap", str(INSTANCES / "roadmap-3y.yaml"),
                                   "--levers", "--no-compare", "--format", "json",
                                   "--out", str(out)])
    assert res.exit_code == 0, res.output
    lev = json.loads(res.output)["levers_over_time"]
    gwh = lev["gwh"]
    assert set(gwh) == {"baseline", "hardware-generation", "quantization",
                        "speculative-decoding", "all levers"}
    for name, value in gwh.items():
        assert value <= gwh["baseline"] * (1 + 1e-9)
        assert gwh["all levers"] <= value * (1 + 1e-9)
    table = pd.read_parquet(out / "roadmap_levers.parquet")
    q1 = table[table["period"] == "2027Q1"].set_index("variant")["gwh_per_day"]
    assert q1["hardware-generation"] == pytest.approx(q1["baseline"], rel=1e-9)
    assert lev["reduction"]["hardware-generation"] == pytest.approx(
        gwh["baseline"] / gwh["hardware-generation"])
    html = tmp_path / "r.html"
    assert CliRunner().invoke(cli, ["report", str(out), "--out", str(html)]).exit_code == 0
    assert "Levers over time" in html.read_text()
