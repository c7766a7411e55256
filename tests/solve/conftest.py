import pytest

from planner.problem.candidates import build_coefficients
from planner.problem.instance import load_planning_instance
from tests.conftest import INSTANCES


def load(name, **kw):
    return load_planning_instance(INSTANCES / name, **kw)


@pytest.fixture(scope="session")
def milp_small():
    instance, digest = load("small/milp-small.yaml")
    return instance, digest, build_coefficients(instance)
