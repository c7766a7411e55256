"""Lever attribution: the pipeline re-solved over lever subsets (masks over one union LP per
parameter combination), Shapley shares, and the attribution's uncertainty."""

from planner.levers.attribution import (LeverAttribution, LeverEngine, SubsetResult,
                                        attribute_levers)

__all__ = ["LeverAttribution", "LeverEngine", "SubsetResult", "attribute_levers"]
