"""CSDI: a conditional score model with transformers over time and over features (Tashiro et al. 2021).

Architecture as in the reference (see ../shared/REFERENCE.md): input [cond_mask * x0, (1 - cond_mask) * x_t] ->
channels; residual layers (DiffWave-like) each adding the diffusion-step embedding, then a transformer layer
over time (per feature) and one over features (per time step), a gated activation with the projected side
information, and residual / skip outputs; skips summed / sqrt(layers) -> ReLU -> zero-initialised output.
Side information = sinusoidal time embedding + learned feature embedding + the conditional mask.

Written for speed, with the same function as the reference:
- activations stay channels-last (B, K, L, C), so every 1x1 convolution is one matmul; attention runs over axis 1
  of (A, S, B, C): the time attention on a free view (B*K, L, 1, C), the feature attention on (B, K, L, C) itself;
- sampling on a CPU, attention is tsdiff's fused small-head kernel (``cpu_attention``), which reads the qkv
  projection as it is; in fp32 eager the linear layers also run without bias, taken in by fused kernels for the
  residual adds with layer norm, GELU and the gated activation with its side information (``cpu_fused``);
  training on a CPU, the same kernel with its backward and dropout on its weights (2.5-3.5x faster than SDPA's);
  otherwise ``scaled_dot_product_attention`` on (N, H, S, D) queries, keys and values: strided views of the qkv
  projection for the time attention when sampling, one contiguous copy for the feature attention and in training,
  whose backward runs faster on it (with dropout on a CPU, written out: ``attention_on_cpu``);
- training on a CPU, dropout masks are tsdiff's counter-based hash (``cpu_dropout``), not torch's Mersenne Twister
  draws, which took 40% of a reference training step;
- the side-information projection (145 -> 2C channels per position per layer in the reference) is split into its
  time, feature and mask parts, which are summed by broadcasting: identical output at a fraction of the FLOPs;
- ``attention="linear"`` swaps softmax attention for linear attention (Katharopoulos et al. 2020) over long axes.

``interpolated_input=True`` (off in the reference preset) adds a third input channel: the conditional observations
linearly interpolated along time (PriSTI, Liu et al. 2023, uses such an interpolation as its conditional prior), so
the network starts from linear interpolation and learns the correction rather than the whole interpolation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core.conditioning import Condition
from ..core.parameterization import check_parameterization
from . import cpu_attention, cpu_dropout, cpu_fused
from .layers import label_rows


@dataclass
class CSDIConfig:
    n_features: int  # K
    channels: int = 64
    layers: int = 4
    heads: int = 8
    ff_dim: int = 64  # transformer feed-forward width (the reference uses 64)
    dropout: float = 0.1
    diffusion_embedding_dim: int = 128
    time_embedding_dim: int = 128
    feature_embedding_dim: int = 16
    n_steps: int = 50  # training steps of the schedule (the step embedding's table size in the reference)
    attention: str = "softmax"  # "softmax" or "linear"
    parameterization: str = "eps"
    n_classes: int = 0  # > 0: class-conditional (Condition.labels), with a null class for classifier-free guidance
    interpolated_input: bool = False  # a third input channel: the observations linearly interpolated along time

    def __post_init__(self):
        sizes = ("n_features", "channels", "layers", "heads", "ff_dim", "feature_embedding_dim", "n_steps")
        small = {name: getattr(self, name) for name in sizes if getattr(self, name) < 1}
        if small:
            raise ValueError(f"CSDIConfig: {small} must be >= 1")
        if self.channels % self.heads:
            raise ValueError(f"CSDIConfig: channels {self.channels} is not a multiple of heads {self.heads}")
        for name in ("diffusion_embedding_dim", "time_embedding_dim"):  # sin and cos halves
            if getattr(self, name) < 4 or getattr(self, name) % 2:
                raise ValueError(f"CSDIConfig: {name} must be an even number >= 4, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"CSDIConfig: dropout must be in [0, 1), got {self.dropout}")
        if self.n_classes < 0:
            raise ValueError(f"CSDIConfig: n_classes must be >= 0, got {self.n_classes}")


PRESETS = {
    # the reference configuration (config/base.yaml): about 0.41 M parameters at K = 35
    "reference": {},
    # no dropout: at equal epochs it did not help on PhysioNet (benchmarks/NOTES.md, "Dropout"); models saved
    # before keep the dropout stored in their config
    "small": {"channels": 32, "layers": 2, "heads": 4, "ff_dim": 64, "dropout": 0.0},
}


class StepEmbedding(nn.Module):
    """The reference's diffusion-step embedding: sin/cos at 64 frequencies 10^(4 i / 63) of the (continuous) step,
    then two Linear + SiLU."""

    def __init__(self, dim: int = 128, out_dim: int | None = None):
        super().__init__()
        half = dim // 2
        self.register_buffer("freqs", 10.0 ** (torch.arange(half) / (half - 1) * 4.0), persistent=False)
        self.proj1 = nn.Linear(dim, out_dim or dim)
        self.proj2 = nn.Linear(out_dim or dim, out_dim or dim)

    def forward(self, t: torch.Tensor) -> torch.Tensor:  # (N,) -> (N, out)
        args = t.float()[:, None] * self.freqs[None]
        x = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
        return F.silu(self.proj2(F.silu(self.proj1(x))))


def interpolate_observed(values: torch.Tensor, mask: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Linear interpolation along the last axis between the entries where ``mask`` is set.

    values, mask (B, K, L); pos (B, L) time positions, increasing -> (B, K, L): linear in ``pos`` between
    neighbouring observations, the nearest observation before the first and after the last, 0 where a row has none.
    """
    b, k, l = values.shape
    idx = torch.arange(l, device=values.device).expand(b, k, l)
    prev = torch.where(mask, idx, -1).cummax(-1).values  # last observed index at or before each step (-1: none)
    nxt = torch.where(mask, idx, l).flip(-1).cummin(-1).values.flip(-1)  # first at or after (l: none)
    has_prev, has_next = prev >= 0, nxt < l
    prev, nxt = prev.clamp(min=0), nxt.clamp(max=l - 1)
    v_prev, v_next = values.gather(-1, prev), values.gather(-1, nxt)
    p = pos[:, None, :].to(values.dtype).expand(b, k, l)
    p_prev, p_next = p.gather(-1, prev), p.gather(-1, nxt)
    w = ((p - p_prev) / (p_next - p_prev).clamp_min(1e-6)).clamp(0, 1)
    inner = v_prev + w * (v_next - v_prev)
    edge = torch.where(has_prev, v_prev, torch.where(has_next, v_next, 0))
    return torch.where(has_prev & has_next, inner, edge)


def time_embedding(pos: torch.Tensor, dim: int) -> torch.Tensor:
    """Transformer sinusoidal embedding of time positions (B, L) -> (B, L, dim), interleaved sin/cos as CSDI."""
    div = 1.0 / torch.pow(10000.0, torch.arange(0, dim, 2, device=pos.device, dtype=torch.float32) / dim)
    args = pos.float()[..., None] * div  # (B, L, dim/2)
    return torch.stack([torch.sin(args), torch.cos(args)], dim=-1).flatten(-2)


class Attention(nn.Module):
    """Multi-head self-attention over axis 1 of (A, S, B, C): each of the A x B sequences of S positions on its own;
    softmax (SDPA, or the fused small-head CPU kernel when sampling) or linear."""

    def __init__(self, channels: int, heads: int, dropout: float, kind: str):
        super().__init__()
        if channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        if kind not in ("softmax", "linear"):
            raise ValueError(f"attention must be 'softmax' or 'linear', got {kind!r}")
        self.heads, self.dropout, self.kind = heads, dropout, kind
        self.qkv = nn.Linear(channels, 3 * channels)
        self.out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor, out_bias: bool = True) -> torch.Tensor:
        """x (A, S, B, C) -> (A, S, B, C); ``out_bias=False`` leaves the output projection's bias to the caller."""
        a, s, b, c = x.shape
        p = self.dropout if self.training else 0.0
        out_b = self.out.bias if out_bias else None
        if self.kind == "softmax" and p == 0 and cpu_fused.applies(x) and cpu_attention.fits(s, c, self.heads):
            qkv = cpu_fused.linear(x, self.qkv.weight)  # (A, S, B, 3C) without the bias: the kernel adds it
            y = cpu_attention.small_head_attention(qkv, self.heads, self.qkv.bias)
            return cpu_fused.linear(y, self.out.weight, out_b)
        qkv = self.qkv(x)  # (A, S, B, 3C)
        if self.kind == "softmax" and p == 0 and cpu_attention.supports(qkv, self.heads):
            return F.linear(cpu_attention.small_head_attention(qkv, self.heads), self.out.weight, out_b)  # no copies
        if self.kind == "softmax" and cpu_attention.trains(qkv, self.heads):  # training, no copies either
            return F.linear(cpu_attention.trainable_attention(qkv, self.heads, p), self.out.weight, out_b)
        # (A, S, B, 3C) -> three (A*B, H, S, D): views when B = 1 and no gradient is needed (the kernels take
        # strided inputs, and SDPA's CPU kernel returns a view of (N, S, H, D), so the reshape after it is free
        # too); copies otherwise, and always in training, whose backward runs faster on contiguous inputs
        # (benchmarks/NOTES.md, "Speed and scale")
        qkv = qkv.view(a, s, b, 3, self.heads, c // self.heads).permute(3, 0, 2, 4, 1, 5)  # (3, A, B, H, S, D)
        if qkv.requires_grad:  # training with autograd on
            qkv = qkv.contiguous()
        q, k, v = qkv.reshape(3, a * b, self.heads, s, c // self.heads)
        if self.kind == "linear":  # phi(q) (phi(k)^T v) / (phi(q) sum phi(k)), phi = elu + 1: O(S) in length
            q, k = F.elu(q) + 1, F.elu(k) + 1
            kv = torch.einsum("nhsd,nhse->nhde", k, v)
            norm = torch.einsum("nhsd,nhd->nhs", q, k.sum(2)).clamp_min(1e-6)
            y = torch.einsum("nhsd,nhde->nhse", q, kv) / norm[..., None]
        elif q.device.type == "cpu":
            y = attention_on_cpu(q, k, v, p)
        else:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        y = y.view(a, b, self.heads, s, c // self.heads).permute(0, 3, 1, 2, 4)  # (A, S, B, H, D)
        return F.linear(y.reshape(a, s, b, c), self.out.weight, out_b)


class Dropout(nn.Dropout):
    """``nn.Dropout``, with tsdiff's counter-based mask on a CPU (``cpu_dropout``: about 5x faster than torch's
    there, the same distribution); ``F.dropout`` elsewhere."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0 or x.device.type != "cpu":
            return super().forward(x)
        return cpu_dropout.dropout(x, self.p)


WEIGHTS_PER_CHUNK = 16 * 2**20  # bytes of fp32 attention weights per chunk of sequences written out


def attention_on_cpu(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, p: float = 0.0) -> torch.Tensor:
    """softmax(q k^T / sqrt(D)) with dropout p on the weights, times v, on a CPU: (N, H, S, D) in and out, fp32.

    Where tsdiff's attention kernel does not serve (``cpu_attention``: heads of 4, 8 or 16 channels). With dropout
    written out (two batched products and a softmax), because SDPA's CPU fallback for dropout is several times
    slower (a NaN-safe softmax, a Bernoulli draw per weight), over chunks of sequences whose weights take at most
    ``WEIGHTS_PER_CHUNK``, so that they stay in cache through the backward: forward and backward over
    (560, 8, 48, 8) took 55 ms in chunks against 131 ms in one piece (AMD Zen 4, 2 cores). Otherwise SDPA. In fp32
    under bf16 autocast too, where PyTorch's CPU SDPA is slower at these head sizes (179 ms against 40 ms over
    (560, 4, 48, 8)); the next product casts the output back to bf16."""
    n, h, s, d = q.shape
    with torch.autocast("cpu", enabled=False):
        q, k, v = q.float(), k.float(), v.float()
        if p == 0:
            return F.scaled_dot_product_attention(q, k, v)
        per = max(1, WEIGHTS_PER_CHUNK // (h * s * s * 4))
        chunks = [_written_out_attention(q[i : i + per], k[i : i + per], v[i : i + per], p) for i in range(0, n, per)]
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)


def _written_out_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, p: float) -> torch.Tensor:
    weights = torch.matmul(q, k.transpose(-1, -2)).mul_(q.shape[-1] ** -0.5).softmax(-1)  # (N, H, S, S)
    return torch.matmul(cpu_dropout.dropout(weights, p), v)


class TransformerLayer(nn.Module):
    """Post-norm encoder layer with GELU, as torch.nn.TransformerEncoderLayer in the reference."""

    def __init__(self, channels: int, heads: int, ff_dim: int, dropout: float, attention: str):
        super().__init__()
        self.attn = Attention(channels, heads, dropout, attention)
        self.ff = nn.Sequential(nn.Linear(channels, ff_dim), nn.GELU(), Dropout(dropout), nn.Linear(ff_dim, channels))
        self.norm1, self.norm2 = nn.LayerNorm(channels), nn.LayerNorm(channels)
        self.drop = Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (A, S, B, C), attention over S
        if not self.training and cpu_fused.applies(x):
            return self.fused(x, x)[0]
        x = self.norm1(x + self.drop(self.attn(x)))
        return self.norm2(x + self.drop(self.ff(x)))

    def fused(self, x: torch.Tensor, x_mm: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Sampling on a CPU (``cpu_fused``): the biases taken in by the fused steps. x (A, S, B, C) fp32 and x_mm,
        x as the matrix products take it (x, or its bf16 copy) -> (the output, the output as the products take it)."""
        in_ff, out_ff = self.ff[0], self.ff[3]
        x, x_mm = cpu_fused.residual_layer_norm(self.attn(x_mm, out_bias=False), self.attn.out.bias, x, self.norm1)
        h = cpu_fused.bias_gelu(cpu_fused.linear(x_mm, in_ff.weight), in_ff.bias)
        return cpu_fused.residual_layer_norm(cpu_fused.linear(h, out_ff.weight), out_ff.bias, x, self.norm2)


class ResidualLayer(nn.Module):
    def __init__(self, c: CSDIConfig):
        super().__init__()
        ch = c.channels
        self.step_proj = nn.Linear(c.diffusion_embedding_dim, ch)
        self.time_layer = TransformerLayer(ch, c.heads, c.ff_dim, c.dropout, c.attention)
        self.feature_layer = TransformerLayer(ch, c.heads, c.ff_dim, c.dropout, c.attention)
        self.mid_proj = nn.Linear(ch, 2 * ch)
        # the reference's Conv1d(side_dim -> 2C) on [time_emb, feature_emb, cond_mask], split by input part
        self.side_time = nn.Linear(c.time_embedding_dim, 2 * ch, bias=False)
        self.side_feature = nn.Linear(c.feature_embedding_dim, 2 * ch, bias=False)
        self.side_mask = nn.Parameter(torch.empty(2 * ch))
        self.side_bias = nn.Parameter(torch.zeros(2 * ch))
        self.out_proj = nn.Linear(ch, 2 * ch)
        side_dim = c.time_embedding_dim + c.feature_embedding_dim + 1
        for w in (self.side_time.weight, self.side_feature.weight):  # Kaiming-normal of the whole Conv1d, as CSDI
            nn.init.normal_(w, std=math.sqrt(2.0 / side_dim))
        nn.init.normal_(self.side_mask, std=math.sqrt(2.0 / side_dim))
        for lin in (self.mid_proj, self.out_proj):
            nn.init.kaiming_normal_(lin.weight)

    def forward(self, x, step_emb, time_emb, feature_emb, cond_mask, skip=None):
        """-> (the layer's output, the running sum of the skip outputs: ``skip`` plus this layer's)."""
        # x (B, K, L, C); step_emb (B, E); time_emb (B, L, Dt); feature_emb (K, Df); cond_mask (B, K, L)
        b, k, l, ch = x.shape
        y = x + self.step_proj(step_emb)[:, None, None, :]
        if not self.training and cpu_fused.applies(y):
            return self._fused(x, y, time_emb, feature_emb, cond_mask, skip)
        if l > 1:
            y = self.time_layer(y.reshape(b * k, l, 1, ch)).reshape(b, k, l, ch)  # attention over time (a view)
        if k > 1:
            y = self.feature_layer(y)  # attention over features: axis 1 of (B, K, L, C)
        residual, s = self.out_proj(self._gate(y, time_emb, feature_emb, cond_mask)).chunk(2, dim=-1)
        return (x + residual).mul_(1 / math.sqrt(2.0)), s if skip is None else skip + s

    def _fused(self, x, y, time_emb, feature_emb, cond_mask, skip):
        """Sampling on a CPU (``cpu_fused``): every bias and the side information summed in the kernels; y_mm is y
        as the matrix products take it (y, or its bf16 copy under bf16 autocast)."""
        b, k, l, ch = x.shape
        y_mm = y
        if l > 1:  # attention over time, on (B K, L, 1, C) views
            rows = y.view(b * k, l, 1, ch)
            y, y_mm = (t.view(b, k, l, ch) for t in self.time_layer.fused(rows, rows))
        if k > 1:  # attention over features: axis 1 of (B, K, L, C)
            y, y_mm = self.feature_layer.fused(y, y_mm)
        time_part = F.linear(time_emb, self.side_time.weight, self.side_bias + self.mid_proj.bias)
        time_part = time_part.expand(b, l, -1)  # (B, L, 2C); time positions may be given once for the batch
        gated = cpu_fused.csdi_gate(
            cpu_fused.linear(y_mm, self.mid_proj.weight),
            time_part,
            self.side_feature(feature_emb),
            cond_mask,
            self.side_mask,
        )  # (B, K, L, C)
        return cpu_fused.residual_skip(cpu_fused.linear(gated, self.out_proj.weight), self.out_proj.bias, x, skip)

    def _gate(self, y, time_emb, feature_emb, cond_mask):
        gate_filter = self.mid_proj(y)  # (B, K, L, 2C), plus the side information, summed in place:
        gate_filter += (self.side_time(time_emb) + self.side_bias)[:, None, :, :]  # time part (B, 1, L, 2C)
        gate_filter += self.side_feature(feature_emb)[None, :, None, :]  # feature part (1, K, 1, 2C)
        gate_filter.addcmul_(cond_mask[..., None].to(gate_filter.dtype), self.side_mask)  # mask (B, K, L, 1) x (2C,)
        gate, filt = gate_filter.chunk(2, dim=-1)
        return torch.sigmoid(gate) * torch.tanh(filt)  # (B, K, L, C)


class CSDIDenoiser(nn.Module):
    """model(x_t (B, K, L), t (B,), Condition(observed, obs_mask, side=time points (B, L) or None)) -> eps (B, K, L).

    ``condition.obs_mask`` is CSDI's conditional mask (the entries given to the model); without a condition the
    model runs unconditionally (no observations). ``condition.side``, if given, holds the time positions of the L
    steps (default 0 .. L-1), e.g. hours for irregular grids.
    """

    def __init__(self, config: CSDIConfig | None = None, **overrides):
        super().__init__()
        self.config = c = config or CSDIConfig(**overrides)
        self.parameterization = check_parameterization(c.parameterization)
        self.input_proj = nn.Linear(3 if c.interpolated_input else 2, c.channels)
        self.step_embedding = StepEmbedding(c.diffusion_embedding_dim)
        self.feature_embedding = nn.Embedding(c.n_features, c.feature_embedding_dim)
        # class labels join the diffusion-step embedding; row n_classes is the null (unconditional) class
        self.label_embedding = nn.Embedding(c.n_classes + 1, c.diffusion_embedding_dim) if c.n_classes else None
        self.layers = nn.ModuleList(ResidualLayer(c) for _ in range(c.layers))
        self.skip_proj = nn.Linear(c.channels, c.channels)
        self.output = nn.Linear(c.channels, 1)
        for lin in (self.input_proj, self.skip_proj):
            nn.init.kaiming_normal_(lin.weight)
        nn.init.zeros_(self.output.weight)  # start by predicting zero, as the reference

    @classmethod
    def preset(cls, name: str, n_features: int, **overrides) -> CSDIDenoiser:
        if name not in PRESETS:
            raise ValueError(f"unknown CSDI preset {name!r}; expected one of {sorted(PRESETS)}")
        return cls(CSDIConfig(n_features=n_features, **{**PRESETS[name], **overrides}))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition | None = None) -> torch.Tensor:
        c = self.config
        if x_t.dim() != 3 or x_t.shape[1] != c.n_features:
            raise ValueError(f"CSDIDenoiser: x_t must be (B, K={c.n_features}, L), got {tuple(x_t.shape)}")
        b, k, l = x_t.shape
        dtype = self.input_proj.weight.dtype
        if condition is not None and condition.obs_mask is not None:
            cond_mask = condition.obs_mask
            cond_obs = torch.where(cond_mask, condition.observed, 0).to(dtype)
        else:
            cond_mask = torch.zeros(x_t.shape, dtype=torch.bool, device=x_t.device)
            cond_obs = torch.zeros(x_t.shape, dtype=dtype, device=x_t.device)
        noisy = torch.where(cond_mask, 0, x_t).to(dtype)
        pos = condition.side if condition is not None and condition.side is not None else None
        if pos is None:
            pos = torch.arange(l, device=x_t.device, dtype=torch.float32).expand(b, l)
        channels = [cond_obs, noisy]
        if c.interpolated_input:
            channels.append(interpolate_observed(cond_obs, cond_mask, pos))
        h = F.relu(self.input_proj(torch.stack(channels, dim=-1)))  # (B, K, L, 2 or 3) -> (B, K, L, C)
        if h.dtype == torch.bfloat16 and not self.training and cpu_fused.applies(h):
            h = h.float()  # bf16 autocast on a CPU: the fused path keeps the residual stream in fp32

        time_emb = time_embedding(pos, c.time_embedding_dim)  # (B, L, Dt)
        feature_emb = self.feature_embedding.weight  # (K, Df)
        step_emb = self.step_embedding(t)  # (B, E)
        if self.label_embedding is not None:
            step_emb = step_emb + self.label_embedding(
                label_rows(None if condition is None else condition.labels, c.n_classes, b, x_t.device, "CSDIDenoiser")
            )

        skip = None
        for layer in self.layers:
            h, skip = layer(h, step_emb, time_emb, feature_emb, cond_mask, skip)
        h = F.relu(self.skip_proj(skip / math.sqrt(len(self.layers))))
        return self.output(h).squeeze(-1).to(x_t.dtype)  # (B, K, L)

    def describe(self) -> dict:
        return {"kind": "csdi", "config": asdict(self.config)}
