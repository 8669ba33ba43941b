"""A fused CPU kernel for softmax attention with small heads (``csrc/small_head_attention.cpp``).

The CSDI denoiser attends over a few dozen positions with heads of dimension 8, where PyTorch's CPU
flash-attention kernel is bound by the overhead of its per-head matrix-product calls. The kernel here puts 16
queries of one head in the lanes of a vector register (8 without AVX-512) and is about 3x faster at these shapes
(benchmarks/NOTES.md, "CPU sampling kernel"); fp32 or bf16 in and out (computed in fp32) for sampling, and with
a backward in fp32 for training (``trainable_attention``, which recomputes the weights rather than storing
them and draws dropout on them from a counter-based hash), and reads the query / key / value projection in the
layout a linear layer writes it, so neither attention axis needs a transposed copy. It is built with tsdiff's
other CPU kernels (``cpu_kernels.py``); where it cannot be, the model uses
``scaled_dot_product_attention``.
"""

from __future__ import annotations

import torch

from . import cpu_dropout, cpu_kernels

__all__ = ["supports", "trains", "fits", "small_head_attention", "trainable_attention", "HEAD_DIMS", "MAX_LENGTH"]

HEAD_DIMS = (4, 8, 16)
MAX_LENGTH = 1024  # longer sequences go to SDPA, whose cache blocking wins there (2,048 positions: 30 against 34 ms)


def fits(length: int, channels: int, heads: int) -> bool:
    """Whether sequences of ``length`` positions, ``channels`` split into ``heads`` heads, suit the kernel."""
    return length <= MAX_LENGTH and channels % heads == 0 and channels // heads in HEAD_DIMS


def _takes(qkv: torch.Tensor, heads: int) -> bool:
    """fp32 or bf16 (A, S, B, 3C) on a CPU, a head dimension in ``HEAD_DIMS``, at most ``MAX_LENGTH`` positions,
    and the kernels available."""
    return (
        qkv.device.type == "cpu"
        and qkv.dtype in (torch.float32, torch.bfloat16)
        and qkv.shape[-1] % 3 == 0
        and fits(qkv.shape[1], qkv.shape[-1] // 3, heads)
        and cpu_kernels.available()
    )


def supports(qkv: torch.Tensor, heads: int) -> bool:
    """Whether ``small_head_attention(qkv, heads)`` applies: fp32 (or bf16 under autocast) on a CPU, no gradient
    wanted (``trains`` otherwise), a head dimension in ``HEAD_DIMS``, at most ``MAX_LENGTH`` positions, and the
    kernels available."""
    return not qkv.requires_grad and _takes(qkv, heads)


def trains(qkv: torch.Tensor, heads: int) -> bool:
    """Whether ``trainable_attention(qkv, heads)`` applies: as ``supports``, but with a gradient wanted, eager
    (inside ``torch.compile`` the compiler's own attention is used)."""
    return qkv.requires_grad and not torch.compiler.is_compiling() and _takes(qkv, heads)


def small_head_attention(qkv: torch.Tensor, heads: int, bias: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(D)) v over axis 1 of ``qkv`` (A, S, B, 3C) = [q | k | v] -> (A, S, B, C), each of the
    A x B sequences and H heads (D = C / H channels) on its own. Equals ``scaled_dot_product_attention`` on the
    same heads to float rounding (tested). bf16 input is computed in fp32 and returned in bf16.

    ``bias`` (3C,): the projection's bias, added here (to ``qkv + bias``), so the linear layer before can run
    without one; the key part is left out, as the softmax cancels it."""
    if not cpu_kernels.available():
        raise RuntimeError("tsdiff's CPU attention kernel is not available here (see the warning on its build)")
    return torch.ops.tsdiff.small_head_attention(qkv.contiguous(), heads, None if bias is None else bias.float())


class _SmallHeadAttention(torch.autograd.Function):
    @staticmethod
    def forward(ctx, qkv: torch.Tensor, heads: int, p: float, seed: int) -> torch.Tensor:
        ctx.save_for_backward(qkv)
        ctx.heads, ctx.p, ctx.seed = heads, p, seed
        return torch.ops.tsdiff.small_head_attention(qkv, heads, None, p, seed)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        (qkv,) = ctx.saved_tensors
        grad = torch.ops.tsdiff.small_head_attention_backward(
            qkv, grad_out.float().contiguous(), ctx.heads, ctx.p, ctx.seed
        )
        return grad, None, None, None


def trainable_attention(qkv: torch.Tensor, heads: int, p: float = 0.0, seed: int | None = None) -> torch.Tensor:
    """``small_head_attention(qkv, heads)`` with a gradient, for training: qkv (A, S, B, 3C) with the projection's
    bias in it -> (A, S, B, C) fp32 (bf16 input is widened first: the backward is fp32 only). The backward
    recomputes the softmax weights from q and k (as FlashAttention's does) and equals SDPA's gradient to float
    rounding (tested).

    ``p``: dropout on the weights, each kept with probability 1 - p and scaled by 1 / (1 - p), its mask a hash of
    ``seed`` and the weight's place (as ``cpu_dropout``'s; drawn from torch's default generator when None), redrawn
    in the backward, so no mask is stored."""
    if not cpu_kernels.available():
        raise RuntimeError("tsdiff's CPU attention kernel is not available here (see the warning on its build)")
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if seed is None:
        seed = cpu_dropout.draw_seed() if p > 0 else 0
    return _SmallHeadAttention.apply(qkv.float().contiguous(), heads, float(p), seed)
