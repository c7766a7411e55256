"""Instance paths: ``sites[0].power_cap_mw``, ``sites[*].pue`` (every item), ``sites.us-east.pue``
(a list item by its ``id``). Parsing, reading, writing and ``[*]`` expansion live here only, so
a scenario, ``--set``, a sweep point and a lever address the instance the same way."""

from __future__ import annotations

import copy
import re

from planner.errors import InputError

_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_PATH = re.compile(r"^[^.\[\]]+(\[(\d+|\*)\])*(\.[^.\[\]]+(\[(\d+|\*)\])*)*$")


def split_path(path: str, where: str | None = None) -> list[str | int]:
    """'sites[0].power_cap_mw' -> ['sites', 0, 'power_cap_mw']; 'sites[*].pue' -> [.., '*', ..].

    An empty path, an empty part (``a..b``, ``.x``) or a malformed index is an InputError."""
    if not isinstance(path, str) or not _PATH.match(path.strip()) or any(
            not part.strip() for part in re.split(r"[.\[\]]+", path.strip()) if part != ""):
        raise InputError("malformed path: write field names joined by '.', list items as [0], "
                         "[*] or by id (sites.us-east.pue)", file=where, field="path",
                         value=path, has_value=True)
    parts: list[str | int] = []
    for name, index in _TOKEN.findall(path.strip().replace("[*]", ".*")):
        parts.append(int(index) if index else name.strip())
    return parts


def get_path(data, path: str):
    """The value at ``path``, or None where any step is missing (no ``[*]``)."""
    target = data
    for part in split_path(path):
        if isinstance(target, list) and isinstance(part, str):
            target = next((item for item in target if isinstance(item, dict)
                           and item.get("id") == part), None)
        elif isinstance(target, list):
            target = target[part] if part < len(target) else None
        elif isinstance(target, dict):
            target = target.get(part)
        else:
            return None
        if target is None:
            return None
    return target


def concrete_paths(data, path: str, where: str | None = None) -> list[str]:
    """'sites[*].pue' -> ['sites[0].pue', 'sites[1].pue'] for the instance at hand.

    A ``[*]`` over something that is there but is not a list is an InputError (as in
    :func:`set_path`); over nothing it expands to no path."""
    if "[*]" not in path:
        return [path]
    head, tail = path.split("[*]", 1)
    items = get_path(data, head)
    if items is None:
        return []
    if not isinstance(items, list):
        raise InputError("[*] needs a list", file=where, field=path)
    return [p for i in range(len(items)) for p in concrete_paths(data, f"{head}[{i}]{tail}",
                                                                 where)]


def set_path(data: dict, path: str, value, where: str) -> None:
    """Set ``path`` in nested dicts/lists; list items may be addressed by index, by ``id`` or
    all at once with ``[*]`` (``sites[*].pue=1.1``). Missing mappings on the way are created."""
    _set_parts(data, split_path(path, where), value, where, path)


def _set_parts(data, parts: list, value, where: str, path: str) -> None:
    target = data
    for i, part in enumerate(parts[:-1]):
        if part == "*":
            if not isinstance(target, list):
                raise InputError("[*] needs a list", file=where, field=path)
            for item in target:
                _set_parts(item, parts[i + 1:], copy.deepcopy(value), where, path)
            return
        target = _step(target, part, parts[: i + 1], where)
    last = parts[-1]
    if isinstance(target, list):
        if isinstance(last, int) and last < len(target):
            target[last] = value
            return
        raise InputError("index out of range", file=where, field=path, value=last, has_value=True)
    if not isinstance(target, dict):
        raise InputError("cannot set a field inside a scalar", file=where, field=path)
    target[last] = value


def _step(target, part, so_far, where):
    shown = ".".join(str(p) for p in so_far)
    if isinstance(target, list):
        if isinstance(part, int):
            if part < len(target):
                return target[part]
            raise InputError("index out of range", file=where, field=shown, value=part,
                             has_value=True)
        for item in target:  # address list items by their id: sites.dc-east.pue
            if isinstance(item, dict) and item.get("id") == part:
                return item
        raise InputError("no list item with this id", file=where, field=shown, value=part,
                         has_value=True)
    if isinstance(target, dict):
        if part not in target or target[part] is None:
            target[part] = {}
        return target[part]
    raise InputError("cannot descend into a scalar", file=where, field=shown)
