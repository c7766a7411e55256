"""Content digests: what identifies an input, a sweep point or a random stream.

One function, so that the instance hash in provenance, the sweep manifest's hashes and the
sweep point ids stay the same strings (``--resume`` finds finished points by them). Do not
change the encoding: every shipped hash and point id depends on it.
"""

from __future__ import annotations

import hashlib
import json


def digest(obj, length: int = 16) -> str:
    """The first ``length`` hex digits of SHA-256 over ``obj`` as sorted-key JSON (anything
    JSON cannot encode is written as its ``str``)."""
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def stable_int(text: str) -> int:
    """A 64-bit integer named by ``text``, the same in every process (unlike ``hash``): seeds
    random streams by name."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
