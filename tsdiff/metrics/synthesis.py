"""How realistic are synthetic windows? The TimeGAN / Diffusion-TS suite, written here in PyTorch.

Every function takes real and synthetic windows (N, L, K) as numpy arrays on the protocol's [0, 1] scale
(MinMax over the real data; the predictive score's network ends in a sigmoid) and returns a float (lower = closer
to the real data). ``repeated`` runs a score over seeds and reports the mean and the half-width of a 95% Student-t
interval, as Diffusion-TS reports them.

- ``discriminative_score``: |accuracy - 0.5| of a post-hoc GRU classifier (hidden = K/2, final state -> logit)
  trained 2000 iterations (batches of 128 real + 128 synthetic drawn with replacement, Adam) on 80% of each set,
  tested on the other 20%
  (Yoon et al. 2019, TimeGAN).
- ``predictive_score``: a GRU (hidden = K/2) trained on synthetic windows to predict the last feature one step
  ahead from the other features, 5000 iterations, L1 loss; its mean absolute error on every real window
  (train on synthetic, test on real; TimeGAN).
- ``context_fid``: Frechet distance between the max-pooled representations of real and synthetic windows under a
  TS2Vec encoder trained on the real windows (Yue et al. 2022; Jeha et al. 2022 "PSA-GAN" for context-FID).
- ``correlational_score``: L1 distance between the lag-0 cross-correlation matrices of the features (lower
  triangle, each set standardised over windows and time), divided by 10 (Diffusion-TS).
- ``marginal_distances``: per-feature Wasserstein-1 and Kolmogorov-Smirnov distances of all values.
- ``autocorrelation_error``: mean absolute difference of the per-feature autocorrelation at lags 1..max_lag.
- ``discriminative_scores`` / ``predictive_scores``: the same for several (real, synthetic) pairs, their GRUs
  trained side by side (one block-diagonal GRU), each pair scoring what it scores alone with its seed.
- ``heart_rates``: for ECG windows, the heart rate of each window from the R peaks neurokit2 finds (the `ecg`
  extra): generated rhythm strips are plausible when their rates lie in the range of the real ones.

PyTorch ports do not reproduce the TF1 figures exactly (a different optimiser state, initialisation, batching):
always read a score beside the real-versus-real floor (``benchmarks/synthesis.py`` prints it).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from scipy import linalg, stats
from torch import nn

from ..checks import whole_number

__all__ = [
    "discriminative_score",
    "discriminative_scores",
    "predictive_score",
    "predictive_scores",
    "TS2VecEncoder",
    "train_ts2vec",
    "context_fid",
    "frechet_distance",
    "correlational_score",
    "marginal_distances",
    "autocorrelation_error",
    "heart_rates",
    "mean_interval",
    "repeated",
]


def _check(real, synth) -> tuple[torch.Tensor, torch.Tensor]:
    real, synth = np.asarray(real, dtype=np.float32), np.asarray(synth, dtype=np.float32)
    if real.ndim != 3 or synth.ndim != 3 or real.shape[1:] != synth.shape[1:]:
        raise ValueError(f"real and synthetic must be windows (N, L, K) of one shape, got {real.shape}, {synth.shape}")
    for name, x in (("real", real), ("synthetic", synth)):
        if not np.isfinite(x).all():
            raise ValueError(f"{name} windows hold NaN or inf")
        if len(x) < 2:
            raise ValueError(f"{name}: need at least 2 windows, got {len(x)}")
    return torch.from_numpy(real), torch.from_numpy(synth)


def _uniform(generator: torch.Generator, fan_in: int, *shape: int) -> torch.Tensor:
    """uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's initialisation of GRU and Linear weights."""
    return (torch.rand(shape, generator=generator) * 2 - 1) * fan_in**-0.5


class _GRUHeads(nn.Module):
    """G independent one-layer GRUs (hidden H each) with linear heads, run as one ``nn.GRU`` of G*H units whose
    weights are block-diagonal: zero between models at the start and kept zero (their gradients are masked, and
    Adam leaves a parameter whose gradients are all zero where it is). A small GRU's cost is per-step overhead,
    not arithmetic, so G scores train side by side in about the time of two. Model g's weights are drawn from
    ``generators[g]`` (nn.GRU's uniform(-1/sqrt(H), 1/sqrt(H)); the head's as nn.Linear's), so its score does not
    depend on the models beside it. Models are stacked in front: (G, B, L, K) in."""

    def __init__(self, generators: list[torch.Generator], k_in: int, hidden: int, per_step: bool):
        super().__init__()
        g_count, h = len(generators), hidden
        self.gru = nn.GRU(g_count * k_in, g_count * h, batch_first=True)
        self.head_w, self.head_b = nn.Parameter(torch.empty(g_count, h)), nn.Parameter(torch.empty(g_count))
        self.per_step, self.hidden = per_step, h
        masks = {
            "weight_ih_l0": torch.block_diag(*[torch.ones(h, k_in)] * g_count).repeat(3, 1),  # (3GH, GK), gates r z n
            "weight_hh_l0": torch.block_diag(*[torch.ones(h, h)] * g_count).repeat(3, 1),  # (3GH, GH)
        }
        params = dict(self.gru.named_parameters())
        with torch.no_grad():
            for g, gen in enumerate(generators):
                rows = (torch.arange(3)[:, None] * g_count * h + g * h + torch.arange(h)).reshape(-1)  # (3H,)
                params["weight_ih_l0"][rows] = 0.0
                params["weight_ih_l0"][rows, g * k_in : (g + 1) * k_in] = _uniform(gen, h, 3 * h, k_in)
                params["weight_hh_l0"][rows] = 0.0
                params["weight_hh_l0"][rows, g * h : (g + 1) * h] = _uniform(gen, h, 3 * h, h)
                params["bias_ih_l0"][rows] = _uniform(gen, h, 3 * h)
                params["bias_hh_l0"][rows] = _uniform(gen, h, 3 * h)
                self.head_w[g], self.head_b[g] = _uniform(gen, h, h), _uniform(gen, h)
        for name, mask in masks.items():
            params[name].register_hook(lambda grad, mask=mask: grad * mask)

    def forward(self, x):  # (G, B, L, K) -> (G, B) logits or (G, B, L) outputs
        g_count, b, length, k = x.shape
        out, last = self.gru(x.permute(1, 2, 0, 3).reshape(b, length, g_count * k))  # (B, L, G*H), (1, B, G*H)
        if self.per_step:
            out = out.view(b, length, g_count, self.hidden)
            return torch.einsum("blgh,gh->gbl", out, self.head_w) + self.head_b[:, None, None]
        return torch.einsum("bgh,gh->gb", last[0].view(b, g_count, self.hidden), self.head_w) + self.head_b[:, None]


def _training(iterations, batch_size) -> None:
    for name, value in (("iterations", iterations), ("batch_size", batch_size)):
        try:
            whole_number(value, name, 1)
        except ValueError as err:
            raise ValueError(f"{err}: an untrained model scores nothing") from None


def _pairs(pairs, seeds) -> tuple[list, list[torch.Generator]]:
    pairs = [_check(real, synth) for real, synth in pairs]
    if not pairs or len({p.shape[1:] for pair in pairs for p in pair}) != 1:
        raise ValueError("give at least one (real, synthetic) pair, all of windows of one length and width")
    seeds = [0] * len(pairs) if seeds is None else list(seeds)
    if len(seeds) != len(pairs):
        raise ValueError(f"one seed per pair: {len(pairs)} pairs, {len(seeds)} seeds")
    return pairs, [torch.Generator().manual_seed(int(s)) for s in seeds]


def _batch(sets: list[torch.Tensor], size: int, generators: list[torch.Generator]) -> torch.Tensor:
    """One batch of ``size`` windows drawn with replacement from each set, each by its own generator -> (G, B, L, K)."""
    return torch.stack([x[torch.randint(len(x), (size,), generator=g)] for x, g in zip(sets, generators)])


def _padded(sets: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Sets of different sizes -> (G, N_max, L, K) zero-padded and the (G, N_max) mask of real rows."""
    n = max(len(x) for x in sets)
    out = torch.zeros(len(sets), n, *sets[0].shape[1:])
    for g, x in enumerate(sets):
        out[g, : len(x)] = x
    return out, torch.arange(n) < torch.tensor([len(x) for x in sets])[:, None]


def discriminative_scores(pairs, *, iterations: int = 2000, batch_size: int = 128, seeds=None) -> list[float]:
    """``discriminative_score`` of each (real, synthetic) pair, the classifiers trained side by side (one seed per
    pair, default 0); pair i scores what it scores alone with its seed."""
    _training(iterations, batch_size)
    pairs, gens = _pairs(pairs, seeds)

    def split(x, g):
        order = torch.randperm(len(x), generator=g)
        cut = int(0.8 * len(x))
        return x[order[:cut]], x[order[cut:]]

    net = _GRUHeads(gens, pairs[0][0].shape[2], max(1, pairs[0][0].shape[2] // 2), per_step=False)
    splits = [(split(real, g), split(synth, g)) for (real, synth), g in zip(pairs, gens)]
    opt = torch.optim.Adam(net.parameters())
    target = torch.cat([torch.ones(batch_size), torch.zeros(batch_size)]).expand(len(pairs), -1)  # (G, 2B)
    for _ in range(iterations):
        xr = _batch([real_tr for (real_tr, _), _ in splits], batch_size, gens)
        xf = _batch([fake_tr for _, (fake_tr, _) in splits], batch_size, gens)
        logits = net(torch.cat([xr, xf], 1))  # (G, 2B)
        loss = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(1).sum()  # a mean per model
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        real_te, real_rows = _padded([real_te for (_, real_te), _ in splits])
        fake_te, fake_rows = _padded([fake_te for _, (_, fake_te) in splits])
        correct = ((net(real_te) > 0) & real_rows).sum(1) + ((net(fake_te) <= 0) & fake_rows).sum(1)  # (G,)
        accuracy = correct / (real_rows.sum(1) + fake_rows.sum(1))
    return [abs(float(a) - 0.5) for a in accuracy]


def discriminative_score(real, synth, *, iterations: int = 2000, batch_size: int = 128, seed: int = 0) -> float:
    """|held-out accuracy - 0.5| of a GRU classifier of real against synthetic (TimeGAN's protocol; batches drawn
    with replacement)."""
    return discriminative_scores([(real, synth)], iterations=iterations, batch_size=batch_size, seeds=[seed])[0]


def predictive_scores(pairs, *, iterations: int = 5000, batch_size: int = 128, seeds=None) -> list[float]:
    """``predictive_score`` of each (real, synthetic) pair, the predictors trained side by side (one seed per pair,
    default 0); pair i scores what it scores alone with its seed."""
    _training(iterations, batch_size)
    pairs, gens = _pairs(pairs, seeds)
    k = pairs[0][0].shape[2]
    if k < 2:
        raise ValueError("predictive_score needs at least 2 features (it predicts the last from the others)")
    if pairs[0][0].shape[1] < 2:
        raise ValueError("predictive_score needs windows of at least 2 steps (it predicts the next step)")
    net = _GRUHeads(gens, k - 1, max(1, k // 2), per_step=True)
    opt = torch.optim.Adam(net.parameters())
    for _ in range(iterations):
        x = _batch([synth for _, synth in pairs], batch_size, gens)  # (G, B, L, K)
        pred = torch.sigmoid(net(x[:, :, :-1, : k - 1]))  # (G, B, L-1)
        loss = (pred - x[:, :, 1:, k - 1]).abs().mean((1, 2)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        real, rows = _padded([real for real, _ in pairs])
        pred = torch.sigmoid(net(real[:, :, :-1, : k - 1]))
        mae = (pred - real[:, :, 1:, k - 1]).abs().mean(2)  # (G, N): each window's MAE
        return [float(m) for m in (mae * rows).sum(1) / rows.sum(1)]  # the mean over each pair's real windows


def predictive_score(real, synth, *, iterations: int = 5000, batch_size: int = 128, seed: int = 0) -> float:
    """MAE on real windows of a GRU trained on synthetic ones to predict feature K-1 at step t+1 from features
    0..K-2 up to step t (TimeGAN's train-on-synthetic, test-on-real). Needs K >= 2."""
    return predictive_scores([(real, synth)], iterations=iterations, batch_size=batch_size, seeds=[seed])[0]


# --- context-FID -------------------------------------------------------------------------------------------------
class _ConvBlock(nn.Module):
    """Two GELU + dilated 'same' convolutions with a residual (projected when the width changes)."""

    def __init__(self, c_in: int, c_out: int, dilation: int, final: bool):
        super().__init__()
        self.conv1 = nn.Conv1d(c_in, c_out, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(c_out, c_out, 3, padding=dilation, dilation=dilation)
        self.skip = nn.Conv1d(c_in, c_out, 1) if c_in != c_out or final else None

    def forward(self, x):  # (B, C, L)
        residual = x if self.skip is None else self.skip(x)
        return self.conv2(F.gelu(self.conv1(F.gelu(x)))) + residual


class TS2VecEncoder(nn.Module):
    """TS2Vec's encoder (Yue et al. 2022): linear input projection, random timestamp masking in training, a stack
    of dilated residual convolutions (dilation 2^i); (B, L, K) -> per-step representations (B, L, out_dim)."""

    def __init__(self, k: int, hidden: int = 64, out_dim: int = 320, depth: int = 10):
        super().__init__()
        self.input = nn.Linear(k, hidden)
        widths = [hidden] * depth + [out_dim]
        self.blocks = nn.Sequential(
            *(_ConvBlock(widths[i - 1] if i else hidden, widths[i], 2**i, i == depth) for i in range(depth + 1))
        )
        self.dropout = nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, mask_p: float = 0.0, generator: torch.Generator | None = None):
        h = self.input(x)  # (B, L, hidden)
        if mask_p > 0:  # hide whole time steps (binomial timestamp masking)
            keep = torch.rand(h.shape[:2], generator=generator) >= mask_p
            h = h * keep[..., None]
        h = self.blocks(h.transpose(1, 2)).transpose(1, 2)  # (B, L, out_dim)
        return self.dropout(h)

    @torch.no_grad()
    def encode(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Window representations (N, out_dim): the max over time of the per-step ones."""
        was = self.training
        self.eval()
        out = torch.cat([self(x[i : i + batch_size]).amax(1) for i in range(0, len(x), batch_size)])
        self.train(was)
        return out


def _contrast(z: torch.Tensor, n: int) -> torch.Tensor:
    """InfoNCE over the 2n rows of z (S, 2n, C): row i's positive is row i +- n, every other row a negative."""
    sim = z @ z.transpose(1, 2)  # (S, 2n, 2n)
    eye = torch.eye(2 * n, dtype=torch.bool)
    sim = sim.masked_fill(eye, float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
    return F.cross_entropy(sim.flatten(0, 1), target.repeat(len(z)))


def _hierarchical_loss(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """TS2Vec's loss: instance (across the batch, per step) and temporal (across steps, per window) contrast of
    two views, averaged over a pyramid of max-pooled time resolutions. z1, z2: (B, T, C)."""
    loss, levels = 0.0, 0
    while True:
        b, t = z1.shape[:2]
        if b > 1:  # instance contrast at every step: (T, 2B, C)
            loss = loss + 0.5 * _contrast(torch.cat([z1, z2]).transpose(0, 1), b)
        if t > 1:  # temporal contrast in every window: (B, 2T, C)
            loss = loss + 0.5 * _contrast(torch.cat([z1, z2], dim=1), t)
        levels += 1
        if t == 1:
            return loss / levels
        z1 = F.max_pool1d(z1.transpose(1, 2), 2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), 2).transpose(1, 2)


def train_ts2vec(
    real, *, iterations: int | None = None, batch_size: int = 8, lr: float = 1e-3, seed: int = 0, **encoder_options
) -> TS2VecEncoder:
    """Train a TS2Vec encoder on real windows (N, L, K) with TS2Vec's recipe: two overlapping random crops of each
    window, hierarchical contrastive loss, AdamW, 200 iterations (600 when the data has more than 100,000
    values), batch 8."""
    x = torch.from_numpy(np.asarray(real, dtype=np.float32))
    if x.ndim != 3 or not torch.isfinite(x).all():
        raise ValueError(f"train_ts2vec needs real windows (N, L, K) without NaN or inf, got shape {tuple(x.shape)}")
    n, length, k = x.shape
    iterations = iterations or (200 if x.numel() <= 100_000 else 600)
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    encoder = TS2VecEncoder(k, **encoder_options)
    opt = torch.optim.AdamW(encoder.parameters(), lr=lr)
    rint = lambda lo, hi: int(torch.randint(lo, hi, (1,), generator=g))  # noqa: E731  (in [lo, hi))
    for _ in range(iterations):
        batch = _batch([x], min(batch_size, n), [g])[0]
        # crops [a1, b1) and [a2, b2) with a1 <= a2 < b1 <= b2 overlapping on [a2, b1)
        overlap = rint(2, length + 1) if length > 1 else 1
        a2 = rint(0, length - overlap + 1)
        b1 = a2 + overlap
        a1, b2 = rint(0, a2 + 1), rint(b1, length + 1)
        z1 = encoder(batch[:, a1:b1], 0.5, g)[:, -overlap:]  # the overlap as seen from each crop
        z2 = encoder(batch[:, a2:b2], 0.5, g)[:, :overlap]
        loss = _hierarchical_loss(z1, z2)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return encoder.eval()


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of two sets of vectors (N, D)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"frechet_distance needs two sets (N >= 2, D) of one width, got {a.shape}, {b.shape}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("frechet_distance: the vectors hold NaN or inf")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    root = linalg.sqrtm(s_a @ s_b)
    root = root.real if np.iscomplexobj(root) else root
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(s_a + s_b - 2.0 * root))


def context_fid(real, synth, *, encoder: TS2VecEncoder | None = None, seed: int = 0) -> float:
    """Frechet distance of TS2Vec representations; ``encoder`` (trained on the real windows) is trained when not
    given: pass one to score several generators against the same real data."""
    real_t, synth_t = _check(real, synth)
    if encoder is not None and encoder.input.in_features != real_t.shape[2]:
        raise ValueError(f"the encoder takes {encoder.input.in_features} features, the windows have {real_t.shape[2]}")
    encoder = encoder or train_ts2vec(real, seed=seed)
    return frechet_distance(encoder.encode(real_t).double().numpy(), encoder.encode(synth_t).double().numpy())


# --- statistics of the values ---------------------------------------------------------------------------------------
def _cross_correlation(x: np.ndarray) -> np.ndarray:  # a constant feature correlates 0 with all, itself too
    std = x.std((0, 1), ddof=1)
    z = (x - x.mean((0, 1))) / np.where(std > 0, std, 1.0)
    c = np.einsum("nli,nlj->ij", z, z) / (z.shape[0] * z.shape[1])
    return c[np.tril_indices(x.shape[2])]


def correlational_score(real, synth) -> float:
    """sum |C_real - C_synth| / 10 over the lower triangle of the features' lag-0 correlation (Diffusion-TS)."""
    real, synth = (t.double().numpy() for t in _check(real, synth))
    return float(np.abs(_cross_correlation(real) - _cross_correlation(synth)).sum() / 10.0)


def marginal_distances(real, synth) -> dict[str, np.ndarray]:
    """Per-feature distances between the distributions of all values: {"wasserstein": (K,), "ks": (K,)}."""
    real, synth = (t.double().numpy() for t in _check(real, synth))
    k = real.shape[2]
    flat_r, flat_s = real.reshape(-1, k), synth.reshape(-1, k)
    return {
        "wasserstein": np.array([stats.wasserstein_distance(flat_r[:, i], flat_s[:, i]) for i in range(k)]),
        "ks": np.array([stats.ks_2samp(flat_r[:, i], flat_s[:, i]).statistic for i in range(k)]),
    }


def _autocorrelation(x: np.ndarray, max_lag: int) -> np.ndarray:  # (N, L, K) -> (max_lag, K)
    z = (x - x.mean((0, 1))) / np.where(x.std((0, 1)) > 0, x.std((0, 1)), 1.0)
    return np.stack([(z[:, lag:] * z[:, :-lag]).mean((0, 1)) for lag in range(1, max_lag + 1)])


def autocorrelation_error(real, synth, max_lag: int | None = None) -> float:
    """Mean |ACF_real - ACF_synth| over lags 1..max_lag (default L - 1) and features; each set standardised per
    feature over windows and time."""
    real, synth = (t.double().numpy() for t in _check(real, synth))
    if real.shape[1] < 2:
        raise ValueError(f"autocorrelation_error needs windows of at least 2 steps, got {real.shape[1]}")
    max_lag = real.shape[1] - 1 if max_lag is None else max_lag
    if not 1 <= max_lag < real.shape[1]:
        raise ValueError(f"max_lag must be in 1..{real.shape[1] - 1}, got {max_lag}")
    return float(np.abs(_autocorrelation(real, max_lag) - _autocorrelation(synth, max_lag)).mean())


# --- ECG ---------------------------------------------------------------------------------------------------------
def heart_rates(windows, rate: float, lead: int = 0) -> np.ndarray:
    """ECG windows (N, L, K) sampled at ``rate`` Hz -> (N,) heart rate in beats per minute, 60 / the mean RR
    interval between the R peaks that neurokit2's ``ecg_peaks`` finds in ``lead``; NaN where it finds fewer than
    two. The rate does not depend on the signal's scale, so real and generated windows can be compared on [0, 1]."""
    from ..data.ecg import detect_r_peaks

    windows = np.asarray(windows, dtype=np.float64)
    if windows.ndim != 3 or not 0 <= lead < windows.shape[2]:
        raise ValueError(f"windows must be (N, L, K) with lead in 0..K-1, got shape {windows.shape} and lead {lead}")
    if not np.isfinite(windows).all():
        raise ValueError("ECG windows hold NaN or inf")
    out = np.full(len(windows), np.nan)
    for i, signal in enumerate(windows[:, :, lead]):
        peaks = detect_r_peaks(signal, rate)
        if len(peaks) >= 2:
            out[i] = 60.0 * rate / np.diff(peaks).mean()
    return out


def mean_interval(values) -> tuple[float, float]:
    """(mean, half-width of the 95% Student-t interval) of repeated scores (NaN half-width for one value)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or len(values) == 0:
        raise ValueError(f"mean_interval needs a list of scores, got shape {values.shape}")
    if len(values) < 2:
        return float(values.mean()), float("nan")
    return float(values.mean()), float(stats.t.ppf(0.975, len(values) - 1) * stats.sem(values))


def repeated(score, runs: int = 5, seed: int = 0) -> tuple[float, float]:
    """``mean_interval`` of ``score(seed)`` over ``runs`` consecutive seeds."""
    return mean_interval([score(seed + r) for r in range(runs)])
