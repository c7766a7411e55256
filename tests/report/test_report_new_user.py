"""Issue 24 part 6 (what a new user trips on): the report of a `solve --uncertainty N` folder
shows the plan and its interval under a proper title; the constraints read as sentences a
planner can use; the headline says how much of the plan runs on projected hardware and gives
the energy with its interval (or says it is a point estimate)."""

from __future__ import annotations

import json
import re

import pytest

from planner.report.html import render
from planner.report.runs import load_runs
from planner.report.views import fmt
from tests.report.conftest import FLEET, run_cli


@pytest.fixture(scope="module")
def uncertain_solve(tmp_path_factory):
    out = tmp_path_factory.mktemp("solve-unc") / "solveu"
    run_cli("solve", FLEET, "--uncertainty", "100", "--out", str(out))
    return out


def test_solve_with_uncertainty_shows_the_plan_and_its_interval(uncertain_solve, tmp_path):
    """Before: the folder was read as an uncertainty run only: no headline, no hourly chart,
    and the title was "Planner report: " (blank)."""
    page_path = tmp_path / "r.html"
    run_cli("report", str(uncertain_solve), "--out", str(page_path), "--xlsx",
            str(tmp_path / "r.xlsx"))
    page = page_path.read_text()
    assert "<title>Planner report: fleet-1b</title>" in page
    for section in ("r1-headline", "r1-power", "r1-allocation", "r1-constraints",
                    "r2-uncertainty"):
        assert f'id="{section}"' in page
    assert "Plan uncertainty: solveu</h2>" in page
    summary = json.loads((uncertain_solve / "summary.json").read_text())
    q = summary["uncertainty"]["gwh_per_day"]
    interval = (f"P10-P90 {fmt(q['p10'])}-{fmt(q['p90'])} GWh/day (median {fmt(q['median'])}) "
                f"over 100 coefficient draws, plan fixed")
    card = re.search(r'data-key="objective_gwh_per_day"[^>]*>([^<]*)</span>.*?'
                     r'<div class="note">([^<]*)</div>', page, re.S)
    assert card.group(1) == fmt(summary["objective_gwh_per_day"]) == "0.1407"
    assert card.group(2) == interval
    assert 0.10 < q["p10"] < summary["objective_gwh_per_day"] < q["p90"] < 0.25
    # the uncertainty file names the instance now (it was "")
    unc = json.loads((uncertain_solve / "uncertainty_summary.json").read_text())
    assert unc["instance"].endswith("fleet-1b.yaml")
    kinds = [r.kind for r in load_runs([uncertain_solve])]
    assert kinds == ["solve", "uncertainty"]


def test_a_plan_without_interval_says_point_estimate(runs):
    page = render(load_runs([runs["solve"]]), fallbacks=False)
    card = re.search(r'data-key="objective_gwh_per_day"[^>]*>([^<]*)</span>.*?'
                     r'<div class="note">([^<]*)</div>', page, re.S)
    assert card.group(2) == "a point estimate (no interval in this run)"
