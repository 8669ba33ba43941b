"""The fused elementwise kernels of CSDI sampling on a CPU: each equal to the PyTorch ops it replaces, the model
equal with and without them, used only where they apply, and bad input refused."""

import pytest
import torch
import torch.nn.functional as F
from conftest import needs_cpu_kernels

from tsdiff.core import Condition
from tsdiff.models import CSDIDenoiser, cpu_attention, cpu_fused, cpu_kernels

pytestmark = needs_cpu_kernels
G = torch.Generator().manual_seed(0)


def _randn(*shape, scale=1.0):
    return torch.randn(*shape, generator=G) * scale


@pytest.mark.parametrize("c", [64, 32, 20, 7])  # whole vectors, and a tail shorter than one
def test_residual_layer_norm_equals_layer_norm_of_the_sum(c):
    norm = torch.nn.LayerNorm(c)
    with torch.no_grad():
        norm.weight.copy_(_randn(c)), norm.bias.copy_(_randn(c))
    y, x, bias = _randn(3, 5, 1, c, scale=3.0), _randn(3, 5, 1, c) + 2.0, _randn(c)
    with torch.no_grad():
        torch.testing.assert_close(cpu_fused.residual_layer_norm(y, bias, x, norm), norm(x + y + bias))
        torch.testing.assert_close(cpu_fused.residual_layer_norm(y, None, x, norm), norm(x + y))
        constant = cpu_fused.residual_layer_norm(torch.ones(2, c), None, torch.ones(2, c), norm)  # zero variance
    torch.testing.assert_close(constant, norm.bias.detach().expand(2, c))


@pytest.mark.parametrize("c", [64, 20])
def test_bias_gelu_equals_gelu_to_float_rounding(c):
    y, bias = _randn(50, c, scale=4.0), _randn(c)
    y[0, :6] = torch.tensor([100.0, -100.0, 1e-8, -1e-8, 0.0, 9.0])  # saturated, tiny, zero
    torch.testing.assert_close(cpu_fused.bias_gelu(y, bias), F.gelu(y + bias), rtol=1e-5, atol=1e-6)
    nan = y.clone()
    nan[1, 0] = float("nan")
    assert cpu_fused.bias_gelu(nan, bias)[1, 0].isnan()


@pytest.mark.parametrize("c", [64, 10])
def test_csdi_gate_equals_the_gated_activation_of_the_summed_side_information(c):
    b, k, l = 2, 5, 7
    mid, time_part, feature_part = _randn(b, k, l, 2 * c, scale=3.0), _randn(b, l, 2 * c), _randn(k, 2 * c)
    mid[0, 0, 0, :4] = torch.tensor([60.0, -60.0, 1e-7, -1e-7])  # saturated gates and tiny ones
    mid[0, 0, 0, c : c + 4] = torch.tensor([-60.0, 60.0, 1e-7, -1e-7])
    cond_mask, mask_weight = torch.rand(b, k, l, generator=G) < 0.5, _randn(2 * c)
    total = mid + time_part[:, None] + feature_part[None, :, None] + cond_mask[..., None] * mask_weight
    gate, filt = total.chunk(2, dim=-1)
    fused = cpu_fused.csdi_gate(mid, time_part, feature_part, cond_mask, mask_weight)
    torch.testing.assert_close(fused, torch.sigmoid(gate) * torch.tanh(filt), rtol=1e-5, atol=1e-6)
    tiny = torch.tensor([1e-6, -3e-4, 0.01, -0.06, 0.07]).repeat(2 * c // 5 + 1)[: 2 * c]  # tanh's series range
    zero = torch.zeros(1, 1, 1, 2 * c)
    args = (zero[0], zero[0, 0], torch.zeros(1, 1, 1, dtype=torch.bool), zero[0, 0, 0])
    small = cpu_fused.csdi_gate(torch.cat([torch.zeros(c), tiny[:c]]).view(1, 1, 1, 2 * c), *args)
    torch.testing.assert_close(small.flatten(), 0.5 * torch.tanh(tiny[:c]), rtol=1e-6, atol=0)  # relative accuracy


def test_residual_skip_gives_the_residual_layers_two_outputs():
    c = 20
    out, bias, x, skip = _randn(3, 4, 5, 2 * c), _randn(2 * c), _randn(3, 4, 5, c), _randn(3, 4, 5, c)
    residual, s = (out + bias).chunk(2, dim=-1)
    new_x, new_skip = cpu_fused.residual_skip(out, bias, x, skip)
    torch.testing.assert_close(new_x, (x + residual) / 2**0.5)
    torch.testing.assert_close(new_skip, skip + s)
    torch.testing.assert_close(cpu_fused.residual_skip(out, bias, x, None)[1], s)
    with pytest.raises(RuntimeError, match="twice the channels"):
        cpu_fused.residual_skip(out[..., :c], bias, x, None)


def test_attention_kernel_adds_the_projection_bias():
    heads, d = 4, 8
    qkv, bias = _randn(3, 11, 2, 3 * heads * d), _randn(3 * heads * d)
    with_bias = cpu_attention.small_head_attention(qkv, heads, bias)
    torch.testing.assert_close(with_bias, cpu_attention.small_head_attention(qkv + bias, heads), rtol=1e-5, atol=1e-5)


def _inputs(b=3, k=6, l=20):
    mask = torch.rand(b, k, l, generator=G) < 0.4
    return _randn(b, k, l), torch.randint(0, 50, (b,), generator=G).float(), Condition(_randn(b, k, l), mask)


@pytest.mark.parametrize(
    "preset, options", [("reference", {}), ("small", {"interpolated_input": True}), ("small", {"heads": 1})]
)
def test_model_output_is_the_same_with_and_without_the_fused_path(preset, options, monkeypatch):
    torch.manual_seed(0)
    model = CSDIDenoiser.preset(preset, n_features=6, **options).eval()
    with torch.no_grad():
        for p in model.parameters():  # biases, gains and the zero-initialised output all non-trivial
            p.add_(0.1 * torch.randn_like(p))
    x, t, cond = _inputs()
    calls = []
    for name in ("residual_layer_norm", "bias_gelu", "csdi_gate", "residual_skip"):
        kernel = getattr(cpu_fused, name)
        monkeypatch.setattr(cpu_fused, name, lambda *a, name=name, kernel=kernel: calls.append(name) or kernel(*a))
    with torch.no_grad():
        fused = model(x, t, cond)
        once = model(x, t, Condition(cond.observed, cond.obs_mask, side=torch.arange(20.0).expand(3, 20)))
    n = model.config.layers  # per layer two transformers (two norms, one GELU each), one gate, one residual / skip
    assert sorted(calls) == sorted(
        2 * (["residual_layer_norm"] * 4 * n + ["bias_gelu"] * 2 * n + ["csdi_gate", "residual_skip"] * n)
    )
    monkeypatch.setattr(cpu_fused, "applies", lambda x: False)
    with torch.no_grad():
        plain = model(x, t, cond)
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(once, fused, rtol=1e-5, atol=1e-5)  # given positions 0 .. L-1: the default


def test_fused_path_applies_only_to_fp32_eager_sampling_on_a_cpu(monkeypatch):
    from tsdiff.accel import autocast

    x = torch.zeros(2, 3)
    with torch.no_grad():
        assert cpu_fused.applies(x)
        assert not cpu_fused.applies(x.double())
        with autocast(torch.device("cpu"), "bf16"):
            assert not cpu_fused.applies(x)
        monkeypatch.setitem(cpu_kernels._state, "ok", False)
        assert not cpu_fused.applies(x)
    monkeypatch.setitem(cpu_kernels._state, "ok", True)
    assert not cpu_fused.applies(x)  # gradients on: training, or a caller differentiating through the model
    model = CSDIDenoiser.preset("small", n_features=6)
    xs, t, cond = _inputs()
    model(xs, t, cond).sum().backward()  # the PyTorch path: gradients reach every parameter that is used
    assert model.layers[0].time_layer.attn.qkv.weight.grad is not None


def test_fused_kernels_refuse_bad_input():
    norm = torch.nn.LayerNorm(8)
    with torch.no_grad(), pytest.raises(RuntimeError, match="float32"):
        cpu_fused.residual_layer_norm(torch.zeros(2, 8, dtype=torch.float64), None, torch.zeros(2, 8), norm)
    with torch.no_grad(), pytest.raises(RuntimeError, match="differ in shape"):
        cpu_fused.residual_layer_norm(torch.zeros(2, 8), None, torch.zeros(3, 8), norm)
    with pytest.raises(RuntimeError, match="bias must have shape"):
        cpu_fused.bias_gelu(torch.zeros(2, 8), torch.zeros(7))
    mid, feature_part, cond_mask, weight = (
        torch.zeros(1, 2, 3, 8),
        torch.zeros(2, 8),
        torch.zeros(1, 2, 3) > 0,
        torch.zeros(8),
    )
    with pytest.raises(RuntimeError, match="time_part must be"):
        cpu_fused.csdi_gate(mid, torch.zeros(1, 4, 8), feature_part, cond_mask, weight)  # L = 4, not 3
    with pytest.raises(RuntimeError, match="cond_mask must be"):
        cpu_fused.csdi_gate(mid, torch.zeros(1, 3, 8), feature_part, cond_mask.float(), weight)
