"""tsdiff's CPU kernels (C++ in ``csrc/``), compiled for this machine on first use.

- ``tsdiff::small_head_attention``: softmax attention for many short sequences with small heads, for sampling,
  and ``tsdiff::small_head_attention_backward``, its gradient, for fp32 training (``cpu_attention.py``);
- ``tsdiff::hash_dropout``: dropout with a counter-based mask, for training (``cpu_dropout.py``);
- ``tsdiff::residual_layer_norm``, ``tsdiff::bias_gelu``, ``tsdiff::csdi_gate``, ``tsdiff::residual_skip``: the CSDI
  layer's elementwise steps fused, for sampling (``cpu_fused.py``).

They are built with this machine's C++ compiler (``torch.utils.cpp_extension`` and ninja, about 10 s, once; cached
under ``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``). Where they cannot be built (no compiler or
ninja) ``available()`` is False, a warning says why once, and the models use PyTorch's operators as before.
``TSDIFF_CPU_KERNELS=0`` turns them off.
"""

from __future__ import annotations

import hashlib
import os
import platform
import warnings
from pathlib import Path

import torch
from torch.utils.flop_counter import register_flop_formula

__all__ = ["available", "SOURCES", "HEADERS"]

_CSRC = Path(__file__).with_name("csrc")
SOURCES = tuple(_CSRC / name for name in ("small_head_attention.cpp", "hash_dropout.cpp", "fused_pointwise.cpp"))
HEADERS = (_CSRC / "vec.h",)
_state: dict[str, object] = {}


def _cpu_flags() -> str:
    """The CPU's feature flags (x86 "flags", ARM "Features"), with the machine and processor names."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    flags = next((line for line in lines if line.startswith(("flags", "Features"))), "")
    return f"{platform.machine()} {platform.processor()} {flags}"


def _arch_flags() -> list[str]:
    """The compiler flags for this CPU's instruction set: 512-bit vectors where it has AVX-512 (GCC prefers 256
    bits otherwise)."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):
        return ["-march=native"] + (["-mprefer-vector-width=512"] if "avx512f" in _cpu_flags() else [])
    return ["-mcpu=native"] if machine in ("arm64", "aarch64") else []


def _build() -> bool:
    if os.environ.get("TSDIFF_CPU_KERNELS", "1") == "0":
        return False
    from torch.utils import cpp_extension

    # one build per source, torch version and CPU (it is compiled for this machine's instruction set)
    digest = hashlib.sha1(torch.__version__.encode() + _cpu_flags().encode())
    for source in SOURCES + HEADERS:
        digest.update(source.read_bytes())
    try:
        cpp_extension.load(
            name=f"tsdiff_cpu_kernels_{digest.hexdigest()[:12]}",
            sources=[str(source) for source in SOURCES],
            extra_cflags=["-O3", *_arch_flags(), "-fopenmp"],
            extra_ldflags=["-fopenmp"],
            is_python_module=False,
            verbose=False,
        )
        _register_python_parts()
    except Exception as err:  # any build or registration failure means: fall back to PyTorch's operators
        warnings.warn(
            f"tsdiff: the CPU kernels could not be built ({type(err).__name__}: "
            f"{str(err).strip().splitlines()[-1] if str(err).strip() else err}); using PyTorch's operators",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    return True


def _register_python_parts() -> None:
    """The ops' shapes for torch.compile's tracing (``register_fake``, torch >= 2.4; ``impl_abstract`` before) and
    the attention's FLOPs for torch's counter."""
    fake = getattr(torch.library, "register_fake", None) or torch.library.impl_abstract

    @fake("tsdiff::small_head_attention")
    def _(qkv, heads, bias=None, p=0.0, seed=0):
        return qkv.new_empty((*qkv.shape[:-1], qkv.shape[-1] // 3))

    @fake("tsdiff::small_head_attention_backward")  # not traced today (cpu_attention is off inside compile)
    def _(qkv, grad_out, heads, p=0.0, seed=0):
        return torch.empty_like(qkv)

    @fake("tsdiff::hash_dropout")  # not traced today (cpu_dropout draws its own mask inside torch.compile)
    def _(x, p, seed):
        return torch.empty_like(x)

    @fake("tsdiff::residual_layer_norm")  # these four are not traced today (cpu_fused is off inside compile)
    def _(y, bias, x, weight, beta, eps, bf16_copy=False):
        return [torch.empty_like(x)] + ([torch.empty_like(x, dtype=torch.bfloat16)] if bf16_copy else [])

    @fake("tsdiff::bias_gelu")
    def _(y, bias):
        return torch.empty_like(y)

    @fake("tsdiff::residual_skip")
    def _(out, bias, x, skip):
        return torch.empty_like(x), torch.empty_like(x)

    @fake("tsdiff::csdi_gate")
    def _(mid, time_part, feature_part, cond_mask, mask_weight):
        return mid.new_empty((*mid.shape[:-1], mid.shape[-1] // 2))

    @register_flop_formula(torch.ops.tsdiff.small_head_attention)
    def _flops(qkv_shape, heads, *args, **kwargs) -> int:  # as SDPA counts it: q k^T and the weighted sum of v
        a, s, b, c3 = qkv_shape
        return 4 * a * b * s * s * (c3 // 3)

    @register_flop_formula(torch.ops.tsdiff.small_head_attention_backward)
    def _backward_flops(qkv_shape, *args, **kwargs) -> int:  # as SDPA's backward: dV, dP, dQ and dK
        a, s, b, c3 = qkv_shape
        return 8 * a * b * s * s * (c3 // 3)


def available() -> bool:
    """Whether the kernels are built and loaded (builds them on the first call). Inside torch.compile's tracing,
    whether they were built before (a build cannot be traced: ``accel.compile_model`` builds them first)."""
    if torch.compiler.is_compiling():
        return bool(_state.get("ok"))
    if "ok" not in _state:
        _state["ok"] = _build()
    return bool(_state["ok"])
