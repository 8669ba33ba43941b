"""The fused elementwise kernels of CSDI sampling on a CPU: each equal to the PyTorch ops it replaces, in fp32 and
with the bf16 inputs and outputs of bf16 autocast, the model equal with and without them, used only where they
apply, and bad input refused."""

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
        out, out_mm = cpu_fused.residual_layer_norm(y, bias, x, norm)
        assert out_mm is out  # fp32 products take the output itself
        torch.testing.assert_close(out, norm(x + y + bias))
        torch.testing.assert_close(cpu_fused.residual_layer_norm(y, None, x, norm)[0], norm(x + y))
        constant = cpu_fused.residual_layer_norm(torch.ones(2, c), None, torch.ones(2, c), norm)[0]  # zero variance
    torch.testing.assert_close(constant, norm.bias.detach().expand(2, c))


def _bf16(*shape, scale=1.0):
    return _randn(*shape, scale=scale).bfloat16()


@pytest.mark.parametrize("c", [64, 20])  # whole vectors, and a tail
def test_kernels_take_bf16_products_and_give_bf16_inputs_for_the_next(c):
    """Under bf16 autocast each kernel computes in fp32 from the bf16 product it is given: the same as the fp32
    kernel on that product widened, rounded to bf16 only where its output feeds a product."""
    from tsdiff.accel import autocast

    norm = torch.nn.LayerNorm(c)
    bias, bias2, x, skip = _randn(c), _randn(2 * c), _randn(3, 5, 1, c), _randn(3, 5, 1, c)
    y, y2 = _bf16(3, 5, 1, c, scale=3.0), _bf16(3, 5, 1, 2 * c, scale=3.0)
    with torch.no_grad(), autocast(torch.device("cpu"), "bf16"):
        out, out_mm = cpu_fused.residual_layer_norm(y, bias, x, norm)
        gelu = cpu_fused.bias_gelu(y, bias)
        new_x, new_skip = cpu_fused.residual_skip(y2, bias2, x, skip)
        gated = cpu_fused.csdi_gate(
            y2.view(3, 5, 1, 2 * c),
            _randn(3, 1, 2 * c).bfloat16(),
            _randn(5, 2 * c),
            torch.ones(3, 5, 1, dtype=torch.bool),
            _randn(2 * c),
        )
    with torch.no_grad():
        ref = cpu_fused.residual_layer_norm(y.float(), bias, x, norm)[0]
    assert out.dtype == torch.float32 and out_mm.dtype == torch.bfloat16 and gelu.dtype == torch.bfloat16
    assert gated.dtype == torch.bfloat16 and new_x.dtype == new_skip.dtype == torch.float32
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    torch.testing.assert_close(out_mm, ref.bfloat16(), rtol=0, atol=0)  # rounded to nearest even, as torch does
    torch.testing.assert_close(gelu, cpu_fused.bias_gelu(y.float(), bias).bfloat16(), rtol=0, atol=0)
    torch.testing.assert_close((new_x, new_skip), cpu_fused.residual_skip(y2.float(), bias2, x, skip), rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="x must be a contiguous float32"):
        cpu_fused.residual_skip(y2, bias2, x.bfloat16(), skip)  # the residual stream stays fp32


def test_bf16_outputs_round_to_nearest_even_and_keep_nan():
    """gelu(v) = v exactly in fp32 for v >= 8, so bias_gelu's bf16 output of 8 + bias must be torch's rounding of it."""
    c = 64
    near_ties = torch.tensor([2**-8, 3 * 2**-8, 2**-8 + 2**-20, 2**-8 - 2**-20, 2**-7 - 2**-23])  # ties go to even
    bias = 8 * torch.cat([near_ties, 0.5 + torch.rand(c - len(near_ties), generator=G)])
    bias[-3:] = torch.tensor([3.3e38, 3.4e38, float("inf")])  # rounds up to the largest bf16, overflows, stays inf
    y = torch.full((2, c), 8.0, dtype=torch.bfloat16)
    out = cpu_fused.bias_gelu(y, bias)
    torch.testing.assert_close(out, (8 + bias).bfloat16().expand(2, c), rtol=0, atol=0)
    assert out[0, -2] == float("inf") and out[0, :-2].isfinite().all()
    bias[1] = float("nan")
    assert cpu_fused.bias_gelu(y, bias)[:, 1].isnan().all()


@pytest.mark.parametrize("c", [64, 20])
def test_bias_gelu_equals_gelu_to_float_rounding(c):
    y, bias = _randn(50, c, scale=4.0), _randn(c)
    y[0, :6] = torch.tensor([100.0, -100.0, 1e-8, -1e-8, 0.0, 9.0])  # saturated, tiny, zero
    # erf to 1.5e-7 (Abramowitz & Stegun 7.1.26): GELU to 0.5 |v| 1.5e-7 beside its rounding, ~1e-6 at |v| ~ 10
    torch.testing.assert_close(cpu_fused.bias_gelu(y, bias), F.gelu(y + bias), rtol=1e-5, atol=2e-6)
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


def test_linear_equals_f_linear_in_fp32_and_under_bf16_autocast():
    weight, bias = _randn(48, 64), _randn(48)
    x = _randn(3, 5, 7, 64)
    with torch.no_grad():
        for inp in (x, x.transpose(1, 2), x[:, :, ::2]):  # contiguous, and strided views
            torch.testing.assert_close(cpu_fused.linear(inp, weight), F.linear(inp, weight))
            torch.testing.assert_close(cpu_fused.linear(inp, weight, bias), F.linear(inp, weight, bias))
        assert cpu_fused.linear(x, weight).shape == (3, 5, 7, 48)
        with torch.autocast("cpu", dtype=torch.bfloat16):  # F.linear's bf16 products
            out = cpu_fused.linear(x.bfloat16(), weight, bias)
        assert out.dtype == torch.bfloat16
        torch.testing.assert_close(out.float(), F.linear(x, weight, bias), rtol=0.05, atol=0.1)


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


@pytest.mark.parametrize(
    "preset, options", [("reference", {}), ("small", {"interpolated_input": True}), ("small", {"heads": 1})]
)
def test_model_under_bf16_autocast_takes_the_fused_path_with_bf16_products(preset, options, monkeypatch):
    from tsdiff.accel import autocast

    torch.manual_seed(0)
    model = CSDIDenoiser.preset(preset, n_features=6, **options).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    x, t, cond = _inputs()
    products = []
    linear = F.linear
    big = x.numel() * model.config.channels  # the activations (B, K, L, C), not the embeddings
    monkeypatch.setattr(F, "linear", lambda a, *rest: products.append((a.dtype, a.numel() == big)) or linear(a, *rest))
    cpu = torch.device("cpu")
    with torch.no_grad():
        exact = model(x, t, cond)
        products.clear()
        with autocast(cpu, "bf16"):
            fused = model(x, t, cond)
        n_fp32 = products.count((torch.float32, True))
        monkeypatch.setattr(cpu_fused, "applies", lambda x: False)
        with autocast(cpu, "bf16"):
            plain = model(x, t, cond)  # PyTorch's ops under autocast
    # every product of the activations takes a bf16 input the kernels wrote, but the time attention's qkv in each
    # layer and the skip projection, whose inputs are sums on the fp32 residual stream (autocast casts them), and,
    # where the head size does not suit the attention kernel (heads=1: 32 channels a head), the output projections
    # after SDPA, which runs in fp32 under CPU autocast (faster there than in bf16)
    c = model.config
    kernel = cpu_attention.fits(x.shape[1], c.channels, c.heads) and cpu_attention.fits(x.shape[2], c.channels, c.heads)
    assert n_fp32 == c.layers + 1 + (0 if kernel else 2 * c.layers) and len(products) > 10 * c.layers, products
    assert fused.dtype == torch.float32
    scale = exact.abs().mean()
    assert (fused - exact).abs().mean() < 0.02 * scale  # bf16 products: about 3 significant digits
    assert (fused - plain).abs().mean() < 0.02 * scale


def test_fused_path_applies_only_to_eager_sampling_on_a_cpu_in_fp32_or_bf16_autocast(monkeypatch):
    from tsdiff.accel import autocast

    x = torch.zeros(2, 3)
    with torch.no_grad():
        assert cpu_fused.applies(x)
        assert not cpu_fused.applies(x.double())
        with autocast(torch.device("cpu"), "bf16"):  # bf16 products, fp32 residual stream
            assert cpu_fused.applies(x) and cpu_fused.applies(x.bfloat16()) and cpu_fused.bf16_products()
        assert not cpu_fused.applies(x.bfloat16())
        with torch.autocast("cpu", dtype=torch.float16):
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
