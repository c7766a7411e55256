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
    "deepseek-v3.1": "deepseek-r1",  # same architecture (config.json) as DeepSeek-R1
    "llama-4-scout-17b-16e": "llama-4-scout",
    "llama-4-maverick-17b-128e": "llama-4-maverick",
    "meta-llama-3.1-8b": "llama-3.1-8b",
    "meta-llama-3.1-70b": "llama-3.1-70b",
    "meta-llama-3.1-405b": "llama-3.1-405b",
    "mistral-7b-v0.1": "mistral-7b",
    "mixtral-8x7b-v0.1": "mixtral-8x7b",
    "mixtral-8x22b-v0.1": "mixtral-8x22b",
}

# Suffixes published names carry that do not change the architecture: release tags, tuning,
# and the checkpoint's precision (the precision is a separate column of every case).
_RELEASE_SUFFIXES = re.compile(
    r"-(instruct|chat|it|base|hf|thinking|fp8|fp4|nvfp4|mxfp4|bf16|awq|gptq|dynamic|2507|0528|"
    r"v\d+(\.\d+)?)$")


def normalize_name(name: str) -> str:
    """Lower-case a display name and turn runs of spaces, underscores and slashes into dashes.

    A vendor prefix (``NVIDIA B200``, ``AMD Instinct MI300X``) and an organisation path
    (``meta-llama/``) are dropped.
    """
    text = str(name).strip().lower()
    text = text.split("/")[-1]  # 'meta-llama/Llama-3.1-8B' -> 'llama-3.1-8b'
    text = re.sub(r"[\s_]+", "-", text)
    return re.sub(r"^(nvidia|amd-instinct|amd)-", "", text)


def strip_release_suffixes(key: str) -> str:
    """``qwen3-235b-a22b-instruct-2507-fp8`` -> ``qwen3-235b-a22b``: drop release, tuning and
    checkpoint-precision suffixes one at a time."""
    while True:
        shorter = _RELEASE_SUFFIXES.sub("", key)
        if shorter == key:
            return key
        key = shorter


def canonical_model_id(name: str) -> str:
    """The catalog id for a model name as written in a table (identity for ids already canonical)."""
    key = normalize_name(name)
    return MODEL_ALIASES.get(key, key)


def nearest(value: str, known: list[str] | set[str], n: int = 3) -> list[str]:
    """Closest known ids to an unknown one, for 'did you mean' messages."""
    return difflib.get_close_matches(str(value), sorted(known), n=n, cutoff=0.4)
