"""Fused elementwise steps of the CSDI denoiser for sampling on a CPU (``csrc/fused_pointwise.cpp``).

With 64 channels per position, a CSDI layer's elementwise work (the linear layers' biases, residual adds, layer
norms, GELU, the gated activation and its side information, the residual and skip outputs) costs as much as its
matrix products, each PyTorch op
being one pass over memory. When ``applies(x)``, the denoiser runs its linear layers without bias and these
kernels take the bias in, each doing in one pass what took two to five; the attention kernel takes the query /
key / value bias likewise (``cpu_attention``). The same function as the PyTorch path to float rounding (tested);
inference only: fp32, no autograd, eager (inside ``torch.compile`` the compiler fuses the PyTorch ops itself), not
under autocast. Off with the other CPU kernels (``TSDIFF_CPU_KERNELS=0``).
"""

from __future__ import annotations

import torch
from torch import nn

from . import cpu_kernels

__all__ = ["applies", "residual_layer_norm", "bias_gelu", "csdi_gate", "residual_skip"]


def _autocast_on_cpu() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


def applies(x: torch.Tensor) -> bool:
    """Whether the fused path serves a layer whose input is ``x``: fp32 on a CPU, gradients off (sampling runs
    under ``torch.no_grad``), eager, no autocast, and the kernels available."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and not torch.is_grad_enabled()
        and not torch.compiler.is_compiling()
        and not _autocast_on_cpu()
        and cpu_kernels.available()
    )


def _ops():
    if not cpu_kernels.available():
        raise RuntimeError("tsdiff's CPU kernels are not available here (see the warning on their build)")
    return torch.ops.tsdiff


def residual_layer_norm(y: torch.Tensor, bias: torch.Tensor | None, x: torch.Tensor, norm: nn.LayerNorm):
    """``norm(x + y + bias)`` over the last dim; y, x (..., C)."""
    return _ops().residual_layer_norm(y.contiguous(), bias, x.contiguous(), norm.weight, norm.bias, norm.eps)


def bias_gelu(y: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``gelu(y + bias)`` (the erf form); y (..., C), bias (C,)."""
    return _ops().bias_gelu(y.contiguous(), bias)


def csdi_gate(mid, time_part, feature_part, cond_mask, mask_weight) -> torch.Tensor:
    """``sigmoid(gate) * tanh(filter)`` where ``[gate | filter] = mid + time_part[:, None] + feature_part[None, :,
    None] + cond_mask[..., None] * mask_weight``: mid (B, K, L, 2C), time_part (B, L, 2C), feature_part (K, 2C),
    cond_mask (B, K, L) bool, mask_weight (2C,) -> (B, K, L, C)."""
    return _ops().csdi_gate(
        mid.contiguous(), time_part.contiguous(), feature_part.contiguous(), cond_mask.contiguous(), mask_weight
    )


def residual_skip(out: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, skip: torch.Tensor | None):
    """The residual layer's outputs from its output projection ``out`` (..., 2C) without bias: ``[residual | s] =
    out + bias`` -> ((x + residual) / sqrt(2), skip + s), x and skip (..., C); ``skip=None`` counts as 0."""
    return _ops().residual_skip(out.contiguous(), bias, x.contiguous(), None if skip is None else skip.contiguous())
