"""The report's tables as one spreadsheet (openpyxl): a sheet per table, units in the headers,
an index sheet saying which run and table each sheet holds."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from planner.report import views
from planner.report.runs import Run
from planner.report.views import with_units

MAX_SHEET = 31


def report_tables(runs: list[Run]) -> list[tuple[str, str, pd.DataFrame]]:
    """(run label or 'compare', table name, table) for every table of the report."""
    out = []
    solves = [r for r in runs if r.kind == "solve"]
    levers = [r for r in runs if r.kind == "levers"]
    if len(solves) >= 2:
        out += [("compare", name, t) for name, t in views.compare_tables(solves).items()]
    sweeps = [r for r in runs if r.kind == "sweep"]
    if len(sweeps) >= 2:
        out.append(("compare", "sweeps", views.compare_sweeps(sweeps)))
    if len(levers) >= 2:
        out.append(("compare", "levers-headline", views.compare_levers_headline(levers)))
    if len(levers) >= 2 and (t := views.compare_levers(levers)) is not None:
        out.append(("compare", "levers", t))
    for run in runs:
        tables = {"solve": views.solve_tables, "levers": views.levers_tables,
                  "sweep": views.sweep_tables,
                  "uncertainty": views.uncertainty_tables,
                  "roadmap": views.roadmap_tables}[run.kind](run)
        out += [(run.label, name, t) for name, t in tables.items()]
    return out


def _sheet_name(prefix: str, name: str, used: set[str]) -> str:
    base = re.sub(r"[\[\]:*?/\\]", "-", f"{prefix}-{name}" if prefix else name)
    if len(base) > MAX_SHEET:
        keep = MAX_SHEET - len(name) - 1
        base = (f"{prefix[:max(keep, 1)]}-{name}")[:MAX_SHEET]
    candidate, n = base, 2
    while candidate.lower() in used:
        suffix = f"~{n}"
        candidate = base[:MAX_SHEET - len(suffix)] + suffix
        n += 1
    used.add(candidate.lower())
    return candidate


def _cell(value):
    if value is None:
        return None
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return None if math.isnan(v) else ("inf" if math.isinf(v) else v)
    if isinstance(value, (dict, list)):
        return str(value)
    return value


def write_xlsx(runs: list[Run], out: Path | str) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    from planner.io import write_atomic

    tables = report_tables(runs)
    prefixes = {label: (f"r{i}" if len(runs) > 1 else "") for i, label in
                enumerate(dict.fromkeys(lab for lab, _, _ in tables if lab != "compare"),
                          start=1)}
    prefixes["compare"] = "cmp"
    wb = Workbook()
    index = wb.active
    index.title = "index"
    index.append(["sheet", "run", "table", "folder", "kind", "rows"])
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE8EE")
    for c in index[1]:
        c.font = bold
    by_label: dict[str, Run] = {}
    for r in runs:  # a plan and its uncertainty companion share a label: the plan names it
        by_label.setdefault(r.label, r)
    used = {"index"}
    for label, name, table in tables:
        sheet = _sheet_name(prefixes[label], name, used)
        run = by_label.get(label)
        index.append([sheet, label, name, str(run.path) if run else "", run.kind if run
                      else "compare", len(table)])
        ws = wb.create_sheet(sheet)
        shown = with_units(table)
        ws.append([str(c) for c in shown.columns])
        for c in ws[1]:
            c.font, c.fill = bold, fill
        for row in table.itertuples(index=False):
            ws.append([_cell(v) for v in row])
        ws.freeze_panes = "A2"
        for j, col in enumerate(shown.columns, start=1):
            ws.column_dimensions[get_column_letter(j)].width = min(60, max(10, len(str(col)) + 2))
    for j, width in enumerate((24, 24, 16, 40, 10, 8), start=1):
        index.column_dimensions[get_column_letter(j)].width = width
    return write_atomic(out, lambda tmp: wb.save(tmp))
