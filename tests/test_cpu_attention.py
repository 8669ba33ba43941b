"""The CPU kernels' build and the fused small-head attention kernel: equal to SDPA, used only where it applies,
and optional."""

import os
import platform
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from conftest import needs_cpu_kernels as needs_kernel

from tsdiff.core import Condition
from tsdiff.models import CSDIDenoiser, cpu_attention, cpu_kernels


def _sdpa(qkv: torch.Tensor, heads: int) -> torch.Tensor:
    """The reference: (A, S, B, 3C) -> (A, S, B, C), each sequence qkv[i, :, j] and head through SDPA on its own."""
    a, s, b, c3 = qkv.shape
    c, d = c3 // 3, c3 // 3 // heads
    out = torch.empty(a, s, b, c, dtype=qkv.dtype)
    for i in range(a):
        for j in range(b):
            q, k, v = qkv[i, :, j].reshape(s, 3, heads, d).permute(1, 2, 0, 3)  # three (H, S, D)
            out[i, :, j] = F.scaled_dot_product_attention(q, k, v).transpose(0, 1).reshape(s, c)
    return out


@needs_kernel
def test_kernel_builds_here():
    assert cpu_kernels.available(), "a compiler is present, so the kernels must build"


@needs_kernel
@pytest.mark.parametrize("head_dim", cpu_attention.HEAD_DIMS)
@pytest.mark.parametrize("a, s, b", [(3, 1, 1), (2, 5, 1), (4, 16, 1), (2, 17, 3), (5, 35, 2), (3, 48, 1), (1, 100, 2)])
def test_kernel_equals_sdpa(head_dim, a, s, b):
    heads = 3
    g = torch.Generator().manual_seed(s * 100 + head_dim)
    qkv = torch.randn(a, s, b, 3 * heads * head_dim, generator=g)
    original = qkv.clone()
    y = cpu_attention.small_head_attention(qkv, heads)
    torch.testing.assert_close(y, _sdpa(qkv, heads), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(qkv, original, rtol=0, atol=0)  # the input is not touched


@needs_kernel
def test_kernel_is_stable_for_large_scores_and_takes_strided_input():
    heads, d = 2, 8
    g = torch.Generator().manual_seed(1)
    qkv = 60 * torch.randn(4, 37, 2, 3 * heads * d, generator=g)  # scores in the thousands: needs the max shift
    y = cpu_attention.small_head_attention(qkv, heads)
    assert torch.isfinite(y).all()
    exact = _sdpa(qkv.double(), heads)  # fp32 rounding of scores this large moves the weights by ~1e-4 in both
    kernel_error = (y - exact).abs().max().item()
    sdpa_error = (_sdpa(qkv, heads) - exact).abs().max().item()
    assert kernel_error < 3 * sdpa_error + 1e-4
    wide = torch.randn(4, 37, 2, 2 * 3 * heads * d, generator=g)[..., ::2]  # non-contiguous input is copied first
    torch.testing.assert_close(cpu_attention.small_head_attention(wide, heads), _sdpa(wide, heads))


@needs_kernel
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="x86 flags")
def test_the_8_lane_build_for_cpus_without_avx512_equals_sdpa_and_draws_the_same_dropout(tmp_path):
    from torch.utils import cpp_extension

    cpp_extension.load(
        name="tsdiff_cpu_kernels_test_8_lanes",
        sources=[str(source) for source in cpu_kernels.SOURCES],
        extra_cflags=["-O3", "-march=x86-64-v3", "-DTSDIFF_OP_NAMESPACE=tsdiff_8_lanes"],  # AVX2, no AVX-512
        build_directory=str(tmp_path),
        is_python_module=False,
    )
    g = torch.Generator().manual_seed(3)
    for a, s, b, heads, d in [(3, 13, 2, 2, 8), (2, 35, 1, 3, 4), (2, 9, 3, 1, 16)]:
        qkv = torch.randn(a, s, b, 3 * heads * d, generator=g)
        y = torch.ops.tsdiff_8_lanes.small_head_attention(qkv, heads)
        torch.testing.assert_close(y, _sdpa(qkv, heads), rtol=1e-5, atol=1e-5)
    x = torch.randn(1000 + 5, generator=g)  # the mask does not depend on the vector width (tail included)
    assert cpu_kernels.available()
    eight_lanes, default = torch.ops.tsdiff_8_lanes.hash_dropout(x, 0.3, 7), torch.ops.tsdiff.hash_dropout(x, 0.3, 7)
    torch.testing.assert_close(eight_lanes, default, rtol=0, atol=0)
    # the fused elementwise kernels (cpu_fused), whole vectors and tails
    ops, norm = torch.ops.tsdiff_8_lanes, torch.nn.LayerNorm(20)
    y, x, bias = torch.randn(40, 20, generator=g) * 4, torch.randn(40, 20, generator=g), torch.randn(20, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(
            ops.residual_layer_norm(y, bias, x, norm.weight, norm.bias, 1e-5)[0], norm(x + y + bias)
        )
        wide, narrow = ops.residual_layer_norm(y.bfloat16(), bias, x, norm.weight, norm.bias, 1e-5, True)
        torch.testing.assert_close(narrow, norm(x + y.bfloat16().float() + bias).bfloat16())
    qkv = torch.randn(2, 13, 3, 3 * 2 * 8, generator=g, requires_grad=True)  # the backward, 8 lanes at a time
    grad = torch.randn(2, 13, 3, 2 * 8, generator=g)
    (expected,) = torch.autograd.grad(_sdpa(qkv, 2), qkv, grad)
    gqkv = torch.ops.tsdiff_8_lanes.small_head_attention_backward(qkv.detach(), grad, 2)
    torch.testing.assert_close(gqkv, expected, rtol=1e-5, atol=1e-5)
    qkv = torch.randn(2, 13, 3, 3 * 2 * 8, generator=g).bfloat16()  # bf16 in and out, 8 lanes at a time
    torch.testing.assert_close(ops.small_head_attention(qkv, 2), _sdpa(qkv.float(), 2).bfloat16())
    torch.testing.assert_close(ops.bias_gelu(y, bias), F.gelu(y + bias), rtol=1e-5, atol=1e-6)
    mid, time_part, feature_part = (torch.randn(*s, generator=g) for s in [(2, 3, 4, 40), (2, 4, 40), (3, 40)])
    cond_mask, weight = torch.rand(2, 3, 4, generator=g) < 0.5, bias.repeat(2)
    gate, filt = (mid + time_part[:, None] + feature_part[None, :, None] + cond_mask[..., None] * weight).chunk(2, -1)
    fused = ops.csdi_gate(mid, time_part, feature_part, cond_mask, weight)
    torch.testing.assert_close(fused, gate.sigmoid() * filt.tanh(), rtol=1e-5, atol=1e-6)
    x = torch.randn(2, 3, 4, 20, generator=g)
    new_x, new_skip = ops.residual_skip(mid, weight, x, x.flip(0))
    residual, s = (mid + weight).chunk(2, -1)
    torch.testing.assert_close(new_x, (x + residual) / 2**0.5)
    torch.testing.assert_close(new_skip, x.flip(0) + s)


@needs_kernel
@pytest.mark.parametrize("a, s, b", [(3, 48, 1), (2, 35, 4), (2, 5, 3)])
def test_kernel_takes_and_returns_bf16_computing_in_fp32(a, s, b):
    heads = 8
    qkv = torch.randn(a, s, b, 3 * heads * 8, generator=torch.Generator().manual_seed(s)).bfloat16()
    bias = torch.randn(3 * heads * 8)
    y = cpu_attention.small_head_attention(qkv, heads, bias)
    assert y.dtype == torch.bfloat16
    fp32 = cpu_attention.small_head_attention(qkv.float(), heads, bias)  # the same inputs, widened
    torch.testing.assert_close(y.float(), fp32, rtol=2**-8, atol=1e-6)  # one bf16 rounding of the output
    assert (y.float() == fp32.bfloat16().float()).float().mean() > 0.99  # round to nearest (even), as torch does


@needs_kernel
def test_kernel_propagates_nan_and_inf_as_sdpa_does():
    qkv = torch.randn(2, 20, 1, 3 * 2 * 8, generator=torch.Generator().manual_seed(2))
    qkv[0, 3, 0, 0] = float("nan")  # a query entry of head 0: that query's output is NaN
    qkv[1, 5, 0, 16 + 8] = float("inf")  # a key entry of head 1: scores against it are +inf or -inf
    y, ref = cpu_attention.small_head_attention(qkv, 2), _sdpa(qkv, 2)
    torch.testing.assert_close(y.isnan(), ref.isnan(), rtol=0, atol=0)
    assert y[0, 3, 0, :8].isnan().all() and y[1, :, 0, 8:].isnan().any()  # +inf scores: inf - inf
    torch.testing.assert_close(y.nan_to_num(), ref.nan_to_num(), rtol=1e-5, atol=1e-5)


@needs_kernel
@pytest.mark.parametrize("scale", [10.0, 30.0])
def test_kernel_equals_sdpa_for_sharp_attention(scale):
    """Large scores: most softmax weights underflow (the kernel flushes those under 2^-64 of the largest to 0)."""
    qkv = scale * torch.randn(4, 48, 2, 3 * 2 * 8, generator=torch.Generator().manual_seed(3))
    y, ref = cpu_attention.small_head_attention(qkv, 2), _sdpa(qkv, 2)
    # scores of a few thousand carry fp32 rounding of about 1e-4 into the weights, in SDPA as here
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-4 * scale)


@needs_kernel
def test_kernel_rejects_bad_input():
    with pytest.raises(RuntimeError, match="head dimension"):
        cpu_attention.small_head_attention(torch.randn(2, 4, 1, 3 * 2 * 5), 2)  # D = 5
    with pytest.raises(RuntimeError, match="float32"):
        cpu_attention.small_head_attention(torch.randn(2, 4, 1, 48, dtype=torch.float64), 2)


@needs_kernel
@pytest.mark.parametrize("head_dim", cpu_attention.HEAD_DIMS)
@pytest.mark.parametrize("a, s, b", [(3, 1, 1), (2, 5, 1), (2, 17, 3), (5, 35, 2), (3, 48, 1), (1, 100, 2)])
def test_trainable_kernel_has_the_gradient_of_sdpa(head_dim, a, s, b):
    heads = 2
    g = torch.Generator().manual_seed(s * 100 + head_dim)
    qkv = torch.randn(a, s, b, 3 * heads * head_dim, generator=g, requires_grad=True)
    grad = torch.randn(a, s, b, heads * head_dim, generator=g)
    original = qkv.detach().clone()
    y = cpu_attention.trainable_attention(qkv, heads)
    (got,) = torch.autograd.grad(y, qkv, grad)
    ref = _sdpa(qkv, heads)
    (expected,) = torch.autograd.grad(ref, qkv, grad)
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(qkv.detach(), original, rtol=0, atol=0)  # the input is not touched


@needs_kernel
def test_trainable_kernel_widens_bf16_and_is_stable_for_large_scores():
    heads, d = 2, 8
    g = torch.Generator().manual_seed(5)
    qkv = torch.randn(3, 20, 2, 3 * heads * d, generator=g).bfloat16().requires_grad_(True)
    y = cpu_attention.trainable_attention(qkv, heads)
    assert y.dtype == torch.float32  # computed and returned in fp32: the next product casts it under autocast
    y.square().sum().backward()
    assert qkv.grad.dtype == torch.bfloat16 and torch.isfinite(qkv.grad.float()).all()
    sharp = (40 * torch.randn(2, 37, 1, 3 * heads * d, generator=g, dtype=torch.float64)).requires_grad_(True)
    grad = torch.randn(2, 37, 1, heads * d, generator=g, dtype=torch.float64)
    (exact,) = torch.autograd.grad(_sdpa(sharp, heads), sharp, grad)
    (got,) = torch.autograd.grad(cpu_attention.trainable_attention(sharp.float(), heads), sharp, grad.float())
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got.double(), exact, rtol=1e-3, atol=1e-3 * exact.abs().max().item())


def _dropout_mask(a, s, b, heads, p, seed):
    """The kernel's keep mask (a, i, b, h, j) for heads of 16 channels and s <= 16: with q = 0 every weight is 1 / s
    and with v the identity over keys, output channel j of query i is mask[i, j] / ((1 - p) s)."""
    d = 16
    probe = torch.zeros(a, s, b, 3 * heads * d)
    for h in range(heads):
        probe[:, torch.arange(s), :, 2 * heads * d + h * d + torch.arange(s)] = 1.0
    out = torch.ops.tsdiff.small_head_attention(probe, heads, None, p, seed)
    return (out.view(a, s, b, heads, d)[..., :s] * s * (1 - p)).round()


@needs_kernel
def test_trainable_kernel_with_dropout_equals_attention_with_its_mask():
    a, s, b, heads, d, p, seed = 3, 13, 2, 2, 16, 0.3, 1234
    mask = _dropout_mask(a, s, b, heads, p, seed)
    assert set(mask.unique().tolist()) == {0.0, 1.0} and abs(mask.mean().item() - (1 - p)) < 0.05
    assert not torch.equal(mask, _dropout_mask(a, s, b, heads, p, seed + 1))  # another seed, another mask
    g = torch.Generator().manual_seed(0)
    qkv = torch.randn(a, s, b, 3 * heads * d, generator=g, requires_grad=True)
    grad = torch.randn(a, s, b, heads * d, generator=g)
    q, k, v = qkv.view(a, s, b, 3, heads, d).permute(3, 0, 2, 4, 1, 5)  # three (A, B, H, S, D)
    weights = (q @ k.transpose(-1, -2) / d**0.5).softmax(-1) * mask.permute(0, 2, 3, 1, 4) / (1 - p)
    ref = (weights @ v).permute(0, 3, 1, 2, 4).reshape(a, s, b, heads * d)
    (expected,) = torch.autograd.grad(ref, qkv, grad)
    y = cpu_attention.trainable_attention(qkv, heads, p, seed)
    (got,) = torch.autograd.grad(y, qkv, grad)  # the backward redraws the same mask
    torch.testing.assert_close(y, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
    torch.manual_seed(7)
    first = cpu_attention.trainable_attention(qkv, heads, p)  # seeds from torch's default generator
    torch.manual_seed(7)
    torch.testing.assert_close(cpu_attention.trainable_attention(qkv, heads, p), first, rtol=0, atol=0)


@needs_kernel
def test_trainable_kernel_rejects_bad_input():
    qkv, grad = torch.randn(2, 4, 1, 48), torch.randn(2, 4, 1, 16)
    with pytest.raises(RuntimeError, match="grad_out must be contiguous float32"):
        torch.ops.tsdiff.small_head_attention_backward(qkv, grad[:, :3], 2)
    with pytest.raises(RuntimeError, match="qkv must be a contiguous float32"):
        torch.ops.tsdiff.small_head_attention_backward(qkv.bfloat16(), grad, 2)
    with pytest.raises(RuntimeError, match="head dimension"):
        torch.ops.tsdiff.small_head_attention_backward(torch.randn(2, 4, 1, 30), torch.randn(2, 4, 1, 10), 2)
    with pytest.raises(RuntimeError, match="dropout with a bias"):
        torch.ops.tsdiff.small_head_attention(qkv, 2, torch.zeros(48), 0.1, 0)
    with pytest.raises(RuntimeError, match=r"dropout p must be in \[0, 1\)"):
        torch.ops.tsdiff.small_head_attention_backward(qkv, grad, 2, 1.0, 0)
    with pytest.raises(ValueError, match="dropout probability"):
        cpu_attention.trainable_attention(qkv, 2, -0.1)


@needs_kernel
@pytest.mark.parametrize("amp", [False, "bf16"])
def test_training_gradients_are_the_same_with_and_without_the_kernel(amp, monkeypatch):
    """Without dropout (the small preset); with it, the reference preset trains through the kernel too."""
    from tsdiff.accel import autocast

    x, t, cond = _model_inputs()
    model = CSDIDenoiser.preset("small", n_features=6).train()
    torch.nn.init.normal_(model.output.weight)
    calls = []
    trainable, trains = cpu_attention.trainable_attention, cpu_attention.trains
    monkeypatch.setattr(cpu_attention, "trainable_attention", lambda *a: calls.append(1) or trainable(*a))

    def gradients():
        model.zero_grad()
        with autocast(torch.device("cpu"), amp):
            out = model(x, t, cond)
        out.float().square().mean().backward()
        return [p.grad.clone() for p in model.parameters()]

    with_kernel = gradients()
    assert len(calls) == 2 * model.config.layers  # every time and feature attention
    monkeypatch.setattr(cpu_attention, "trains", lambda *a: False)
    without = gradients()
    assert len(calls) == 2 * model.config.layers
    tol = {"rtol": 1e-4, "atol": 1e-5} if not amp else {"rtol": 0.05, "atol": 0.02}
    for a, b in zip(with_kernel, without):
        torch.testing.assert_close(a, b, **tol)
    monkeypatch.setattr(cpu_attention, "trains", trains)
    reference = CSDIDenoiser.preset("reference", n_features=6).train()  # dropout 0.1 on the weights
    reference(x, t, cond).sum().backward()
    assert len(calls) == 2 * model.config.layers + 2 * reference.config.layers


def _model_inputs(b=3, k=6, l=20):
    g = torch.Generator().manual_seed(0)
    mask = torch.rand(b, k, l, generator=g) < 0.4
    cond = Condition(observed=torch.randn(b, k, l, generator=g), obs_mask=mask)
    return torch.randn(b, k, l, generator=g), torch.randint(0, 50, (b,), generator=g).float(), cond


@needs_kernel
@pytest.mark.parametrize("preset", ["reference", "small"])
def test_model_output_is_the_same_with_and_without_the_kernel(preset, monkeypatch):
    model = CSDIDenoiser.preset(preset, n_features=6).eval()
    torch.nn.init.normal_(model.output.weight)
    x, t, cond = _model_inputs()
    calls = []
    kernel = cpu_attention.small_head_attention
    monkeypatch.setattr(cpu_attention, "small_head_attention", lambda *a: calls.append(1) or kernel(*a))
    with torch.no_grad():
        fused = model(x, t, cond)
    assert len(calls) == 2 * model.config.layers  # every time and feature attention went through the kernel
    monkeypatch.setitem(cpu_kernels._state, "ok", False)
    with torch.no_grad():
        plain = model(x, t, cond)
    torch.testing.assert_close(fused, plain, rtol=1e-5, atol=1e-5)


@needs_kernel
def test_kernel_is_not_used_for_training_or_unsupported_heads(monkeypatch):
    calls = []
    kernel = cpu_attention.small_head_attention
    monkeypatch.setattr(cpu_attention, "small_head_attention", lambda *a: calls.append(1) or kernel(*a))
    x, t, cond = _model_inputs()
    model = CSDIDenoiser.preset("small", n_features=6)
    model(x, t, cond).sum().backward()  # gradients wanted: the kernel with its backward (trainable_attention)
    with torch.no_grad():
        CSDIDenoiser.preset("small", n_features=6, heads=1).eval()(x, t, cond)  # head dimension 32
        CSDIDenoiser.preset("reference", n_features=6).train()(x, t, cond)  # dropout active
    assert calls == []
    long = torch.zeros(1, 3, cpu_attention.MAX_LENGTH + 1)  # a long time axis goes to SDPA, the features' to the kernel
    with torch.no_grad():
        CSDIDenoiser.preset("small", n_features=3).eval()(long, torch.ones(1), Condition(long, long > 0))
    assert len(calls) == 2  # the two layers' feature attentions (3 positions), not their time attentions


@needs_kernel
def test_kernel_serves_bf16_autocast(monkeypatch):
    from tsdiff.accel import autocast

    model = CSDIDenoiser.preset("reference", n_features=6).eval()
    torch.nn.init.normal_(model.output.weight)
    x, t, cond = _model_inputs()
    calls = []
    kernel = cpu_attention.small_head_attention
    monkeypatch.setattr(cpu_attention, "small_head_attention", lambda *a: calls.append(1) or kernel(*a))
    with torch.no_grad():
        fp32 = model(x, t, cond)
        with autocast(torch.device("cpu"), "bf16"):
            bf16 = model(x, t, cond)
    assert len(calls) == 2 * 2 * model.config.layers and bf16.dtype == torch.float32
    assert 0 < ((bf16 - fp32).norm() / fp32.norm()).item() < 0.05  # bf16 rounding, not another function


COMPILED = """
import torch
from tsdiff.accel import compile_model
from tsdiff.core import Condition
from tsdiff.models import CSDIDenoiser, cpu_attention, cpu_kernels

torch.manual_seed(0)
model = CSDIDenoiser.preset("small", n_features=6).eval()
torch.nn.init.normal_(model.output.weight)
mask = torch.rand(3, 6, 20) < 0.4
x, t, cond = torch.randn(3, 6, 20), torch.full((3,), 7.0), Condition(observed=torch.randn(3, 6, 20), obs_mask=mask)
with torch.no_grad():
    compiled = compile_model(model, "default")(x, t, cond)  # the first call of this process: built, then traced
    eager = model(x, t, cond)
torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)
print(cpu_kernels.available(), dict(torch._dynamo.utils.counters["graph_break"]))
"""


@needs_kernel
def test_compiled_model_builds_the_kernel_first_and_equals_eager():
    out = subprocess.run([sys.executable, "-c", COMPILED], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split("\n")[-2] == "True {}"  # the kernel is one op of the graph: no graph breaks


def test_switched_off_by_the_environment():
    code = "from tsdiff.models import cpu_kernels; print(cpu_kernels.available())"
    env = {**os.environ, "TSDIFF_CPU_KERNELS": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_sources_ship_with_the_package():
    for source in cpu_kernels.SOURCES + cpu_kernels.HEADERS:
        assert source.is_file() and source.suffix in (".cpp", ".h")
        assert Path(cpu_kernels.__file__).parent / "csrc" == source.parent
    assert {p.name for p in cpu_kernels.SOURCES + cpu_kernels.HEADERS} == {
        p.name for p in (Path(cpu_kernels.__file__).parent / "csrc").iterdir()
    }  # every file there is built (and hashed into the build's name)


@needs_kernel
def test_flop_counter_counts_the_kernel_as_two_matrix_products():
    from torch.utils.flop_counter import FlopCounterMode

    a, s, b, heads, d = 3, 20, 2, 4, 8
    with FlopCounterMode(display=False) as counter:
        cpu_attention.small_head_attention(torch.randn(a, s, b, 3 * heads * d), heads)
    assert counter.get_total_flops() == 2 * (2 * a * b * heads * s * s * d)  # q k^T and the weights times v
    qkv = torch.randn(a, s, b, 3 * heads * d, requires_grad=True)
    y = cpu_attention.trainable_attention(qkv, heads)
    with FlopCounterMode(display=False) as counter:
        y.sum().backward()
    assert counter.get_total_flops() == 4 * (2 * a * b * heads * s * s * d)  # as SDPA's backward: four products


def test_a_failed_build_warns_once_and_falls_back(monkeypatch):
    from torch.utils import cpp_extension

    def broken(*args, **kwargs):
        raise RuntimeError("error: command 'c++' failed\nc++: not found")

    monkeypatch.setattr(cpu_kernels, "_state", {})
    monkeypatch.setattr(cpp_extension, "load", broken)
    with pytest.warns(RuntimeWarning, match="could not be built .*c\\+\\+: not found"):
        assert not cpu_kernels.available()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # decided once: no second warning, no second build
        assert not cpu_kernels.available()
    model = CSDIDenoiser.preset("reference", n_features=6).eval()
    x, t, cond = _model_inputs()
    with torch.no_grad():
        assert torch.isfinite(model(x, t, cond)).all()  # SDPA serves
    model.train()(x, t, cond).sum().backward()  # and torch's random draws serve the dropout
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
