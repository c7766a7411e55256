"""The shipped catalog: data files with a source for every number, and their loaders."""

from importlib.resources import files
from pathlib import Path


def data_path(name: str) -> Path:
    """Path of a data file shipped inside the package (``planner/catalog/data``)."""
    return Path(str(files("planner.catalog").joinpath("data", name)))


__all__ = ["data_path"]
