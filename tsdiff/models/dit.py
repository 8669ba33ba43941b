"""DiT: a diffusion transformer over patches of images and gridded fields (Peebles & Xie, ICCV 2023).

Patchify -> tokens + fixed 2-D sin-cos position embedding -> blocks with adaLN-Zero (the conditioning vector c =
noise-level embedding [+ label embedding] [+ scalar embedding] regresses shift, scale and gate of attention and MLP;
gates start at zero, so every block starts as the identity) -> final adaLN + linear -> unpatchify.

Differences from the reference model file, for grids: any H x W (not only squares), padded up to a multiple of the
patch (with wrap-around in longitude when ``periodic_lon``) and cropped back; conditioning fields (previous states,
static fields, mask channels) concatenated to the noisy input as channels; continuous scalar conditions (lead time,
hour of day, day of year) embedded with Fourier features; attention through ``scaled_dot_product_attention``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from ..core.conditioning import Condition
from ..core.parameterization import check_parameterization
from .layers import TimestepEmbedder, label_rows

__all__ = ["DiTConfig", "DiTDenoiser", "PRESETS", "sincos_2d"]

# depth, width, heads of the paper's sizes (Table 1); the patch is chosen separately ("B/4" = B with patch 4)
PRESETS = {
    "S": {"depth": 12, "width": 384, "heads": 6},
    "B": {"depth": 12, "width": 768, "heads": 12},
    "L": {"depth": 24, "width": 1024, "heads": 16},
    "XL": {"depth": 28, "width": 1152, "heads": 16},
}


@dataclass
class DiTConfig:
    in_channels: int  # channels of the field being denoised
    cond_channels: int = 0  # conditioning fields concatenated to the input (condition.side)
    out_channels: int | None = None  # default: in_channels
    patch: int = 2
    width: int = 384
    depth: int = 12
    heads: int = 6
    mlp_ratio: float = 4.0
    n_classes: int = 0  # class labels 0..n-1 (+ one null embedding for classifier-free guidance)
    n_scalars: int = 0  # continuous conditions (condition.scalars), each embedded with Fourier features
    scalar_frequencies: int = 8
    periodic_lon: bool = False  # pad the last (longitude) axis by wrapping around instead of with zeros
    dropout: float = 0.0  # on each block's attention and MLP outputs before the residual sum, in training only
    parameterization: str = "v"

    def __post_init__(self):
        if self.heads < 1 or self.width < 4 or self.width % 4:  # the 2-D sin-cos position embedding needs 4 | width
            raise ValueError(
                f"DiTConfig: need heads >= 1 and a width that is a multiple of 4, got {self.heads}, {self.width}"
            )
        if self.width % self.heads:
            raise ValueError(f"DiTConfig: width {self.width} is not a multiple of heads {self.heads}")
        if self.out_channels is not None and self.out_channels < 1:
            raise ValueError(f"DiTConfig: out_channels must be >= 1 (None: in_channels), got {self.out_channels}")
        if min(self.n_classes, self.n_scalars, self.cond_channels) < 0:
            raise ValueError(f"DiTConfig: n_classes, n_scalars and cond_channels must be >= 0, got {self}")
        if min(self.in_channels, self.patch, self.depth) < 1:
            raise ValueError(f"DiTConfig: in_channels, patch and depth must be >= 1, got {self}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"DiTConfig: dropout must be in [0, 1), got {self.dropout}")


def sincos_2d(dim: int, h: int, w: int) -> torch.Tensor:
    """Fixed 2-D sin-cos position embedding (h * w, dim): half the channels encode the row, half the column
    (Vaswani et al. 2017 per axis, as in MAE and DiT)."""
    if dim % 4:
        raise ValueError(f"sincos_2d: dim must be a multiple of 4, got {dim}")
    quarter = dim // 4
    omega = 1.0 / 10_000 ** (torch.arange(quarter, dtype=torch.float64) / quarter)

    def axis(n):  # (n, dim / 2)
        args = torch.arange(n, dtype=torch.float64)[:, None] * omega[None]
        return torch.cat([torch.sin(args), torch.cos(args)], dim=1)

    rows, cols = axis(h), axis(w)
    emb = torch.cat([rows[:, None].expand(h, w, -1), cols[None].expand(h, w, -1)], dim=-1)  # (h, w, dim)
    return emb.reshape(h * w, dim).float()


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift  # x (N, T, D), shift/scale (N, 1, D)


class ScalarEmbedder(nn.Module):
    """Continuous scalars (N, n) -> (N, dim): [s, sin(2^k pi s), cos(2^k pi s)] for k < F, then an MLP.
    Scalars are expected roughly in [-1, 1] (the caller scales lead times and encodes cycles as sin/cos)."""

    def __init__(self, n: int, dim: int, frequencies: int):
        super().__init__()
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(frequencies), persistent=False)
        self.mlp = nn.Sequential(nn.Linear(n * (1 + 2 * frequencies), dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        args = s.float()[..., None] * self.freqs  # (N, n, F)
        feats = torch.cat([s.float()[..., None], torch.sin(args), torch.cos(args)], dim=-1)  # (N, n, 1 + 2F)
        return self.mlp(feats.flatten(1))


class DiTBlock(nn.Module):
    def __init__(self, width: int, heads: int, mlp_ratio: float, dropout: float = 0.0):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.norm1 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.norm2 = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(approximate="tanh"), nn.Linear(hidden, width))
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 6 * width))
        nn.init.zeros_(self.ada[1].weight)  # adaLN-Zero: gates (and shifts/scales) start at zero
        nn.init.zeros_(self.ada[1].bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:  # x (N, T, D), c (N, D)
        shift1, scale1, gate1, shift2, scale2, gate2 = self.ada(c)[:, None].chunk(6, dim=-1)  # each (N, 1, D)
        qkv = self.qkv(modulate(self.norm1(x), shift1, scale1))  # (N, T, 3D)
        q, k, v = rearrange(qkv, "n t (three h d) -> three n h t d", three=3, h=self.heads).unbind(0)
        attn = F.scaled_dot_product_attention(q, k, v)  # (N, H, T, D / H)
        drop = self.dropout if self.training else 0.0
        x = x + gate1 * F.dropout(self.proj(rearrange(attn, "n h t d -> n t (h d)")), drop)
        return x + gate2 * F.dropout(self.mlp(modulate(self.norm2(x), shift2, scale2)), drop)


class FinalLayer(nn.Module):
    def __init__(self, width: int, patch: int, out_channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.ada = nn.Sequential(nn.SiLU(), nn.Linear(width, 2 * width))
        self.linear = nn.Linear(width, patch * patch * out_channels)
        for lin in (self.ada[1], self.linear):  # zero-init: the model starts by predicting 0
            nn.init.zeros_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:  # (N, T, D) -> (N, T, p * p * C)
        shift, scale = self.ada(c)[:, None].chunk(2, dim=-1)
        return self.linear(modulate(self.norm(x), shift, scale))


class DiTDenoiser(nn.Module):
    """model(x_t (N, C, H, W), t (N,), Condition(side=(N, C_cond, H, W), labels=(N,), scalars=(N, n)))
    -> prediction (N, C_out, H, W).

    ``t`` is the (continuous) step of the schedule; ``side`` must be given when ``cond_channels`` > 0, ``scalars``
    when ``n_scalars`` > 0; labels are optional (missing or NULL_LABEL = the null class of classifier-free guidance).
    """

    def __init__(self, config: DiTConfig | None = None, **overrides):
        super().__init__()
        self.config = c = config or DiTConfig(**overrides)
        self.parameterization = check_parameterization(c.parameterization)
        out = c.out_channels or c.in_channels
        self.patch_embed = nn.Conv2d(c.in_channels + c.cond_channels, c.width, c.patch, stride=c.patch)
        self.t_embed = TimestepEmbedder(c.width)
        self.label_embed = nn.Embedding(c.n_classes + 1, c.width) if c.n_classes else None  # last row = null
        self.scalar_embed = ScalarEmbedder(c.n_scalars, c.width, c.scalar_frequencies) if c.n_scalars else None
        self.blocks = nn.ModuleList(DiTBlock(c.width, c.heads, c.mlp_ratio, c.dropout) for _ in range(c.depth))
        self.final = FinalLayer(c.width, c.patch, out)
        nn.init.xavier_uniform_(self.patch_embed.weight.view(c.width, -1))
        nn.init.zeros_(self.patch_embed.bias)
        for block in self.blocks:
            for lin in (block.qkv, block.proj, block.mlp[0], block.mlp[2]):
                nn.init.xavier_uniform_(lin.weight)
                nn.init.zeros_(lin.bias)
        if self.label_embed is not None:
            nn.init.normal_(self.label_embed.weight, std=0.02)
        self._pos_cache: dict = {}

    @classmethod
    def preset(cls, name: str, in_channels: int, **overrides) -> DiTDenoiser:
        """``name`` like "S/2" or "B/4": the paper's size with the given patch."""
        size, _, patch = name.partition("/")
        if size not in PRESETS or (patch and not patch.isdigit()):
            raise ValueError(f"unknown DiT preset {name!r}; expected <size>/<patch> with size in {sorted(PRESETS)}")
        return cls(DiTConfig(in_channels=in_channels, patch=int(patch or 2), **{**PRESETS[size], **overrides}))

    def _pos(self, h: int, w: int, device) -> torch.Tensor:
        key = (h, w, str(device))
        if key not in self._pos_cache:
            self._pos_cache[key] = sincos_2d(self.config.width, h, w).to(device)
        return self._pos_cache[key]

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        p = self.config.patch
        pad_h, pad_w = -x.shape[-2] % p, -x.shape[-1] % p
        if pad_w:
            mode = "circular" if self.config.periodic_lon else "constant"
            x = F.pad(x, (0, pad_w, 0, 0), mode=mode)
        if pad_h:
            x = F.pad(x, (0, 0, 0, pad_h))
        return x

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition | None = None) -> torch.Tensor:
        c = self.config
        if x_t.dim() != 4 or x_t.shape[1] != c.in_channels:
            raise ValueError(f"DiTDenoiser: x_t must be (N, C={c.in_channels}, H, W), got {tuple(x_t.shape)}")
        n, _, height, width = x_t.shape
        dtype = self.patch_embed.weight.dtype
        x = x_t.to(dtype)
        if c.cond_channels:
            side = None if condition is None else condition.side
            if side is None or tuple(side.shape) != (n, c.cond_channels, height, width):
                got = None if side is None else tuple(side.shape)
                raise ValueError(f"DiTDenoiser: condition.side must be (N, {c.cond_channels}, H, W), got {got}")
            x = torch.cat([x, side.to(dtype)], dim=1)  # (N, C + C_cond, H, W)
        x = self._pad(x)
        gh, gw = x.shape[-2] // c.patch, x.shape[-1] // c.patch
        tokens = rearrange(self.patch_embed(x), "n d h w -> n (h w) d") + self._pos(gh, gw, x.device)  # (N, T, D)

        cond = self.t_embed(t)  # (N, D)
        if self.label_embed is not None:
            labels = None if condition is None else condition.labels
            cond = cond + self.label_embed(label_rows(labels, c.n_classes, n, x.device, "DiTDenoiser"))
        if self.scalar_embed is not None:
            scalars = None if condition is None else condition.scalars
            if scalars is None or tuple(scalars.shape) != (n, c.n_scalars):
                got = None if scalars is None else tuple(scalars.shape)
                raise ValueError(f"DiTDenoiser: condition.scalars must be (N, {c.n_scalars}), got {got}")
            cond = cond + self.scalar_embed(scalars)

        for block in self.blocks:
            tokens = block(tokens, cond)
        out = self.final(tokens, cond)  # (N, T, p * p * C_out)
        out = rearrange(out, "n (h w) (p q c) -> n c (h p) (w q)", h=gh, w=gw, p=c.patch, q=c.patch)
        return out[..., :height, :width].to(x_t.dtype)  # (N, C_out, H, W)

    def describe(self) -> dict:
        return {"kind": "dit", "config": asdict(self.config)}
