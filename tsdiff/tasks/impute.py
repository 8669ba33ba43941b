"""Probabilistic imputation with a conditional diffusion model (CSDI; Tashiro et al. 2021), scikit-learn style.

    imputer = DiffusionImputer(epochs=50).fit(X_train)        # X: (N, L, K) windows, a (T, K) array or a DataFrame
    X_filled = imputer.transform(X)                           # gaps filled with the median of the samples
    draws = imputer.sample(X, n_samples=100)                  # every draw
    bands = imputer.predict_quantiles(X, q=(0.05, 0.5, 0.95))
    imputer.calibrate(X_valid)                                # optional: conformal spread factors per feature

Training follows CSDI: each window hides part of its observed values (``mask_strategy``) and the model learns to
recover them given the rest; at prediction time every observed value is given and every missing one is drawn.
Observed values come back exactly as given (bit for bit), in the caller's type.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from tqdm.auto import tqdm

from ..accel import autocast, compile_model, rows_per_call
from ..calibration import rescale_spread, spread_scale
from ..checkpoint import CheckpointError, check_shapes, load_checkpoint, load_model, restore_params, save_checkpoint
from ..core import Condition, Schedule, denoising_loss, get_schedule, sample
from ..data.adapters import sliding_windows, to_windows
from ..data.masks import MASK_STRATEGIES, training_mask
from ..data.scaling import FeatureScaler, window_mean
from ..metrics import interval_coverage
from ..models.csdi import PRESETS, CSDIDenoiser
from ..training import TrainConfig, resolve_device, train

VALIDATION_DRAWS = 256  # (window, mask, step, noise) draws per validation: passes over X_val to reach it

__all__ = ["DiffusionImputer"]


def _usable(values: np.ndarray) -> np.ndarray:
    """(N, L, K) windows -> (N,) bool: windows with at least two observed values (one to give, one to hide)."""
    return (~np.isnan(values)).reshape(len(values), -1).sum(1) >= 2


class DiffusionImputer(TransformerMixin, BaseEstimator):
    """CSDI-style diffusion imputer.

    Parameters (all set at construction; sampling ones can be changed later with ``set_params``)
    seq_len          window length used to cut (T, K) arrays and DataFrames (N, L, K windows keep their own L)
    preset           CSDI size: "reference" (0.41 M parameters at K = 35, dropout 0.1 as the reference) or "small"
                     (0.10 M, no dropout: about 1.6x faster per training step on a CPU)
    model_options    overrides of ``CSDIConfig`` fields (e.g. {"attention": "linear"}, or
                     {"interpolated_input": True}: the observations linearly interpolated along time as a third
                     input channel, which speeds up training on a CPU budget; see the README)
    schedule, n_diffusion_steps, schedule_options
                     the noise schedule (CSDI: "quadratic", 50 steps, betas 1e-4 .. 0.5)
    mask_strategy    training masks: "random", "historical", "mix", "block" or "forecast" (hide the last
                     ``horizon`` steps of every window: a forecaster, see ``tasks.forecast_series``)
    epochs, batch_size, lr, weight_decay, lr_decay, warmup_steps, grad_clip, ema_decay, weighting
                     training (defaults: CSDI's Adam lr 1e-3, step decay at 75% / 90%, batch 16, uniform weighting)
    max_steps        optimizer steps of training: when given, ``epochs`` is not used (a budget that does not grow with
                     the data, as ``fit_forecaster``'s)
    time_budget      seconds of training (validation left out): training stops when they are spent or after
                     ``epochs`` (``max_steps``), whichever comes first, and the lr decay runs over the same budget
                     (``TrainConfig``)
    n_samples        draws per window for ``transform`` and ``predict_quantiles``
    sampler, sample_steps
                     the core sampler and its number of steps (None: the sampler's default, all 50 for "ddpm")
    max_rows         largest batch (windows x samples) sent to the model at once: bounds memory (default: 1024
                     on a GPU, 8 on a CPU, where small batches that stay in cache are faster per sample)
    clip_denoised    clip the sampler's x0 estimates to the training range (+-10% of its width) per feature
    center_windows   subtract from each window, per feature, the mean of the values it is conditioned on, and
                     add it back to the draws: the model sees levels relative to the window's (RevIN's centring,
                     Kim et al. 2022); what forecasts need, where the level drifts (default False; True in
                     ``fit_forecaster``)
    train_stride     for a (T, K) series or DataFrame: train on windows every ``train_stride`` rows (overlapping;
                     default seq_len // 4) rather than only the consecutive ones
    calibration_fraction
                     > 0: ``fit`` holds this share of the observed values out of training (at random) and, after
                     training, calls ``calibrate`` on them: conformal spread factors for the 90% interval
                     (default 0: off; see ``calibrate``)
    device, seed, progress
    amp, compile     fast path (``tsdiff.accel``): bf16 autocast for training and sampling (True: on CUDA only;
                     "bf16": on a CPU too, where it pays with bf16 hardware, AMX or AVX512-BF16 (``accel.native_bf16``;
                     sampling 1.6-1.9x faster; elsewhere it warns), and an optional
                     ``torch.compile`` mode for the denoiser ("default", "reduce-overhead" ...)
    """

    def __init__(
        self,
        seq_len: int | None = None,
        preset: str = "reference",
        model_options: dict | None = None,
        schedule: str = "quadratic",
        n_diffusion_steps: int = 50,
        schedule_options: dict | None = None,
        mask_strategy: str = "random",
        epochs: float = 200,
        max_steps: int | None = None,
        time_budget: float | None = None,
        batch_size: int = 16,
        lr: float = 1e-3,
        weight_decay: float = 1e-6,
        lr_decay: str = "step",
        warmup_steps: int = 0,
        grad_clip: float | None = None,
        ema_decay: float | None = None,
        weighting: str = "simple",
        n_samples: int = 100,
        sampler: str = "ddpm",
        sample_steps: int | None = None,
        max_rows: int | None = None,
        clip_denoised: bool = True,
        center_windows: bool = False,
        train_stride: int | None = None,
        horizon: int | None = None,
        calibration_fraction: float = 0.0,
        device: str | None = None,
        amp: bool | str = True,
        compile: str | None = None,
        seed: int = 0,
        progress: bool = True,
    ):
        self.seq_len = seq_len
        self.preset = preset
        self.model_options = model_options
        self.schedule = schedule
        self.n_diffusion_steps = n_diffusion_steps
        self.schedule_options = schedule_options
        self.mask_strategy = mask_strategy
        self.epochs = epochs
        self.max_steps = max_steps
        self.time_budget = time_budget
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_decay = lr_decay
        self.warmup_steps = warmup_steps
        self.grad_clip = grad_clip
        self.ema_decay = ema_decay
        self.weighting = weighting
        self.n_samples = n_samples
        self.sampler = sampler
        self.sample_steps = sample_steps
        self.max_rows = max_rows
        self.clip_denoised = clip_denoised
        self.center_windows = center_windows
        self.train_stride = train_stride
        self.horizon = horizon
        self.calibration_fraction = calibration_fraction
        self.device = device
        self.seed = seed
        self.progress = progress
        self.amp = amp
        self.compile = compile

    # --- fitting ---------------------------------------------------------------------------------------------
    def _schedule(self) -> Schedule:
        options = dict(self.schedule_options or {})
        if self.schedule == "quadratic":
            options.setdefault("beta_end", 0.5)
        return get_schedule(self.schedule, self.n_diffusion_steps, **options)

    def fit(
        self,
        X,
        y=None,
        *,
        X_val=None,
        mask_patterns=None,
        checkpoint: str | None = None,
        resume: bool = False,
        checkpoint_every: int = 0,
        callback=None,
    ):
        """Train on windows of X (NaN = missing). ``mask_patterns`` (P, L, K) bool, True = observed, are the
        missing patterns that "historical" and "mix" masks borrow (default: X's own). ``checkpoint``/``resume``
        as in ``tsdiff.training.train``, the checkpoint also written every ``checkpoint_every`` steps (0: only at
        the end); ``callback(step, loss)`` is called after every optimizer step.

        ``X_val``: held-out data in X's layout (PyPOTS's ``val_set``). Every epoch, and at the end, the weights
        sampling would use (the EMA's when there is one) are scored on it by the denoising loss on targets hidden
        by the training mask strategy, with the same masks, steps and noise at every call; the best weights are
        kept rather than the last (``train_result_.validation`` holds the scores, ``best_step`` the choice)."""
        if self.mask_strategy not in MASK_STRATEGIES:
            raise ValueError(f"mask_strategy must be one of {MASK_STRATEGIES}, got {self.mask_strategy!r}")
        if self.preset not in PRESETS:
            raise ValueError(f"preset must be one of {sorted(PRESETS)}, got {self.preset!r}")
        if not 0.0 <= self.calibration_fraction < 0.5:
            raise ValueError(f"calibration_fraction must lie in [0, 0.5), got {self.calibration_fraction}")
        windows = to_windows(X, self.seq_len)
        held = None  # (N, L, K) observed values held out of training for calibrate()
        if self.calibration_fraction > 0:
            rng = np.random.default_rng((self.seed, 2))  # a stream of its own: not default_rng(seed) of the caller's
            held = ~np.isnan(windows.values) & (rng.random(windows.values.shape) < self.calibration_fraction)
        values = windows.values if held is None else np.where(held, np.nan, windows.values)  # (N, L, K)
        if windows.series is not None:
            stride = self.train_stride or max(1, windows.values.shape[1] // 4)
            series = windows.series  # (T, K): the windows hold it in order, padded with NaN at the end
            if held is not None:
                series = np.where(held.reshape(-1, series.shape[1])[: len(series)], np.nan, series)
            values = sliding_windows(series, windows.values.shape[1], stride)
        previous = {name: value for name, value in vars(self).items() if name.endswith("_")}
        try:  # a check that fails here leaves a fitted imputer as it was
            self.columns_ = windows.columns
            self.labeled_ = not isinstance(X, np.ndarray)
            self.spread_scale_ = None  # set by calibrate()
            self.n_features_in_ = values.shape[2]
            self.seq_len_ = values.shape[1]
            self.scaler_ = FeatureScaler.fit(values, self.columns_)
            keep = _usable(values)
            if not keep.any():
                raise ValueError("no window has at least two observed values: there is nothing to learn from")
            x0, obs_mask = self._to_model(values[keep])  # (N, K, L) each
            device = resolve_device(self.device)
            held_out = None if X_val is None else tuple(t.to(device) for t in self._validation_windows(X_val))
        except Exception:
            for name in [name for name in vars(self) if name.endswith("_")]:
                delattr(self, name)
            vars(self).update(previous)
            raise

        torch.manual_seed(self.seed)
        self.model_ = CSDIDenoiser.preset(
            self.preset, self.n_features_in_, n_steps=self.n_diffusion_steps, **(self.model_options or {})
        )
        self.schedule_ = self._schedule()
        schedule, strategy, weighting, horizon = self.schedule_, self.mask_strategy, self.weighting, self.horizon
        center = self.center_windows
        pool = None
        if strategy in ("historical", "mix"):
            pool = obs_mask if mask_patterns is None else self._patterns(mask_patterns)

        def loss_fn(net, batch, generator):
            x, observed = batch
            patterns = None if pool is None else pool.to(x.device)
            cond_mask = training_mask(strategy, observed, generator, patterns, horizon)
            if center:
                x = x - window_mean(x, cond_mask)  # (B, K, L), targets relative to the conditioning's level
            condition = Condition(observed=x, obs_mask=cond_mask, target_mask=observed & ~cond_mask)
            return denoising_loss(net, x, schedule, condition, weighting=weighting, generator=generator)

        config = TrainConfig(
            epochs=self.epochs,
            max_steps=self.max_steps,
            time_budget=self.time_budget,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            lr_decay=self.lr_decay,
            warmup_steps=self.warmup_steps,
            grad_clip=self.grad_clip,
            ema_decay=self.ema_decay,
            seed=self.seed,
            progress=self.progress,
            device=self.device,
            amp=self.amp,
            compile=self.compile,
            validate_every=max(1, len(x0) // self.batch_size) if held_out is not None else 0,  # every epoch
            checkpoint_every=checkpoint_every,
        )

        def validate(net) -> float:
            """Mean denoising loss over the held-out windows, with the same masks, steps and noise at each call."""
            generator = torch.Generator(device=device).manual_seed(self.seed)
            total, count = 0.0, 0
            for _ in range(-(-VALIDATION_DRAWS // len(held_out[0]))):  # passes for >= VALIDATION_DRAWS draws
                for batch in zip(*(t.split(self.batch_size) for t in held_out)):
                    with autocast(device, self.amp):
                        total += float(loss_fn(net, batch, generator)) * len(batch[0])
                    count += len(batch[0])
            return total / count

        self.train_result_ = train(
            self.model_,
            (x0, obs_mask),
            loss_fn,
            config,
            checkpoint=checkpoint,
            resume=resume,
            meta=self._meta(),
            callback=callback,
            validate=None if held_out is None else validate,
        )
        self.train_result_.copy_to(self.model_)  # the best on X_val, else the EMA's
        self.model_.eval()
        if held is not None:
            try:
                self._calibrate(windows.values, held)
            except ValueError as err:  # too few held-out values, or no spread: keep the trained model, say why
                warnings.warn(f"calibration_fraction: the spread was left uncalibrated: {err}", stacklevel=2)
        return self

    def _validation_windows(self, X_val) -> tuple[torch.Tensor, torch.Tensor]:
        """X_val -> scaled values and obs_mask (N, K, L) of its windows with >= 2 observed values, checked
        against the training data's window length, features and columns."""
        windows = to_windows(X_val, self.seq_len_ if self.seq_len is None else self.seq_len)
        if windows.values.shape[1:] != (self.seq_len_, self.n_features_in_):
            raise ValueError(
                f"X_val has windows of {windows.values.shape[1:]} (L, K), the training data "
                f"{(self.seq_len_, self.n_features_in_)}"
            )
        self._check_columns(X_val, windows, "X_val")
        keep = _usable(windows.values)
        if not keep.any():
            raise ValueError("X_val has no window with at least two observed values: nothing to validate on")
        return self._to_model(windows.values[keep])

    def _patterns(self, patterns) -> torch.Tensor:
        patterns = np.asarray(patterns, dtype=bool)
        if patterns.ndim != 3 or patterns.shape[1:] != (self.seq_len_, self.n_features_in_):
            raise ValueError(f"mask_patterns must be (P, {self.seq_len_}, {self.n_features_in_}), got {patterns.shape}")
        return torch.from_numpy(patterns.transpose(0, 2, 1).copy())

    def _to_model(self, values: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, L, K) data units with NaN -> scaled values (N, K, L) float32 with 0 at missing, obs_mask (N, K, L)."""
        obs = ~np.isnan(values)
        scaled = np.where(obs, self.scaler_.transform(values), 0.0)
        x = torch.from_numpy(scaled.transpose(0, 2, 1).astype(np.float32))
        return x, torch.from_numpy(obs.transpose(0, 2, 1).copy())

    # --- prediction --------------------------------------------------------------------------------------------
    def _check_fitted_input(self, X):
        if not hasattr(self, "model_"):
            raise RuntimeError("this DiffusionImputer is not fitted yet: call fit first (or DiffusionImputer.load)")
        windows = to_windows(X, self.seq_len_ if self.seq_len is None else self.seq_len)
        if windows.values.shape[2] != self.n_features_in_:
            raise ValueError(
                f"X has {windows.values.shape[2]} features, the imputer was fitted on {self.n_features_in_}"
            )
        self._check_columns(X, windows, "X")
        return windows

    def _check_columns(self, X, windows, name: str) -> None:
        """Labelled input (DataFrame, xarray) must have the columns seen in fit, in order."""
        labeled = not isinstance(X, np.ndarray)
        if labeled and getattr(self, "labeled_", False):
            if [str(c) for c in windows.columns] != [str(c) for c in self.columns_]:
                raise ValueError(
                    f"{name}'s columns {windows.columns[:8]} differ from those seen in fit {self.columns_[:8]}"
                )

    def _draw(self, values: np.ndarray, n_samples: int) -> np.ndarray:
        """Draws (N, S, L, K) in data units for windows (N, L, K); observed entries are the given values."""
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        x, obs_mask = self._to_model(values)
        offset = window_mean(x, obs_mask) if self.center_windows else None  # (N, K, 1)
        if offset is not None:
            x = x - offset
        device = resolve_device(self.device)
        model = compile_model(self.model_.to(device), self.compile)
        n, k, l = x.shape
        max_rows = rows_per_call(device, self.max_rows)
        per_call = max(1, min(n_samples, max_rows))  # samples per item in one call
        items = max(1, max_rows // per_call)  # items per call
        out = np.empty((n, n_samples, l, k), dtype=np.float64)
        generator = torch.Generator(device=device).manual_seed(self.seed)
        x0_range = None
        if self.clip_denoised and self.scaler_.low is not None:
            x0_range = tuple(
                torch.tensor(v, dtype=torch.float32, device=device)[:, None] for v in self.scaler_.z_range()
            )
        chunks = [(i, j) for i in range(0, n, items) for j in range(0, n_samples, per_call)]
        bar = tqdm(total=len(chunks), disable=not self.progress, desc="impute", unit="batch")
        for i, j in chunks:
            s = min(per_call, n_samples - j)
            cond = Condition(observed=x[i : i + items].to(device), obs_mask=obs_mask[i : i + items].to(device))
            shift = None if offset is None else offset[i : i + items].to(device)  # (b, K, 1)
            clip = x0_range
            if shift is not None and clip is not None:  # the training range relative to each window's level
                clip = tuple((v - shift).repeat_interleave(s, 0) for v in clip)  # (b * s, K, 1)
            with autocast(device, self.amp):
                draws = sample(
                    model,
                    (cond.batch_size, k, l),
                    self.schedule_,
                    self.sampler,
                    self.sample_steps,
                    condition=cond,
                    generator=generator,
                    n_samples=s,
                    x0_range=clip,
                )  # (b, s, K, L)
            if shift is not None:
                draws = draws + shift[:, None]
            out[i : i + items, j : j + s] = draws.transpose(2, 3).double().cpu().numpy()
            bar.update(1)
        bar.close()
        out *= self.scaler_.std  # to data units in place: the draws are the largest array here (N S L K float64)
        out += self.scaler_.mean
        if self.spread_scale_ is not None and n_samples > 1:
            fitted_with = (self.calibration_["sampler"], self.calibration_["sample_steps"])
            if fitted_with != (self.sampler, self.sample_steps):
                warnings.warn(
                    f"the spread factors were calibrated with {fitted_with[0]}, {fitted_with[1]} steps; drawing with "
                    f"{self.sampler}, {self.sample_steps}: call calibrate() again",
                    stacklevel=3,
                )
            rescale_spread(out, self.spread_scale_)
        observed = ~np.isnan(values)[:, None]  # (N, 1, L, K)
        np.copyto(out, np.broadcast_to(values[:, None], out.shape), where=observed)  # observed values as given
        return out

    def sample(self, X, n_samples: int | None = None) -> np.ndarray:
        """Every draw: (N, S, L, K) for windows, (S, T, K) for a series or DataFrame."""
        windows = self._check_fitted_input(X)
        return windows.restore_many(self._draw(windows.values, self.n_samples if n_samples is None else n_samples))

    def transform(self, X):
        """X with every missing value replaced by the median of ``n_samples`` draws; same type and shape as X."""
        return self.predict_quantiles(X, q=(0.5,))[0.5]

    def predict_quantiles(self, X, q=(0.05, 0.5, 0.95), draws: np.ndarray | None = None) -> dict:
        """{level: X filled with that quantile of the draws} (observed values unchanged), for each level in q;
        ``draws`` from ``sample(X)`` are reused instead of drawing anew."""
        levels = [float(v) for v in np.atleast_1d(q)]
        if any(not 0.0 <= v <= 1.0 for v in levels):
            raise ValueError(f"quantile levels must lie in [0, 1], got {levels}")
        windows = self._check_fitted_input(X)
        if draws is None:
            draws = self._draw(windows.values, self.n_samples)
        else:  # what sample(X) returns for this X: (S, T, K) for a series or DataFrame, (N, S, L, K) for windows
            draws = np.asarray(draws, dtype=np.float64)
            n, length, k = windows.values.shape
            want = (None, len(windows.series), k) if windows.series is not None else (n, None, length, k)
            if draws.ndim != len(want) or any(w not in (None, d) for w, d in zip(want, draws.shape)):
                shown = ", ".join("S" if w is None else str(w) for w in want)
                raise ValueError(f"draws must have sample(X)'s shape ({shown}) for this X, got {draws.shape}")
            if windows.series is not None:  # (S, T, K) -> (N, S, L, K) windows
                padded = np.full((len(draws), n * length, k), np.nan)
                padded[:, : draws.shape[1]] = draws
                draws = padded.reshape(len(draws), n, length, k).transpose(1, 0, 2, 3)
        bands = np.quantile(draws, levels, axis=1)  # (Q, N, L, K)
        missing = np.isnan(windows.values)
        return {v: windows.restore(np.where(missing, b, windows.values)) for v, b in zip(levels, bands)}

    def calibrate(self, X, target_mask=None, *, fraction: float = 0.1, level: float = 0.9, min_targets: int = 50):
        """Fit ``spread_scale_`` (K,) on held-out data by split conformal prediction (``tsdiff.calibration``).

        The entries of ``target_mask`` (bool, X's shape; default: a random ``fraction`` of X's observed values,
        seeded by ``seed``) are hidden, ``n_samples`` draws are made with the current sampler, and for each
        feature the factor is found by which the draws' spread about their median must grow (or shrink) for the
        central ``level`` interval to cover ``level`` of the hidden values (features with fewer than
        ``min_targets`` of them share the pooled factor). Every later draw (``sample``, ``transform``,
        ``predict_quantiles``) is rescaled by it: medians and observed values do not change. Use data the model was
        not trained on, hidden the way the real gaps fall, and the sampler and number of samples you will predict
        with. ``calibration_`` records the coverage before and after on these targets. Returns self."""
        windows = self._check_fitted_input(X)
        values = windows.values  # (N, L, K)
        observed = ~np.isnan(values)
        if target_mask is None:
            if not 0.0 < fraction < 1.0:
                raise ValueError(f"fraction must lie in (0, 1), got {fraction}")
            target = observed & (np.random.default_rng((self.seed, 1)).random(values.shape) < fraction)
        else:
            mask = np.asarray(target_mask)
            if mask.shape != np.shape(values if windows.series is None else windows.series):
                raise ValueError(f"target_mask must have X's shape, got {mask.shape}")
            if mask.dtype != bool:
                raise ValueError(f"target_mask must be boolean (True = hide and score), got dtype {mask.dtype}")
            target = to_windows(mask.astype(float), values.shape[1]).values == 1  # cut as X was
            if (target & ~observed).any():
                raise ValueError(f"target_mask marks {int((target & ~observed).sum())} entries that are missing in X")
        return self._calibrate(values, target, level, min_targets)

    def _calibrate(self, values: np.ndarray, target: np.ndarray, level: float = 0.9, min_targets: int = 50):
        """``calibrate`` on windows (N, L, K) in data units and the bool (N, L, K) targets to hide and score."""
        previous, self.spread_scale_ = self.spread_scale_, None  # draw unscaled
        try:
            draws = self._draw(np.where(target, np.nan, values), self.n_samples)  # (N, S, L, K)
            scale = spread_scale(draws, values, target, level, min_targets)
        except Exception:
            self.spread_scale_ = previous  # a failed calibration keeps the last one
            raise
        before = _coverage(draws, values, target, level)
        self.spread_scale_ = scale
        after = _coverage(rescale_spread(draws, scale), values, target, level)
        self.calibration_ = {"level": level, "targets": int(target.sum()), "coverage_before": before,
                             "coverage_after": after, "sampler": self.sampler, "sample_steps": self.sample_steps,
                             "n_samples": self.n_samples}  # fmt: skip
        return self

    # --- persistence -----------------------------------------------------------------------------------------
    def _meta(self) -> dict:
        return {
            "task": "imputation",
            "model_kind": self.model_.describe(),
            "schedule": self.schedule_.to_dict(),
            "scaler": self.scaler_.to_dict(),
            "columns": [str(c) for c in self.columns_],
            "labeled": self.labeled_,
            "params": self.get_params(),
            "seq_len": self.seq_len_,
            "spread_scale": None if self.spread_scale_ is None else [float(v) for v in self.spread_scale_],
            "calibration": None if self.spread_scale_ is None else self.calibration_,
        }

    def save(self, path: str | Path) -> Path:
        """Write the fitted imputer (weights, config, schedule, scaler, feature names) to one checkpoint file."""
        if not hasattr(self, "model_"):
            raise RuntimeError("nothing to save: the imputer is not fitted")
        return save_checkpoint(path, {**self._meta(), "model": self.model_.state_dict()})

    @classmethod
    def load(cls, path: str | Path, **overrides) -> DiffusionImputer:
        """Read an imputer written by ``save`` (or a training checkpoint of ``fit``); ``overrides`` set params
        such as the sampler or the number of samples."""
        state = load_checkpoint(
            path,
            task=("imputation", "an imputation model"),
            required=("model", "model_kind", "schedule", "scaler", "columns", "params", "seq_len"),
        )
        self = restore_params(cls, state, overrides, path)
        self.model_ = load_model(state, path)
        self.schedule_ = Schedule.from_dict(state["schedule"])
        self.scaler_ = FeatureScaler.from_dict(state["scaler"])
        self.columns_ = list(state["columns"])
        if self.model_.config.n_features != len(self.columns_):
            raise CheckpointError(f"{path}: the network takes {self.model_.config.n_features} features but the "
                                  f"file names {len(self.columns_)} columns")  # fmt: skip
        k = (len(self.columns_),)
        scaler = self.scaler_
        check_shapes(path, **{f"scaler {n}": (getattr(scaler, n), k) for n in ("mean", "std", "low", "high")
                              if getattr(scaler, n) is not None})  # fmt: skip
        self.labeled_ = bool(state.get("labeled", True))
        self.n_features_in_ = len(self.columns_)
        self.seq_len_ = int(state["seq_len"])
        scale = state.get("spread_scale")  # absent in checkpoints written before calibrate() existed
        if state.get("calibration"):
            self.calibration_ = dict(state["calibration"])
        self.spread_scale_ = None if scale is None else np.asarray(scale, dtype=np.float64)
        if self.spread_scale_ is not None and self.spread_scale_.shape != (self.n_features_in_,):
            raise CheckpointError(f"{path}: spread_scale has {self.spread_scale_.shape} entries for "
                                  f"{self.n_features_in_} features")  # fmt: skip
        return self


def _coverage(draws: np.ndarray, truth: np.ndarray, mask: np.ndarray, level: float) -> float:
    """``metrics.interval_coverage`` of draws (N, S, L, K) on the masked entries of truth (N, L, K)."""
    samples = torch.from_numpy(draws.transpose(1, 0, 2, 3))
    return interval_coverage(samples, torch.from_numpy(np.nan_to_num(truth)), torch.from_numpy(mask), level)
