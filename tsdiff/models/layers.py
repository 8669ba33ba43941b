"""Building blocks shared by the denoisers."""

from __future__ import annotations

import math

import torch
from torch import nn

from ..core.conditioning import NULL_LABEL

__all__ = ["timestep_embedding", "TimestepEmbedder", "label_rows"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """Sinusoidal embedding of continuous steps t (N,) -> (N, dim) (Vaswani et al. 2017; Ho et al. 2020)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]  # (N, half)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    return torch.nn.functional.pad(emb, (0, dim % 2))


class TimestepEmbedder(nn.Module):
    """Sinusoidal features of the step followed by a two-layer MLP with SiLU (DiT, CSDI)."""

    def __init__(self, dim: int, frequency_dim: int = 128):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:  # (N,) -> (N, dim)
        return self.mlp(timestep_embedding(t, self.frequency_dim))


def label_rows(labels: torch.Tensor | None, n_classes: int, n: int, device, who: str) -> torch.Tensor:
    """Class labels (N,) -> rows of an (n_classes + 1)-row embedding table whose last row is the null class of
    classifier-free guidance; no labels or NULL_LABEL -> the null row. Labels out of range are an error."""
    if labels is None:
        return torch.full((n,), n_classes, dtype=torch.long, device=device)
    if labels.shape != (n,) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise ValueError(
            f"{who}: class labels must be integers of shape ({n},), got {labels.dtype} {list(labels.shape)}"
        )
    labels = labels.long()
    bad = (labels < NULL_LABEL) | (labels >= n_classes)
    if bad.any():
        raise ValueError(
            f"{who}: class labels must lie in 0..{n_classes - 1} (or {NULL_LABEL} for none), "
            f"got {labels[bad][:5].tolist()}"
        )
    return torch.where(labels == NULL_LABEL, n_classes, labels)
