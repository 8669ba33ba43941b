"""Dropout on a CPU at the speed of a copy: the keep mask is a hash of a seed and the element's index
(``csrc/hash_dropout.cpp``), as GPU frameworks draw theirs (counter-based, Philox).

torch's CPU dropout draws each mask element from its Mersenne Twister and stores the mask for the backward; in a
training step of the reference CSDI (dropout 0.1 on the attention weights and on three activations per layer)
that was 40% of the time (benchmarks/NOTES.md, "Counter-based dropout"). Here the seed is drawn from torch's
default generator (so
``torch.manual_seed`` reproduces a run), each element is kept with probability 1 - p and scaled by 1 / (1 - p)
(the distribution of ``F.dropout``), and the backward recomputes the mask from the seed: no mask is stored.
Where the kernels are not built the mask is one uniform draw compared with p (about twice as fast as
``F.dropout``'s Bernoulli draw on a CPU), from a generator seeded the same way, so torch's default generator
advances alike on both paths (the masks differ); inside torch.compile, whose generated code draws its own masks,
it is the same comparison on ``torch.rand_like``. Dropped entries are 0 even where x is NaN or inf (``F.dropout``
multiplies by 0 and keeps those as NaN).
"""

from __future__ import annotations

import torch

from . import cpu_kernels

__all__ = ["dropout", "draw_seed", "DTYPES"]

DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)


def draw_seed() -> int:
    """A 64-bit seed for a counter-based mask, from torch's default generator (``torch.manual_seed`` reproduces it)."""
    return int(torch.empty((), dtype=torch.int64).random_())


class _HashDropout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, p: float, seed: int) -> torch.Tensor:
        ctx.p, ctx.seed = p, seed
        return torch.ops.tsdiff.hash_dropout(x.contiguous(), p, seed)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # linear in x with the same mask: the op itself, so it twice-differentiates
        return _HashDropout.apply(grad, ctx.p, ctx.seed), None, None


def dropout(x: torch.Tensor, p: float) -> torch.Tensor:
    """Training-mode dropout of a CPU tensor: each entry kept with probability 1 - p and scaled by 1 / (1 - p)."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p}")
    if x.device.type != "cpu" or x.dtype not in DTYPES:
        raise ValueError(
            f"cpu_dropout.dropout takes a float32, bfloat16, float16 or float64 CPU tensor, got {x.dtype} on {x.device}"
        )
    if p == 0.0:
        return x
    if torch.compiler.is_compiling():
        u = torch.rand_like(x)
    else:
        seed = draw_seed()
        if cpu_kernels.available():
            return _HashDropout.apply(x, p, seed)
        u = torch.rand(x.shape, generator=torch.Generator().manual_seed(seed))  # fp32: p to 2^-24, in any dtype
    return torch.where(u >= p, x, 0.0).mul_(1.0 / (1.0 - p))
