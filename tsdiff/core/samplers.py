"""Samplers: plain functions of (D, x, sigmas) in the VE coordinates x = x0 + sigma * eps.

``D(x, sigma)`` estimates x0 (see ``denoiser.as_x0_fn``); ``sigmas`` is descending and ends with 0. Every sampler
advances the whole batch (all items and all their samples) at once, draws noise from ``generator``, and calls
``callback(dict(i, n, sigma, sigma_next, x, denoised))`` after each step. ``sample`` in ``sample.py`` is the entry
point that builds D, the noise levels and the initial noise.
"""

from __future__ import annotations

import math

from ..checks import whole_number
from .random import randn

__all__ = ["ddim", "ddpm", "dpmpp_2m", "euler_maruyama", "heun", "pc", "SAMPLERS", "NFE_PER_STEP"]


def _report(callback, i, n, sigma, sigma_next, x, denoised):
    if callback is not None:
        callback({"i": i, "n": n, "sigma": sigma, "sigma_next": sigma_next, "x": x, "denoised": denoised})


def _noise(x, generator):
    return randn(x.shape, generator, x.device, x.dtype)


def ddim(D, x, sigmas, generator=None, callback=None, eta: float = 0.0):
    """DDIM (Song, Meng & Ermon 2021, eq. 12); eta = 0 is the deterministic probability-flow sampler, eta = 1
    the DDPM ancestral sampler with the posterior variance (Ho et al. 2020); values above 1 add noise up to
    sigma_next."""
    if not (math.isfinite(eta) and eta >= 0):
        raise ValueError(f"ddim: eta must be a finite number >= 0 (0 deterministic, 1 DDPM), got {eta}")
    n = len(sigmas) - 1
    for i in range(n):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        x0 = D(x, sigma)
        # split sigma_next into a deterministic part (along the predicted noise) and fresh noise
        sigma_up = min(sigma_next, eta * math.sqrt(max(sigma_next**2 * (sigma**2 - sigma_next**2), 0.0)) / sigma)
        sigma_down = math.sqrt(max(sigma_next**2 - sigma_up**2, 0.0))
        x = x0 + (x - x0) * (sigma_down / sigma)
        if sigma_up > 0:
            x = x + sigma_up * _noise(x, generator)
        _report(callback, i, n, sigma, sigma_next, x, x0)
    return x


def ddpm(D, x, sigmas, generator=None, callback=None):
    """DDPM ancestral sampling (Ho et al. 2020, Alg. 2) with variance beta_tilde: DDIM with eta = 1."""
    return ddim(D, x, sigmas, generator, callback, eta=1.0)


def dpmpp_2m(D, x, sigmas, generator=None, callback=None):
    """DPM-Solver++(2M) (Lu et al. 2022, Alg. 2), multistep second order in lambda = -log sigma."""
    n = len(sigmas) - 1
    x0_prev, h_prev = None, None
    for i in range(n):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        x0 = D(x, sigma)
        if sigma_next == 0:
            x = x0  # the last step lands on the data estimate
        else:
            h = math.log(sigma / sigma_next)  # lambda_next - lambda
            x0_hat = x0
            if x0_prev is not None:
                r = h_prev / h
                x0_hat = (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * x0_prev
            x = (sigma_next / sigma) * x - math.expm1(-h) * x0_hat
            h_prev = h
        x0_prev = x0
        _report(callback, i, n, sigma, sigma_next, x, x0)
    return x


def euler_maruyama(D, x, sigmas, generator=None, callback=None):
    """Euler-Maruyama on the reverse-time SDE of the VE process, dx = -d(sigma^2) score + sqrt(d(sigma^2)) dw
    (Song et al. 2021, eq. 6; their "reverse diffusion" predictor); the last step returns the denoised mean."""
    n = len(sigmas) - 1
    for i in range(n):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        x0 = D(x, sigma)
        x = _reverse_sde_step(x, x0, sigma, sigma_next, generator)
        _report(callback, i, n, sigma, sigma_next, x, x0)
    return x


def _reverse_sde_step(x, x0, sigma, sigma_next, generator):
    if sigma_next == 0:
        return x0
    dvar = sigma**2 - sigma_next**2
    score = (x0 - x) / sigma**2
    return x + dvar * score + math.sqrt(dvar) * _noise(x, generator)


# Heun corrects a step only where the noise level falls by less than this factor: its trapezoid multiplies the
# change in the x0 estimate over the step by sigma / sigma_next, so across a large drop (the first trailing step of
# a cosine schedule goes from sigma 10^4 to 16) it amplifies errors instead of cancelling them; there the Euler step
# is kept, which is exact when the x0 estimate is constant over the step (the DDIM step).
MAX_HEUN_RATIO = 10.0


def heun(
    D,
    x,
    sigmas,
    generator=None,
    callback=None,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
):
    """Heun's second-order method on the probability-flow ODE dx/dsigma = (x - D(x, sigma)) / sigma, with optional
    stochastic churn (Karras et al. 2022, Alg. 2): before each step, noise is added to raise sigma by a factor
    1 + gamma, gamma = min(s_churn / n, sqrt(2) - 1) for sigma in [s_tmin, s_tmax]. Steps to sigma 0, and steps where
    sigma falls by more than ``MAX_HEUN_RATIO``, stay Euler steps."""
    for name, value in (("s_churn", s_churn), ("s_noise", s_noise)):
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"heun: {name} must be a finite number >= 0, got {value}")
    if not s_tmin <= s_tmax:  # also NaN
        raise ValueError(f"heun: need s_tmin <= s_tmax, got {s_tmin}, {s_tmax}")
    n = len(sigmas) - 1
    for i in range(n):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        gamma = min(s_churn / n, math.sqrt(2) - 1) if s_tmin <= sigma <= s_tmax else 0.0
        sigma_hat = sigma * (1 + gamma)
        if gamma > 0:
            x = x + math.sqrt(sigma_hat**2 - sigma**2) * s_noise * _noise(x, generator)
        x0 = D(x, sigma_hat)
        d = (x - x0) / sigma_hat
        x_next = x + (sigma_next - sigma_hat) * d  # Euler step
        if sigma_next > sigma_hat / MAX_HEUN_RATIO:  # second-order correction (trapezoid)
            d_next = (x_next - D(x_next, sigma_next)) / sigma_next
            x_next = x + (sigma_next - sigma_hat) * 0.5 * (d + d_next)
        x = x_next
        _report(callback, i, n, sigma, sigma_next, x, x0)
    return x


def pc(D, x, sigmas, generator=None, callback=None, snr: float = 0.1, n_corrector: int = 1):
    """Predictor-corrector sampling (Song et al. 2021, Alg. 4-5): at each noise level ``n_corrector`` Langevin
    steps, then a reverse-SDE predictor step.

    The Langevin step size is 2 (snr * sigma)^2: Song et al.'s 2 (snr |z| / |score|)^2 with the norms replaced
    by their values at high noise (|z|^2 = d, |score|^2 = d / sigma^2). Their rule takes the norms from the
    current batch, which couples the samples and, per sample, biases the stationary law (measured: +30% variance
    in 8-D); this one keeps every sample an independent chain whose bias is at most snr^2 in relative variance.
    """
    if not 0 < snr < 1:  # a step of 2 (snr sigma)^2 with snr >= 1 overshoots the noise level it corrects at
        raise ValueError(f"pc: snr must lie in (0, 1), got {snr}")
    whole_number(n_corrector, "pc: n_corrector", 0)
    n = len(sigmas) - 1
    for i in range(n):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        step = 2 * (snr * sigma) ** 2
        for _ in range(n_corrector):
            score = (D(x, sigma) - x) / sigma**2
            x = x + step * score + math.sqrt(2 * step) * _noise(x, generator)
        x0 = D(x, sigma)
        x = _reverse_sde_step(x, x0, sigma, sigma_next, generator)
        _report(callback, i, n, sigma, sigma_next, x, x0)
    return x


SAMPLERS = {"ddpm": ddpm, "ddim": ddim, "dpmpp_2m": dpmpp_2m, "euler_maruyama": euler_maruyama, "heun": heun, "pc": pc}

# denoiser calls per step (heun saves one on the last step, pc adds its corrector calls)
NFE_PER_STEP = {"ddpm": 1, "ddim": 1, "dpmpp_2m": 1, "euler_maruyama": 1, "heun": 2, "pc": 2}
