"""Baseline generators of windows, each ``baseline(real (N, L, K), n, seed) -> (n, L, K)``.

bootstrap       real windows drawn with replacement: a copy of the data, the best any score can be
                (and a reminder that a score alone cannot tell a generator from a memoriser)
gaussian        a multivariate normal over whole windows (mean and covariance of the L*K values)
var             a vector autoregression of order p fitted by least squares to the steps of the windows; each
                window starts from the first p steps of a random real window, is simulated with Gaussian
                innovations for L steps, and the simulated L steps are returned
"""

from __future__ import annotations

import numpy as np

__all__ = ["bootstrap", "gaussian", "var", "SYNTHESIS_BASELINES"]


def _check(real: np.ndarray, n: int) -> np.ndarray:
    real = np.asarray(real, dtype=np.float64)
    if real.ndim != 3:
        raise ValueError(f"real windows must be (N, L, K), got shape {real.shape}")
    if not np.isfinite(real).all():
        raise ValueError("real windows hold NaN or inf")
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    return real


def bootstrap(real, n: int, seed: int = 0) -> np.ndarray:
    real = _check(real, n)
    return real[np.random.default_rng(seed).integers(len(real), size=n)]


def gaussian(real, n: int, seed: int = 0) -> np.ndarray:
    real = _check(real, n)
    flat = real.reshape(len(real), -1)  # (N, L*K)
    draws = np.random.default_rng(seed).multivariate_normal(flat.mean(0), np.cov(flat, rowvar=False), size=n)
    return draws.reshape(n, *real.shape[1:])


def var(real, n: int, seed: int = 0, order: int = 2) -> np.ndarray:
    real = _check(real, n)
    m, length, k = real.shape
    if not 1 <= order < length:
        raise ValueError(f"order must be in 1..{length - 1}, got {order}")
    # x[t] = c + sum_j A_j x[t-j] + e: one regression row per (window, t >= order)
    lags = np.concatenate([real[:, order - j : length - j] for j in range(1, order + 1)], axis=2)  # (N, L-p, p*K)
    design = np.concatenate([np.ones((*lags.shape[:2], 1)), lags], axis=2).reshape(-1, 1 + order * k)
    target = real[:, order:].reshape(-1, k)
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)  # (1 + p*K, K)
    noise_cov = np.cov(target - design @ coef, rowvar=False).reshape(k, k)
    rng = np.random.default_rng(seed)
    state = real[rng.integers(m, size=n), :order]  # (n, p, K) the last p steps, oldest first
    out = np.empty((n, length, k))
    for t in range(length):
        lagged = np.concatenate([state[:, order - j] for j in range(1, order + 1)], axis=1)  # (n, p*K)
        x = coef[0] + lagged @ coef[1:] + rng.multivariate_normal(np.zeros(k), noise_cov, size=n)
        out[:, t] = x
        state = np.concatenate([state[:, 1:], x[:, None]], axis=1)
    return out


SYNTHESIS_BASELINES = {"bootstrap": bootstrap, "gaussian": gaussian, "var": var}
