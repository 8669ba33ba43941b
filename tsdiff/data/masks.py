"""Training-mask strategies: which observed entries a training example hides and asks the model to recover.

Each takes the observed mask (B, K, L) bool and returns the conditioning mask (the entries kept as observed,
a subset of obs_mask); the training targets are obs_mask & ~cond_mask (Tashiro et al. 2021, sec. 4.3;
PyPOTS's names for the same strategies).
"""

from __future__ import annotations

import torch

from ..core.random import rand, randint

__all__ = [
    "random_mask",
    "historical_mask",
    "block_mask",
    "forecast_mask",
    "mix_mask",
    "training_mask",
    "MASK_STRATEGIES",
]


def random_mask(obs_mask: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Hide a share r ~ U(0, 1) of each example's observed entries, chosen uniformly (CSDI "random")."""
    b = obs_mask.shape[0]
    flat = obs_mask.reshape(b, -1)
    ratio = rand((b, 1), generator, obs_mask.device)  # (B, 1)
    n_hide = torch.round(flat.sum(1, keepdim=True) * ratio)  # (B, 1)
    score = rand(flat.shape, generator, obs_mask.device)
    score = torch.where(flat, score, torch.full_like(score, -1.0))  # unobserved entries never chosen
    rank = score.argsort(dim=1, descending=True).argsort(dim=1)  # 0 = highest score
    hide = (rank < n_hide) & flat
    return (flat & ~hide).reshape(obs_mask.shape)


def historical_mask(
    obs_mask: torch.Tensor, pattern_pool: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Hide what another example's missing pattern would hide: cond = obs & pattern, with the pattern drawn from
    ``pattern_pool`` (P, K, L) bool (CSDI "hist"; in AQI-36 the pool is the data's own missing patterns)."""
    idx = randint(pattern_pool.shape[0], (obs_mask.shape[0],), generator, pattern_pool.device)
    return obs_mask & pattern_pool[idx].to(obs_mask.device)


def block_mask(
    obs_mask: torch.Tensor, generator: torch.Generator | None = None, max_len: float = 0.5, p_feature: float = 0.5
) -> torch.Tensor:
    """Blackout blocks: for each example one time span (length up to ``max_len`` of L) is hidden in a random
    subset of features (each with probability ``p_feature``), the "block missing" of sensor networks."""
    b, k, l = obs_mask.shape
    dev = obs_mask.device
    length = (rand((b,), generator, dev) * max_len * l).long().clamp(min=1)  # (B,)
    start = (rand((b,), generator, dev) * (l - length + 1)).long()
    t = torch.arange(l, device=dev)
    in_span = (t[None] >= start[:, None]) & (t[None] < (start + length)[:, None])  # (B, L)
    feats = rand((b, k), generator, dev) < p_feature  # (B, K)
    hide = feats[:, :, None] & in_span[:, None, :]
    return obs_mask & ~hide


def forecast_mask(obs_mask: torch.Tensor, horizon: int) -> torch.Tensor:
    """Hide the last ``horizon`` time steps of every window: the model learns to continue a series
    (forecasting as imputation of the future; Tashiro et al. 2021, sec. 6.3)."""
    if not 1 <= horizon < obs_mask.shape[-1]:
        raise ValueError(
            f"forecast horizon must be in [1, {obs_mask.shape[-1] - 1}] for windows of "
            f"{obs_mask.shape[-1]} steps, got {horizon}"
        )
    keep = torch.ones(obs_mask.shape[-1], dtype=torch.bool, device=obs_mask.device)
    keep[-horizon:] = False
    return obs_mask & keep


def mix_mask(obs_mask: torch.Tensor, pattern_pool: torch.Tensor, generator: torch.Generator | None = None):
    """Per example, "random" or "historical" with probability 1/2 each (CSDI "mix")."""
    use_random = (rand((obs_mask.shape[0],), generator, obs_mask.device) < 0.5)[:, None, None]
    return torch.where(use_random, random_mask(obs_mask, generator), historical_mask(obs_mask, pattern_pool, generator))


MASK_STRATEGIES = ("random", "historical", "mix", "block", "forecast")


def training_mask(
    strategy: str, obs_mask: torch.Tensor, generator=None, pattern_pool=None, horizon: int | None = None
) -> torch.Tensor:
    """Dispatch on the strategy's name; "historical" and "mix" need ``pattern_pool``, "forecast" ``horizon``."""
    if strategy == "forecast":
        if horizon is None:
            raise ValueError("mask strategy 'forecast' needs a horizon")
        return forecast_mask(obs_mask, horizon)
    if strategy == "random":
        return random_mask(obs_mask, generator)
    if strategy == "block":
        return block_mask(obs_mask, generator)
    if strategy in ("historical", "mix"):
        if pattern_pool is None or len(pattern_pool) == 0:
            raise ValueError(f"mask strategy {strategy!r} needs a pool of missing patterns (pattern_pool)")
        fn = historical_mask if strategy == "historical" else mix_mask
        return fn(obs_mask, pattern_pool, generator)
    raise ValueError(f"unknown mask strategy {strategy!r}; expected one of {MASK_STRATEGIES}")
