"""Properties of the optimum (hypothesis): monotone in options and caps, linear in demand,
independent of the internal unit of x."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from formulations import Options, build
from planner.problem.candidates import build_coefficients
from planner.solve import Status, solve
from tests.solve.conftest import load

SETTINGS = settings(max_examples=8, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def objective(c, unit=None):
    result = solve(build(c, Options(unit=unit)))
    return result


@pytest.fixture(scope="module")
def base():
    instance, _ = load("small/milp-small.yaml")
    return instance


@SETTINGS
@given(st.sets(st.sampled_from(["h100-sxm", "h200-sxm", "b200"]), min_size=1, max_size=2))
def test_adding_hardware_never_increases_the_optimum(base, subset):
    full = base.model_copy(update={"options": base.options.model_copy(
        update={"hardware": ["h100-sxm", "h200-sxm", "b200"]})})
    part = base.model_copy(update={"options": base.options.model_copy(
        update={"hardware": sorted(subset)})})
    a = objective(build_coefficients(full)[0])
    b = objective(build_coefficients(part)[0])
    assert a.status is Status.OPTIMAL and b.status is Status.OPTIMAL
    assert a.objective <= b.objective * (1 + 1e-7)


@pytest.fixture(scope="module")
def coef(base):
    return build_coefficients(base)[0]


@SETTINGS
@given(st.floats(0.05, 1.0), st.floats(0.05, 1.0))
def test_tighter_power_cap_never_decreases_the_optimum(coef, f1, f2):
    free = objective(coef)
    from formulations.loads import site_power_kw

    peak_kw = site_power_kw(coef, free.x * build(coef).unit, free.n).max()
    loose, tight = sorted([f1, f2], reverse=True)
    results = [objective(replace(coef, site_cap_kw=np.array([peak_kw * (0.6 + 0.5 * f)])))
               for f in (loose, tight)]
    if results[1].status is Status.OPTIMAL:
        assert results[0].status is Status.OPTIMAL
        assert results[1].objective >= results[0].objective * (1 - 1e-7)


@SETTINGS
@given(st.floats(0.1, 20.0))
def test_scaling_demand_scales_nodes_and_energy(coef, k):
    a = objective(coef)
    b = objective(replace(coef, demand=coef.demand * k))
    assert b.objective == pytest.approx(a.objective * k, rel=1e-6)
    assert b.n.sum() == pytest.approx(a.n.sum() * k, rel=1e-5)


@SETTINGS
@given(st.floats(1.0, 1e6))
def test_unit_rescaling_does_not_change_the_plan(coef, unit):
    a = objective(coef)
    b = objective(coef, unit=unit)
    assert b.objective == pytest.approx(a.objective, rel=1e-6)
    assert b.x * unit == pytest.approx(a.x * build(coef).unit, rel=1e-5, abs=1e-3)
