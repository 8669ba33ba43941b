"""Distances between samples and a reference distribution (for checking samplers and generators)."""

from __future__ import annotations

import torch

__all__ = ["sliced_wasserstein", "moment_errors"]


def sliced_wasserstein(
    x: torch.Tensor, y: torch.Tensor, n_projections: int = 256, generator: torch.Generator | None = None
) -> float:
    """Sliced 1-Wasserstein distance between two equal-size samples (N, d): the mean over random unit
    directions of the 1-D W1 distance, which for equal sizes is the mean gap between sorted projections
    (Rabin et al. 2011; Bonneel et al. 2015)."""
    if x.dim() != 2 or x.shape != y.shape:
        raise ValueError(
            f"sliced_wasserstein: need two (N, d) samples of one shape, got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    dirs = torch.randn(x.shape[1], n_projections, generator=generator, dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    px = (x.to(torch.float64) @ dirs).sort(0).values  # (N, P)
    py = (y.to(torch.float64) @ dirs).sort(0).values
    return float((px - py).abs().mean())


def moment_errors(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> tuple[float, float]:
    """Relative Frobenius errors of the sample mean and covariance of x (N, d) against the true ones."""
    x = x.to(torch.float64)
    mean, cov = torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(cov, dtype=torch.float64)
    m_err = float((x.mean(0) - mean).norm() / mean.norm().clamp_min(1e-12))
    c_err = float((torch.cov(x.T) - cov).norm() / cov.norm())
    return m_err, c_err
