"""The one place where a model's parameterization meets the samplers.

Samplers work in the variance-exploding coordinates of Karras et al. (2022): x = x0 + sigma * eps, and call
D(x, sigma) -> an estimate of x0. A tsdiff denoiser is any callable ``denoiser(x_t, t, condition)`` on
variance-preserving inputs x_t = sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) eps at a (continuous) step t of its
schedule, with an attribute ``parameterization`` in {"eps", "x0", "v", "score"}. ``as_x0_fn`` turns one into
D(x, sigma): x_t = x / sqrt(1 + sigma^2), t = schedule.sigma_to_t(sigma), prediction -> x0.

Masked conditioning is applied here once for every sampler: where ``condition.obs_mask`` is set the estimate of x0
is the observed value. With a conditional model ("model" conditioning, CSDI) the model sees the condition;
with an unconditional one ("replace", RePaint) it does not, and the sampler's state on observed entries is then a
forward-noised copy of the observations, which is what replacement means (Lugmayr et al. 2022, eq. 8).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .conditioning import Condition
from .parameterization import check_parameterization, to_x0_eps
from .schedules import Schedule

__all__ = ["as_x0_fn", "parameterization_of", "CONDITIONING_MODES"]

CONDITIONING_MODES = ("model", "replace")


def parameterization_of(denoiser, override: str | None = None) -> str:
    name = override or getattr(denoiser, "parameterization", None)
    if name is None:
        raise ValueError(
            "denoiser does not declare its parameterization: give it an attribute `parameterization` "
            "('eps', 'x0', 'v' or 'score') or pass parameterization=..."
        )
    return check_parameterization(name)


def as_x0_fn(
    denoiser,
    schedule: Schedule,
    condition: Condition | None = None,
    conditioning: str = "model",
    parameterization: str | None = None,
    x0_range: tuple | None = None,
) -> Callable[[torch.Tensor, float], torch.Tensor]:
    """D(x, sigma): the x0 estimate of ``denoiser`` at VE state x (N, ...) and noise level sigma (a float).

    ``x0_range = (low, high)`` (floats or tensors broadcasting against x) clips the estimate to the range data can
    take, as DDPM implementations clip to [-1, 1]: at high noise an epsilon-predicting model's x0 estimate is its
    error times sigma, and few-step samplers carry it forward."""
    param = parameterization_of(denoiser, parameterization)
    if conditioning not in CONDITIONING_MODES:
        raise ValueError(f"conditioning must be one of {CONDITIONING_MODES}, got {conditioning!r}")
    # in "replace" mode the model is unconditional with respect to the observations (labels etc. still go in)
    model_condition = condition
    if conditioning == "replace" and condition is not None:
        model_condition = Condition(side=condition.side, labels=condition.labels, scalars=condition.scalars)
        if model_condition.batch_size is None:
            model_condition = None
    has_obs = condition is not None and condition.obs_mask is not None

    def x0_fn(x: torch.Tensor, sigma: float) -> torch.Tensor:
        t = schedule.sigma_to_t(sigma)
        alpha_bar = 1.0 / (1.0 + sigma**2)
        x_t = x * alpha_bar**0.5  # (N, ...) variance-preserving input
        t_batch = torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)
        pred = denoiser(x_t, t_batch, model_condition)
        x0 = to_x0_eps(pred, x_t, float(alpha_bar), param)[0]
        if x0_range is not None:
            x0 = torch.clamp(x0, *(torch.as_tensor(v, dtype=x0.dtype, device=x0.device) for v in x0_range))
        if has_obs:
            x0 = torch.where(condition.obs_mask, condition.observed.to(x0.dtype), x0)
        return x0

    return x0_fn
