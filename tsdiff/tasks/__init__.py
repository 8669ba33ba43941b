"""Tasks: thin orchestration of core + model + data."""

from .impute import DiffusionImputer

__all__ = ["DiffusionImputer"]
