"""One training loop for every tsdiff model.

AdamW with warm-up and a decay schedule, gradient clipping, an EMA of the weights, the GPU fast path of
``tsdiff.accel`` (bf16 autocast, TF32, ``torch.compile``, pinned-memory loading, losses read back every
``log_every`` steps instead of every step), self-describing checkpoints written atomically and resumed exactly
(same data order, noise and dropout draws as an uninterrupted run), a progress bar, and DistributedDataParallel
when started under ``torchrun``.

The loop knows nothing about diffusion: it draws batches of rows from tensors (or from a row source that reads
them itself) and calls ``loss_fn(model, batch, generator) -> scalar``. Tasks pass ``core.denoising_loss`` wrapped
in such a function.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from tqdm.auto import tqdm

from .accel import PinnedRows, autocast, compile_model, use_tf32
from .checkpoint import CheckpointError, load_checkpoint, save_checkpoint

__all__ = ["TrainConfig", "TrainResult", "EMA", "train", "distributed_context", "shard", "resolve_device"]


@dataclass
class TrainConfig:
    max_steps: int | None = None  # optimizer steps; derived from ``epochs`` when None
    epochs: float = 10.0  # passes over the data, used when max_steps is None
    time_budget: float | None = None  # seconds of training: stop when spent, the decay running over the time
    batch_size: int = 64  # global batch, split evenly across DDP processes
    lr: float = 1e-3
    weight_decay: float = 1e-6
    adam_betas: tuple[float, float] = (0.9, 0.999)
    warmup_steps: int = 0  # linear warm-up from 0
    lr_decay: str = "cosine"  # "constant", "cosine" (to 0) or "step" (x0.1 at 75% and 90% of steps, as CSDI)
    grad_clip: float | None = 1.0  # max global gradient norm; None to disable
    ema_decay: float | None = 0.999  # None to disable the EMA
    amp: bool | str = True  # bf16 autocast: True on CUDA (ignored on CPU), "bf16" on a CPU too, False off
    tf32: bool = True  # TF32 tensor cores for fp32 matmuls on CUDA; ignored on CPU
    compile: str | None = None  # torch.compile mode for the loss's forward/backward ("default", "max-autotune"...)
    pin_memory: bool = True  # gather CPU batches into page-locked buffers for asynchronous copies to CUDA
    log_every: int = 25  # steps between reading losses back from the device (a sync); 1 with a callback
    seed: int = 0
    checkpoint_every: int = 0  # steps between checkpoints (0: only at the end)
    validate_every: int = 0  # steps between calls of ``train``'s ``validate`` (and one at the end); 0: never
    progress: bool = True
    device: str | None = None  # default: this process's CUDA device if any, else CPU

    def __post_init__(self):
        """Numbers are numbers (a YAML "1e-3" is read as a string: it is converted) in their valid ranges."""
        for name, kind, low, inclusive in _NUMBERS:
            value = getattr(self, name)
            if value is None:
                continue
            value = _number(value, kind, f"TrainConfig.{name}")
            if value < low or (value == low and not inclusive):
                raise ValueError(f"TrainConfig.{name} must be {'>=' if inclusive else '>'} {low}, got {value}")
            setattr(self, name, value)
        if self.ema_decay is not None and self.ema_decay >= 1:
            raise ValueError(f"TrainConfig.ema_decay must be below 1 (or None: no EMA), got {self.ema_decay}")

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"TrainConfig: unknown options {unknown}; known: {sorted(known)}")
        d = dict(d)
        if "adam_betas" in d:
            d["adam_betas"] = tuple(d["adam_betas"])
        return cls(**d)

    def total_steps(self, n_rows: int) -> int:
        if self.max_steps is not None:
            return int(self.max_steps)
        return max(1, math.ceil(self.epochs * _steps_per_epoch(n_rows, self.batch_size)))


# (field, type, lowest value, lowest allowed) for TrainConfig.__post_init__; None values are left alone
_NUMBERS = [
    ("max_steps", int, 1, True),
    ("epochs", float, 0, False),
    ("time_budget", float, 0, False),
    ("batch_size", int, 1, True),
    ("lr", float, 0, True),
    ("weight_decay", float, 0, True),
    ("warmup_steps", int, 0, True),
    ("grad_clip", float, 0, False),
    ("ema_decay", float, 0, True),
    ("log_every", int, 1, True),
    ("seed", int, 0, True),
    ("checkpoint_every", int, 0, True),
    ("validate_every", int, 0, True),
]


def _number(value, kind: type, name: str):
    """``value`` as an int or float; numeric strings are converted, integral floats accepted for ints."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if kind is int:
        if number != int(number):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(number)
    return number


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)  # one per optimizer step (this process's loss)
    steps: int = 0
    seconds: float = 0.0  # wall time of the whole call
    train_seconds: float = 0.0  # the training clock: validation, checkpoints and callbacks left out (resumes add up)
    ema: EMA | None = None
    validation: list[tuple[int, float]] = field(default_factory=list)  # (step, value) of each ``validate`` call
    best_step: int | None = None  # the step with the lowest validation value
    best_state: dict | None = None  # the weights scored there (the EMA's, when there is one): a state_dict

    def copy_to(self, model: torch.nn.Module) -> None:
        """Load the weights to sample with into ``model``: the best validated ones, else the EMA's, else leave
        the trained weights."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
        elif self.ema is not None:
            self.ema.copy_to(model)


class EMA:
    """Exponential moving average of a model's floating-point parameters, updated with fused foreach ops.

    The decay warms up as min(decay, (1 + n) / (10 + n)) after n updates (as diffusers' EMAModel), so that in a
    short run the average is not dominated by the random initial weights."""

    def __init__(self, model: torch.nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA: decay must be in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self.names = [n for n, p in model.named_parameters() if p.is_floating_point()]
        params = dict(model.named_parameters())
        self.shadow = [params[n].detach().clone() for n in self.names]

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        params = dict(model.named_parameters())
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.shadow, [params[n].detach() for n in self.names], 1.0 - decay)
        self.updates += 1

    @torch.no_grad()
    def copy_to(self, model: torch.nn.Module) -> None:
        params = dict(model.named_parameters())
        for n, s in zip(self.names, self.shadow):
            params[n].copy_(s)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "params": dict(zip(self.names, self.shadow))}

    def load_state_dict(self, state: dict) -> None:
        missing = [n for n in self.names if n not in state["params"]]
        if missing:
            raise CheckpointError(f"EMA state lacks parameters {missing[:5]}")
        self.decay = float(state["decay"])
        self.updates = int(state.get("updates", 0))
        self.shadow = [state["params"][n].to(s) for n, s in zip(self.names, self.shadow)]


# --- distributed ------------------------------------------------------------------------------------------
def distributed_context() -> tuple[int, int]:
    """(rank, world size); joins the process group that ``torchrun`` describes in the environment."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard(indices: torch.Tensor, rank: int, world: int) -> torch.Tensor:
    """This process's share of a global batch of row indices (contiguous, equal sizes)."""
    if len(indices) % world:
        raise ValueError(f"batch of {len(indices)} rows cannot be split evenly over {world} processes")
    per = len(indices) // world
    return indices[rank * per : (rank + 1) * per]


def resolve_device(name: str | None = None) -> torch.device:
    """``name`` as a torch device, or the GPU of this process when there is one, else the CPU; a GPU asked for on a
    machine without one is a named error (torch's is an assertion about how it was compiled)."""
    if name is not None:
        try:
            device = torch.device(name)
        except (RuntimeError, TypeError) as err:
            raise ValueError(f"device {name!r} is not a device torch knows: {err}") from err
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: no CUDA GPU is available here (use 'cpu' or leave device unset)")
        if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: this machine has {torch.cuda.device_count()} GPU(s)")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


# --- the loop ----------------------------------------------------------------------------------------------
def _steps_per_epoch(n_rows: int, batch_size: int) -> int:
    return max(1, n_rows // batch_size)


def _epoch_order(n_rows: int, seed: int, epoch: int) -> torch.Tensor:
    """The same permutation on every process and on every resume."""
    return torch.randperm(n_rows, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


class _Clock:
    """Seconds spent training, carried across resumes; ``pause()`` leaves out validation, checkpoints and
    callbacks, so a time budget buys optimizer steps only."""

    def __init__(self, before: float = 0.0, sync: Callable[[], None] | None = None):
        self.before, self.start, self.paused, self.sync = before, time.perf_counter(), 0.0, sync

    def seconds(self) -> float:
        return self.before + time.perf_counter() - self.start - self.paused

    @contextlib.contextmanager
    def pause(self):
        if self.sync is not None:  # the device's queued steps are training time: let them finish first
            self.sync()
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.paused += time.perf_counter() - t0


def _lr_lambda(config: TrainConfig, total: int, seconds: Callable[[], float] = lambda: 0.0) -> Callable[[int], float]:
    """The learning-rate factor at a step: warm-up, then the decay over whichever budget runs out first, the
    steps (``total``) or the time (``config.time_budget``, ``seconds()`` spent so far)."""

    def factor(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        spent = seconds() / config.time_budget if config.time_budget else 0.0  # share of the time budget
        progress = max(spent, (step - config.warmup_steps) / max(1, total - config.warmup_steps))
        if config.lr_decay == "constant":
            return 1.0
        if config.lr_decay == "cosine":
            return 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        if config.lr_decay == "step":
            done = max(spent, step / total)
            return 0.1 ** ((done >= 0.75) + (done >= 0.9))
        raise ValueError(f"TrainConfig.lr_decay must be 'constant', 'cosine' or 'step', got {config.lr_decay!r}")

    factor(0)  # validate eagerly
    return factor


def _as_tensors(data) -> tuple[torch.Tensor, ...]:
    tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
    if not tensors or not all(isinstance(t, torch.Tensor) for t in tensors):
        raise TypeError("train: data must be a tensor or a sequence of tensors with rows along dim 0")
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(f"train: data tensors disagree on the number of rows: {[t.shape[0] for t in tensors]}")
    if n == 0:
        raise ValueError("train: data has no rows")
    return tensors


# what fixes a run's trajectory: a resume must keep them (the budget, epochs or time, may grow)
_RESUME_KEEPS = (
    "batch_size",
    "lr",
    "weight_decay",
    "adam_betas",
    "warmup_steps",
    "lr_decay",
    "grad_clip",
    "ema_decay",
    "seed",
)


def _check_resumable(saved: dict, config: TrainConfig, checkpoint) -> None:
    now = asdict(config)
    changed = [
        f"{k}={saved[k]!r} there, {now[k]!r} here"
        for k in _RESUME_KEEPS
        if k in saved and (tuple(saved[k]) if isinstance(saved[k], list) else saved[k]) != now[k]
    ]
    if changed:
        raise ValueError(
            f"train: cannot resume {checkpoint}: it was trained with other settings ({'; '.join(changed)}); resume "
            "with the same settings or write a new checkpoint"
        )


def train(
    model: torch.nn.Module,
    data: torch.Tensor | Sequence[torch.Tensor],
    loss_fn,
    config: TrainConfig,
    *,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    meta: dict | None = None,
    callback: Callable[[int, float], None] | None = None,
    validate: Callable[[torch.nn.Module], float] | None = None,
) -> TrainResult:
    """Train ``model`` in place by minimising ``loss_fn(model, batch, generator)`` over batches of ``data`` rows.

    With ``config.time_budget`` the run stops once that many seconds of training are spent (validation,
    checkpoints and callbacks not counted) or at its step count, whichever comes first, and the learning-rate
    decay follows the same budget: a cosine decay reaches 0 at the end either way. Under DDP the processes follow
    rank 0's clock. A resumed run continues the clock where the checkpoint left it (the time-limited run is then
    not bit-identical to an uninterrupted one: steps take different times).

    data:       a tensor or tuple of tensors with rows along dim 0 (batches gathered by ``accel.PinnedRows``), or
                a row source: an object with ``__len__`` and ``take(rows: LongTensor) -> tuple of tensors`` on the
                training device, which reads its batches itself (``tasks.forecast`` streams frames this way)

    checkpoint: file written every ``config.checkpoint_every`` steps and at the end (atomically, rank 0 only),
                holding model, EMA, optimizer, scheduler, RNG states and ``meta`` (the caller's description of
                the model: kind, config, schedule, scaler, variable names ...)
    resume:     continue from ``checkpoint`` if it exists; the result equals an uninterrupted run
    validate:   ``validate(model) -> float`` (lower is better), called every ``config.validate_every`` steps and at
                the end on a copy of the model holding the EMA weights (if any), in eval mode, without gradients;
                the result keeps every value and the weights of the best (model selection, as CSDI keeps the
                model with the best validation loss)
    Returns the per-step losses and the EMA (whose weights the caller may copy into the model for inference).
    """
    rank, world = distributed_context()
    device = resolve_device(config.device)
    if isinstance(data, np.ndarray):  # it has a ``take`` too, over its flattened values: not a row source
        raise TypeError("train: data must be a tensor or a sequence of tensors (torch.from_numpy(array)), not an array")
    if hasattr(data, "take") and not isinstance(data, torch.Tensor):  # a row source that reads its own batches
        loader, n_rows = data, len(data)
        if n_rows == 0:
            raise ValueError("train: data has no rows")
    else:
        tensors = _as_tensors(data)
        loader, n_rows = PinnedRows(tensors, device, config.pin_memory), tensors[0].shape[0]
    batch_size = min(config.batch_size, n_rows)
    total = config.total_steps(n_rows)
    per_epoch = _steps_per_epoch(n_rows, batch_size)

    torch.manual_seed(config.seed + rank)  # dropout and other module randomness
    model.to(device)
    use_tf32(device, config.tf32)
    net = torch.nn.parallel.DistributedDataParallel(model) if world > 1 else model
    net = compile_model(net, config.compile)
    optimizer = torch.optim.AdamW(
        model.parameters(),
        lr=config.lr,
        betas=config.adam_betas,
        weight_decay=config.weight_decay,
        fused=device.type == "cuda" or None,  # one kernel for the whole update on a GPU
    )
    if config.time_budget is not None and not config.time_budget > 0:
        raise ValueError(f"TrainConfig.time_budget must be > 0 seconds, got {config.time_budget}")
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else None
    clock, elapsed = _Clock(sync=sync), [0.0]  # elapsed[0]: the training seconds the schedule and the stop follow
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config, total, lambda: elapsed[0]))
    ema = EMA(model, config.ema_decay) if config.ema_decay else None
    generator = torch.Generator(device=device).manual_seed(config.seed * 7919 + rank)  # loss noise
    result = TrainResult(ema=ema)

    step = 0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint, map_location=device, required=("model", "optimizer", "step", "rng"))
        _check_resumable(state.get("train_config") or {}, config, checkpoint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        for group in optimizer.param_groups:  # a GPU run's fused AdamW resumes on a CPU, and the other way round
            group["fused"] = device.type == "cuda" or None
        scheduler.load_state_dict(state["lr_scheduler"])
        if ema is not None and state.get("ema") is not None:
            ema.load_state_dict(state["ema"])
        step = int(state["step"])
        result.losses = list(state.get("losses", []))
        result.validation = [tuple(v) for v in state.get("validation", [])]
        result.best_step, result.best_state = state.get("best_step"), state.get("best_state")
        torch.set_rng_state(state["rng"]["torch"].cpu())
        generator.set_state(state["rng"]["loss"].cpu())
        elapsed[0] = float(state.get("train_seconds", 0.0))
        clock = _Clock(elapsed[0], sync)

    def save():
        if checkpoint is None or rank != 0:
            return
        save_checkpoint(
            checkpoint,
            {
                **(meta or {}),
                "model": model.state_dict(),
                "ema": ema.state_dict() if ema else None,
                "optimizer": optimizer.state_dict(),
                "lr_scheduler": scheduler.state_dict(),
                "step": step,
                "train_seconds": elapsed[0],
                "losses": result.losses,
                "validation": result.validation,
                "best_step": result.best_step,
                "best_state": result.best_state,
                "train_config": asdict(config),
                "rng": {"torch": torch.get_rng_state(), "loss": generator.get_state()},
            },
        )

    pending: list[torch.Tensor] = []  # losses not yet read back from the device
    log_every = 1 if callback is not None else max(1, int(config.log_every))

    def read_losses():
        if not pending:
            return
        values = torch.stack(pending).float().cpu().tolist()
        first = step - len(pending)
        for i, v in enumerate(values):
            if not math.isfinite(v):
                raise FloatingPointError(
                    f"train: loss became {v} at step {first + i}; lower lr or check the data (the model's weights "
                    "have taken steps since: reload them from a checkpoint before reusing the model)"
                )
        result.losses.extend(values)
        pending.clear()
        bar.update(len(values))
        bar.set_postfix(loss=f"{values[-1]:.4f}", refresh=False)
        if callback is not None:
            callback(step, values[-1])

    def run_validation():
        scored = copy.deepcopy(model)
        if ema is not None:
            ema.copy_to(scored)
        scored.eval()
        with torch.no_grad():
            value = float(validate(scored))
        if not math.isfinite(value):
            raise FloatingPointError(f"train: validation value became {value} at step {step}")
        if result.best_step is None or value < min(v for _, v in result.validation):
            result.best_step, result.best_state = step, {k: v.detach().clone() for k, v in scored.state_dict().items()}
        result.validation.append((step, value))

    validate_every = int(config.validate_every) if validate is not None else 0

    def seconds_spent() -> float:  # rank 0's training clock, on every process
        if world == 1:
            return clock.seconds()
        t = torch.tensor([clock.seconds()], dtype=torch.float64, device=device)
        dist.broadcast(t, 0)
        return float(t)

    bar = tqdm(total=total, initial=step, disable=not config.progress or rank != 0, desc="train", unit="step")
    start = time.perf_counter()
    model.train()
    while step < total and not (config.time_budget and elapsed[0] >= config.time_budget):
        epoch, position = divmod(step, per_epoch)
        order = _epoch_order(n_rows, config.seed, epoch)
        rows = shard(order[position * batch_size : (position + 1) * batch_size], rank, world)
        batch = loader.take(rows)
        with autocast(device, config.amp):
            loss = loss_fn(net, batch if len(batch) > 1 else batch[0], generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        elapsed[0] = seconds_spent() if config.time_budget else clock.seconds()
        scheduler.step()
        if ema is not None:
            ema.update(model)
        step += 1
        pending.append(loss.detach())
        if len(pending) >= log_every:
            with clock.pause():
                read_losses()
        if validate_every and step % validate_every == 0 and step < total:
            with clock.pause():
                run_validation()
        if config.checkpoint_every and step % config.checkpoint_every == 0 and step < total:
            with clock.pause():
                read_losses()
                save()
    if sync is not None:
        sync()
    elapsed[0] = clock.seconds()
    read_losses()
    if validate is not None and (not result.validation or result.validation[-1][0] != step):
        run_validation()
    bar.close()
    save()
    if world > 1:
        dist.barrier()
    model.eval()
    result.steps, result.seconds, result.train_seconds = step, time.perf_counter() - start, elapsed[0]
    return result
