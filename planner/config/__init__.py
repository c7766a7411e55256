"""Configuration: how an instance is addressed and changed before it is validated.

One place for instance paths (``sites[0].pue``, ``sites[*].pue``, ``sites.us-east.pue``), for
applying scenarios, ``--set`` overrides, sweep points and lever overrides (each change logged
and returned, so a caller can record it), for content digests, and for the P5/P95 input
distributions. It sits at the bottom of ``planner``: it imports nothing but ``planner.errors``
(and the strict YAML reader when a ``--set`` value is parsed).
"""

from planner.config.digest import digest, stable_int
from planner.config.overrides import (Change, apply_overrides, apply_scenario, apply_sets,
                                      multiply_values, parse_set, set_values,
                                      union_overrides)
from planner.config.paths import concrete_paths, get_path, set_path, split_path

__all__ = ["Change", "apply_overrides", "apply_scenario", "apply_sets", "concrete_paths",
           "digest", "get_path", "multiply_values", "parse_set", "set_path", "set_values",
           "split_path", "stable_int", "union_overrides"]
