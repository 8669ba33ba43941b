from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tsdiff.core import Condition
from tsdiff.models import CSDIDenoiser, build_model
from tsdiff.models.csdi import Attention, interpolate_observed


def _inputs(b=3, k=5, l=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, k, l, generator=g)
    mask = torch.rand(b, k, l, generator=g) < 0.4
    return (
        x,
        torch.randint(0, 50, (b,), generator=g).float(),
        Condition(observed=torch.randn(b, k, l, generator=g), obs_mask=mask),
    )


def test_reference_preset_has_the_reference_parameter_count():
    model = CSDIDenoiser.preset("reference", n_features=35)
    assert sum(p.numel() for p in model.parameters()) == 414_065  # ermongroup/CSDI at K = 35


def test_attention_under_cpu_bf16_autocast_runs_sdpa_in_fp32():
    """PyTorch's CPU SDPA is 1.2-4x slower in bf16 at CSDI's head sizes, so training under CPU bf16 autocast
    computes it in fp32; the products around it stay bf16 and gradients flow as in fp32. (Heads of 32 channels:
    tsdiff's attention kernel, which takes smaller heads, is not used.)"""
    torch.manual_seed(0)
    attn = Attention(64, 2, dropout=0.0, kind="softmax").train()
    x = torch.randn(2, 12, 3, 64, requires_grad=True)  # (A, S, B, C)
    real, seen = F.scaled_dot_product_attention, []

    def spy(q, k, v, **kwargs):
        y = real(q, k, v, **kwargs)
        seen.append((q.dtype, y.dtype))
        return y

    with mock.patch.object(F, "scaled_dot_product_attention", spy):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = attn(x)
        grad_bf16 = torch.autograd.grad(y.float().square().sum(), x)[0]
        y32 = attn(x)
        grad_fp32 = torch.autograd.grad(y32.square().sum(), x)[0]
    assert seen == [(torch.float32, torch.float32)] * 2  # under autocast too: fp32 in, fp32 out
    assert y.dtype == torch.bfloat16  # the output projection is a bf16 product, as under autocast anywhere
    torch.testing.assert_close(y.float(), y32, rtol=0.05, atol=0.02)
    torch.testing.assert_close(grad_bf16, grad_fp32, rtol=0.1, atol=0.05)


def test_small_preset_trains_without_dropout_and_reference_keeps_it():
    x, t, cond = _inputs()
    small = CSDIDenoiser.preset("small", n_features=5).train()  # no dropout: the same output at every call
    torch.nn.init.normal_(small.output.weight)
    torch.testing.assert_close(small(x, t, cond), small(x, t, cond), rtol=0, atol=0)
    reference = CSDIDenoiser.preset("reference", n_features=5).train()  # the reference's dropout 0.1
    torch.nn.init.normal_(reference.output.weight)
    assert not torch.equal(reference(x, t, cond), reference(x, t, cond))


@pytest.mark.parametrize("attention, interpolated", [("softmax", False), ("linear", False), ("softmax", True)])
def test_output_shape_and_masked_inputs_are_ignored(attention, interpolated):
    model = CSDIDenoiser.preset("small", n_features=5, attention=attention, interpolated_input=interpolated).eval()
    torch.nn.init.normal_(model.output.weight)  # the zero-initialised output would hide everything
    x, t, cond = _inputs()
    out = model(x, t, cond)
    assert out.shape == x.shape
    # the noisy input is not read where a value is observed, and observed values are not read elsewhere
    x2 = torch.where(cond.obs_mask, x + 100.0, x)
    obs2 = torch.where(cond.obs_mask, cond.observed, cond.observed - 100.0)
    cond2 = Condition(observed=obs2, obs_mask=cond.obs_mask)
    torch.testing.assert_close(model(x2, t, cond2), out)
    # ... but both matter where they are read
    assert not torch.allclose(model(x + 1.0, t, cond), out)
    assert not torch.allclose(model(x, t, Condition(observed=cond.observed + 1.0, obs_mask=cond.obs_mask)), out)


def test_sampling_and_training_paths_compute_the_same_function():
    # sampling feeds strided q, k, v views to attention; training copies them (faster backward): same output
    model = CSDIDenoiser.preset("reference", n_features=5).eval()
    torch.nn.init.normal_(model.output.weight)
    x, t, cond = _inputs()
    with torch.no_grad():
        sampled = model(x, t, cond)
    trained = model(x, t, cond)
    assert trained.requires_grad
    torch.testing.assert_close(sampled, trained, rtol=1e-5, atol=1e-5)


def test_model_depends_on_step_and_time_positions():
    model = CSDIDenoiser.preset("small", n_features=5).eval()
    torch.nn.init.normal_(model.output.weight)
    x, t, cond = _inputs()
    out = model(x, t, cond)
    assert not torch.allclose(model(x, t + 5, cond), out)
    shifted = Condition(observed=cond.observed, obs_mask=cond.obs_mask, side=torch.arange(7.0).expand(3, 7) * 2)
    assert not torch.allclose(model(x, t, shifted), out)


def test_rebuild_from_description_and_bad_shapes():
    model = CSDIDenoiser.preset("small", n_features=4)
    rebuilt = build_model(model.describe())
    rebuilt.load_state_dict(model.state_dict())
    with pytest.raises(ValueError, match="K=4"):
        model(torch.randn(2, 5, 6), torch.zeros(2))
    with pytest.raises(ValueError, match="unknown CSDI preset"):
        CSDIDenoiser.preset("huge", 4)
    with pytest.raises(ValueError, match="channels 30 is not a multiple of heads 8"):
        CSDIDenoiser(n_features=4, channels=30, heads=8)


def test_cpu_dropout_keeps_the_distribution_of_nn_dropout():
    from tsdiff.models.csdi import Dropout

    drop = Dropout(0.3).train()
    x = torch.rand(400, 1000) + 1.0
    y = drop(x)
    kept = y != 0
    assert abs(kept.float().mean().item() - 0.7) < 0.005
    torch.testing.assert_close(y[kept], x[kept] / 0.7)
    assert torch.equal(drop.eval()(x), x)


@pytest.mark.parametrize("n", [4, 1000])  # one chunk, and several (WEIGHTS_PER_CHUNK made small)
def test_attention_with_dropout_is_unbiased_and_exact_without_dropout(n, monkeypatch):
    import torch.nn.functional as F

    from tsdiff.models import csdi
    from tsdiff.models.csdi import attention_on_cpu

    monkeypatch.setattr(csdi, "WEIGHTS_PER_CHUNK", 2 * 9 * 9 * 4 * 3)  # three sequences per chunk
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(n, 2, 9, 8, generator=g) for _ in range(3))
    exact = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(attention_on_cpu(q, k, v, 1e-12), exact)
    torch.testing.assert_close(attention_on_cpu(q, k, v), exact)
    if n == 4:
        draws = torch.stack([attention_on_cpu(q, k, v, 0.5) for _ in range(4000)])
        mean_err = (draws.mean(0) - exact).abs().max()
        assert mean_err < 6 * draws.std(0).max() / 4000**0.5  # the Monte-Carlo error of the mean, with margin
    q.requires_grad_(True)
    attention_on_cpu(q, k, v, 0.1).sum().backward()
    assert torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0


def test_interpolate_observed_matches_numpy_interp():
    g = torch.Generator().manual_seed(1)
    values = torch.randn(4, 3, 9, generator=g)
    mask = torch.rand(4, 3, 9, generator=g) < 0.35
    mask[0, 0] = False  # a row without observations -> 0
    mask[1, 1] = False
    mask[1, 1, 4] = True  # a single observation -> constant
    pos = torch.cumsum(torch.rand(4, 9, generator=g) + 0.1, dim=1)  # irregular, increasing time points
    out = interpolate_observed(torch.where(mask, values, 0.0), mask, pos)
    for b in range(4):
        for k in range(3):
            m = mask[b, k].numpy()
            expected = np.interp(pos[b].numpy(), pos[b].numpy()[m], values[b, k].numpy()[m]) if m.any() else np.zeros(9)
            np.testing.assert_allclose(out[b, k].numpy(), expected, rtol=1e-5, atol=1e-6)
