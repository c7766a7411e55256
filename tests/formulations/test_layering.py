"""`formulations/` is the bottom layer: the coefficient contract and the builders import
nothing from `planner` (issue 15's direction of the data flow)."""

import ast
from pathlib import Path

import formulations

FORMULATIONS = Path(formulations.__file__).parent


def test_formulations_import_nothing_from_planner():
    offenders = []
    for path in sorted(FORMULATIONS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "planner":
                offenders.append(f"{path.name}:{node.lineno} from {node.module}")
            if isinstance(node, ast.Import):
                offenders += [f"{path.name}:{node.lineno} import {a.name}" for a in node.names
                              if a.name.split(".")[0] == "planner"]
    assert offenders == []
