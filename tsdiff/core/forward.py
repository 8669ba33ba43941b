"""The forward (noising) process q(x_t | x_0) and its posterior q(x_{t-1} | x_t, x_0) (Ho et al. 2020)."""

from __future__ import annotations

import torch

from .schedules import Schedule

__all__ = ["q_sample", "q_posterior", "snr"]


def _at(table: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """table[t] reshaped (N, 1, ..., 1) to broadcast against ``like`` (N, ...), in like's dtype."""
    t = torch.as_tensor(t, device=table.device).long().reshape(-1)
    return table[t].reshape(-1, *([1] * (like.dim() - 1))).to(like.device, like.dtype)


def q_sample(
    x0: torch.Tensor,
    t: torch.Tensor,
    schedule: Schedule,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps (Ho et al. 2020, eq. 4); t: (N,) steps."""
    if noise is None:
        noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
    ab = _at(schedule.alpha_bar, t, x0)
    return ab.sqrt() * x0 + (1 - ab).sqrt() * noise


def q_posterior(x0: torch.Tensor, x_t: torch.Tensor, t: torch.Tensor, schedule: Schedule):
    """Mean and variance of q(x_{t-1} | x_t, x_0) (Ho et al. 2020, eqs. 6-7); at t = 0 the variance is 0."""
    ab, ab_prev, beta = (_at(tab, t, x0) for tab in (schedule.alpha_bar, schedule.alpha_bar_prev, schedule.betas))
    coef_x0 = ab_prev.sqrt() * beta / (1 - ab)
    coef_xt = (1 - beta).sqrt() * (1 - ab_prev) / (1 - ab)
    variance = beta * (1 - ab_prev) / (1 - ab)
    return coef_x0 * x0 + coef_xt * x_t, variance


def snr(schedule: Schedule, t: torch.Tensor) -> torch.Tensor:
    """Signal-to-noise ratio alpha_bar / (1 - alpha_bar) at steps t (continuous steps allowed)."""
    ab = schedule.alpha_bar_at(t)
    return ab / (1 - ab)
