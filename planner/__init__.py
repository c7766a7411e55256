"""The planner: an optimization-based energy-efficiency planner for LLM inference fleets."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("llm-fleet-planner")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
