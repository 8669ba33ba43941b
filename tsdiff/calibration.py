"""Split-conformal calibration of an ensemble's spread: one factor per feature for the draws' deviations from their
median, fitted on held-out targets so that the central ``level`` interval covers ``level`` of them.

For a held-out target y with draws d_1 .. d_S, their median m and central interval [lo, hi] (the (1 - level) / 2
and (1 + level) / 2 quantiles), the conformity score is

    r = max((m - y) / (m - lo), (y - m) / (hi - m)),

the factor by which the interval must be stretched about m to reach y. With n scores, the factor s = the
ceil((n + 1) level)-th smallest of them gives intervals m + s (lo - m) .. m + s (hi - m) that cover a new
exchangeable target with probability >= level (split conformal prediction, Vovk et al. 2005; Lei et al. 2018; the
interval scaled about a centre as in Romano et al. 2019's conformalized quantile regression). Multiplying the
deviations d_s - m by s moves every quantile of the draws the same way, so the whole ensemble is rescaled, not only
its 90% interval: scores such as CRPS are computed on the rescaled draws as on any others.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["conformity_scores", "spread_scale", "rescale_spread"]


def conformity_scores(draws: np.ndarray, truth: np.ndarray, level: float = 0.9) -> np.ndarray:
    """draws (S, n), truth (n,) -> (n,) the factor by which each central ``level`` interval must be stretched about
    the draws' median to contain its target (0 at the median, 1 on the interval's edge, inf where the draws have no
    spread on the target's side)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    lo, m, hi = np.quantile(draws, [(1 - level) / 2, 0.5, (1 + level) / 2], axis=0)
    below, above = m - truth, truth - m
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(below > 0, below / (m - lo), np.where(above > 0, above / (hi - m), 0.0))


def _conformal_quantile(scores: np.ndarray, level: float) -> float:
    n = scores.size
    rank = min(n, math.ceil((n + 1) * level - 1e-9))  # the finite-sample correction of split conformal prediction
    return float(np.partition(scores, rank - 1)[rank - 1])


def spread_scale(
    draws: np.ndarray, truth: np.ndarray, target_mask: np.ndarray, level: float = 0.9, min_targets: int = 50
) -> np.ndarray:
    """Per-feature spread factors (K,) from held-out targets.

    draws (N, S, L, K); truth (N, L, K); target_mask (N, L, K) bool, the held-out entries scored. Features with
    fewer than ``min_targets`` targets take the factor of all targets pooled.
    """
    draws, truth, target_mask = np.asarray(draws), np.asarray(truth), np.asarray(target_mask)
    if not 0.0 < level < 1.0:  # also NaN
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if target_mask.dtype != bool:
        raise TypeError(f"target_mask must be a boolean array, got {target_mask.dtype}")
    if draws.ndim != 4 or truth.shape != draws.shape[:1] + draws.shape[2:] or target_mask.shape != truth.shape:
        raise ValueError(
            f"draws must be (N, S, L, K) with truth and target_mask (N, L, K); got {draws.shape}, {truth.shape}, "
            f"{target_mask.shape}"
        )
    if draws.shape[1] < 2:
        raise ValueError("calibrating the spread needs at least 2 draws per window")
    n = int(target_mask.sum())
    needed = math.ceil(level / (1 - level) - 1e-9)  # the smallest n with ceil((n + 1) level) <= n
    if n < needed:
        raise ValueError(f"{n} held-out targets are too few to calibrate a {level:.0%} interval: need >= {needed}")
    if np.isnan(truth[target_mask]).any():
        raise ValueError("target_mask marks entries whose true value is missing (NaN)")
    if np.isinf(truth[target_mask]).any():
        raise ValueError("target_mask marks entries whose true value is infinite")
    scored = draws.transpose(1, 0, 2, 3)[:, target_mask]  # (S, n): the draws at the held-out targets, gathered once
    if not np.isfinite(scored).all():
        raise ValueError("the draws hold NaN or inf at held-out targets: a failed sampling run cannot be calibrated")
    feature = np.broadcast_to(np.arange(truth.shape[-1]), truth.shape)[target_mask]  # (n,)
    scores = conformity_scores(scored, truth[target_mask], level)
    pooled = _conformal_quantile(scores, level)
    scale = np.full(truth.shape[-1], pooled)
    for k in range(truth.shape[-1]):
        own = scores[feature == k]
        if own.size >= max(min_targets, needed):
            scale[k] = _conformal_quantile(own, level)
    if not np.isfinite(scale).all():
        raise ValueError(
            "the draws have no spread around too many held-out targets (identical draws that miss the truth): "
            "the spread cannot be calibrated; check the model or draw more samples"
        )
    return scale


def rescale_spread(draws: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """draws (N, S, L, K) -> the same array, each feature's deviations from the per-entry median multiplied by
    scale (K,) in place (float arrays; the median of each entry is unchanged)."""
    scale = np.asarray(scale)
    if draws.ndim != 4 or scale.shape != (draws.shape[-1],):  # checked before the draws are changed in place
        raise ValueError(f"draws must be (N, S, L, K) and scale (K,); got {draws.shape} and {scale.shape}")
    median = np.median(draws, axis=1, keepdims=True)  # (N, 1, L, K)
    draws -= median
    draws *= scale.astype(draws.dtype)
    draws += median
    return draws
