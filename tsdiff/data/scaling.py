"""Per-feature standardisation fitted on observed training values only (NaN = missing)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["FeatureScaler"]


@dataclass
class FeatureScaler:
    """z = (x - mean) / std per feature (last axis). A feature constant in training gets std 1 (it is centred
    only); a feature never observed in training is an error, since nothing could be said about it."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray, names=None) -> FeatureScaler:
        flat = values.reshape(-1, values.shape[-1])
        seen = (~np.isnan(flat)).sum(0)
        if (seen == 0).any():
            bad = [names[i] if names is not None else i for i in np.where(seen == 0)[0]]
            raise ValueError(f"features with no observed value in the training data: {bad}")
        mean = np.nanmean(flat, axis=0)
        std = np.nanstd(flat, axis=0)
        return cls(mean, np.where(std > 0, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.std + self.mean

    def to_dict(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureScaler:
        return cls(np.asarray(d["mean"], dtype=np.float64), np.asarray(d["std"], dtype=np.float64))
