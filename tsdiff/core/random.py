"""Random draws that honour an optional torch.Generator on any device (a generator lives on one device)."""

from __future__ import annotations

import torch


def randn(shape, generator: torch.Generator | None = None, device=None, dtype=torch.float32) -> torch.Tensor:
    """Standard normal draws made on the generator's device, returned on ``device``."""
    where = generator.device if generator is not None else device
    return torch.randn(tuple(shape), generator=generator, device=where, dtype=dtype).to(device)


def randint(high: int, shape, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    where = generator.device if generator is not None else device
    return torch.randint(0, high, tuple(shape), generator=generator, device=where).to(device)


def rand(shape, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """Uniform [0, 1) draws made on the generator's device, returned on ``device``."""
    where = generator.device if generator is not None else device
    return torch.rand(tuple(shape), generator=generator, device=where).to(device)
