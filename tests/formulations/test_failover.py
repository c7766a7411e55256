"""N-1 site failover, the constraint unit added through the registry (docs/extending.md).

Hand-solved (instances/small/failover.yaml): one class of Q = 1e8 queries/day at a flat rate,
one deployment (llama-3.1-8b, FP8, one H100, batch 64) at two sites, site-a at PUE 1.1 with
``failover: true``, site-b at PUE 1.5; planned ceiling rho = 0.8, failover utilisation
u = 0.95. Per query a node is busy s node-seconds and draws e kWh above idle; a node idles at
I kW. Write k = s / 86400 (nodes per query/day at 100 % busy).

* Without failover everything runs at site-a: n = Q k / rho, E0 = 1.1 (24 I n + Q e).
* With it, losing site-a puts all Q on site-b, so n_b >= Q k / u. Those nodes idle unless
  load moves onto them: a query moved from a to b saves 1.1 (e + 24 I k / rho) and costs
  1.5 e, a saving whenever 1.1 (e + 24 I k / rho) > 1.5 e (asserted below). It moves until
  b's nodes are full at the planned ceiling: x_b = Q rho / u (= 0.8421 Q), x_a = Q - x_b,
  n_b = Q k / u, n_a = x_a k / rho, and
  E = 1.1 (24 I n_a + x_a e) + 1.5 (24 I n_b + x_b e)   (kWh/day; / 1e6 for GWh/day).
  Moving more would need nodes at b, which cost 1.5 (e + 24 I k / rho) > 1.1 (...): no.
* The plan's failover flow: if site-a is lost, site-b takes x_a more (all of Q in total).
"""

from __future__ import annotations

import numpy as np
import pytest

from formulations import Options, build
from planner.problem.instance import instance_from_mapping, load_planning_data
from planner.errors import InfeasibleError, InputError
from planner.pipeline import optimize
from planner.problem.candidates import build_coefficients
from planner.solve import solve
from planner.solve.verify import verify_plan
from tests.conftest import INSTANCES
from tests.formulations.oracle import build_oracle
from tests.solve.test_hand_solved import perf

FILE = INSTANCES / "small" / "failover.yaml"
Q, RHO, U, PUE_A, PUE_B = 1e8, 0.8, 0.95, 1.1, 1.5


def instance(**site_a):
    data = load_planning_data(FILE)
    data["sites"][0].update(site_a)
    return instance_from_mapping(data, str(FILE))


def test_failover_hand_solved():
    s, e, idle = perf("llama-3.1-8b", "h100-sxm", 1, 64, 1000, 200)
    k = s / 86400
    assert PUE_A * (e + 24 * idle * k / RHO) > PUE_B * e  # moving onto b's spare nodes pays
    assert PUE_B * (e + 24 * idle * k / RHO) > PUE_A * (e + 24 * idle * k / RHO)
    free = optimize(*instance(failover=False))
    n0 = Q * k / RHO
    assert free.summary["objective_gwh_per_day"] == pytest.approx(
        PUE_A * (24 * idle * n0 + Q * e) / 1e6, rel=1e-6)
    plan = optimize(*instance())
    x_b = Q * RHO / U
    x_a = Q - x_b
    n_a, n_b = x_a * k / RHO, Q * k / U
    expected = (PUE_A * (24 * idle * n_a + x_a * e) + PUE_B * (24 * idle * n_b + x_b * e)) / 1e6
    assert plan.summary["objective_gwh_per_day"] == pytest.approx(expected, rel=1e-6)
    nodes = plan.deployments.set_index("site")["nodes"]
    assert nodes["site-a"] == pytest.approx(n_a, rel=1e-6)
    assert nodes["site-b"] == pytest.approx(n_b, rel=1e-6)
    served = plan.assignment.assign(site=plan.assignment["deployment"].str.split("@").str[1])
    assert served.set_index("site")["queries_per_day"]["site-b"] == pytest.approx(x_b, rel=1e-6)
    c = plan.extra["coefficients"]
    flow = plan.extra["flows"]["failover_flow"]
    at_b = c.dep_site[c.pair_dep] == 1
    assert flow[0, at_b].sum() == pytest.approx(x_a, rel=1e-6)  # site-a lost: b takes x_a more
    assert flow[0, ~at_b].sum() == 0
    row = plan.constraints.set_index(["constraint", "key"]).loc[("failover", "site-a@chat")]
    assert row["binding"] and row["value"] == pytest.approx(0.0, abs=1e-3 * Q)


def test_failover_matches_the_oracle_lp_and_milp():
    c, _ = build_coefficients(instance()[0])
    for integer in (False, True):
        got = solve(build(c, Options(integer=integer)), 60, 1e-9)
        assert got.objective == pytest.approx(build_oracle(c, integer=integer).solve(),
                                              rel=1e-7)
    assert solve(build(c, Options(aggregated=True))).objective == pytest.approx(
        build_oracle(c).solve(), rel=1e-7)


def test_verifier_catches_a_plan_without_failover():
    free = optimize(*instance(failover=False))
    c, _ = build_coefficients(instance()[0])
    x, n = free.extra["x"], free.extra["n"]
    missing = verify_plan(c, x, n)
    assert list(missing["constraint"]) == ["failover"]  # no flows given at all
    flow = np.zeros((2, c.n_pairs))
    flow[0, c.dep_site[c.pair_dep] == 1] = Q  # re-routed, but site-b has no nodes
    bad = verify_plan(c, x, n, flows={"failover_flow": flow})
    assert set(bad["constraint"]) == {"failover"}
    assert len(bad) == 24  # every hour of site-b's deployment is over its ceiling


def test_unabsorbable_failover_is_explained():
    data = load_planning_data(FILE)
    data["sites"][1]["inventory"] = {"h100-sxm": 1}
    with pytest.raises(InfeasibleError) as err:
        optimize(*instance_from_mapping(data, str(FILE)))
    finding = err.value.details[0]
    assert finding["constraint"] == "failover[site-a]"
    # One node at site-b absorbs 0.95 x 86400 / s queries/day; the rest is left unserved.
    s, _, _ = perf("llama-3.1-8b", "h100-sxm", 1, 64, 1000, 200)
    assert finding["closest"] == pytest.approx(Q - U * 86400 / s, rel=1e-6)


def test_failover_needs_another_site():
    data = load_planning_data(FILE)
    data["sites"] = data["sites"][:1]
    with pytest.raises(InputError, match="another site"):
        instance_from_mapping(data, str(FILE))
