"""Per-feature standardisation fitted on observed training values only (NaN = missing)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["FeatureScaler", "window_mean"]


@dataclass
class FeatureScaler:
    """z = (x - mean) / std per feature (last axis). A feature constant in training gets std 1 (it is centred
    only); a feature never observed in training is an error, since nothing could be said about it."""

    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray | None = None  # the smallest and largest observed training value per feature
    high: np.ndarray | None = None

    @classmethod
    def fit(cls, values: np.ndarray, names=None) -> FeatureScaler:
        flat = values.reshape(-1, values.shape[-1])
        seen = (~np.isnan(flat)).sum(0)
        if (seen == 0).any():
            bad = [names[i] if names is not None else i for i in np.where(seen == 0)[0]]
            raise ValueError(f"features with no observed value in the training data: {bad}")
        mean = np.nanmean(flat, axis=0)
        std = np.nanstd(flat, axis=0)
        return cls(mean, np.where(std > 0, std, 1.0), np.nanmin(flat, axis=0), np.nanmax(flat, axis=0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.std + self.mean

    def z_range(self, margin: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
        """The training range in scaled units, widened by ``margin`` of its width on each side."""
        lo, hi = self.transform(self.low), self.transform(self.high)
        pad = margin * (hi - lo) + 1e-6
        return lo - pad, hi + pad

    def to_dict(self) -> dict:
        return {k: None if v is None else np.asarray(v).tolist() for k, v in vars(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> FeatureScaler:
        def arr(key):
            return None if d.get(key) is None else np.asarray(d[key], dtype=np.float64)

        return cls(arr("mean"), arr("std"), arr("low"), arr("high"))


def window_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per item and feature, the mean of ``x`` over the entries in ``mask`` along time, 0 where there is none:
    (B, K, L) -> (B, K, 1). Subtracted from a window before the model and added back to its draws, it makes the
    model's input and output level-free (the centring of RevIN, Kim et al. 2022)."""
    count = mask.sum(-1, keepdim=True)  # (B, K, 1)
    total = torch.where(mask, x, torch.zeros((), dtype=x.dtype, device=x.device)).sum(-1, keepdim=True)
    return total / count.clamp(min=1)
