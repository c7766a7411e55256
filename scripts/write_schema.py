"""Regenerate instances/planning-instance.schema.json from the pydantic model."""

import json
from pathlib import Path

from planner.io import write_text_atomic
from planner.config.schema.plan import PlanningInstance

TARGET = Path(__file__).resolve().parents[1] / "instances" / "planning-instance.schema.json"

if __name__ == "__main__":
    write_text_atomic(TARGET, json.dumps(PlanningInstance.model_json_schema(), indent=2) + "\n")
    print(f"wrote {TARGET}")
