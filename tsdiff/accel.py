"""The GPU fast path: TF32 matmuls, bf16 autocast, ``torch.compile``, pinned-memory batch loading.

Each switch is an option of ``TrainConfig`` (training) or of a task (sampling) and falls back to plain fp32 eager
PyTorch where it does not apply: TF32, autocast and pinned memory do nothing on a CPU, and ``compile_model``
returns the module unchanged when ``mode`` is None. Attention everywhere goes through
``scaled_dot_product_attention``, which picks the flash or memory-efficient kernel on a GPU by itself.
"""

from __future__ import annotations

import contextlib
import functools
import warnings

import torch

from .checks import whole_number

__all__ = [
    "use_tf32",
    "autocast",
    "AMP_MODES",
    "native_bf16",
    "compile_model",
    "PinnedRows",
    "COMPILE_MODES",
    "rows_per_call",
]

COMPILE_MODES = (None, "default", "reduce-overhead", "max-autotune")


def use_tf32(device: torch.device | str, enabled: bool = True) -> None:
    """Let fp32 matmuls and convolutions on CUDA use TF32 tensor cores (about 3e-4 relative error)."""
    if torch.device(device).type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = enabled
        torch.backends.cudnn.allow_tf32 = enabled


AMP_MODES = (False, True, "bf16")


def native_bf16(device: torch.device | str = "cpu") -> bool:
    """Whether ``device`` does bf16 matrix products in hardware: a CUDA GPU that supports bf16, or a CPU with
    AVX512-BF16 (Intel Cooper Lake and later, AMD Zen 4 and later) or AMX tiles (Intel Sapphire Rapids and later).

    Elsewhere oneDNN emulates them. On an AMD Zen 4 (2 cores) with oneDNN held to older instruction sets by
    ``ONEDNN_MAX_CPU_ISA``, imputing one PhysioNet stay with DDIM 10 steps x 50 samples (benchmarks/perf.py
    ``--only equal_crps --bf16``) took 10.2 s in bf16 against 6.6 s in fp32 with AVX-512 alone, and 59.5 s against
    7.3 s with AVX2 alone; with AVX512-BF16 it took 3.75 s against 6.99 s."""
    device = torch.device(device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        try:  # GPUs before Ampere emulate bf16, which is_bf16_supported counts by default
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # torch < 2.4
            return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(check is not None and check() for check in checks)


@functools.cache
def _warn_emulated_bf16() -> None:
    """Warn once per process that amp="bf16" runs on a CPU without bf16 hardware."""
    warnings.warn(
        'amp="bf16" on a CPU without AVX512-BF16 or AMX: its bf16 matrix products are emulated, and sampling ran '
        "1.5-8x slower than in fp32 where that was measured (tsdiff.accel.native_bf16); use amp=False (or drop "
        "--bf16) on this machine",
        RuntimeWarning,
        stacklevel=3,
    )


def autocast(device: torch.device | str, enabled: bool | str = True):
    """bf16 autocast: ``True`` on CUDA only (a no-op context on a CPU), ``"bf16"`` on a CPU too, ``False`` off.

    On a CPU bf16 pays where the hardware does bf16 products (``native_bf16``: AVX512-BF16 or AMX). Sampling the
    CSDI there, the fused CPU kernels take the bf16 products and keep the residual stream in fp32
    (``models.cpu_fused``): imputing one PhysioNet stay (100 samples x 50 steps, reference CSDI, 2 cores,
    benchmarks/perf.py) took 23.9 s against 37.4 s in fp32 on an Intel Sapphire Rapids (AMX) and 40.9 s against
    76.2 s on an AMD Zen 4 (AVX512-BF16). Elsewhere it warns (once): the products are emulated there, slower
    than fp32."""
    if enabled not in AMP_MODES:
        raise ValueError(f"amp must be one of {AMP_MODES}, got {enabled!r}")
    device = torch.device(device)
    if enabled == "bf16" and device.type == "cpu" and not native_bf16(device):
        _warn_emulated_bf16()
    if enabled == "bf16" or (enabled is True and device.type == "cuda"):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def rows_per_call(device: torch.device | str, max_rows: int | None = None) -> int:
    """Rows per denoiser call when sampling: ``max_rows`` if given; else 1024 on a GPU (fill the device) and 8 on
    a CPU, where activations that stay in cache matter more than batching (the reference CSDI on 2 cores: 21 ms
    per sample and call at 8 rows, 42 ms at 100, measured with benchmarks/perf.py's shapes)."""
    if max_rows is not None:
        return whole_number(max_rows, "max_rows", 1)
    return 1024 if torch.device(device).type == "cuda" else 8


def compile_model(model: torch.nn.Module, mode: str | None) -> torch.nn.Module:
    """``torch.compile(model, mode=mode)``, or the model itself when mode is None.

    "reduce-overhead" adds CUDA graphs, which pay in fixed-shape sampler loops with small batches. The compiled
    module shares its parameters with ``model``: optimizers, EMA and checkpoints keep using ``model``. Wrapping
    the same model again (every ``predict``) reuses the compiled code: TorchDynamo caches it per module."""
    if mode not in COMPILE_MODES:
        raise ValueError(f"compile mode must be one of {COMPILE_MODES}, got {mode!r}")
    if mode is None:
        return model
    if any(p.device.type == "cpu" for p in model.parameters()):
        from .models import cpu_kernels

        cpu_kernels.available()  # build tsdiff's CPU kernels now: they cannot be built while tracing
    return torch.compile(model, mode=mode, dynamic=False)


class PinnedRows:
    """Gathers rows of CPU tensors into page-locked buffers so the copy to the GPU runs asynchronously.

    ``take(rows)`` returns the rows on ``device``; on a CPU device (or with ``pin=False``) it is plain indexing.
    Tensors already on ``device`` are indexed in place."""

    def __init__(self, tensors: tuple[torch.Tensor, ...], device: torch.device | str, pin: bool = True):
        self.tensors, device = tensors, torch.device(device)
        self.device = device
        self.pin = pin and device.type == "cuda" and torch.cuda.is_available()
        self.buffers: dict[tuple[int, int], tuple[torch.Tensor, torch.cuda.Event]] = {}

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _buffer(self, i: int, t: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.cuda.Event]:
        key = (i, n)
        if key not in self.buffers:
            self.buffers[key] = (torch.empty((n, *t.shape[1:]), dtype=t.dtype).pin_memory(), torch.cuda.Event())
        return self.buffers[key]

    def take(self, rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = []
        for i, t in enumerate(self.tensors):
            if t.device == self.device:
                out.append(t[rows.to(t.device)])
            elif self.pin:
                buf, copied = self._buffer(i, t, len(rows))
                copied.synchronize()  # the last asynchronous copy out of this buffer has finished
                torch.index_select(t, 0, rows, out=buf)
                out.append(buf.to(self.device, non_blocking=True))
                copied.record()
            else:
                out.append(t[rows].to(self.device))
        return tuple(out)
