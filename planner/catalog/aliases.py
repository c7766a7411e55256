"""Map the names used by benchmark tables and papers to the catalog's kebab-case ids."""

from __future__ import annotations

import difflib
import re

# Names that plain normalisation (lower case, spaces to dashes) does not turn into the id.
MODEL_ALIASES: dict[str, str] = {
    "llama-3.1-nemotron-ultra-253b": "nemotron-ultra-253b",
    "llama-3-1-nemotron-ultra-253b-v1": "nemotron-ultra-253b",
    "llama-3.1-nemotron-ultra-253b-v1": "nemotron-ultra-253b",
    "deepseek-r1-0528": "deepseek-r1",
    "deepseek-v3": "deepseek-r1",
}


def normalize_name(name: str) -> str:
    """Lower-case a display name and turn runs of spaces, underscores and slashes into dashes."""
    text = str(name).strip().lower()
    text = text.split("/")[-1]  # 'meta-llama/Llama-3.1-8B' -> 'llama-3.1-8b'
    return re.sub(r"[\s_]+", "-", text)


def canonical_model_id(name: str) -> str:
    """The catalog id for a model name as written in a table (identity for ids already canonical)."""
    key = normalize_name(name)
    return MODEL_ALIASES.get(key, key)


def nearest(value: str, known: list[str] | set[str], n: int = 3) -> list[str]:
    """Closest known ids to an unknown one, for 'did you mean' messages."""
    return difflib.get_close_matches(str(value), sorted(known), n=n, cutoff=0.4)
