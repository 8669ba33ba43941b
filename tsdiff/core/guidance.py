"""Guidance as denoiser wrappers: each returns a denoiser with the same call and parameterization."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from .conditioning import Condition
from .parameterization import convert
from .schedules import Schedule

__all__ = ["ClassifierFreeGuidance", "ClassifierGuidance"]


class ClassifierFreeGuidance:
    """pred = pred(x, null) + scale * (pred(x, c) - pred(x, null)) (Ho & Salimans 2022, eq. 6 with w = scale - 1).

    scale 0 gives the unconditional prediction, 1 the conditional one, > 1 sharpens the condition. Both branches
    go through the model in one batch. ``null`` maps a condition to its unconditional version
    (default: ``Condition.null``, every label set to NULL_LABEL). The combination is affine, so it is the same
    in every parameterization.
    """

    def __init__(self, denoiser, scale: float, null: Callable[[Condition], Condition] | None = None):
        if not (math.isfinite(scale) and scale >= 0):
            raise ValueError(
                f"guidance scale must be a finite number >= 0 (0: unconditional, 1: conditional), not {scale}"
            )
        self.denoiser, self.scale = denoiser, float(scale)
        self.null = null or Condition.null
        self.parameterization = getattr(denoiser, "parameterization", None)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition | None) -> torch.Tensor:
        if condition is None:
            raise ValueError("ClassifierFreeGuidance needs a condition to guide towards")
        if self.null is Condition.null and condition.labels is None:  # both branches would be the same
            raise ValueError("ClassifierFreeGuidance: the condition has no labels, so guidance would change nothing")
        if getattr(getattr(self.denoiser, "config", None), "n_classes", None) == 0:
            raise ValueError("ClassifierFreeGuidance: the denoiser has no label embedding (n_classes=0)")
        both = Condition.cat([condition, self.null(condition)])
        cond, uncond = self.denoiser(torch.cat([x_t, x_t]), torch.cat([t, t]), both).chunk(2)
        return uncond + self.scale * (cond - uncond)


class ClassifierGuidance:
    """Adds scale * grad log p(y | x_t) to the score (Dhariwal & Nichol 2021, Alg. 1; Song et al. 2021, eq. 14):
    eps <- eps - scale * sqrt(1 - alpha_bar) * grad_x log p(y | x_t).

    ``log_prob(x_t, t, labels)`` returns log p(labels | x_t) per item (N,), differentiable in x_t; the labels
    come from ``condition.labels``. The inner denoiser is called with the condition unchanged.
    """

    def __init__(self, denoiser, log_prob, schedule: Schedule, scale: float = 1.0):
        if not math.isfinite(scale):
            raise ValueError(f"guidance scale must be a finite number, not {scale}")
        self.denoiser, self.log_prob, self.schedule, self.scale = denoiser, log_prob, schedule, float(scale)
        self.parameterization = getattr(denoiser, "parameterization", None)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition | None) -> torch.Tensor:
        if condition is None or condition.labels is None:
            raise ValueError("ClassifierGuidance needs condition.labels to guide towards")
        pred = self.denoiser(x_t, t, condition)
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            grad = torch.autograd.grad(self.log_prob(x, t, condition.labels).sum(), x)[0]
        alpha_bar = self.schedule.alpha_bar_at(t.detach().cpu())
        eps = convert(pred, x_t, alpha_bar, self.parameterization, "eps")
        s = (1 - alpha_bar).sqrt().to(x_t).reshape(-1, *([1] * (x_t.dim() - 1)))
        return convert(eps - self.scale * s * grad, x_t, alpha_bar, "eps", self.parameterization)
