"""Fused elementwise steps of the CSDI denoiser for sampling on a CPU (``csrc/fused_pointwise.cpp``).

With 64 channels per position, a CSDI layer's elementwise work (the linear layers' biases, residual adds, layer
norms, GELU, the gated activation and its side information, the residual and skip outputs) costs as much as its
matrix products, each PyTorch op
being one pass over memory. When ``applies(x)``, the denoiser runs its linear layers without bias and these
kernels take the bias in, each doing in one pass what took two to five; the attention kernel takes the query /
key / value bias likewise (``cpu_attention``). The same function as the PyTorch path to float rounding (tested);
inference only: no autograd, eager (inside ``torch.compile`` the compiler fuses the PyTorch ops itself). Off with
the other CPU kernels (``TSDIFF_CPU_KERNELS=0``).

In fp32, or under bf16 autocast on the CPU (``tsdiff.accel.autocast(device, "bf16")``), where the matrix products
run in bf16 (on Intel AMX about 3.5x faster than fp32's at these shapes) and the kernels take their bf16 outputs
and write bf16 inputs for the next product, so no cast costs a pass of its own; the residual stream, the layer
norms and all arithmetic stay fp32.

The fused path's matrix products go through ``linear``: in fp32, oneDNN's matmul rather than the MKL sgemm behind
``F.linear`` (the same result; on an AMD Zen 4 an imputation 12% faster in an interleaved A/B,
benchmarks/NOTES.md "oneDNN for the fp32 products").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import cpu_kernels

__all__ = ["applies", "bf16_products", "residual_layer_norm", "bias_gelu", "csdi_gate", "residual_skip", "linear"]


def _autocast_on_cpu() -> bool:
    try:
        return torch.is_autocast_enabled("cpu")
    except TypeError:  # torch < 2.4
        return torch.is_autocast_cpu_enabled()


def bf16_products() -> bool:
    """Whether CPU autocast to bf16 is on: the matrix products take and return bf16."""
    if not _autocast_on_cpu():
        return False
    try:
        return torch.get_autocast_dtype("cpu") == torch.bfloat16
    except AttributeError:  # torch < 2.4
        return torch.get_autocast_cpu_dtype() == torch.bfloat16


def applies(x: torch.Tensor) -> bool:
    """Whether the fused path serves a layer whose input is ``x``: on a CPU, fp32 (or bf16 under bf16 autocast),
    gradients off (sampling runs under ``torch.no_grad``), eager, autocast off or to bf16, and the kernels
    available."""
    autocast = _autocast_on_cpu()
    return (
        x.device.type == "cpu"
        and (x.dtype == torch.float32 or (x.dtype == torch.bfloat16 and autocast))
        and not torch.is_grad_enabled()
        and not torch.compiler.is_compiling()
        and (not autocast or bf16_products())
        and cpu_kernels.available()
    )


def _onednn_linear() -> bool:
    return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, "_linear_pointwise")


def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``F.linear(x, weight, bias)`` for the fused path: x (..., in), weight (out, in) -> (..., out). In fp32 by
    oneDNN's matmul (torch's own CPU op for it, as inductor uses), which at these skinny shapes (13,440 x 64 times
    64 x 64-192) ran 10-40% faster than ``F.linear``'s MKL sgemm on an AMD Zen 4; under bf16 autocast by
    ``F.linear``, whose bf16 products are oneDNN's already."""
    if x.dtype == weight.dtype == torch.float32 and not bf16_products() and _onednn_linear():
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    return F.linear(x, weight, bias)


def _ops():
    if not cpu_kernels.available():
        raise RuntimeError("tsdiff's CPU kernels are not available here (see the warning on their build)")
    return torch.ops.tsdiff


def residual_layer_norm(y: torch.Tensor, bias: torch.Tensor | None, x: torch.Tensor, norm: nn.LayerNorm):
    """``norm(x + y + bias)`` over the last dim; y (..., C) fp32 or bf16, x (..., C) fp32 -> (the output, fp32;
    the output as the next matrix product takes it: itself, or its bf16 copy under bf16 autocast)."""
    outs = _ops().residual_layer_norm(
        y.contiguous(), bias, x.contiguous(), norm.weight, norm.bias, norm.eps, bf16_products()
    )
    return outs[0], outs[-1]


def bias_gelu(y: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``gelu(y + bias)`` (the erf form); y (..., C) fp32 or bf16 (returned in its dtype), bias (C,)."""
    return _ops().bias_gelu(y.contiguous(), bias)


def csdi_gate(mid, time_part, feature_part, cond_mask, mask_weight) -> torch.Tensor:
    """``sigmoid(gate) * tanh(filter)`` where ``[gate | filter] = mid + time_part[:, None] + feature_part[None, :,
    None] + cond_mask[..., None] * mask_weight``: mid (B, K, L, 2C), time_part (B, L, 2C), feature_part (K, 2C),
    cond_mask (B, K, L) bool, mask_weight (2C,) -> (B, K, L, C), in mid's dtype (fp32 or bf16; the side
    information is taken in fp32)."""
    time_part, feature_part = time_part.float().contiguous(), feature_part.float().contiguous()
    return _ops().csdi_gate(mid.contiguous(), time_part, feature_part, cond_mask.contiguous(), mask_weight)


def residual_skip(out: torch.Tensor, bias: torch.Tensor, x: torch.Tensor, skip: torch.Tensor | None):
    """The residual layer's outputs from its output projection ``out`` (..., 2C) without bias: ``[residual | s] =
    out + bias`` -> ((x + residual) / sqrt(2), skip + s), x and skip (..., C) fp32; out fp32 or bf16; ``skip=None``
    counts as 0."""
    return _ops().residual_skip(out.contiguous(), bias, x.contiguous(), None if skip is None else skip.contiguous())
