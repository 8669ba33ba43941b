"""Denoising losses: any parameterization, a weighting over noise levels, averaged over target entries only.

Every weighting is stated as a weight on the x0 error, w(t) * ||x0_hat - x0||^2, and divided by the weight that
the parameterization already implies (``implied_x0_weight``), so the same weighting means the same objective
whatever the network predicts:
    "simple": the plain MSE of the prediction (Ho et al. 2020), i.e. w = lambda_p;
    "min_snr": w = min(SNR, gamma) (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting");
    "elbo":    w = SNR * (-d log SNR / dt), the ELBO weighting of Kingma & Gao 2023 (eq. 7 with w(lambda) = 1),
               scaled to mean 1 over the schedule's steps.
"""

from __future__ import annotations

import torch

from .conditioning import Condition
from .forward import q_sample
from .parameterization import check_parameterization, from_x0_eps, implied_x0_weight
from .random import randint, randn
from .schedules import Schedule

__all__ = ["WEIGHTINGS", "loss_weight", "masked_mse", "denoising_loss"]

WEIGHTINGS = ("simple", "min_snr", "elbo")


def loss_weight(
    schedule: Schedule, t: torch.Tensor, parameterization: str, weighting: str = "simple", gamma: float = 5.0
) -> torch.Tensor:
    """Weight (N,) that multiplies the prediction-space squared error at integer steps t."""
    check_parameterization(parameterization)
    t = torch.as_tensor(t).long().cpu()
    if weighting == "simple":
        return torch.ones(t.shape, dtype=torch.float64)
    ab = schedule.alpha_bar[t]
    snr = ab / (1 - ab)
    if weighting == "min_snr":
        if not gamma > 0:  # also NaN
            raise ValueError(f"loss_weight: min_snr's gamma must be positive, got {gamma}")
        x0_weight = snr.clamp(max=gamma)
    elif weighting == "elbo":
        # -d lambda / dt by central differences over the step index (one-sided at the ends)
        dlam = -torch.gradient(schedule.log_snr)[0] if schedule.n_steps > 1 else torch.ones(1, dtype=torch.float64)
        all_w = schedule.snr * dlam / implied_x0_weight(schedule.alpha_bar, parameterization)
        return (all_w / all_w.mean())[t]
    else:
        raise ValueError(f"loss_weight: weighting must be one of {WEIGHTINGS}, got {weighting!r}")
    return x0_weight / implied_x0_weight(ab, parameterization)


def masked_mse(
    pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, weight: torch.Tensor | None = None
) -> torch.Tensor:
    """sum_b w_b * sum_{i in mask_b} (pred - target)^2 / (number of masked entries): the mean over target entries.

    pred, target, mask: (N, ...); weight: (N,). Entries outside the mask get no gradient.
    """
    if pred.shape != target.shape:
        raise ValueError(f"masked_mse: pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    diff = pred - target
    if mask is not None:
        if mask.shape != pred.shape:
            raise ValueError(f"masked_mse: mask {tuple(mask.shape)} does not match pred {tuple(pred.shape)}")
        # torch.where (not a product) so that NaN/inf outside the mask reach neither the loss nor its gradient
        diff = torch.where(mask, diff, torch.zeros((), dtype=diff.dtype, device=diff.device))
    sq = diff**2
    if weight is not None:
        sq = sq * weight.to(sq).reshape(-1, *([1] * (sq.dim() - 1)))
    return sq.mean() if mask is None else sq.sum() / mask.sum().clamp(min=1)


def denoising_loss(
    model,
    x0: torch.Tensor,
    schedule: Schedule,
    condition: Condition | None = None,
    *,
    parameterization: str | None = None,
    weighting: str = "simple",
    gamma: float = 5.0,
    t: torch.Tensor | None = None,
    noise: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One Monte-Carlo estimate of the denoising loss for a batch of clean data x0 (N, ...).

    Draws t uniformly over the training steps and eps ~ N(0, I), forms x_t (Ho et al. 2020, Alg. 1), calls
    ``model(x_t, t, condition)`` and compares its prediction with the parameterization's target on the entries of
    ``condition.target_mask`` (all entries when there is none). Conditional models read the observed entries
    from ``condition``; the noisy input there is left for the model to ignore. Missing values (NaN in x0) must lie
    outside the target mask; they are noised from 0, so no NaN reaches the model.
    """
    parameterization = check_parameterization(parameterization or getattr(model, "parameterization", "eps"))
    n = x0.shape[0]
    target_mask = None if condition is None else condition.target_mask
    missing = torch.isnan(x0)
    if missing.any():  # missing values: never scored, and noised from 0 so that no NaN reaches the model
        if target_mask is None or (missing & target_mask).any():
            raise ValueError("denoising_loss: x0 holds NaN at entries the loss scores (target_mask, or all)")
        x0 = x0.masked_fill(missing, 0.0)
    if t is None:
        t = randint(schedule.n_steps, (n,), generator, x0.device)
    elif t.is_floating_point() or t.dtype == torch.bool or t.shape != (n,):
        raise ValueError(f"denoising_loss: t must be integer steps of shape ({n},), got {t.dtype} {tuple(t.shape)}")
    steps = t.cpu()  # the schedule lives on the CPU; one copy serves the check and the lookups
    if int(steps.min()) < 0 or int(steps.max()) >= schedule.n_steps:
        raise ValueError(
            f"denoising_loss: t must lie in [0, {schedule.n_steps - 1}], got {int(steps.min())}..{int(steps.max())}"
        )
    if noise is None:
        noise = randn(x0.shape, generator, x0.device, x0.dtype)
    x_t = q_sample(x0, t, schedule, noise=noise)
    pred = model(x_t, t.to(x0.dtype), condition)
    target = from_x0_eps(x0, noise, schedule.alpha_bar[steps], parameterization)
    return masked_mse(pred, target, target_mask, loss_weight(schedule, steps, parameterization, weighting, gamma))
