import pytest
import torch

from tsdiff.data.masks import block_mask, historical_mask, mix_mask, random_mask, training_mask


def _obs(b=512, k=6, l=10, seed=0):
    return torch.rand(b, k, l, generator=torch.Generator().manual_seed(seed)) < 0.6


def test_random_mask_hides_a_uniform_share_of_observed_entries():
    obs = _obs()
    cond = random_mask(obs, torch.Generator().manual_seed(1))
    assert not (cond & ~obs).any()  # only observed entries are kept
    share = 1 - cond.sum((1, 2)).float() / obs.sum((1, 2)).float()
    assert 0.45 < float(share.mean()) < 0.55  # U(0, 1) on average
    assert float(share.min()) < 0.1 and float(share.max()) > 0.9


def test_historical_and_mix_masks_use_the_pool():
    obs = _obs()
    pool = _obs(4, seed=3)
    cond = historical_mask(obs, pool, torch.Generator().manual_seed(0))
    assert not (cond & ~obs).any()
    assert all(any(torch.equal(c & ~p, torch.zeros_like(c)) for p in pool) for c in cond[:20])
    mixed = mix_mask(obs, pool, torch.Generator().manual_seed(0))
    assert not (mixed & ~obs).any()


def test_block_mask_hides_contiguous_spans():
    obs = torch.ones(64, 5, 20, dtype=torch.bool)
    cond = block_mask(obs, torch.Generator().manual_seed(0))
    hidden = ~cond
    for h in hidden:
        times = h.any(0).nonzero().flatten()
        if len(times):
            assert times.max() - times.min() + 1 == len(times)  # one span


def test_strategy_errors():
    with pytest.raises(ValueError, match="pool"):
        training_mask("historical", _obs(4))
    with pytest.raises(ValueError, match="unknown mask strategy"):
        training_mask("zigzag", _obs(4))
