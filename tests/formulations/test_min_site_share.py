"""A constraint type added through the builder and the verifier only: a minimum share of a class
served at a site. Hand-solved: the same deployment at two sites of PUE 1.1 and 1.5; without the
share everything runs at the cheaper site, with a 30 % share at the other the energy is
E0 (0.7 + 0.3 x 1.5 / 1.1), and the share's shadow price is the per-query energy difference."""

from __future__ import annotations

import pytest

from formulations import Options, build
from planner.problem.candidates import build_coefficients
from planner.errors import InfeasibleError
from planner.problem.instance import instance_from_mapping, load_planning_data
from planner.pipeline import optimize
from planner.solve import solve
from planner.solve.verify import verify_plan
from tests.conftest import INSTANCES
from tests.formulations.oracle import build_oracle

FILE = INSTANCES / "small" / "site-share.yaml"


def instance(**class_changes):
    data = load_planning_data(FILE)
    data["classes"][0].update(class_changes)
    return instance_from_mapping(data, str(FILE))


def test_share_moves_exactly_the_share_and_costs_the_pue_ratio():
    free = optimize(*instance(min_site_share=None))
    shared = optimize(*instance())
    e0 = free.summary["objective_gwh_per_day"]
    assert set(free.deployments["site"]) == {"site-a"}
    expected = e0 * (0.7 + 0.3 * 1.5 / 1.1)
    assert shared.summary["objective_gwh_per_day"] == pytest.approx(expected, rel=1e-7)
    at_b = shared.assignment[shared.assignment["deployment"].str.endswith("@site-b")]
    assert at_b["queries_per_day"].sum() == pytest.approx(0.3e8, rel=1e-9)
    row = shared.constraints.set_index(["constraint", "key"]).loc[("min_site_share",
                                                                  "chat@site-b")]
    assert row["binding"] and row["limit"] == pytest.approx(0.3e8)
    # Shadow price: per million queries moved, the energy difference of the two sites.
    per_query_a = e0 / 1e8
    assert row["shadow_price"] == pytest.approx(per_query_a * (1.5 / 1.1 - 1) * 1e6, rel=1e-6)


def test_builder_matches_the_cvxpy_oracle_lp_and_milp():
    c, _ = build_coefficients(instance()[0])
    for integer in (False, True):
        form = build(c, Options(integer=integer))
        got = solve(form, 60, 1e-9)
        assert got.objective == pytest.approx(build_oracle(c, integer=integer).solve(),
                                              rel=1e-7)
    aggregated = solve(build(c, Options(aggregated=True)))
    assert aggregated.objective == pytest.approx(build_oracle(c).solve(), rel=1e-7)


def test_verifier_catches_a_plan_that_ignores_the_share():
    c, _ = build_coefficients(instance()[0])
    free = optimize(*instance(min_site_share=None))
    c_free = free.extra["coefficients"]
    x = free.extra["x"]
    # The free plan on the shared problem (same pairs and deployments: the share adds no pair).
    assert c_free.n_pairs == c.n_pairs
    bad = verify_plan(c, x, free.extra["n"])
    assert list(bad["constraint"]) == ["min_site_share"]
    assert bad["excess"].iloc[0] == pytest.approx(0.3e8, rel=1e-9)


def test_unservable_share_is_explained():
    data = load_planning_data(FILE)
    data["sites"][1]["inventory"] = {"h100-sxm": 0}
    with pytest.raises(InfeasibleError) as err:
        optimize(*instance_from_mapping(data, str(FILE)))
    finding = err.value.details[0]
    assert finding["constraint"] in ("min_site_share[site-b]", "inventory[h100-sxm]")
    assert "min_site_share" in str(err.value) or "inventory" in str(err.value)


def test_unknown_site_and_oversubscribed_shares_are_bad_input():
    from planner.errors import InputError

    with pytest.raises(InputError, match="unknown site"):
        instance(min_site_share={"site-z": 0.2})
    with pytest.raises(InputError, match="at most 1"):
        instance(min_site_share={"site-a": 0.6, "site-b": 0.6})
