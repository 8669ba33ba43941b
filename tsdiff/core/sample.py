"""``sample``: draw samples from any tsdiff denoiser with any sampler, conditioned or not."""

from __future__ import annotations

import math

import torch

from ..checks import whole_number
from .conditioning import Condition
from .denoiser import as_x0_fn
from .random import randn
from .samplers import SAMPLERS
from .schedules import Schedule

__all__ = ["sample", "ddim_invert", "default_steps"]


def default_steps(sampler: str, schedule: Schedule) -> int:
    """Every training step for the ancestral and SDE samplers (they are first order in the noise), 50 otherwise."""
    return schedule.n_steps if sampler in ("ddpm", "euler_maruyama", "pc") else min(50, schedule.n_steps)


def sample(
    denoiser,
    shape,
    schedule: Schedule,
    sampler: str = "ddim",
    steps: int | None = None,
    condition: Condition | None = None,
    generator: torch.Generator | None = None,
    callback=None,
    *,
    n_samples: int | None = None,
    noise: torch.Tensor | None = None,
    parameterization: str | None = None,
    conditioning: str = "model",
    resample: int = 0,
    spacing: str = "trailing",
    rho: float = 7.0,
    x0_range: tuple | None = None,
    dtype: torch.dtype | None = None,
    device=None,
    **options,
) -> torch.Tensor:
    """Draw samples of shape ``shape`` = (B, ...), or (B, n_samples, ...) when ``n_samples`` is given.

    denoiser:       callable (x_t, t, condition) -> prediction, declaring ``parameterization`` (or pass it)
    sampler:        "ddpm", "ddim", "dpmpp_2m", "euler_maruyama", "heun" or "pc"; ``options`` go to it
                    (eta for ddim; s_churn, s_tmin, s_tmax, s_noise for heun; snr, n_corrector for pc)
    steps:          number of noise levels visited (``default_steps`` when None)
    condition:      Condition with B items; each is repeated for its n_samples draws in one batch
    conditioning:   "model" (the denoiser reads the observations) or "replace" (RePaint replacement for an
                    unconditional denoiser; ``resample`` > 0 re-noises and repeats each step that many times)
    spacing:        how the steps are chosen: "trailing", "linspace", "leading" (training steps) or "karras"
    x0_range:       (low, high) clip of the x0 estimate, broadcasting against one item (see ``as_x0_fn``)
    noise:          initial standard-normal noise, shape (B * S, ...) flattened over samples (default: drawn)
    Observed entries of ``condition`` come back bit-for-bit unchanged.
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"sample: unknown sampler {sampler!r}; expected one of {sorted(SAMPLERS)}")
    shape = tuple(shape)
    n_per_item = 1 if n_samples is None else whole_number(n_samples, "sample: n_samples")
    if n_per_item < 1:
        raise ValueError(f"sample: n_samples must be >= 1, got {n_samples}")
    whole_number(resample, "sample: resample", 0)
    if x0_range is not None:
        if len(x0_range) != 2:
            raise ValueError(f"sample: x0_range must be (low, high), got {len(x0_range)} values")
        low, high = (torch.as_tensor(b, dtype=torch.float64) for b in x0_range)
        if not (torch.isfinite(low).all() and torch.isfinite(high).all() and (low < high).all()):
            raise ValueError("sample: x0_range must be finite (low, high) with low < high")
    if resample and conditioning != "replace":
        raise ValueError("sample: resample applies to conditioning='replace' only")
    if condition is not None:
        if condition.batch_size != shape[0]:
            raise ValueError(f"sample: condition has batch size {condition.batch_size} but shape is {shape}")
        if condition.obs_mask is not None and tuple(condition.obs_mask.shape) != shape:
            raise ValueError(
                f"sample: condition.obs_mask {tuple(condition.obs_mask.shape)} does not match shape {shape}"
            )
        if dtype is None and condition.observed is not None:
            dtype = condition.observed.dtype
        device = (
            device
            if device is not None
            else next(
                (
                    v.device
                    for v in (condition.observed, condition.obs_mask, condition.target_mask, condition.side)
                    + (condition.labels, condition.scalars)
                    if v is not None
                ),
                None,
            )
        )
        condition = condition.repeat_interleave(n_per_item)
    dtype = dtype or torch.float32
    flat_shape = (shape[0] * n_per_item, *shape[1:])

    steps = default_steps(sampler, schedule) if steps is None else whole_number(steps, "sample: steps")
    sigmas = schedule.sampling_sigmas(steps, spacing, rho)
    D = as_x0_fn(denoiser, schedule, condition, conditioning, parameterization, x0_range)

    if noise is None:
        noise = randn(flat_shape, generator, device, dtype)
    elif tuple(noise.shape) != flat_shape:
        raise ValueError(f"sample: noise must have shape {flat_shape}, got {tuple(noise.shape)}")
    # x_T ~ N(0, I) in variance-preserving form, i.e. (1 + sigma_max^2)^(1/2) * z in VE form
    x = noise.to(device=device, dtype=dtype) * math.sqrt(1.0 + float(sigmas[0]) ** 2)

    run = SAMPLERS[sampler]
    with torch.no_grad():
        if resample:
            x = _resampled(run, D, x, sigmas, resample, generator, callback, options)
        else:
            x = run(D, x, sigmas, generator=generator, callback=callback, **options)
    if condition is not None and condition.obs_mask is not None:
        x = torch.where(condition.obs_mask, condition.observed.to(x.dtype), x)
    return x if n_samples is None else x.reshape(shape[0], n_per_item, *shape[1:])


def _resampled(run, D, x, sigmas, resample, generator, callback, options):
    """RePaint resampling (Lugmayr et al. 2022, Alg. 1 with jump length 1): each step is taken, undone by
    forward noising back to its start level, and taken again, ``resample`` extra times. Multistep samplers
    restart their history at every step, so they act as their first-order member here."""
    n = len(sigmas) - 1
    for i in range(n):
        pair = sigmas[i : i + 2]
        for r in range(resample + 1):
            x = run(D, x, pair, generator=generator, **options)
            if r < resample:
                up = math.sqrt(float(pair[0]) ** 2 - float(pair[1]) ** 2)
                x = x + up * randn(x.shape, generator, x.device, x.dtype)
        if callback is not None:
            callback({"i": i, "n": n, "sigma": float(pair[0]), "sigma_next": float(pair[1]), "x": x, "denoised": None})
    return x


def ddim_invert(
    denoiser,
    x0: torch.Tensor,
    schedule: Schedule,
    steps: int | None = None,
    condition: Condition | None = None,
    *,
    parameterization: str | None = None,
    spacing: str = "trailing",
) -> torch.Tensor:
    """Map data to the standard-normal noise from which deterministic DDIM (eta = 0) with the same steps
    returns it (Song et al. 2021, sec. 4.3; Dhariwal & Nichol 2021, eq. 13): the DDIM ODE integrated upward,
    each step using the noise prediction at its lower end (the first at the lowest nonzero sigma)."""
    steps = default_steps("ddim", schedule) if steps is None else int(steps)
    sigmas = schedule.sampling_sigmas(steps, spacing).flip(0)  # ascending, starting at 0
    D = as_x0_fn(denoiser, schedule, condition, "model", parameterization)
    x = x0.clone()
    with torch.no_grad():
        for i in range(steps):
            sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
            at = sigma if sigma > 0 else sigma_next  # D is undefined at sigma = 0: the first step uses the next level
            x = x + (sigma_next - sigma) * (x - D(x, at)) / at
    return x / math.sqrt(1.0 + float(sigmas[-1]) ** 2)
