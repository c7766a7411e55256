"""Pydantic models of every input file, and the loader that turns their errors into one line."""

from planner.config.schema.loading import load_yaml_model

__all__ = ["load_yaml_model"]
