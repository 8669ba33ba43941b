"""A small MLP denoiser for low-dimensional data (the end-to-end example and tests)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..core.conditioning import Condition
from ..core.parameterization import check_parameterization
from .layers import TimestepEmbedder, label_rows


@dataclass
class MLPConfig:
    dim: int = 2  # data dimension
    hidden: int = 128
    depth: int = 3  # residual blocks
    n_classes: int = 0  # > 0 adds a label embedding (index n_classes = the null label for CFG)
    dropout: float = 0.0
    parameterization: str = "eps"


class MLPDenoiser(nn.Module):
    """x_t (N, dim), t (N,) -> prediction (N, dim): residual SiLU MLP blocks, each conditioned on the step."""

    def __init__(self, config: MLPConfig | None = None, **overrides):
        super().__init__()
        self.config = config or MLPConfig(**overrides)
        c = self.config
        self.parameterization = check_parameterization(c.parameterization)
        self.inp = nn.Linear(c.dim, c.hidden)
        self.time = TimestepEmbedder(c.hidden)
        self.label = nn.Embedding(c.n_classes + 1, c.hidden) if c.n_classes else None
        self.blocks = nn.ModuleList(
            nn.Sequential(
                nn.LayerNorm(c.hidden),
                nn.Linear(c.hidden, 2 * c.hidden),
                nn.SiLU(),
                nn.Dropout(c.dropout),
                nn.Linear(2 * c.hidden, c.hidden),
            )
            for _ in range(c.depth)
        )
        self.out = nn.Sequential(nn.LayerNorm(c.hidden), nn.Linear(c.hidden, c.dim))
        nn.init.zeros_(self.out[-1].weight)  # start as the zero prediction
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition | None = None) -> torch.Tensor:
        if x_t.dim() != 2 or x_t.shape[1] != self.config.dim:
            raise ValueError(f"MLPDenoiser: x_t must be (N, {self.config.dim}), got {tuple(x_t.shape)}")
        c = self.time(t)  # (N, hidden)
        if self.label is not None and condition is not None and condition.labels is not None:
            rows = label_rows(condition.labels, self.config.n_classes, x_t.shape[0], x_t.device, "MLPDenoiser")
            c = c + self.label(rows)  # NULL_LABEL -> the last row, for classifier-free guidance
        h = self.inp(x_t.float()) + c
        for block in self.blocks:
            h = h + block(h + c)
        return self.out(h).to(x_t.dtype)

    def describe(self) -> dict:
        return {"kind": "mlp", "config": asdict(self.config)}
