"""Metrics: point, probabilistic, distributional and synthesis scores."""

from .distribution import moment_errors, sliced_wasserstein

__all__ = ["moment_errors", "sliced_wasserstein"]
