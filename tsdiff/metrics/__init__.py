"""Metrics: point, probabilistic, distributional and synthesis scores."""

from .distribution import moment_errors, sliced_wasserstein
from .probabilistic import (
    QUANTILE_LEVELS,
    crps_ensemble,
    crps_quantile,
    interval_coverage,
    mae,
    mre,
    pit_values,
    rmse,
)

__all__ = [
    "moment_errors",
    "sliced_wasserstein",
    "QUANTILE_LEVELS",
    "crps_ensemble",
    "crps_quantile",
    "interval_coverage",
    "mae",
    "mre",
    "pit_values",
    "rmse",
]
