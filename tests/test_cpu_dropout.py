"""Counter-based CPU dropout: F.dropout's distribution, reproducible from torch's seed, its own backward."""

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import CAN_BUILD_CPU_KERNELS as CAN_BUILD
from conftest import needs_cpu_kernels as needs_kernel

from tsdiff.core import Condition
from tsdiff.models import CSDIDenoiser, cpu_dropout, cpu_kernels


@pytest.fixture(params=["kernel", "fallback"])
def path(request, monkeypatch):
    """Each test on the hash kernel and on the fallback (one uniform draw), which must agree in distribution."""
    if request.param == "kernel":
        if not CAN_BUILD:
            pytest.skip("needs a C++ compiler")
        assert cpu_kernels.available()
    else:
        monkeypatch.setitem(cpu_kernels._state, "ok", False)
    return request.param


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("n", [1_000_003])
def test_keeps_each_entry_with_probability_1_minus_p_and_scales_it(path, p, n):
    torch.manual_seed(0)
    x = torch.rand(n) + 0.5  # no zeros: a zero output means dropped
    original = x.clone()
    y = cpu_dropout.dropout(x, p)
    kept = y != 0
    sd = math.sqrt(p * (1 - p) / n)
    assert abs(kept.float().mean().item() - (1 - p)) < 5 * sd
    torch.testing.assert_close(y[kept], x[kept] / (1 - p), rtol=1e-6, atol=0)
    torch.testing.assert_close(x, original, rtol=0, atol=0)  # the input is not touched


def test_mask_has_no_structure_along_the_tensor(path):
    """Neighbours, vector lanes (16 apart) and rows are uncorrelated; two draws are independent."""
    torch.manual_seed(1)
    n, p = 2**20, 0.5
    a = (cpu_dropout.dropout(torch.ones(n), p) != 0).float()
    b = (cpu_dropout.dropout(torch.ones(n), p) != 0).float()
    limit = 5 / math.sqrt(n)
    for lag in (1, 2, 8, 16, 64, 1024):
        r = torch.corrcoef(torch.stack([a[:-lag], a[lag:]]))[0, 1].item()
        assert abs(r) < limit, (lag, r)
    assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < limit
    runs = a.view(-1, 16).sum(1)  # within each 16-lane block: Binomial(16, 1/2)
    assert abs(runs.var().item() - 16 * 0.25) < 0.1


def test_reproducible_from_torch_manual_seed(path):
    x = torch.randn(4, 5, 7)
    torch.manual_seed(3)
    first = cpu_dropout.dropout(x, 0.2)
    torch.manual_seed(3)
    again = cpu_dropout.dropout(x, 0.2)
    other = cpu_dropout.dropout(x, 0.2)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    assert not torch.equal(first, other)


def test_backward_applies_the_forward_mask(path):
    torch.manual_seed(4)
    x = torch.randn(3, 37, 5, requires_grad=True)
    w = torch.randn(3, 37, 5)
    y = cpu_dropout.dropout(x, 0.3)
    (y * w).sum().backward()
    mask = (y != 0).float() / 0.7
    torch.testing.assert_close(x.grad, w * mask, rtol=1e-6, atol=1e-7)


@needs_kernel
def test_gradcheck_and_gradgradcheck_in_float64():
    x = torch.randn(2, 19, dtype=torch.float64, requires_grad=True)
    seed = 12345

    def f(x):
        return cpu_dropout._HashDropout.apply(x, 0.4, seed)

    assert torch.autograd.gradcheck(f, (x,))
    assert torch.autograd.gradgradcheck(f, (x,))


@needs_kernel
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
def test_other_dtypes_draw_the_fp32_mask(dtype):
    x = torch.rand(1000 + 3) + 0.5
    y32 = torch.ops.tsdiff.hash_dropout(x, 0.25, 99)
    y = torch.ops.tsdiff.hash_dropout(x.to(dtype), 0.25, 99)
    assert y.dtype == dtype
    assert torch.equal(y != 0, y32 != 0)
    torch.testing.assert_close(y.float(), y32, rtol=1e-2, atol=0)


@needs_kernel
def test_bf16_is_scaled_in_fp32_and_rounded_as_torch_rounds():
    x = (torch.randn(4099) * 10).bfloat16()
    x[0:300:3], x[1:300:3], x[2:300:3] = float("nan"), float("inf"), float("-inf")  # 100 each: about 70 kept
    y = torch.ops.tsdiff.hash_dropout(x, 0.3, 11)
    ref = torch.ops.tsdiff.hash_dropout(x.float(), 0.3, 11).bfloat16()  # the same mask, torch's fp32 -> bf16
    assert y.isnan().any() and y.isposinf().any() and y.isneginf().any()
    assert torch.equal(y.isnan(), ref.isnan())
    torch.testing.assert_close(y.nan_to_num(), ref.nan_to_num(), rtol=0, atol=0)


@needs_kernel
def test_mask_does_not_depend_on_the_number_of_threads():
    x = torch.randn(300_001)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = torch.ops.tsdiff.hash_dropout(x, 0.2, 21)
    finally:
        torch.set_num_threads(threads)
    torch.testing.assert_close(one, torch.ops.tsdiff.hash_dropout(x, 0.2, 21), rtol=0, atol=0)


def test_both_paths_advance_torchs_generator_alike(monkeypatch):
    x = torch.randn(50)
    after = []
    for ok in (True, False):
        if ok and not (CAN_BUILD and cpu_kernels.available()):
            continue
        monkeypatch.setitem(cpu_kernels._state, "ok", ok)
        torch.manual_seed(8)
        cpu_dropout.dropout(x, 0.5)
        after.append(torch.rand(3))
    assert all(torch.equal(a, after[0]) for a in after)


@needs_kernel
@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 33])
def test_short_tensors_and_tails(n):
    x = torch.arange(1, n + 1, dtype=torch.float32)
    y = torch.ops.tsdiff.hash_dropout(x, 0.5, 5)
    assert y.shape == x.shape
    d = torch.ops.tsdiff.hash_dropout(x.double(), 0.5, 5)  # the scalar path agrees with the vector path and tail
    assert torch.equal(y != 0, d != 0)


@needs_kernel
def test_strided_input_is_taken_in_its_logical_order():
    x = torch.randn(6, 8).t()  # not contiguous
    torch.manual_seed(5)
    y = cpu_dropout.dropout(x, 0.5)
    torch.manual_seed(5)
    ref = cpu_dropout.dropout(x.contiguous(), 0.5)
    torch.testing.assert_close(y, ref, rtol=0, atol=0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        cpu_dropout.dropout(torch.ones(3), 1.0)
    with pytest.raises(ValueError, match="float32, bfloat16, float16 or float64 CPU tensor"):
        cpu_dropout.dropout(torch.ones(3, dtype=torch.int64), 0.1)
    x = torch.ones(3)
    assert cpu_dropout.dropout(x, 0.0) is x


@needs_kernel
def test_op_rejects_bad_input():
    with pytest.raises(RuntimeError, match="\\[0, 1\\)"):
        torch.ops.tsdiff.hash_dropout(torch.ones(3), -0.1, 0)
    with pytest.raises(RuntimeError, match="contiguous"):
        torch.ops.tsdiff.hash_dropout(torch.ones(4, 4).t(), 0.1, 0)


def test_csdi_training_uses_it_and_matches_f_dropout_in_distribution(path, monkeypatch):
    """A reference CSDI in training: each dropout goes through cpu_dropout; the output's spread over draws is
    that of torch's F.dropout (same distribution, different random stream)."""
    g = torch.Generator().manual_seed(0)
    b, k, l = 2, 5, 12
    mask = torch.rand(b, k, l, generator=g) < 0.5
    cond = Condition(observed=torch.randn(b, k, l, generator=g), obs_mask=mask)
    x, t = torch.randn(b, k, l, generator=g), torch.full((b,), 20.0)
    torch.manual_seed(0)
    model = CSDIDenoiser.preset("reference", n_features=k).train()
    torch.nn.init.normal_(model.output.weight)
    calls = []
    original = cpu_dropout.dropout
    monkeypatch.setattr(cpu_dropout, "dropout", lambda *a: calls.append(1) or original(*a))
    with torch.no_grad():
        ours = torch.stack([model(x, t, cond) for _ in range(40)])
    assert len(calls) == 40 * 2 * model.config.layers * 4  # per transformer: weights, attention out, ff hidden, ff out
    monkeypatch.setattr(cpu_dropout, "dropout", lambda x, p: F.dropout(x, p, training=True))
    with torch.no_grad():
        theirs = torch.stack([model(x, t, cond) for _ in range(40)])
    ratio = (ours.std(0).mean() / theirs.std(0).mean()).item()
    assert 0.8 < ratio < 1.25, ratio
    assert abs(ours.mean(0) - theirs.mean(0)).mean() < 0.3 * theirs.std(0).mean()
