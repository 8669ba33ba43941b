"""Exact conversions between what a denoiser predicts: epsilon, x0, v and score.

With x_t = alpha * x0 + s * eps, alpha = sqrt(alpha_bar), s = sqrt(1 - alpha_bar) (the variance-preserving
form), every parameterization is a linear function of (x0, eps):
    eps, x0, v = alpha * eps - s * x0 (Salimans & Ho 2022), score = grad log p(x_t) = -eps / s.
``to_x0_eps`` inverts these given x_t; ``from_x0_eps`` applies them; ``convert`` chains the two.
"""

from __future__ import annotations

import torch

__all__ = ["PARAMETERIZATIONS", "check_parameterization", "to_x0_eps", "from_x0_eps", "convert", "implied_x0_weight"]

PARAMETERIZATIONS = ("eps", "x0", "v", "score")


def check_parameterization(name: str) -> str:
    if name not in PARAMETERIZATIONS:
        raise ValueError(f"parameterization must be one of {PARAMETERIZATIONS}, got {name!r}")
    return name


def _coefficients(alpha_bar, like: torch.Tensor) -> tuple:
    """alpha and s: floats for a scalar alpha_bar, else (N, 1, ..., 1) tensors on ``like``'s device and dtype."""
    if isinstance(alpha_bar, float):
        return alpha_bar**0.5, (1.0 - alpha_bar) ** 0.5
    ab = torch.as_tensor(alpha_bar, dtype=torch.float64)
    ab = ab.reshape(ab.shape + (1,) * (like.dim() - ab.dim()))
    return ab.sqrt().to(like.device, like.dtype), (1 - ab).sqrt().to(like.device, like.dtype)


def to_x0_eps(pred: torch.Tensor, x_t: torch.Tensor, alpha_bar, parameterization: str):
    """(x0, eps) implied by a prediction at x_t."""
    alpha, s = _coefficients(alpha_bar, x_t)
    if parameterization == "eps":
        return (x_t - s * pred) / alpha, pred
    if parameterization == "x0":
        return pred, (x_t - alpha * pred) / s
    if parameterization == "v":
        return alpha * x_t - s * pred, s * x_t + alpha * pred
    if parameterization == "score":
        eps = -s * pred
        return (x_t - s * eps) / alpha, eps
    check_parameterization(parameterization)


def from_x0_eps(x0: torch.Tensor, eps: torch.Tensor, alpha_bar, parameterization: str) -> torch.Tensor:
    """The prediction target of a parameterization for clean data x0 and noise eps."""
    alpha, s = _coefficients(alpha_bar, x0)
    if parameterization == "eps":
        return eps
    if parameterization == "x0":
        return x0
    if parameterization == "v":
        return alpha * eps - s * x0
    if parameterization == "score":
        return -eps / s
    check_parameterization(parameterization)


def convert(pred: torch.Tensor, x_t: torch.Tensor, alpha_bar, source: str, target: str) -> torch.Tensor:
    """Re-express a prediction made in one parameterization in another."""
    if source == target:
        return pred
    return from_x0_eps(*to_x0_eps(pred, x_t, alpha_bar, source), alpha_bar, target)


def implied_x0_weight(alpha_bar: torch.Tensor, parameterization: str) -> torch.Tensor:
    """lambda_p with ||pred - target||^2 = lambda_p * ||x0_hat - x0||^2 for the given parameterization:
    eps: SNR, x0: 1, v: SNR + 1, score: SNR / (1 - alpha_bar)."""
    ab = torch.as_tensor(alpha_bar, dtype=torch.float64)
    snr = ab / (1 - ab)
    return {"eps": snr, "x0": torch.ones_like(ab), "v": snr + 1, "score": snr / (1 - ab)}[
        check_parameterization(parameterization)
    ]
