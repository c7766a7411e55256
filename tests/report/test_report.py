"""`planner report`: the page holds the numbers of the runs' files, works offline, compares
plans, writes the spreadsheet, and says what a run lacks; bad folders are one-line errors."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest
from click.testing import CliRunner

from planner.cli import cli
from planner.errors import InputError
from planner.report.html import render
from planner.report.runs import load_run, load_runs
from planner.report.views import fmt, units_table
from tests.conftest import INSTANCES
from tests.report.conftest import run_cli

SMALL = str(INSTANCES / "small" / "milp-small.yaml")


def headline_figures(page: str, run: str = "solve") -> dict[str, tuple[str, str]]:
    """data-key -> (data-value, shown text) of the first run of a kind on the page."""
    found = {}
    pattern = (rf'data-run="{run}" data-key="([^"]+)" data-value="([^"]*)">([^<]*)</span>')
    for key, value, text in re.findall(pattern, page):
        found.setdefault(key, (value.replace("&quot;", '"'), text))
    return found


def test_fleet_report_offline_small_fast_and_reads_summary(runs, fleet_report):
    out, seconds = fleet_report
    assert seconds < 10 and out.stat().st_size < 10e6
    page = out.read_text()
    # Offline: no external script, stylesheet or image.
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', page)
    assert "Plotly.newPlot" in page and page.count('class="chart"') >= 8
    summary = json.loads((runs["solve"] / "summary.json").read_text())
    figures = headline_figures(page)
    for key in ("objective_gwh_per_day", "wh_per_query", "peak_power_mw", "queries_per_day",
                "nodes", "mip_gap"):
        value, text = figures[key]
        assert json.loads(value) == summary[key]
        assert text == (fmt(summary[key]) if key != "mip_gap" else "proven optimal")
    assert figures["instance_hash"][1] == summary["provenance"]["instance_hash"]
    for section in ("r1-headline", "r1-power", "r1-allocation", "r1-constraints",
                    "r1-provenance", "r2-levers", "r3-sweep"):
        assert f'id="{section}"' in page
    # Shadow prices in words, from the constraints table.
    cons = pd.read_parquet(runs["solve"] / "constraints.parquet")
    cap = cons[cons["constraint"] == "power_cap"].iloc[0]
    assert f"1 MW more cap at us-east saves {fmt(cap['shadow_price'] * 1e3, 3)} MWh/day" in page
    # Sweep pictures of the run serve as static fallbacks; the infeasible point is explained.
    assert "<noscript><img" in page and "closest achievable" in page
    assert "extrapolated: spec sheet" in page  # Rubin has no benchmark rows


def test_units_to_buy_follow_the_tables(runs):
    run = load_run(runs["solve"])
    units = units_table(run).set_index(["site", "hardware"])
    dep = run.tables["deployments"]
    assert units["nodes_planned"].sum() == pytest.approx(dep["nodes"].sum())
    assert units.loc[("us-east", "h100-sxm"), "nodes_installed"] == 3000
    rubin = dep[dep["hardware"] == "rubin"].groupby("site")["nodes"].sum()
    assert units.loc[("us-south", "rubin"), "to_buy_or_rent"] == pytest.approx(rubin["us-south"])


def test_compare_two_plans_and_xlsx(tmp_path):
    run_cli("solve", SMALL, "--out", str(tmp_path / "base"))
    run_cli("solve", SMALL, "--set", "classes[0].queries_per_day=6e6", "--out",
            str(tmp_path / "grown"))
    html, xlsx = tmp_path / "c.html", tmp_path / "c.xlsx"
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "base"), str(tmp_path / "grown"),
                                      "--out", str(html), "--xlsx", str(xlsx)])
    assert result.exit_code == 0, result.output
    page = html.read_text()
    assert 'id="compare"' in page and "change grown vs base" in page
    assert 'class="num up"' in page  # more energy for more demand is highlighted
    base = json.loads((tmp_path / "base" / "summary.json").read_text())
    grown = json.loads((tmp_path / "grown" / "summary.json").read_text())

    from openpyxl import load_workbook

    wb = load_workbook(xlsx, read_only=True)
    assert {"index", "cmp-headline", "cmp-units", "r1-headline", "r2-deployments"} <= set(
        wb.sheetnames)
    rows = list(wb["cmp-headline"].iter_rows(values_only=True))
    header = rows[0]
    energy = next(r for r in rows if r[0] == "fleet energy")
    assert energy[header.index("base")] == pytest.approx(base["objective_gwh_per_day"], rel=1e-12)
    assert energy[header.index("change grown vs base")] == pytest.approx(
        grown["objective_gwh_per_day"] - base["objective_gwh_per_day"])
    dep_header = next(wb["r1-deployments"].iter_rows(values_only=True))
    assert "peak_mw [MW]" in dep_header and "gwh_per_day [GWh/day]" in dep_header


def test_bad_folders_are_one_line_errors(runs, tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="not a planner run"):
        load_run(tmp_path / "empty")
    old = tmp_path / "old"
    shutil.copytree(runs["solve"], old)
    summary = json.loads((old / "summary.json").read_text())
    del summary["objective_gwh_per_day"], summary["provenance"]
    (old / "summary.json").write_text(json.dumps(summary))
    with pytest.raises(InputError, match="older or unknown format.*'objective_gwh_per_day'"):
        load_run(old)
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "summary.json").write_text("{not json")
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "bad"), "--out",
                                      str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "malformed JSON" in result.stderr


def test_missing_tables_and_partial_sweep_are_said(runs, tmp_path):
    older = tmp_path / "older"
    shutil.copytree(runs["solve"], older)
    for suffix in ("csv", "parquet"):
        (older / f"hourly.{suffix}").unlink()
    partial = tmp_path / "partial"
    shutil.copytree(runs["sweep"], partial)
    for name in ("summary.json", "sweep.csv", "sweep.parquet"):
        (partial / name).unlink()
    points = sorted((partial / "points").glob("*.json"))
    for p in points[3:]:
        p.unlink()
    loaded = load_runs([older, partial])
    assert loaded[1].kind == "sweep" and len(loaded[1].tables["sweep"]) == 3
    page = render(loaded, fallbacks=False)
    assert "Not in this run: hourly facility power per site" in page
    assert "the sweep did not finish (3 of 8 points written)" in page
    figures = headline_figures(page)
    summary = json.loads((older / "summary.json").read_text())
    assert json.loads(figures["objective_gwh_per_day"][0]) == summary["objective_gwh_per_day"]


def test_infeasible_run_shows_its_diagnosis(tmp_path):
    result = CliRunner().invoke(cli, ["solve", SMALL, "--set", "classes[0].slo.tpot_ms=0.5",
                                      "--out", str(tmp_path / "inf")])
    assert result.exit_code == 3
    page = render(load_runs([tmp_path / "inf"]), fallbacks=False)
    assert 'id="r1-infeasible"' in page and "tpot_slo" in page
    assert 'data-key="objective_gwh_per_day"' not in page  # no number it did not read


def test_uncertainty_run_in_the_report(tmp_path):
    """A `planner uncertainty --out` folder: its numbers as read, the comparison per measure."""
    import json

    from tests.conftest import INSTANCES

    out = tmp_path / "unc"
    result = CliRunner().invoke(cli, ["-q", "uncertainty", str(INSTANCES / "small" /
                                                                "two-hardware.yaml"),
                                      "--robust", "--samples", "200", "--out", str(out)])
    assert result.exit_code == 0, result.output
    page_path = tmp_path / "r.html"
    result = CliRunner().invoke(cli, ["report", str(out), "--out", str(page_path),
                                      "--xlsx", str(tmp_path / "r.xlsx")])
    assert result.exit_code == 0, result.output
    page = page_path.read_text()
    summary = json.loads((out / "uncertainty_summary.json").read_text())
    assert 'id="r1-uncertainty"' in page and "two-hardware.yaml" in page
    p90 = summary["plans"]["robust"]["uncertainty"]["gwh_per_day"]["p90"]
    assert fmt(p90, 4) in page
    assert "robust against nominal" in page
