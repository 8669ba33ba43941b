"""Synthesis of realistic multivariate windows with a diffusion model, unconditional or class-conditional.

    synth = Synthesizer(seq_len=24).fit(X)            # X: (N, L, K) windows, or a (T, K) array / DataFrame
    fake = synth.sample(len(X))                        # (n, L, K) in X's units (and type)
    synth = Synthesizer().fit(X, labels=y)             # classes: classifier-free guidance at sampling
    beats = synth.sample(100, labels="A", guidance_scale=2.0)
    filled = synth.sample(10, prefix=X[:10, :12])      # continue given first steps (RePaint replacement)

The default denoiser is a 1-D DiT: the DiT backbone (``models.dit``) with 1 x 1 patches on a (K, 1, L) field,
i.e. one token per time step carrying all K features, adaLN-Zero conditioning on the noise level and the class;
``time_patch=p`` makes each token p consecutive steps (a (K * p, 1, L / p) field), for long windows: on 3 s ECG
strips (150 x 2) p = 5 trains 4.8 times faster per step and, at equal CPU time, gives strips whose heart rates lie
in the real range far more often (benchmarks/NOTES.md#ecg-rhythm-strips); there, ``log_snr_shift=2.773`` (the noise
levels of data scaled by 4: more training on light noise) cut the strips outside the range from 3.3% to 1.2%.
``backbone="csdi"`` uses the CSDI network instead (transformers over time and over features); on Stocks windows
(24 x 6, batch 64, 2 CPU cores) a training step takes 97 ms for the DiT (width 128, depth 4) against 550 ms for
CSDI at its reference size (64 channels, 4 layers) and 150 ms at 32 channels, 2 layers, so the DiT is the default.
v-prediction on a cosine schedule of 500 steps, 8,000 training steps: on Stocks, v beat eps-prediction and
8,000 steps beat 4,000 (figures in benchmarks/NOTES.md, "Defaults chosen"). Each feature is MinMax-scaled to
[-1, 1] on the training data (as Diffusion-TS) and samples are clipped to that range while sampling
(``clip_denoised``). Missing training values (NaN) are left out of the loss through the core's target mask.
Conditioning on a prefix or on any observed points uses the core's masked conditioning in "replace" mode (the
unconditional model, observations forward-noised into the state; Lugmayr et al. 2022), with ``resample`` RePaint
repeats per step.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from einops import rearrange
from tqdm.auto import tqdm

from ..accel import autocast, compile_model
from ..checkpoint import CheckpointError, check_shapes, load_checkpoint, load_model, restore_params, save_checkpoint
from ..core import NULL_LABEL, ClassifierFreeGuidance, Condition, Schedule, denoising_loss, get_schedule, sample
from ..core.random import rand
from ..data.adapters import column_labels, frame_values, windows_of
from ..models.csdi import CSDIConfig, CSDIDenoiser
from ..models.dit import DiTConfig, DiTDenoiser
from ..training import TrainConfig, resolve_device, train

__all__ = ["Synthesizer"]


class Synthesizer:
    """Diffusion model of windows (L, K).

    seq_len, stride       window length and step used to cut a (T, K) series or DataFrame (windows keep their L)
    backbone              "dit" (tokens = time steps) or "csdi" (attention over time and over features)
    width, depth, heads, model_options
                          size of the denoiser (DiT width / depth, CSDI channels / layers; ``model_options``:
                          other ``DiTConfig`` or ``CSDIConfig`` fields)
    time_patch            DiT only: time steps per token (a 1 x p patch; windows are padded to a multiple of p, the
                          padding left out of the loss): p times fewer tokens, so a long window (an ECG strip of
                          hundreds of samples) trains several times faster per step
    parameterization      what the network predicts: "eps", "x0" or "v"
    schedule, n_diffusion_steps, log_snr_shift
                          the noise schedule (``core.get_schedule``); ``log_snr_shift`` moves its log SNR at every
                          step: 2 log(b) is the schedule as a model of the data scaled by b would meet it (Chen
                          2023), positive = more training on light noise
    max_steps, batch_size, lr, warmup_steps, ema_decay, weight_decay
                          training (steps, not epochs: a few thousand windows need a few thousand steps)
    label_dropout         share of labels replaced by the null class in training (classifier-free guidance)
    balance_classes       oversample rare classes in training: each class's windows are repeated
                          ceil(sqrt(n_largest / n_class)) times (square-root balancing: rare classes are seen more
                          often without being copied as often as full balancing would)
    guidance_scale        default scale at sampling: 1 = the conditional model, > 1 sharper classes
    scaling               how each feature is mapped to [-1, 1] for the network: "minmax" (its training range,
                          as Diffusion-TS) or "quantile" (its empirical CDF on ``n_quantiles`` knots, so that a
                          heavy-tailed feature such as trading volume spreads over the range like the others: the
                          quantile transform of TabDDPM, Kotelnikov et al. 2023; samples stay in the training range)
    sampler, sample_steps the core sampler and its number of steps (DPM-Solver++(2M), 50: on Stocks it keeps the
                          windows' day-to-day variation as DDIM with 200 steps does, in a quarter of the time;
                          DDIM 50 smooths them, benchmarks/NOTES.md#sampler-steps-and-noise)
    resample              RePaint repeats per step when sampling with a prefix or observed points (with repeats,
                          DPM-Solver++(2M) restarts its history at each step and acts as DDIM)
    clip_denoised         clip the sampler's x0 estimates to the training range ([-1, 1] after scaling)
    max_batch             windows sent to the model at once when sampling
    amp, compile          fast path (``tsdiff.accel``): bf16 autocast for training and sampling (True: on CUDA
                          only; "bf16": on a CPU too, where it pays with bf16 hardware, ``accel.native_bf16``, and
                          ``compile``), and an optional ``torch.compile`` mode for the denoiser ("default",
                          "reduce-overhead" ...)
    """

    def __init__(
        self,
        seq_len: int = 24,
        stride: int = 1,
        backbone: str = "dit",
        width: int = 128,
        depth: int = 4,
        heads: int = 4,
        time_patch: int = 1,
        model_options: dict | None = None,
        parameterization: str = "v",
        schedule: str = "cosine",
        n_diffusion_steps: int = 500,
        log_snr_shift: float = 0.0,
        max_steps: int = 8000,
        batch_size: int = 64,
        lr: float = 1e-3,
        warmup_steps: int = 200,
        ema_decay: float | None = 0.995,
        weight_decay: float = 0.0,
        label_dropout: float = 0.1,
        balance_classes: bool = False,
        guidance_scale: float = 1.0,
        scaling: str = "minmax",
        n_quantiles: int = 1000,
        sampler: str = "dpmpp_2m",
        sample_steps: int | None = 50,
        resample: int = 0,
        clip_denoised: bool = True,
        max_batch: int = 1024,
        device: str | None = None,
        amp: bool | str = True,
        compile: str | None = None,
        seed: int = 0,
        progress: bool = True,
    ):
        self.seq_len, self.stride = seq_len, stride
        self.backbone, self.width, self.depth, self.heads = backbone, width, depth, heads
        self.time_patch, self.model_options = time_patch, model_options
        self.parameterization, self.schedule, self.n_diffusion_steps = parameterization, schedule, n_diffusion_steps
        self.log_snr_shift = log_snr_shift
        self.max_steps, self.batch_size, self.lr, self.warmup_steps = max_steps, batch_size, lr, warmup_steps
        self.ema_decay, self.weight_decay, self.label_dropout = ema_decay, weight_decay, label_dropout
        self.balance_classes = balance_classes
        self.guidance_scale, self.sampler, self.sample_steps, self.resample = (
            guidance_scale,
            sampler,
            sample_steps,
            resample,
        )
        self.clip_denoised, self.scaling, self.n_quantiles = clip_denoised, scaling, n_quantiles
        self.max_batch, self.device, self.seed, self.progress = max_batch, device, seed, progress
        self.amp, self.compile = amp, compile

    def get_params(self) -> dict:
        return {
            name: getattr(self, name) for name in inspect.signature(type(self).__init__).parameters if name != "self"
        }

    # --- data ------------------------------------------------------------------------------------------------
    def _windows(self, X) -> tuple[np.ndarray, list | None]:
        """X -> (windows (N, L, K) float64, a copy; column names or None); a DataFrame or (T, K) array is cut
        every ``stride`` rows."""
        if isinstance(X, pd.DataFrame):
            columns = column_labels(X.columns)  # rows are the steps (trading days too): no spacing warning
            values = windows_of(frame_values(X, warn_uneven=False), self.seq_len, self.stride)
        else:
            array = np.array(X, dtype=np.float64)
            columns = None
            if array.ndim == 2:
                values = windows_of(array, self.seq_len, self.stride)
            elif array.ndim == 3:
                values = array
            else:
                raise ValueError(f"X must be (N, L, K) windows or a (T, K) series, got shape {array.shape}")
        if np.isinf(values).any():
            raise ValueError("X holds +/-inf; use NaN for missing values")
        return values, columns

    def _scale(self, values: np.ndarray) -> np.ndarray:  # (..., K) data units -> [-1, 1]; NaN stays NaN
        if self.knots_ is None:
            return 2.0 * (values - self.low_) / (self.high_ - self.low_) - 1.0  # [low, high] -> [-1, 1]
        probs = np.linspace(0.0, 1.0, len(self.knots_))
        u = np.empty_like(values)
        for j, knots in enumerate(self.knots_.T):
            # tied knots (a value held by many points): the mean of the interpolations from either side
            up = np.interp(values[..., j], knots, probs)
            down = 1.0 - np.interp(-values[..., j], -knots[::-1], probs)
            u[..., j] = np.where(np.isnan(values[..., j]), np.nan, 0.5 * (up + down))
        return 2.0 * u - 1.0

    def _unscale(self, z: np.ndarray) -> np.ndarray:  # (..., K) [-1, 1] -> data units
        if self.knots_ is None:
            return (z + 1.0) / 2.0 * (self.high_ - self.low_) + self.low_
        probs = np.linspace(0.0, 1.0, len(self.knots_))
        columns = [np.interp((z[..., j] + 1.0) / 2.0, probs, knots) for j, knots in enumerate(self.knots_.T)]
        return np.stack(columns, axis=-1)

    def _fit_scaling(self, values: np.ndarray) -> None:
        """low_, high_ (K,) and, for quantile scaling, knots_ (n_quantiles, K): the quantiles at evenly spaced
        probabilities of each feature's observed training values."""
        if self.scaling not in ("minmax", "quantile"):
            raise ValueError(f"scaling must be 'minmax' or 'quantile', got {self.scaling!r}")
        if self.scaling == "quantile" and self.n_quantiles < 2:
            raise ValueError(f"n_quantiles must be at least 2, got {self.n_quantiles}")
        self.low_, self.high_ = np.nanmin(values, axis=(0, 1)), np.nanmax(values, axis=(0, 1))
        self.knots_ = None
        if self.scaling == "quantile":
            flat = values.reshape(-1, values.shape[-1])
            self.knots_ = np.nanquantile(flat, np.linspace(0.0, 1.0, self.n_quantiles), axis=0)  # (Q, K)

    def _label_ids(self, labels, n: int) -> np.ndarray:
        labels = np.asarray(labels)
        if labels.ndim == 0:
            labels = np.full(n, labels.item())
        if labels.shape != (n,):
            raise ValueError(f"labels must be one per window ({n}), got shape {labels.shape}")
        lookup = {c: i for i, c in enumerate(self.classes_)}
        unknown = sorted({str(v) for v in labels.tolist() if v not in lookup})
        if unknown:
            raise ValueError(f"unknown class labels {unknown[:5]}; the model knows {list(self.classes_)}")
        return np.array([lookup[v] for v in labels.tolist()], dtype=np.int64)

    # --- fitting ---------------------------------------------------------------------------------------------
    def fit(self, X, labels=None, *, checkpoint: str | None = None, resume: bool = False) -> Synthesizer:
        """Train on the windows of X (NaN = missing, left out of the loss); ``labels`` (one per window) make the
        model class-conditional."""
        values, columns = self._windows(X)
        n, length, k = values.shape
        if n < 2:
            raise ValueError(f"need at least 2 training windows, got {n}")
        obs = ~np.isnan(values)
        seen = obs.reshape(-1, k).sum(0)
        if (seen == 0).any():
            raise ValueError(f"features {np.where(seen == 0)[0].tolist()} have no observed value")
        constant = np.where(np.nanmax(values, axis=(0, 1)) <= np.nanmin(values, axis=(0, 1)))[0]
        if len(constant):
            names = [columns[i] for i in constant] if columns else constant.tolist()
            raise ValueError(f"features {names} are constant in the training data: nothing to learn; drop them")
        if labels is not None and np.shape(labels) != (n,):
            raise ValueError(f"labels must be one per window ({n}), got shape {np.shape(labels)}")
        if labels is not None and pd.isna(np.asarray(labels, dtype=object)).any():
            raise ValueError("labels hold NaN or None: every window needs a class")
        p = self.time_patch
        if isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 1 or (p > 1 and self.backbone != "dit"):
            raise ValueError(
                f"time_patch (steps per token) must be a positive integer, and 1 unless backbone='dit'; got {p!r}"
            )
        schedule = get_schedule(self.schedule, self.n_diffusion_steps, self.log_snr_shift)  # checks its options
        # the input is valid: from here on the fitted state is replaced (a failed check above leaves it as it was)
        self._fit_scaling(values)
        self.columns_, self.seq_len_, self.n_features_in_ = columns, length, k
        self.classes_ = None
        y = None
        if labels is not None:
            self.classes_ = np.unique(np.asarray(labels)).tolist()
            y = torch.from_numpy(self._label_ids(labels, n))
        x0 = torch.from_numpy(np.where(obs, self._scale(values), 0.0).transpose(0, 2, 1).astype(np.float32))
        mask = torch.from_numpy(obs.transpose(0, 2, 1).copy())  # (N, K, L)

        torch.manual_seed(self.seed)
        self.model_ = self._build(k)
        x0, mask = self._field(x0), self._field(mask)
        self.schedule_ = schedule
        dropout, complete = self.label_dropout, bool(mask.all())  # padding: not complete

        def loss_fn(net, batch, generator):
            x, m, *rest = batch
            target = None if complete else m
            y_b = None
            if rest:
                y_b = rest[0]
                drop = rand(y_b.shape, generator, y_b.device) < dropout
                y_b = torch.where(drop, torch.full_like(y_b, NULL_LABEL), y_b)
            cond = None if target is None and y_b is None else Condition(target_mask=target, labels=y_b)
            return denoising_loss(net, x, schedule, cond, generator=generator)

        train_config = TrainConfig(
            max_steps=self.max_steps,
            batch_size=self.batch_size,
            lr=self.lr,
            warmup_steps=self.warmup_steps,
            ema_decay=self.ema_decay,
            weight_decay=self.weight_decay,
            seed=self.seed,
            progress=self.progress,
            device=self.device,
            amp=self.amp,
            compile=self.compile,
        )
        data = (x0, mask) if y is None else (x0, mask, y)
        if y is not None and self.balance_classes:
            counts = np.bincount(y.numpy(), minlength=len(self.classes_))
            repeats = np.ceil(np.sqrt(counts.max() / np.maximum(counts, 1))).astype(np.int64)
            order = torch.from_numpy(np.repeat(np.arange(n), repeats[y.numpy()]))
            data = tuple(t[order] for t in data)
        self.train_result_ = train(
            self.model_, data, loss_fn, train_config, checkpoint=checkpoint, resume=resume, meta=self._meta()
        )
        self.train_result_.copy_to(self.model_)
        self.model_.eval()
        return self

    def _build(self, k: int):
        n_classes = 0 if self.classes_ is None else len(self.classes_)
        options = dict(self.model_options or {})
        if self.backbone == "dit":
            config = DiTConfig(
                in_channels=k * self.time_patch,
                patch=1,
                width=self.width,
                depth=self.depth,
                heads=self.heads,
                n_classes=n_classes,
                parameterization=self.parameterization,
                **options,
            )
            return DiTDenoiser(config)
        if self.backbone == "csdi":
            config = CSDIConfig(
                n_features=k,
                channels=self.width,
                layers=self.depth,
                heads=self.heads,
                n_steps=self.n_diffusion_steps,
                n_classes=n_classes,
                parameterization=self.parameterization,
                **options,
            )
            return CSDIDenoiser(config)
        raise ValueError(f"backbone must be 'dit' or 'csdi', got {self.backbone!r}")

    def _field(self, x: torch.Tensor) -> torch.Tensor:
        """(N, K, L) -> the backbone's layout: for the DiT a 1 x ceil(L / p) field of K * p channels (p =
        ``time_patch`` consecutive steps per token, L padded with zeros / False), unchanged for CSDI."""
        if self.backbone != "dit":
            return x
        x = F.pad(x, (0, -x.shape[-1] % self.time_patch))  # (N, K, L) -> (N, K, T * p)
        return rearrange(x, "n k (t p) -> n (k p) 1 t", p=self.time_patch)

    def _unfield(self, x: torch.Tensor, length: int) -> torch.Tensor:
        """The backbone's layout -> (N, K, L): the inverse of ``_field``."""
        if self.backbone != "dit":
            return x
        return rearrange(x, "n (k p) 1 t -> n k (t p)", p=self.time_patch)[..., :length]

    # --- sampling --------------------------------------------------------------------------------------------
    def sample(
        self,
        n: int,
        labels=None,
        *,
        prefix=None,
        observed=None,
        guidance_scale: float | None = None,
        seed: int | None = None,
    ):
        """n windows (n, L, K) in the training data's units (a DataFrame with a (sample, step) index when the
        model was fitted on a DataFrame).

        labels          one class or one per window (class-conditional models; default: unconditional)
        prefix          (n, P, K) or (P, K): the first P steps of every window are given
        observed        (n, L, K) with NaN where a value is to be generated: any given points
        guidance_scale  classifier-free guidance (default ``self.guidance_scale``)
        Given values come back unchanged."""
        if not hasattr(self, "model_"):
            raise RuntimeError("this Synthesizer is not fitted yet: call fit first (or Synthesizer.load)")
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n <= 0:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        n, length, k = int(n), self.seq_len_, self.n_features_in_
        given = self._given(n, prefix, observed)  # (n, L, K) with NaN where free, or None
        scaled_given = None if given is None else self._scale(given)  # NaN stays NaN
        y = None
        if labels is not None:
            if self.classes_ is None:
                raise ValueError("labels given, but the model was fitted without labels")
            y = torch.from_numpy(self._label_ids(labels, n))
        if guidance_scale is not None and y is None:
            raise ValueError("guidance_scale given without labels: guidance steers towards the classes of `labels`")
        scale = self.guidance_scale if guidance_scale is None else float(guidance_scale)

        device = resolve_device(self.device)
        model = compile_model(self.model_.to(device), self.compile)
        denoiser = model if y is None or scale == 1.0 else ClassifierFreeGuidance(model, scale)  # checks scale
        generator = torch.Generator(device=device).manual_seed(self.seed if seed is None else seed)
        out = np.empty((n, k, length), dtype=np.float32)
        starts = range(0, n, self.max_batch)
        for i in tqdm(starts, disable=not self.progress or len(starts) < 2, desc="synthesize", unit="batch"):
            b = min(self.max_batch, n - i)
            fields = {}
            if y is not None:
                fields["labels"] = y[i : i + b].to(device)
            if given is not None:
                part = scaled_given[i : i + b].transpose(0, 2, 1)  # (b, L, K) -> (b, K, L)
                mask = ~np.isnan(part)
                observed = torch.from_numpy(np.where(mask, part, 0.0).astype(np.float32))
                fields["observed"], fields["obs_mask"] = self._field(observed), self._field(torch.from_numpy(mask))
            cond = Condition(**{name: v.to(device) for name, v in fields.items()}) if fields else None
            with autocast(device, self.amp):
                x = sample(
                    denoiser,
                    tuple(self._field(torch.empty(b, k, length)).shape),
                    self.schedule_,
                    self.sampler,
                    self.sample_steps,
                    cond,
                    generator,
                    conditioning="replace",
                    resample=self.resample if given is not None else 0,
                    x0_range=(-1.0, 1.0) if self.clip_denoised else None,
                    device=device,
                )
            x = self._unfield(x.clamp(-1, 1) if self.clip_denoised else x, length)  # (b, K, L)
            out[i : i + b] = x.cpu().numpy()
        result = self._unscale(out.transpose(0, 2, 1).astype(np.float64))  # (n, L, K)
        if given is not None:
            result = np.where(np.isnan(given), result, given)  # given values exactly as given
        return self._restore(result)

    def _given(self, n: int, prefix, observed) -> np.ndarray | None:
        length, k = self.seq_len_, self.n_features_in_
        if prefix is not None and observed is not None:
            raise ValueError("give either prefix or observed, not both")
        if prefix is None and observed is None:
            return None
        if prefix is not None:
            p = np.array(prefix, dtype=np.float64)
            p = np.broadcast_to(p, (n, *p.shape)) if p.ndim == 2 else p
            if p.ndim != 3 or p.shape[0] != n or p.shape[2] != k or not 0 < p.shape[1] < length:
                raise ValueError(f"prefix must be (n={n}, P, K={k}) or (P, K) with 0 < P < {length}, got {p.shape}")
            given = np.full((n, length, k), np.nan)
            given[:, : p.shape[1]] = p
        else:
            given = np.array(observed, dtype=np.float64)
            if given.shape != (n, length, k):
                raise ValueError(f"observed must be (n={n}, L={length}, K={k}) with NaN to generate, got {given.shape}")
        if np.isinf(given).any():
            raise ValueError("prefix / observed holds +/-inf")
        return given

    def _restore(self, result: np.ndarray):
        if self.columns_ is None:
            return result
        n, length, k = result.shape
        index = pd.MultiIndex.from_product([range(n), range(length)], names=["sample", "step"])
        return pd.DataFrame(result.reshape(n * length, k), index=index, columns=self.columns_)

    # --- persistence -----------------------------------------------------------------------------------------
    def _meta(self) -> dict:
        return {
            "task": "synthesis",
            "model_kind": self.model_.describe(),
            "schedule": self.schedule_.to_dict(),
            "params": self.get_params(),
            "low": self.low_.tolist(),
            "high": self.high_.tolist(),
            "knots": None if self.knots_ is None else self.knots_.tolist(),
            "columns": self.columns_,
            "classes": self.classes_,
            "seq_len": self.seq_len_,
        }

    def save(self, path: str | Path) -> Path:
        """Write the fitted synthesizer (weights, config, schedule, scaling, classes) to one checkpoint file."""
        if not hasattr(self, "model_"):
            raise RuntimeError("nothing to save: the synthesizer is not fitted")
        return save_checkpoint(path, {**self._meta(), "model": self.model_.state_dict()})

    @classmethod
    def load(cls, path: str | Path, **overrides) -> Synthesizer:
        """Read a synthesizer written by ``save``; ``overrides`` change sampling parameters."""
        state = load_checkpoint(
            path,
            task=("synthesis", "a synthesis model"),
            required=("model", "model_kind", "schedule", "params", "low", "high", "columns", "classes", "seq_len"),
        )
        self = restore_params(cls, state, overrides, path)
        self.model_ = load_model(state, path)
        self.schedule_ = Schedule.from_dict(state["schedule"])
        self.low_, self.high_ = np.asarray(state["low"]), np.asarray(state["high"])
        self.knots_ = None if state.get("knots") is None else np.asarray(state["knots"])
        self.columns_, self.classes_ = state["columns"], state["classes"]
        self.seq_len_, self.n_features_in_ = int(state["seq_len"]), len(self.low_)
        config, k = self.model_.config, len(self.low_)
        width = config.n_features if isinstance(config, CSDIConfig) else config.in_channels // self.time_patch
        if width != k:
            raise CheckpointError(f"{path}: the network takes {width} features, the scaling has {k}")
        check_shapes(path, high=(self.high_, (k,)))
        if self.knots_ is not None:
            check_shapes(path, knots=(self.knots_, (len(self.knots_), k)))
        if self.columns_ is not None:
            check_shapes(path, columns=(self.columns_, (k,)))
        return self
