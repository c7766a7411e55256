"""Loader for the throughput table of Oviedo et al. (arXiv:2509.20241), as released with the paper.

The table is shipped verbatim (``data/paper_throughput_db.csv``); this module only renames columns
to the planner's conventions and maps model names to catalog ids.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from planner.catalog import data_path
from planner.catalog.aliases import canonical_model_id
from planner.errors import InputError

PAPER_TABLE = "paper_throughput_db.csv"

_COLUMNS = {
    "Model": "model_name",
    "Total Parameter Count (B)": "total_params_b",
    "Active Parameter Count (B)": "active_params_b",
    "Hardware": "hardware",
    "TP Size": "tp_size",
    "Quantization": "precision",
    "Tokens per Second (TPS)": "tps",
    "Input Length": "input_tokens",
    "Output Length": "output_tokens",
    "Source": "source",
    "Comments": "comments",
}


def resolve_table_path(name: str, relative_to: Path | None = None) -> Path:
    """Find a table next to the instance first, then among the package's shipped data files."""
    candidates = []
    if relative_to is not None:
        candidates.append(Path(relative_to).parent / name)
    candidates.append(Path(name))
    candidates.append(data_path(name))
    for path in candidates:
        if path.is_file():
            return path
    raise InputError("throughput table not found (looked next to the instance and in the "
                     "package data)", file=str(relative_to) if relative_to else None,
                     field="throughput_table", value=name, has_value=True)


def load_paper_table(path: Path | str | None = None) -> pd.DataFrame:
    """The paper's throughput rows with ``model_id``, ``precision`` (lower case), numeric lengths.

    Rows whose lengths are not numbers (the ML.ENERGY rows say 'Variable') keep NaN lengths; they
    are FP16 rows that the paper's FP8 filter drops anyway.
    """
    path = Path(path) if path is not None else data_path(PAPER_TABLE)
    try:
        raw = pd.read_csv(path, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read throughput table: {exc}", file=str(path)) from exc
    missing = [c for c in ("Model", "Quantization", "Tokens per Second (TPS)", "Input Length",
                           "Output Length") if c not in raw.columns]
    if missing:
        raise InputError(f"throughput table lacks columns {missing}", file=str(path))
    table = raw.rename(columns=_COLUMNS)[[c for c in _COLUMNS.values() if c in raw.rename(columns=_COLUMNS).columns]]
    table["model_id"] = table["model_name"].map(canonical_model_id)
    table["precision"] = table["precision"].astype(str).str.strip().str.lower()
    for col in ("tps", "input_tokens", "output_tokens"):
        table[col] = pd.to_numeric(table[col], errors="coerce")
    table["table_row"] = range(2, len(table) + 2)  # 1-based CSV line numbers, header is line 1
    return table
