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
    assert card.group(1) == fmt(summary["objective_gwh_per_day"]) == "0.1389"
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


# ------------------------------------------------------------- item 3: the constraints in words

def test_capacity_counts_only_the_deployments_the_plan_uses(runs):
    """Before: "12 deployments run at the utilization ceiling" for a plan of 4 deployments
    (unused candidates' capacity rows counted)."""
    import pandas as pd

    cons = pd.read_parquet(runs["solve"] / "constraints.parquet")
    dep = pd.read_parquet(runs["solve"] / "deployments.parquet")
    cap = cons[cons["constraint"] == "capacity"].iloc[0]
    assert len(dep) == 4 and (dep["nodes"] > 0).all()
    assert cap["value"] == 4 == int((dep["utilization_peak"] >= 0.8 * (1 - 1e-4)).sum())
    page = render(load_runs([runs["solve"]]), fallbacks=False)
    assert ("4 deployments of the plan run at the utilization ceiling (0.8) in some hour; 1 "
            f"more node-hour there saves up to {fmt(cap['shadow_price'] * 1e3, 3)} MWh/day"
            in page)
    assert "12 deployments" not in page
    # LP node counts are said to be continuous where they are read as units to buy
    assert "(node counts: LP, continuous; solve --formulation milp for whole nodes)" in page
    assert "45.88" in page  # 45.95 before issue 25's second-round recalibration


@pytest.fixture(scope="module")
def melange_solve(tmp_path_factory):
    """The Mélange example (cost objective, no SLOs, profiles without latency) as a MILP."""
    from pathlib import Path

    root = tmp_path_factory.mktemp("melange")
    data = Path(__file__).resolve().parents[1] / "data" / "melange_example.json"
    run_cli("import", "melange", str(data), "--out", str(root / "m.yaml"))
    from click.testing import CliRunner

    from planner.cli import cli

    result = CliRunner().invoke(cli, ["-q", "solve", str(root / "m.yaml"), "--formulation",
                                      "milp", "--out", str(root / "solve")])
    assert result.exit_code == 0, result.output
    return root / "solve", result.output


def test_cost_plan_reads_in_usd_per_hour_without_noise_prices_or_inf(melange_solve):
    """Before: "0.0001123 million USD/day", shadow prices of 5.8e-12 printed as prices,
    latencies as "inf", and "proven gap 0 fraction"."""
    import pandas as pd

    folder, text = melange_solve
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["objective_value"] == pytest.approx(4.68 * 24 / 1e6, rel=2e-3)
    # the CLI text
    first = text.splitlines()[0]
    assert "objective 4.68 USD/h" in first and "million USD/day" not in first
    assert text.splitlines()[1].startswith("proven optimal  LP bound ")
    assert not re.search(r"\binf\b", text) and "no SLO" in text
    # the tables: solver noise is no price
    cons = pd.read_parquet(folder / "constraints.parquet")
    assert (cons["shadow_price"] == 0).all() and len(cons) == 5
    # the page
    page = render(load_runs([folder]), fallbacks=False)
    figures = dict((k, t) for k, _, t in re.findall(
        r'data-run="solve" data-key="([^"]+)" data-value="([^"]*)">([^<]*)</span>', page))
    assert figures["objective_value"] == "4.68" and figures["mip_gap"] == "proven optimal"
    assert '<span class="unit">USD/h</span>' in page
    assert "1 million more in0-out0 queries/day cost nothing measurable" in page
    shown = re.sub(r"<script.*?</script>", "", page, flags=re.S)  # plotly.js holds "e-12"
    assert "e-12" not in shown and ">inf<" not in shown
    assert "<td>no SLO</td>" in page
    assert "2 deployments of the plan run at the utilization ceiling (1) in some hour; 1 more " \
           "node-hour there saves nothing measurable" in page


def test_gap_in_words():
    from planner.report.views import gap_words

    assert gap_words(0.0, "optimal") == "proven optimal"
    assert gap_words(None, "optimal") == "proven optimal"
    assert gap_words(0.00074, "optimal") == "proven gap 0.074 %"
    assert gap_words(0.0123, "time_limit") == "proven gap 1.2 %"


# ------------------------------------------- item 4: the headline says what the numbers rest on

LEAD = re.compile(r'data-key="trust"[^>]*>([^<]*)</p>')


def test_headline_says_projected_hardware_and_point_estimate(runs):
    """Before: the page said that the whole fleet-1b plan runs on Rubin (announced, no
    benchmarks) only near the bottom, and gave the energy without an interval."""
    page = render(load_runs([runs["solve"]]), fallbacks=False)
    lead = LEAD.search(page)
    assert lead and lead.start() < page.index('class="cards"')  # before the figures
    assert lead.group(1) == (
        "Fleet energy 0.1389 GWh/day: a point estimate (this run has no interval; planner "
        "solve --uncertainty N gives one). 100 % of this energy (100 % of the queries) runs "
        "on projected hardware (rubin: announced, no benchmarks; its figures are preliminary "
        "spec sheets). Its coefficients, by energy: 100 % extrapolated (no benchmark rows for "
        "the hardware family).")
    assert 'class="alert lead"' in page
    import pandas as pd

    assert pd.read_parquet(runs["solve"] / "deployments.parquet")["projected"].all()


def test_headline_gives_the_interval_where_the_run_has_one(uncertain_solve):
    page = render(load_runs([uncertain_solve]), fallbacks=False)
    q = json.loads((uncertain_solve / "summary.json").read_text())["uncertainty"]["gwh_per_day"]
    assert LEAD.search(page).group(1).startswith(
        f"Fleet energy 0.1389 GWh/day, P10-P90 {fmt(q['p10'])}-{fmt(q['p90'])} GWh/day "
        f"(median {fmt(q['median'])}) over 100 coefficient draws, plan fixed. 100 % of this")


def test_projected_share_of_energy_and_queries(tmp_path):
    """30 % of the energy and 25 % of the queries on a projected GPU; the rest modelled."""
    import pandas as pd

    from planner.report.runs import Run
    from planner.report.views import trust_sentence

    run = Run(tmp_path, "solve", {"status": "optimal", "objective_gwh_per_day": 0.1})
    run.tables["deployments"] = pd.DataFrame({
        "deployment": ["a", "b"], "hardware": ["rubin", "h100-sxm"], "gwh_per_day": [0.03, 0.07],
        "projected": [True, False], "calibrated": [False, True]})
    run.tables["assignment"] = pd.DataFrame({"class": ["c", "c"], "deployment": ["a", "b"],
                                             "queries_per_day": [1e8, 3e8]})
    text, flagged = trust_sentence(run)
    assert flagged
    assert ("30 % of this energy (25 % of the queries) runs on projected hardware (rubin: "
            in text)
    assert text.endswith("Its coefficients, by energy: 30 % extrapolated (no benchmark rows "
                         "for the hardware family), 70 % modelled (calibrated on benchmark "
                         "rows).")
    run.tables["deployments"] = run.tables["deployments"].drop(columns="projected")
    assert "30 % of this energy" in trust_sentence(run)[0]  # older run: the shipped catalog
