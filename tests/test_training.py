import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from tsdiff.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from tsdiff.core import denoising_loss, get_schedule
from tsdiff.models import MLPDenoiser, build_model
from tsdiff.training import EMA, TrainConfig, train

SCHEDULE = get_schedule("linear", 100, beta_end=0.2)


def _data(n=96):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 2, generator=g) * torch.tensor([2.0, 0.5]) + 1.0


def _loss(net, x0, generator):
    return denoising_loss(net, x0, SCHEDULE, generator=generator)


def _config(**kw):
    base = dict(max_steps=12, batch_size=16, lr=1e-2, warmup_steps=3, ema_decay=0.9, progress=False, seed=3)
    return TrainConfig(**{**base, **kw})


def _model():
    torch.manual_seed(0)
    return MLPDenoiser(dim=2, hidden=16, depth=1, dropout=0.1)  # dropout: resume must restore its RNG too


def test_training_reduces_the_loss():
    model = _model()
    result = train(model, _data(512), _loss, _config(max_steps=150, batch_size=64, lr=3e-3))
    assert len(result.losses) == 150
    assert sum(result.losses[-20:]) / 20 < 0.8 * sum(result.losses[:20]) / 20


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    full = _model()
    ref = train(full, _data(), _loss, _config())

    ckpt = tmp_path / "run.pt"
    part = _model()

    def crash(step, loss):
        if step == 7:
            raise KeyboardInterrupt  # killed mid-run; the last checkpoint is from step 6

    with pytest.raises(KeyboardInterrupt):
        train(part, _data(), _loss, _config(checkpoint_every=2), checkpoint=ckpt, callback=crash)
    assert load_checkpoint(ckpt)["step"] == 6
    assert load_checkpoint(ckpt)["train_seconds"] > 0  # the clock runs without a time budget too
    resumed = _model()
    out = train(resumed, _data(), _loss, _config(), checkpoint=ckpt, resume=True)

    assert out.losses == ref.losses
    for a, b in zip(full.state_dict().values(), resumed.state_dict().values()):
        assert torch.equal(a, b)
    for a, b in zip(ref.ema.shadow, out.ema.shadow):
        assert torch.equal(a, b)


def test_validation_keeps_the_best_weights_and_survives_a_resume(tmp_path):
    values = iter([3.0, 1.0, 2.0, 4.0, 5.0, 6.0, 7.0])  # the second call (step 8) is the best
    seen = []

    def validate(net):
        assert not net.training and not torch.is_grad_enabled()
        seen.append({k: v.clone() for k, v in net.state_dict().items()})
        return next(values)

    model = _model()
    result = train(model, _data(), _loss, _config(max_steps=14, validate_every=4), validate=validate)
    assert [s for s, _ in result.validation] == [4, 8, 12, 14]  # every 4 steps and at the end
    assert result.best_step == 8
    for k, v in seen[1].items():  # the EMA weights scored at step 8, not the model's last weights
        assert torch.equal(result.best_state[k], v)
    assert any(not torch.equal(model.state_dict()[k], v) for k, v in seen[1].items())

    ckpt = tmp_path / "run.pt"
    values = iter([3.0, 1.0, 2.0, 4.0])
    train(_model(), _data(), _loss, _config(max_steps=14, validate_every=4), checkpoint=ckpt, validate=validate)
    state = load_checkpoint(ckpt)
    assert state["best_step"] == 8 and [s for s, _ in state["validation"]] == [4, 8, 12, 14]


def test_checkpoint_describes_the_model(tmp_path):
    model = _model()
    ckpt = tmp_path / "m.pt"
    train(
        model,
        _data(),
        _loss,
        _config(max_steps=2),
        checkpoint=ckpt,
        meta={"model_kind": model.describe(), "schedule": SCHEDULE.to_dict()},
    )
    state = load_checkpoint(ckpt, required=("model", "model_kind", "schedule"))
    rebuilt = build_model(state["model_kind"])
    rebuilt.load_state_dict(state["model"])
    assert state["tsdiff_version"] and state["step"] == 2
    assert [f for f in os.listdir(tmp_path) if f.endswith(".tmp")] == []  # no temporary file left behind


def test_corrupt_foreign_and_missing_checkpoints_raise_clearly(tmp_path):
    good = tmp_path / "good.pt"
    save_checkpoint(good, {"model": {"w": torch.ones(3)}})
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(truncated)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(garbage)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.ones(2)}}, foreign)
    with pytest.raises(CheckpointError, match="not a tsdiff checkpoint"):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match="lacks"):
        load_checkpoint(good, required=("schedule",))
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "none.pt")


def test_unsafe_pickles_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "tsdiff-checkpoint", "x": Evil()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_ema_is_an_exponential_average():
    lin = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.constant_(lin.weight, 1.0)
    ema = EMA(lin, 0.5)
    for value in (3.0, 5.0):
        torch.nn.init.constant_(lin.weight, value)
        ema.update(lin)
    # warm-up: decays 1/10 then 2/11 (min(decay, (1 + n) / (10 + n)))
    first = 0.1 * 1 + 0.9 * 3
    assert float(ema.shadow[0]) == pytest.approx(2 / 11 * first + 9 / 11 * 5)
    ema.updates = 100  # past the warm-up the configured decay applies
    before = float(ema.shadow[0])
    torch.nn.init.constant_(lin.weight, 7.0)
    ema.update(lin)
    assert float(ema.shadow[0]) == pytest.approx(0.5 * before + 0.5 * 7)


def test_a_time_budget_stops_training_and_drives_the_decay():
    from tsdiff.training import _lr_lambda

    config = _config(lr_decay="cosine", warmup_steps=0, time_budget=100.0)
    spent = [0.0]
    factor = _lr_lambda(config, total=1000, seconds=lambda: spent[0])
    assert factor(0) == pytest.approx(1.0)
    spent[0] = 50.0  # half the time spent at step 10 of 1000: the cosine is half way down
    assert factor(10) == pytest.approx(0.5)
    assert factor(600) < 0.5  # the step budget, when it runs out first, leads instead
    spent[0] = 80.0
    assert _lr_lambda(_config(lr_decay="step", time_budget=100.0), 1000, lambda: spent[0])(10) == pytest.approx(0.1)

    slept = []

    def slow_callback(step, loss):  # not counted in the budget
        time.sleep(0.02)
        slept.append(0.02)

    result = train(_model(), _data(), _loss, _config(max_steps=10**6, time_budget=0.3), callback=slow_callback)
    assert 0 < result.steps < 10**6
    assert 0.3 <= result.train_seconds <= result.seconds - sum(slept) + 1e-3
    with pytest.raises(ValueError, match="time_budget"):
        train(_model(), _data(), _loss, _config(time_budget=0))


def test_a_resumed_time_budget_counts_the_time_already_spent(tmp_path):
    ckpt = tmp_path / "run.pt"
    first = train(_model(), _data(), _loss, _config(max_steps=4), checkpoint=ckpt)
    assert load_checkpoint(ckpt)["train_seconds"] == pytest.approx(first.train_seconds)
    config = _config(max_steps=10**6, time_budget=first.train_seconds)  # already spent: no step more
    again = train(_model(), _data(), _loss, config, checkpoint=ckpt, resume=True)
    assert again.steps == 4 and again.train_seconds >= first.train_seconds


def test_a_resume_with_settings_that_change_the_run_is_refused(tmp_path):
    ckpt = tmp_path / "run.pt"
    train(_model(), _data(), _loss, _config(max_steps=3), checkpoint=ckpt)
    with pytest.raises(ValueError, match=r"cannot resume .*run.pt.*lr=0.01 there, 0.003 here"):
        train(_model(), _data(), _loss, _config(max_steps=6, lr=3e-3), checkpoint=ckpt, resume=True)
    assert train(_model(), _data(), _loss, _config(max_steps=6), checkpoint=ckpt, resume=True).steps == 6  # longer


def test_bad_config_and_data():
    with pytest.raises(ValueError, match="unknown options"):
        TrainConfig.from_dict({"learning_rate": 1e-3})
    # YAML reads 1e-3 and 4e3 as strings: they are converted; impossible values are named
    assert (TrainConfig.from_dict({"lr": "1e-3", "max_steps": "4e3"}).lr, _config(max_steps=4e3).max_steps) == (
        0.001,
        4000,
    )
    for bad, message in (
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"max_steps": 0}, "max_steps must be >= 1"),
        ({"max_steps": 2.5}, "max_steps must be a whole number"),
        ({"lr": "fast"}, "lr must be a number"),
        ({"epochs": float("nan")}, "epochs must be finite"),
        ({"ema_decay": 1.0}, "ema_decay must be below 1"),
    ):
        with pytest.raises((ValueError, TypeError), match=message):
            TrainConfig.from_dict(bad)
    with pytest.raises(ValueError, match="lr_decay"):
        train(_model(), _data(), _loss, _config(lr_decay="exp"))
    with pytest.raises(ValueError, match="disagree"):
        train(_model(), (_data(10), _data(11)), _loss, _config())


DDP_WORKER = textwrap.dedent("""
    import os, sys, torch, torch.distributed as dist
    from tsdiff.models import MLPDenoiser
    from tsdiff.training import distributed_context, shard, train, TrainConfig
    rank, world = distributed_context()
    torch.manual_seed(0)
    model = MLPDenoiser(dim=2, hidden=16, depth=1)
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(1))
    t = torch.arange(8.0)
    ddp = torch.nn.parallel.DistributedDataParallel(model)
    rows = shard(torch.arange(8), rank, world)
    loss = (ddp(x[rows], t[rows]) - x[rows]).pow(2).mean()  # a per-rank mean over equal shards
    loss.backward()
    if rank == 0:
        torch.save({n: p.grad for n, p in model.named_parameters()}, sys.argv[1])
    # the training loop itself under DDP: every process ends with the same weights
    def loss_fn(net, x0, g):
        return (net(x0, torch.zeros(len(x0))) - x0).pow(2).mean()
    torch.manual_seed(0)
    m2 = MLPDenoiser(dim=2, hidden=16, depth=1)
    train(m2, torch.randn(32, 2), loss_fn, TrainConfig(max_steps=3, batch_size=8, progress=False))
    flat = torch.cat([p.detach().flatten() for p in m2.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    assert torch.equal(gathered[0], gathered[1]), "DDP processes diverged"
    # a time budget: every process follows rank 0's clock, so all stop after the same step with the same lr
    calls = []
    def late_loss(net, x0, g):  # rank 1's first step lags 0.3 s: its own clock would say less time was spent
        if rank == 1 and not calls:
            import time; time.sleep(0.3)
        calls.append(1)
        return loss_fn(net, x0, g)
    m3 = MLPDenoiser(dim=2, hidden=16, depth=1)
    config = TrainConfig(max_steps=10**6, batch_size=8, time_budget=0.5, progress=False)
    r = train(m3, torch.randn(32, 2), late_loss, config)
    flat = torch.cat([torch.tensor([float(r.steps)]), *(p.detach().flatten() for p in m3.parameters())])
    gathered = [torch.zeros_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    assert 0 < r.steps < 10**6 and torch.equal(gathered[0], gathered[1]), "DDP processes disagree on the time budget"
    del ddp
    dist.barrier()
    dist.destroy_process_group()
    # everything is checked; skip interpreter teardown, where gloo's threads sometimes abort the process
    # ("terminate called without an active exception", about one run in ten on this machine)
    sys.stdout.flush()
    os._exit(0)
""")


def test_ddp_two_gloo_processes_give_the_full_batch_gradient(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(DDP_WORKER)
    out = tmp_path / "grads.pt"
    repo = str(Path(__file__).resolve().parents[1])  # importable without an install too
    path = os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": path}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    torch.manual_seed(0)
    model = MLPDenoiser(dim=2, hidden=16, depth=1)
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(1))
    loss = (model(x, torch.arange(8.0)) - x).pow(2).mean()
    loss.backward()
    ddp_grads = torch.load(out, weights_only=True)
    for name, p in model.named_parameters():
        torch.testing.assert_close(ddp_grads[name], p.grad, rtol=1e-5, atol=1e-7)
