"""A fused CPU kernel for softmax attention with small heads, built on first use (``csrc/small_head_attention.cpp``).

The CSDI denoiser attends over a few dozen positions with heads of dimension 8, where PyTorch's CPU
flash-attention kernel is bound by the overhead of its per-head matrix-product calls. The kernel here puts 16
queries of one head in the lanes of a vector register (8 without AVX-512) and is about 3x faster at these shapes
(README, "Speed and scale"); it is for sampling only (no backward), fp32, and reads the query / key / value
projection in the layout a linear layer writes it, so neither attention axis needs a transposed copy.

It is compiled for this machine with its C++ compiler (``torch.utils.cpp_extension`` and ninja, about 10 s, once;
cached under ``TORCH_EXTENSIONS_DIR``, default ``~/.cache/torch_extensions``). Where it cannot be built (no
compiler or ninja) ``available()`` is False, a warning says why once, and the model uses
``scaled_dot_product_attention`` as before. ``TSDIFF_CPU_KERNELS=0`` turns it off.
"""

from __future__ import annotations

import hashlib
import os
import platform
import warnings
from pathlib import Path

import torch
from torch.utils.flop_counter import register_flop_formula

__all__ = ["available", "supports", "small_head_attention", "HEAD_DIMS", "MAX_LENGTH"]

HEAD_DIMS = (4, 8, 16)
MAX_LENGTH = 1024  # longer sequences go to SDPA, whose cache blocking wins there (2,048 positions: 30 against 34 ms)
SOURCE = Path(__file__).with_name("csrc") / "small_head_attention.cpp"
_state: dict[str, object] = {}


def _cpu_flags() -> str:
    """The CPU's feature flags (x86 "flags", ARM "Features"), with the machine and processor names."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    flags = next((line for line in lines if line.startswith(("flags", "Features"))), "")
    return f"{platform.machine()} {platform.processor()} {flags}"


def _build() -> bool:
    if os.environ.get("TSDIFF_CPU_KERNELS", "1") == "0":
        return False
    from torch.utils import cpp_extension

    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64"):  # 512-bit vectors where the CPU has them (GCC prefers 256 bits otherwise)
        arch = ["-march=native"] + (["-mprefer-vector-width=512"] if "avx512f" in _cpu_flags() else [])
    else:
        arch = ["-mcpu=native"] if machine in ("arm64", "aarch64") else []

    # one build per source, torch version and CPU (it is compiled for this machine's instruction set)
    key = hashlib.sha1(SOURCE.read_bytes() + torch.__version__.encode() + _cpu_flags().encode()).hexdigest()[:12]
    try:
        cpp_extension.load(
            name=f"tsdiff_cpu_attention_{key}",
            sources=[str(SOURCE)],
            extra_cflags=["-O3", *arch, "-fopenmp"],
            extra_ldflags=["-fopenmp"],
            is_python_module=False,
            verbose=False,
        )
        _register_python_parts()
    except Exception as err:  # any build or registration failure means: fall back to SDPA
        warnings.warn(
            f"tsdiff: the fused CPU attention kernel could not be built ({type(err).__name__}: "
            f"{str(err).strip().splitlines()[-1] if str(err).strip() else err}); using scaled_dot_product_attention",
            RuntimeWarning,
            stacklevel=3,
        )
        return False
    return True


def _register_python_parts() -> None:
    """The op's shapes for torch.compile's tracing (``register_fake``, torch >= 2.4; ``impl_abstract`` before) and
    its FLOPs for torch's counter."""
    fake = getattr(torch.library, "register_fake", None) or torch.library.impl_abstract

    @fake("tsdiff::small_head_attention")
    def _(qkv, heads):
        return qkv.new_empty((*qkv.shape[:-1], qkv.shape[-1] // 3))

    @register_flop_formula(torch.ops.tsdiff.small_head_attention)
    def _flops(qkv_shape, heads, *args, **kwargs) -> int:  # as SDPA counts it: q k^T and the weighted sum of v
        a, s, b, c3 = qkv_shape
        return 4 * a * b * s * s * (c3 // 3)


def available() -> bool:
    """Whether the kernel is built and loaded (builds it on the first call)."""
    if "ok" not in _state:
        _state["ok"] = _build()
    return bool(_state["ok"])


def supports(qkv: torch.Tensor, heads: int) -> bool:
    """Whether ``small_head_attention(qkv, heads)`` applies: fp32 (or bf16 under autocast) on a CPU, no gradient
    wanted, a head dimension in ``HEAD_DIMS``, at most ``MAX_LENGTH`` positions, and the kernel available. Inside
    ``torch.compile``'s tracing the kernel is used only if it was built before (``accel.compile_model`` builds
    it): a build cannot be traced."""
    return (
        qkv.device.type == "cpu"
        and qkv.dtype in (torch.float32, torch.bfloat16)
        and not qkv.requires_grad  # gradients wanted: the kernel has no backward
        and qkv.shape[1] <= MAX_LENGTH
        and qkv.shape[-1] % (3 * heads) == 0
        and qkv.shape[-1] // (3 * heads) in HEAD_DIMS
        and (bool(_state.get("ok")) if torch.compiler.is_compiling() else available())
    )


def small_head_attention(qkv: torch.Tensor, heads: int) -> torch.Tensor:
    """softmax(q k^T / sqrt(D)) v over axis 1 of ``qkv`` (A, S, B, 3C) = [q | k | v] -> (A, S, B, C), each of the
    A x B sequences and H heads (D = C / H channels) on its own. Equals ``scaled_dot_product_attention`` on the
    same heads to float rounding (tested). bf16 input is computed in fp32 and returned in fp32."""
    if not available():
        raise RuntimeError("tsdiff's CPU attention kernel is not available here (see the warning on its build)")
    if qkv.dtype == torch.bfloat16:
        qkv = qkv.float()
    return torch.ops.tsdiff.small_head_attention(qkv.contiguous(), heads)
