"""No import runs back up the layers (issue 15's direction of the data flow, issue 24's one
pipeline). Every import in `formulations/` and `planner/` (module level or inside a function)
is parsed with ast and must name the importer's own package or a lower layer. The order, bottom
to top, is the one the code honours:

    formulations                  the coefficient contract, the builder, the unit checks
    planner (root), errors, io    the version, the error taxonomy, atomic writes
    config                        instance paths, overrides, schema, digests (nothing computes)
    catalog                       sourced CSVs and aliases
    perf                          calibrated performance model
    paper, importers              the paper's estimator; importers of other tools' inputs
    problem                       candidates, measurements, loading and checking an instance
    solve                         backends, solve paths, diagnosis, the independent verifier
    results                       plan tables, summary, uncertainty of a plan
    pipeline                      instance -> plan, the one pipeline (robust plans included)
    roadmap                       the plan over periods (orders, cohorts, foresight)
    levers, sweep                 lever attribution; sweeps and re-optimised draws
    report                        HTML / xlsx / text views of runs
    simulate                      discrete-event simulation of a solved run (reads it as report does)
    cli                           parses, calls the library, formats
"""

import ast
from pathlib import Path

import formulations
import planner

LAYERS = [
    {"formulations"},
    {"planner", "planner.errors", "planner.io"},
    {"planner.config"},
    {"planner.catalog"},
    {"planner.perf"},
    {"planner.paper", "planner.importers"},
    {"planner.problem"},
    {"planner.solve"},
    {"planner.results"},
    {"planner.pipeline"},
    {"planner.roadmap"},
    {"planner.levers", "planner.sweep"},
    {"planner.report"},
    {"planner.simulate"},
    {"planner.cli"},
]
ROOTS = [Path(formulations.__file__).parent, Path(planner.__file__).parent]


def unit(module: str) -> str | None:
    """The layer unit of a module name: its package under planner (planner.solve.lp ->
    planner.solve), a root module (planner.errors), or formulations; None outside the project."""
    parts = module.split(".")
    if parts[0] == "formulations":
        return "formulations"
    if parts[0] != "planner":
        return None
    if len(parts) == 1:
        return "planner"
    return f"planner.{parts[1]}"


def layer(name: str) -> int:
    return next(i for i, group in enumerate(LAYERS) if name in group)


def imports() -> list[tuple[str, int, str, str]]:
    out = []
    for root in ROOTS:
        for path in sorted(root.rglob("*.py")):
            rel = path.relative_to(root.parent).with_suffix("")
            module = ".".join(rel.parts).removesuffix(".__init__")
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                else:
                    continue
                out += [(str(rel), node.lineno, module, name) for name in names]
    return out


def test_every_module_has_a_layer():
    units = {unit(module) for _, _, module, _ in imports()}
    assert units <= set().union(*LAYERS)


def test_no_import_runs_up_the_layers():
    offenders = []
    for path, line, module, name in imports():
        src, dst = unit(module), unit(name)
        if dst is None or dst == src:
            continue
        if layer(dst) >= layer(src):
            offenders.append(f"{path}:{line} ({src}) imports {name} ({dst})")
    assert offenders == []


def test_formulations_import_nothing_from_planner():
    assert not [i for i in imports() if unit(i[2]) == "formulations"
                and (unit(i[3]) or "").startswith("planner")]
