"""The GPU fast-path switches and their CPU fallbacks (tsdiff.accel, TrainConfig options)."""

import warnings

import pytest
import torch

from tsdiff import accel
from tsdiff.accel import PinnedRows, autocast, compile_model, native_bf16, use_tf32
from tsdiff.models import MLPDenoiser
from tsdiff.training import TrainConfig, train


def _loss(net, x0, generator):
    t = torch.rand(len(x0), generator=generator) * 10
    return (net(x0, t) - x0).pow(2).mean()


def _run(**options):
    torch.manual_seed(0)
    model = MLPDenoiser(dim=2, hidden=16, depth=1)
    data = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    config = TrainConfig(max_steps=12, batch_size=8, progress=False, **options)
    return model, train(model, data, _loss, config)


def test_compiled_training_matches_eager_on_cpu():
    eager_model, eager = _run()
    compiled_model, compiled = _run(compile="default")
    torch.testing.assert_close(torch.tensor(compiled.losses), torch.tensor(eager.losses), rtol=1e-5, atol=1e-6)
    for a, b in zip(eager_model.parameters(), compiled_model.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert isinstance(compiled_model, MLPDenoiser)  # the caller's module is trained, not a compiled wrapper


def test_gpu_switches_are_no_ops_on_cpu():
    _, plain = _run(amp=False, tf32=False, pin_memory=False)
    _, fast = _run(amp=True, tf32=True, pin_memory=True)
    assert plain.losses == fast.losses
    before = torch.backends.cuda.matmul.allow_tf32
    use_tf32(torch.device("cpu"), not before)
    assert torch.backends.cuda.matmul.allow_tf32 == before
    with autocast(torch.device("cpu")):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_cpu_bf16_autocast_is_asked_for_by_name():
    cpu = torch.device("cpu")
    with autocast(cpu, "bf16"):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with autocast(cpu, False):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
    with pytest.raises(ValueError, match="amp must be one of"):
        autocast(cpu, "fp16")
    _, plain = _run(amp=False)
    _, bf16 = _run(amp="bf16")  # trains, in bf16: the losses are close to fp32's but not equal
    assert plain.losses != bf16.losses
    torch.testing.assert_close(torch.tensor(bf16.losses), torch.tensor(plain.losses), rtol=0.05, atol=0.02)


@pytest.mark.parametrize("avx512_bf16, amx, native", [(False, False, False), (True, False, True), (False, True, True)])
def test_cpu_bf16_warns_once_where_the_products_are_emulated(monkeypatch, avx512_bf16, amx, native):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    accel._warn_emulated_bf16.cache_clear()
    cpu = torch.device("cpu")
    assert native_bf16(cpu) is native and native_bf16("cpu") is native and native_bf16() is native
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            with autocast(cpu, "bf16"):
                pass
        with autocast(cpu, False), autocast(cpu, True):  # fp32 on a CPU: nothing to warn about
            pass
    emulated = [w for w in caught if "emulated" in str(w.message)]
    assert len(emulated) == (0 if native else 1)  # once per process, not once per batch
    if not native:
        assert emulated[0].category is RuntimeWarning and "amp=False" in str(emulated[0].message)
    accel._warn_emulated_bf16.cache_clear()


def test_losses_are_read_back_in_blocks_without_changing_them():
    _, every = _run(log_every=1)
    _, blocks = _run(log_every=5)
    assert every.losses == blocks.losses and len(blocks.losses) == 12
    seen = []
    torch.manual_seed(0)
    train(
        MLPDenoiser(dim=2, hidden=16, depth=1),
        torch.randn(64, 2),
        _loss,
        TrainConfig(max_steps=4, batch_size=8, progress=False, log_every=50),
        callback=lambda step, loss: seen.append(step),
    )
    assert seen == [1, 2, 3, 4]  # a callback still sees every step


def test_a_non_finite_loss_names_its_step():
    calls = []

    def loss_fn(net, x0, generator):
        calls.append(1)
        loss = _loss(net, x0, generator)
        return loss * float("nan") if len(calls) == 3 else loss

    with pytest.raises(FloatingPointError, match="at step 2"):
        train(
            MLPDenoiser(dim=2, hidden=8, depth=1),
            torch.randn(32, 2),
            loss_fn,
            TrainConfig(max_steps=10, batch_size=8, progress=False, log_every=5),
        )


def test_pinned_rows_on_cpu_is_plain_indexing():
    x, y = torch.randn(10, 3), torch.arange(10)
    rows = torch.tensor([4, 1, 7])
    got = PinnedRows((x, y), torch.device("cpu")).take(rows)
    assert torch.equal(got[0], x[rows]) and torch.equal(got[1], y[rows])


def test_compile_mode_is_checked():
    model = MLPDenoiser(dim=2, hidden=8, depth=1)
    assert compile_model(model, None) is model
    with pytest.raises(ValueError, match="compile mode"):
        compile_model(model, "fastest")
