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
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.dim() != 2 or x.shape != y.shape or len(x) == 0:
        raise ValueError(
            f"sliced_wasserstein: need two (N, d) samples of one shape, got {tuple(x.shape)}, {tuple(y.shape)}"
        )
    if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
        raise ValueError("sliced_wasserstein: the samples hold NaN or inf")
    if n_projections < 1:
        raise ValueError(f"n_projections must be >= 1, got {n_projections}")
    dirs = torch.randn(x.shape[1], n_projections, generator=generator, dtype=torch.float64)
    dirs = dirs / dirs.norm(dim=0, keepdim=True)
    px = (x.to(torch.float64) @ dirs).sort(0).values  # (N, P)
    py = (y.to(torch.float64) @ dirs).sort(0).values
    return float((px - py).abs().mean())


def moment_errors(x: torch.Tensor, mean: torch.Tensor, cov: torch.Tensor) -> tuple[float, float]:
    """Relative Frobenius errors of the sample mean and covariance of x (N, d) against the true ones; where the
    true mean is 0 the mean's error is absolute (a relative one is undefined)."""
    x = torch.as_tensor(x).to(torch.float64)
    if x.dim() != 2 or len(x) < 2:
        raise ValueError(f"moment_errors needs a sample (N >= 2, d), got {tuple(x.shape)}")
    mean, cov = torch.as_tensor(mean, dtype=torch.float64), torch.as_tensor(cov, dtype=torch.float64)
    scale = mean.norm() if mean.norm() > 0 else torch.tensor(1.0, dtype=torch.float64)
    m_err = float((x.mean(0) - mean).norm() / scale)
    c_err = float((torch.cov(x.T) - cov).norm() / cov.norm())
    return m_err, c_err
