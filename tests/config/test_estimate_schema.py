"""Schema rules of the estimator instance."""

import pytest

from planner.errors import InputError
from planner.config.schema.estimate import EstimateInstance
from planner.config.schema.loading import load_yaml_model, read_yaml, validate_mapping
from tests.conftest import INSTANCES


def test_shipped_instances_validate():
    for name in ("paper-v1.yaml", "paper-v2.yaml"):
        instance = load_yaml_model(INSTANCES / name, EstimateInstance)
        assert len(instance.models) == 5


def test_instances_are_frozen():
    instance = load_yaml_model(INSTANCES / "paper-v2.yaml", EstimateInstance)
    with pytest.raises(Exception):
        instance.seed = 3


@pytest.mark.parametrize("path, value, message", [
    (("power_utilization", "p95"), 1.2, "must be <= 1"),
    (("pue", "p5"), 0.9, "cannot be below 1"),
    (("blend", "top_k"), 9, "exceeds the 5 models"),
    (("fleet", "mix"), {"traditional": 0.5, "short": 0.5}, "unknown regimes"),
])
def test_cross_field_rules(path, value, message):
    data = read_yaml(INSTANCES / "paper-v2.yaml")
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(InputError, match=message):
        validate_mapping(data, EstimateInstance, file="x.yaml")


def test_duplicate_model_ids_rejected():
    data = read_yaml(INSTANCES / "paper-v2.yaml")
    data["models"].append(dict(data["models"][0]))
    with pytest.raises(InputError, match="repeated: deepseek-r1"):
        validate_mapping(data, EstimateInstance, file="x.yaml")
