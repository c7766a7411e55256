"""The generated JSON schema of planning instances is kept in sync with the pydantic model."""

import json

from planner.config.schema.plan import PlanningInstance
from tests.conftest import INSTANCES


def test_schema_file_is_current():
    shipped = json.loads((INSTANCES / "planning-instance.schema.json").read_text())
    assert shipped == PlanningInstance.model_json_schema(), (
        "regenerate with: python scripts/write_schema.py")
