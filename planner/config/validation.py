"""Validation at the edges, with one rule: every number finite and in a stated physical range,
every boolean parsed strictly, every list non-empty where empty has no meaning, YAML read by a
safe loader that refuses duplicate keys and alias expansion beyond a small limit.

Used by the schemas (``StrictBool``), the YAML readers (``load_yaml_text``), the throughput CSV
reader (``parse_bool_column``, ``parse_number_column``) and the CLI (``check_writable_dir``).
"""

from __future__ import annotations

import io
import logging
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import yaml
from pydantic import BeforeValidator

from planner.errors import InputError

TRUE_WORDS = frozenset({"true", "yes", "1"})
FALSE_WORDS = frozenset({"false", "no", "0"})
BOOL_WORDS = "true/false, yes/no or 1/0"

# A YAML document may share nodes through aliases; expanded (as a tree) it may not exceed this
# many nodes. The shipped fleet instance is about 600 nodes; an alias bomb is billions.
MAX_YAML_NODES = 200_000


_WARNED: set[str] = set()


def warn_once(logger: logging.Logger, text: str) -> None:
    """Log a warning once per process (a sweep or a lever run would repeat it per solve)."""
    if text not in _WARNED:
        _WARNED.add(text)
        logger.warning("%s", text)


# ---------------------------------------------------------------------------------- booleans


def parse_bool(value: Any) -> bool:
    """``true/false/yes/no/1/0`` (case-insensitive; YAML and numpy booleans, 0 and 1 too);
    anything else, blank included, is a ValueError."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise ValueError(f"must be a boolean ({BOOL_WORDS})")


def _bool_before(value: Any) -> Any:
    return parse_bool(value)


StrictBool = Annotated[bool, BeforeValidator(_bool_before)]
"""A pydantic boolean that accepts only ``true/false/yes/no/1/0`` (case-insensitive)."""


def parse_bool_column(values: pd.Series, column: str, file: str | None) -> np.ndarray:
    """A CSV column of booleans, strictly parsed; the first bad cell is an InputError."""
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(bool)
    raw = values.astype(object).to_numpy(dtype=object)
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    parsed = np.zeros(len(uniques), dtype=bool)
    for k, value in enumerate(uniques):
        try:
            parsed[k] = parse_bool(value)
        except ValueError:
            i = int(np.flatnonzero(codes == k)[0])
            shown = "" if _blank(value) else value
            raise InputError(f"must be a boolean ({BOOL_WORDS}); a blank cell is not one",
                             file=file, field=f"row {i + 1}.{column}", value=shown,
                             has_value=True) from None
    if (codes < 0).any():
        i = int(np.flatnonzero(codes < 0)[0])
        raise InputError(f"must be a boolean ({BOOL_WORDS}); a blank cell is not one",
                         file=file, field=f"row {i + 1}.{column}", value="", has_value=True)
    return parsed[codes]


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def _blank_mask(values: pd.Series) -> np.ndarray:
    """``_blank`` of every cell, vectorized (10^5+ rows)."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return values.isna().to_numpy(bool)
    codes, uniques = pd.factorize(values.astype(object).to_numpy(dtype=object),
                                  use_na_sentinel=True)
    blank_unique = np.array([_blank(u) for u in uniques], dtype=bool)
    return np.where(codes < 0, True, blank_unique[np.maximum(codes, 0)] if len(uniques)
                    else True)


# ----------------------------------------------------------------------------------- numbers


def parse_number_column(values: pd.Series, column: str, file: str | None, *,
                        minimum: float, maximum: float = 1e12, integer: bool = False,
                        blank_ok: bool = False, what: str = "") -> np.ndarray:
    """A CSV column of finite numbers in ``[minimum, maximum]`` (whole numbers if ``integer``);
    blank cells are NaN when ``blank_ok``. The first bad cell is an InputError naming it."""
    numeric = pd.to_numeric(values, errors="coerce").to_numpy(float)
    blank = _blank_mask(values)
    kind = "a whole number" if integer else "a number"
    rule = f"must be {kind} in [{minimum:g}, {maximum:g}]" + (f" ({what})" if what else "")
    bad = ~np.isfinite(numeric) | (numeric < minimum) | (numeric > maximum)
    if integer:
        bad |= np.isfinite(numeric) & (numeric != np.round(numeric))
    if blank_ok:
        bad &= ~blank
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(rule + ("; a blank cell is not one" if blank[i] else ""), file=file,
                         field=f"row {i + 1}.{column}",
                         value="" if blank[i] else values.tolist()[i], has_value=True)
    return np.where(blank, np.nan, numeric) if blank_ok else numeric


def check_text_column(values: pd.Series, column: str, file: str | None) -> None:
    """Every cell of an id column non-blank."""
    blank = _blank_mask(values)
    if blank.any():
        i = int(np.flatnonzero(blank)[0])
        raise InputError("must not be blank", file=file, field=f"row {i + 1}.{column}",
                         value="", has_value=True)


def existing_file(path: str | Path) -> Path:
    """The path of a file that exists (a missing path or a folder is an InputError)."""
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=str(path))
    if not path.is_file():
        raise InputError("not a file", file=str(path))
    return path


TEXT_CASE_COLUMNS = ("engine_version",)


def read_cases_csv(path: str | Path) -> pd.DataFrame:
    """A CSV of cases: every row as many fields as the header (a ragged row is an error, not
    a shifted index), cells stripped of surrounding blanks."""
    import csv

    path = existing_file(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
        rows = list(csv.reader(io.StringIO(text)))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"malformed CSV: {exc}", file=str(path)) from None
    rows = [r for r in rows if any(cell.strip() for cell in r)]
    if not rows:
        raise InputError("malformed CSV: the file is empty (no header)", file=str(path))
    header = [h.strip() for h in rows[0]]
    if any(not h for h in header) or len(set(header)) != len(header):
        raise InputError("malformed CSV: every header name must be present and unique",
                         file=str(path), field="header", value=",".join(header),
                         has_value=True)
    for i, row in enumerate(rows[1:], start=1):
        if len(row) != len(header):
            raise InputError(f"has {len(row)} fields, the header {len(header)}",
                             file=str(path), field=f"row {i}", value=",".join(row),
                             has_value=True)
    frame = pd.DataFrame([[cell.strip() for cell in r] for r in rows[1:]], columns=header)
    # Numbers as numbers where a whole column parses, like pandas.read_csv; ids stay text.
    frame = frame.replace({"": np.nan})
    for col in frame.columns:
        if col in TEXT_CASE_COLUMNS:  # "0.10" is a version, not the number 0.1
            continue
        converted = pd.to_numeric(frame[col], errors="coerce")
        if len(frame) and frame[col].notna().any() and (
                converted.notna() == frame[col].notna()).all():
            frame[col] = converted
    return frame


# -------------------------------------------------------------------------------------- YAML


class StrictSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses duplicate keys, reads only ``true/false/yes/no`` as
    booleans (``on``/``off``/``y``/``n`` stay strings, so a schema reports them) and refuses
    documents whose aliases expand beyond ``MAX_YAML_NODES`` nodes."""

    def construct_document(self, node):
        _check_expansion(node)
        return super().construct_document(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    hash(key)
                except TypeError:
                    continue  # the base class reports unhashable keys
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"duplicate key {echo_key(key)} (first at line {seen[key]})",
                        key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def echo_key(key: Any) -> str:
    text = repr(key)
    return text if len(text) <= 60 else text[:60] + "..."


# Booleans: YAML 1.1 also reads on/off/y/n as booleans; only the strict words are kept.
StrictSafeLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
StrictSafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE|yes|Yes|YES|no|No|NO)$"),
    list("tTfFyYnN"))


def _check_expansion(root) -> None:
    """Count the nodes of the document as a tree (aliases expanded), memoized per node; a
    node that contains itself (``&a [*a]``) is refused too."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if key in sizes and not done:
            continue
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if not done:
            if key in open_nodes:
                continue
            open_nodes.add(key)
            stack.append((node, True))
            for child in children:
                if id(child) in open_nodes:
                    raise yaml.constructor.ConstructorError(
                        None, None, "a recursive alias (a node that contains itself)",
                        child.start_mark)
                if id(child) not in sizes:
                    stack.append((child, False))
            continue
        open_nodes.discard(key)
        total = 1 + sum(sizes.get(id(child), 1) for child in children)
        if total > MAX_YAML_NODES:
            raise yaml.constructor.ConstructorError(
                None, None, f"the document expands to more than {MAX_YAML_NODES:,} nodes "
                f"through aliases (a YAML alias bomb?); write the values out instead",
                node.start_mark)
        sizes[key] = total


def load_yaml_text(text: str) -> Any:
    """Parse YAML text with :class:`StrictSafeLoader` (yaml.YAMLError on any problem)."""
    return yaml.load(text, Loader=StrictSafeLoader)  # noqa: S506 - a SafeLoader subclass


# ------------------------------------------------------------------------------ output paths


def check_writable_dir(path: str | Path, option: str = "--out") -> Path:
    """Fail now, before any solve, if ``path`` cannot be created or written as a folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("exists and is not a folder", field=option, value=str(path),
                         has_value=True)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise InputError(f"cannot write there: {exc.strerror or exc}", field=option,
                         value=str(path), has_value=True) from None
    return path


def check_writable_file(path: str | Path, option: str) -> Path:
    """Fail now if the folder of output file ``path`` cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder, not a file", field=option, value=str(path),
                         has_value=True)
    check_writable_dir(path.parent if str(path.parent) else Path("."), option)
    return path
