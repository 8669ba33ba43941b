"""Deterministic imputation baselines on windows (N, L, K) with NaN = missing; training windows give the
statistics a baseline needs. Each returns a new array; inputs are not modified."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["mean_impute", "median_impute", "locf_impute", "linear_impute"]


def _feature_stat(train: np.ndarray, stat) -> np.ndarray:
    return stat(train.reshape(-1, train.shape[-1]), axis=0)


def mean_impute(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Each missing value -> its feature's mean over the training windows."""
    return np.where(np.isnan(x), _feature_stat(train, np.nanmean), x)


def median_impute(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    return np.where(np.isnan(x), _feature_stat(train, np.nanmedian), x)


def _along_time(x: np.ndarray, fill) -> np.ndarray:
    """Apply a pandas fill to every window's (L, K) frame."""
    return np.stack([fill(pd.DataFrame(w)).to_numpy() for w in x])


def locf_impute(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Last observation carried forward within each window; values before the first observation take the next
    observation, and a feature never observed in the window takes the training mean."""
    filled = _along_time(x, lambda f: f.ffill().bfill())
    return mean_impute(filled, train)


def linear_impute(x: np.ndarray, train: np.ndarray) -> np.ndarray:
    """Linear interpolation in time within each window (constant beyond the first/last observation); a feature
    never observed in the window takes the training mean."""
    filled = _along_time(x, lambda f: f.interpolate(limit_direction="both"))
    return mean_impute(filled, train)
