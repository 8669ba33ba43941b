"""Point and probabilistic scores of imputations and forecasts on target entries.

``samples`` are (S, ...) draws, ``target`` and ``mask`` (...) with mask True on the entries to score.
"""

from __future__ import annotations

import torch

__all__ = [
    "mae",
    "rmse",
    "mre",
    "crps_quantile",
    "crps_ensemble",
    "interval_coverage",
    "pit_values",
    "QUANTILE_LEVELS",
]

QUANTILE_LEVELS = tuple(round(0.05 * i, 2) for i in range(1, 20))  # 0.05 .. 0.95, CSDI's 19 levels


def _check(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor):
    if pred.shape != target.shape or mask.shape != target.shape:
        raise ValueError(
            f"shapes differ: prediction {tuple(pred.shape)}, target {tuple(target.shape)}, mask {tuple(mask.shape)}"
        )
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool:
        raise TypeError(f"mask must be a torch.bool tensor, got {type(mask).__name__} of {mask.dtype}")
    if not mask.any():
        raise ValueError("mask selects no entries to score")
    return pred[mask].to(torch.float64), target[mask].to(torch.float64)


def _check_shape(samples: torch.Tensor, target: torch.Tensor) -> None:
    if samples.shape[1:] != target.shape:
        raise ValueError(f"samples {tuple(samples.shape)} must be (S, *target.shape) with target {tuple(target.shape)}")


def _masked_samples(samples: torch.Tensor, target: torch.Tensor, mask: torch.Tensor):
    """(S, n) draws and (n,) targets at the masked entries, in float64, after checking shapes and values."""
    _check_shape(samples, target)
    _check(target, target, mask)
    s = samples[:, mask].to(torch.float64)
    if not torch.isfinite(s).all():
        raise ValueError("samples hold NaN or inf at entries the mask scores")
    return s, target[mask].to(torch.float64)


def mae(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    p, t = _check(pred, target, mask)
    return float((p - t).abs().mean())


def rmse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    p, t = _check(pred, target, mask)
    return float(((p - t) ** 2).mean().sqrt())


def mre(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> float:
    """Mean relative error sum|pred - target| / sum|target| (as in BRITS, SAITS, PyPOTS)."""
    p, t = _check(pred, target, mask)
    return float((p - t).abs().sum() / t.abs().sum())


def crps_quantile(samples: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, levels=QUANTILE_LEVELS) -> float:
    """CSDI's normalised CRPS: mean over the quantile levels of 2 sum|(q - y)(1{y <= q} - level)| / sum|y|,
    with the quantiles of the samples per entry (linear interpolation, torch.quantile) (Tashiro et al. 2021, eq. 20,
    as computed in the reference code)."""
    s, y = _masked_samples(samples, target, mask)  # (S, M), (M,)
    lv = torch.tensor(levels, dtype=torch.float64, device=s.device)[:, None]  # (Q, 1)
    q = torch.quantile(s, lv[:, 0], dim=0)  # (Q, M)
    pinball = 2 * ((q - y) * ((y <= q).to(torch.float64) - lv)).abs().sum(1)  # (Q,)
    return float((pinball / y.abs().sum()).mean())


def crps_ensemble(
    samples: torch.Tensor, target: torch.Tensor, mask: torch.Tensor | None = None, fair: bool = True
) -> torch.Tensor | float:
    """CRPS of an ensemble per entry: E|X - y| - 1/2 E|X - X'|, with the unbiased ("fair") spread term
    1 / (S (S - 1)) sum_{i != j} |x_i - x_j| (Ferro 2014) or the plain 1 / S^2 one. Computed in O(S log S) per entry
    from sorted members. Returns the mean over masked entries, or per-entry values when mask is None."""
    _check_shape(samples, target)
    n = samples.shape[0]
    x = samples.to(torch.float64)
    skill = (x - target.to(torch.float64)).abs().mean(0)
    if n == 1:
        spread = torch.zeros_like(skill)
    else:
        xs = x.sort(0).values
        i = torch.arange(n, dtype=torch.float64, device=x.device).reshape(-1, *([1] * target.dim()))
        pair_sum = (2 * (2 * i - n + 1) * xs).sum(0)  # sum_{i,j} |x_i - x_j| from the order statistics
        spread = pair_sum / (n * (n - 1) if fair else n * n)
    crps = skill - 0.5 * spread
    if mask is None:
        return crps
    _check(target, target, mask)
    return float(crps[mask].mean())


def interval_coverage(samples: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, level: float = 0.9) -> float:
    """Share of masked targets inside the central ``level`` interval of the samples (e.g. 5%-95%)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    s, y = _masked_samples(samples, target, mask)
    bounds = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=torch.float64, device=s.device)
    lo, hi = torch.quantile(s, bounds, dim=0)
    return float(((y >= lo) & (y <= hi)).to(torch.float64).mean())


def pit_values(
    samples: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Probability integral transform of each masked target under its S draws, randomised over ties and the
    ensemble's discreteness: (#{x_s < y} + U (#{x_s == y} + 1)) / (S + 1), U ~ U(0, 1). Uniform on (0, 1) when the
    target is exchangeable with the draws (Gneiting et al. 2007); a U shape means too narrow, a dome too wide."""
    s, y = _masked_samples(samples, target, mask)  # (S, n), (n,)
    below = (s < y).sum(0).to(torch.float64)
    ties = (s == y).sum(0).to(torch.float64)
    draw_on = generator.device if generator is not None else y.device
    u = torch.rand(y.shape, generator=generator, dtype=torch.float64, device=draw_on).to(y.device)
    return (below + u * (ties + 1)) / (samples.shape[0] + 1)
