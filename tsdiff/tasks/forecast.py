"""Probabilistic ensemble forecasts of gridded fields with a conditional DiT, in the manner of GenCast
(Price et al., Nature 2025).

    fc = EnsembleForecaster().fit(ds.sel(time=slice(None, "2017-01-24")))        # xarray Dataset (time, lat, lon)
    ens = fc.predict(ds, init_times=ds.time[-24::6], lead_times=["1h", "3h", "6h"], members=50, seed=0)
    ens.to_netcdf("ens.nc")                                  # dims (time, member, lead_time, lat, lon)

The model learns p(x(t + step) - x(t) | x(t), x(t - step), masks, static fields, hour of day, day of year): the
target is the one-step residual less its training mean at the hour of day, in units of each cell's training
spread about that mean (``residual="anomaly"``: a draw of 0 is "persistence + diurnal", a standard normal draw the
calibrated noise baseline; ``residual="change"`` draws the step change normalised per channel, as GenCast); inputs
are normalised per channel; NaN cells (no data) enter as zeros with a mask channel and are left out of the loss.
One more input block is the training period's mean residual for the hour of day of x(t) (per channel and cell: the
diurnal cycle), so that the network learns the departure from it rather than the cycle itself from a few weeks of
data. The noise levels and
network preconditioning are EDM's with sigma_data = 1 (Karras et al. 2022), which in tsdiff's variance-preserving
terms is v-prediction with uniform weighting on a Karras schedule and log-normal training noise levels. Forecasts
roll out autoregressively, all members and init times in one batch, each step drawn by the core's stochastic-churn
Heun sampler (GenCast's S_churn 2.5; S_noise 1.1 and 10 steps by default where GenCast uses 1.05 and 20: on WFDE5
1.1 lifted the 6-hour spread-skill ratio from 0.77-0.81 to 0.81-0.87 at unchanged CRPS). Cells without data at the
initial time stay NaN.

``probabilistic=False`` trains the same network deterministically (MSE on the residual): the "deterministic model"
baseline, which returns one member.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr
from tqdm.auto import tqdm

from ..accel import autocast, compile_model
from ..checkpoint import CheckpointError, check_shapes, load_checkpoint, load_model, restore_params, save_checkpoint
from ..checks import whole_number
from ..core import Condition, Schedule, denoising_loss, get_schedule, masked_mse, sample
from ..core.random import randn
from ..data.frames import Frames, grid_statistics, read_frames
from ..data.grid import GridSpec, check_grid, ensemble_dataset, grid_step, init_indices, is_global
from ..models.dit import DiTConfig, DiTDenoiser
from ..training import TrainConfig, resolve_device, train

__all__ = ["EnsembleForecaster", "parse_lead_times"]

N_SCALARS = 4  # sin/cos of hour of day and of day of year of the valid time
VALIDATION_Z = (-1.5, -0.75, 0.0, 0.75, 1.5)  # validation noise levels: exp(p_mean + p_std * z)
VALIDATE_EVERY_EPOCHS = 2
RESIDUALS = ("change", "anomaly")  # what the diffusion model draws: see EnsembleForecaster's docstring
COND_GROUPS = 4  # conditioning channels per field channel (``_side``), before the static fields


def parse_lead_times(lead_times, step: pd.Timedelta) -> list[pd.Timedelta]:
    """ "1h,3h" / ["1h", "6h"] / timedeltas -> sorted unique positive multiples of ``step`` (else an error)."""
    if isinstance(lead_times, str):
        lead_times = [s for s in lead_times.split(",") if s.strip()]
    try:
        leads = sorted({pd.Timedelta(v) for v in np.atleast_1d(lead_times).tolist()})  # tolist: Python scalars
    except ValueError as err:
        raise ValueError(f"lead_times must be durations such as '1h' or '1h,3h', got {lead_times!r}: {err}") from err
    if not leads:
        raise ValueError("lead_times is empty")
    for lead in leads:
        if lead <= pd.Timedelta(0) or lead % step != pd.Timedelta(0):
            raise ValueError(f"lead time {lead} is not a positive multiple of the model's step {step}")
    return leads


def time_scalars(times: pd.DatetimeIndex) -> np.ndarray:
    """(N,) valid times -> (N, 4): sin/cos of the hour of day and of the day of year."""
    hour = 2 * np.pi * (times.hour + times.minute / 60) / 24
    day = 2 * np.pi * (times.day_of_year - 1 + times.hour / 24) / 365.25
    return np.stack([np.sin(hour), np.cos(hour), np.sin(day), np.cos(day)], axis=1).astype(np.float32)


class _Triples:
    """Training rows for ``train``: row i is the time t = stride + i, served as the frames at t - stride, t and
    t + stride (B, C, H, W) with NaN, the hour of day of t (B,) and the time scalars of t + stride (B, 4), on
    ``device``. Frames are read per batch, so a lazy store is streamed rather than loaded."""

    def __init__(self, frames: Frames, stride: int, times: pd.DatetimeIndex, device: torch.device):
        self.frames, self.stride, self.device = frames, stride, device
        self.hours = torch.from_numpy(times.hour.values.astype(np.int64))
        self.scalars = torch.from_numpy(time_scalars(times))  # (T, 4): each time as a valid time

    def __len__(self) -> int:
        return len(self.frames) - 2 * self.stride

    def take(self, rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
        t = rows.numpy() + self.stride
        n = len(t)
        x = torch.from_numpy(self.frames.take(np.concatenate([t - self.stride, t, t + self.stride])))
        x = x.to(self.device, non_blocking=True)
        t = torch.from_numpy(t)
        return (
            x[:n],
            x[n : 2 * n],
            x[2 * n :],
            self.hours[t].to(self.device),
            self.scalars[t + self.stride].to(self.device),
        )


class _Subset:
    """The rows ``rows`` of a row source (``_Triples``), as a row source."""

    def __init__(self, source, rows: torch.Tensor):
        self.source, self.rows = source, rows

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.source.take(self.rows[rows])


class EnsembleForecaster:
    """Gridded ensemble forecaster (GenCast-style residual diffusion with a DiT).

    step             model time step (default: the data's); lead times must be multiples of it
    variables        data variables to forecast (default: all)
    width, depth, heads, patch, mlp_ratio, dropout
                     the DiT (defaults sized for a 2-core CPU: about 1.3 M parameters)
    probabilistic    False trains the deterministic (MSE) model of the same architecture
    epochs, batch_size, lr, weight_decay, warmup_steps, lr_decay, grad_clip, ema_decay
                     training (AdamW, cosine decay, EMA weights used for forecasting)
    sigma_min, sigma_max, p_mean, p_std
                     EDM noise levels: the Karras schedule's range, log-normal training levels N(p_mean, p_std^2)
    sampler, sample_steps, s_churn, s_noise
                     the core sampler for each roll-out step: stochastic-churn Heun (GenCast: S_churn 2.5,
                     S_noise 1.05, 20 steps; here S_noise 1.1 for calibration and 10 steps, for CPUs)
    residual         what the diffusion model draws: "anomaly" (the step change x(t + step) - x(t) less its
                     training mean at the hour of day, in units of each cell's spread about it: a draw of 0 is
                     persistence + the diurnal mean, a standard normal draw the calibrated noise baseline, so the
                     network learns what it adds) or "change" (GenCast: the step change, per variable normalised)
    validation_period
                     e.g. "3D": hold out the last 3 days of the fit data, score the EMA weights on them every
                     2 epochs (the denoising loss at 5 fixed noise levels with fixed noise; MSE for the
                     deterministic model) and keep the best weights rather than the last (default None: the last)
    max_batch        rows (init times x members) per forward pass: bounds memory
    seed, device, progress
    amp, compile     fast path (``tsdiff.accel``): bf16 autocast for training and sampling (True: on CUDA only;
                     "bf16": on a CPU too, where it pays with bf16 hardware (``accel.native_bf16``) and ``compile``),
                     and an optional ``torch.compile`` mode for the denoiser ("default", "reduce-overhead" ...)
    """

    def __init__(
        self,
        step=None,
        variables=None,
        width: int = 128,
        depth: int = 4,
        heads: int = 4,
        patch: int = 2,
        mlp_ratio: float = 4.0,
        dropout: float = 0.0,
        probabilistic: bool = True,
        epochs: float = 40,
        batch_size: int = 16,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        warmup_steps: int = 100,
        lr_decay: str = "cosine",
        grad_clip: float | None = 1.0,
        ema_decay: float | None = 0.998,
        sigma_min: float = 0.02,
        sigma_max: float = 80.0,
        p_mean: float = -1.2,
        p_std: float = 1.2,
        sampler: str = "heun",
        sample_steps: int = 10,
        s_churn: float = 2.5,
        s_noise: float = 1.1,
        validation_period=None,
        residual: str = "anomaly",
        max_batch: int = 512,
        seed: int = 0,
        device: str | None = None,
        amp: bool | str = True,
        compile: str | None = None,
        progress: bool = True,
    ):
        self.step = step
        self.variables = variables
        self.width, self.depth, self.heads, self.patch, self.mlp_ratio = width, depth, heads, patch, mlp_ratio
        self.dropout = dropout
        self.probabilistic = probabilistic
        self.epochs, self.batch_size, self.lr, self.weight_decay = epochs, batch_size, lr, weight_decay
        self.warmup_steps, self.lr_decay, self.grad_clip, self.ema_decay = warmup_steps, lr_decay, grad_clip, ema_decay
        self.sigma_min, self.sigma_max, self.p_mean, self.p_std = sigma_min, sigma_max, p_mean, p_std
        self.sampler, self.sample_steps, self.s_churn, self.s_noise = sampler, sample_steps, s_churn, s_noise
        self.validation_period = validation_period
        self.residual = residual
        self.max_batch, self.seed, self.device, self.progress = max_batch, seed, device, progress
        self.amp, self.compile = amp, compile

    def get_params(self) -> dict:
        names = self.__init__.__code__.co_varnames[1 : self.__init__.__code__.co_argcount]
        params = {k: getattr(self, k) for k in names}
        params["step"] = None if self.step is None else str(pd.Timedelta(self.step))
        if self.validation_period is not None:
            params["validation_period"] = str(pd.Timedelta(self.validation_period))
        return params

    # --- data ---------------------------------------------------------------------------------------------------
    def _static(self, static, spec: GridSpec) -> np.ndarray:
        """Static fields (S, H, W), normalised, NaN -> 0; None -> (0, H, W)."""
        if static is None:
            return np.zeros((0, *spec.shape), dtype=np.float32)
        if isinstance(static, xr.DataArray):
            static = static.to_dataset(name=static.name or "static")
        fields = []
        for name in static.data_vars:
            da = static[name]
            if set(da.dims) != {spec.lat, spec.lon}:
                raise ValueError(f"static field {name!r} must have dims ({spec.lat}, {spec.lon}), got {da.dims}")
            for dim, values in ((spec.lat, spec.lat_values), (spec.lon, spec.lon_values)):
                if dim in da.coords and values is not None:  # matched by coordinate, in the grid's order
                    try:
                        da = da.sel({dim: list(values)}, method="nearest", tolerance=1e-6)
                    except KeyError as err:
                        raise ValueError(f"static field {name!r}: its `{dim}` values are not the grid's") from err
            v = da.transpose(spec.lat, spec.lon).values.astype(np.float64)
            if v.shape != spec.shape:
                raise ValueError(f"static field {name!r} has shape {v.shape}, the grid is {spec.shape}")
            if np.isinf(v).any() or np.isnan(v).all():
                raise ValueError(f"static field {name!r} holds inf or no value at all")
            sd = np.nanstd(v)
            fields.append(np.nan_to_num((v - np.nanmean(v)) / (sd if sd > 0 else 1.0)))
        return np.stack(fields).astype(np.float32)

    def _side(self, z_cur: torch.Tensor, z_prev: torch.Tensor, hours: torch.Tensor) -> torch.Tensor:
        """Normalised states (N, C, H, W) with NaN and the hour of day of z_cur (N,) -> conditioning channels
        (N, 4C + S, H, W): x(t), x(t - step), the data mask, the mean residual at that hour, static fields."""
        static = self.static_.to(z_cur).expand(z_cur.shape[0], -1, -1, -1)
        mask = torch.isfinite(z_cur).to(z_cur.dtype)
        diurnal = self.diurnal_.to(z_cur)[hours.long()]
        return torch.cat([torch.nan_to_num(z_cur), torch.nan_to_num(z_prev), mask, diurnal, static], dim=1)

    def _anomaly(self, hours: torch.Tensor, like: torch.Tensor):
        """(offset (N, C, H, W), scale (C, H, W)) with drawn = (change / res_std - offset) / scale, for changes
        starting at ``hours`` (N,): 0 and 1 for residual="change"."""
        if self.residual == "change":
            return 0.0, 1.0
        return self.diurnal_.to(like)[hours.long()], self.cell_scale_.to(like)

    # --- training -----------------------------------------------------------------------------------------------
    def fit(self, ds, static=None, checkpoint=None, resume: bool = False, callback=None) -> EnsembleForecaster:
        """Train on every (t - step, t, t + step) triple of ``ds`` (all of it is training data).

        static: optional Dataset/DataArray of (lat, lon) fields (orography, land-sea mask ...).
        ``ds`` may be lazy (``tsdiff.data.frames.open_grid``, dask): it is then read in time blocks for the
        statistics and a batch at a time for training, never loaded whole."""
        if self.residual not in RESIDUALS:
            raise ValueError(f"residual must be one of {RESIDUALS}, got {self.residual!r}")
        data, spec = check_grid(ds, self.variables, "fit data")
        step = grid_step(data, "fit data")
        model_step = pd.Timedelta(self.step) if self.step is not None else step
        if model_step <= pd.Timedelta(0):
            raise ValueError(f"step must be a positive duration, got {self.step!r}")
        if model_step % step != pd.Timedelta(0):
            raise ValueError(f"step {model_step} is not a multiple of the data's time step {step}")
        self.step_ = model_step
        stride = int(self.step_ / step)
        frames = Frames(data, spec)  # in memory, or read a batch at a time from a lazy store
        if len(frames) < 2 * stride + 1:
            raise ValueError(f"fit data: need at least {2 * stride + 1} time stamps for step {self.step_}")
        self.spec_ = spec
        times = pd.DatetimeIndex(data["time"].values)
        hours = times.hour.values
        stats = grid_statistics(frames, stride, hours)
        for name, s in (("values", stats["std"]), ("one-step changes", stats["res_std"])):
            bad = [spec.channels[i] for i in np.flatnonzero(~(s > 0))]
            if bad:
                raise ValueError(f"fit data: channels {bad} have constant {name}: nothing to learn or normalise")
        self.mean_, self.std_, self.res_std_ = stats["mean"], stats["std"], stats["res_std"]
        # mean normalised step change per hour of day of its start (24, C, H, W); 0 where a cell has no data
        self.diurnal_ = torch.from_numpy(stats["diurnal"])
        self.cell_scale_ = torch.from_numpy(stats["cell_scale"])
        self.static_ = torch.from_numpy(self._static(static, spec))
        self.periodic_lon_ = is_global(data[spec.lon].values)
        device = resolve_device(self.device)

        c = len(spec.channels)
        config = DiTConfig(
            in_channels=c,
            cond_channels=COND_GROUPS * c + self.static_.shape[0],
            patch=self.patch,
            width=self.width,
            depth=self.depth,
            heads=self.heads,
            mlp_ratio=self.mlp_ratio,
            dropout=self.dropout,
            n_scalars=N_SCALARS,
            periodic_lon=self.periodic_lon_,
            parameterization="v",
        )
        torch.manual_seed(self.seed)
        self.model_ = DiTDenoiser(config)
        self.schedule_ = get_schedule("edm", 1000, sigma_min=self.sigma_min, sigma_max=self.sigma_max)

        source = _Triples(frames, stride, times, device)
        source, held_out = self._split(source, times, stride)
        mean, std, res_std = (
            torch.tensor(v, dtype=torch.float32, device=device)[:, None, None]
            for v in (self.mean_, self.std_, self.res_std_)
        )
        schedule, probabilistic = self.schedule_, self.probabilistic
        p_mean, p_std = self.p_mean, self.p_std

        def loss_fn(net, batch, generator, sigma=None):
            before, now, after, hour, scalars = batch  # frames (B, C, H, W) at t - s, t, t + s with NaN
            offset, scale = self._anomaly(hour, now)
            y = ((after - now) / res_std - offset) / scale  # the normalised residual to predict
            mask = torch.isfinite(y)
            side = self._side((now - mean) / std, (before - mean) / std, hour)
            condition = Condition(target_mask=mask, side=side, scalars=scalars)
            y = torch.nan_to_num(y)
            if not probabilistic:
                zero_t = torch.zeros(y.shape[0], device=device)
                return masked_mse(net(torch.zeros_like(y), zero_t, condition), y, mask)
            if sigma is None:
                sigma = (p_mean + p_std * randn((y.shape[0],), generator, device, torch.float64)).exp()
            steps = schedule.sigma_to_t(sigma.cpu()).round().long().clamp(0, schedule.n_steps - 1)
            return denoising_loss(net, y, schedule, condition, t=steps.to(device), generator=generator)

        validate_every = max(1, round(VALIDATE_EVERY_EPOCHS * len(source) / self.batch_size))  # steps
        config = TrainConfig(
            epochs=self.epochs,
            batch_size=self.batch_size,
            lr=self.lr,
            weight_decay=self.weight_decay,
            warmup_steps=self.warmup_steps,
            lr_decay=self.lr_decay,
            grad_clip=self.grad_clip,
            ema_decay=self.ema_decay,
            seed=self.seed,
            progress=self.progress,
            device=self.device,
            amp=self.amp,
            compile=self.compile,
            validate_every=0 if held_out is None else validate_every,
        )
        levels = [None]  # the deterministic model's MSE does not depend on a noise level
        if probabilistic:
            levels = [torch.full((1,), float(np.exp(p_mean + p_std * z)), dtype=torch.float64) for z in VALIDATION_Z]

        held_batches = []  # read once, at the first validation, not at every one

        def validate(net) -> float:
            """Mean loss over the held-out triples at fixed noise levels, with the same noise at every call."""
            if not held_batches:
                held_batches.extend(held_out.take(rows) for rows in torch.arange(len(held_out)).split(self.batch_size))
            generator = torch.Generator(device=device).manual_seed(self.seed)
            total = 0.0
            for batch in held_batches:
                n = batch[0].shape[0]
                for sigma in levels:
                    with autocast(device, self.amp):
                        loss = loss_fn(net, batch, generator, None if sigma is None else sigma.expand(n))
                    total += float(loss) * n
            return total / (len(held_out) * len(levels))

        self.train_result_ = train(
            self.model_,
            source,
            loss_fn,
            config,
            checkpoint=checkpoint,
            resume=resume,
            meta=self._meta(),
            callback=callback,
            validate=None if held_out is None else validate,
        )
        self.train_result_.copy_to(self.model_)  # the best on the held-out period, else the EMA's
        self.model_.eval()
        return self

    def _split(self, source: _Triples, times: pd.DatetimeIndex, stride: int):
        """(training rows, held-out rows or None): a triple is held out when all its frames fall in the last
        ``validation_period`` of the data, trained on when none does."""
        if self.validation_period is None:
            return source, None
        period = pd.Timedelta(self.validation_period)
        if period <= pd.Timedelta(0):
            raise ValueError(f"validation_period must be positive, got {self.validation_period!r}")
        held = np.asarray(times > times[-1] - period)
        first, last = np.arange(len(source)), np.arange(len(source)) + 2 * stride  # frame indices of each triple
        train_rows, held_rows = np.flatnonzero(~held[last]), np.flatnonzero(held[first])
        if len(held_rows) == 0 or len(train_rows) < 2:
            raise ValueError(
                f"validation_period {period} leaves {len(train_rows)} training and {len(held_rows)} held-out "
                f"(t - step, t, t + step) triples in data from {times[0]} to {times[-1]}; need >= 2 and >= 1"
            )
        return _Subset(source, torch.from_numpy(train_rows)), _Subset(source, torch.from_numpy(held_rows))

    # --- forecasting --------------------------------------------------------------------------------------------
    def predict(self, ds, init_times=None, lead_times=None, members: int = 10, seed: int = 0) -> xr.Dataset:
        """Ensemble forecasts from the states of ``ds`` at each init time (and one step before).

        init_times: times of ``ds`` to start from (default: the last one); lead_times: multiples of the step
        (default: one step). Returns a Dataset with dims (time, member, lead_time, [level,] lat, lon) per variable,
        the input's coordinates and attributes, a ``valid_time`` coordinate; one member when deterministic."""
        self._check_fitted()
        data, spec = check_grid(ds, list(self.spec_.variables), "predict data")
        problem = spec.mismatch(self.spec_)
        if problem:
            raise ValueError(f"predict data: {problem}")
        members = whole_number(members, "members", 1)
        if not self.probabilistic:
            members = 1
        leads = parse_lead_times(lead_times if lead_times is not None else [self.step_], self.step_)
        n_steps = int(leads[-1] / self.step_)
        inits, where, prev = init_indices(data, init_times, history=self.step_)
        device = next(self.model_.parameters()).device
        res_std = torch.as_tensor(self.res_std_, dtype=torch.float32, device=device)[:, None, None]
        mean = torch.as_tensor(self.mean_, dtype=torch.float32, device=device)[:, None, None]
        std = torch.as_tensor(self.std_, dtype=torch.float32, device=device)[:, None, None]

        # rows = init times x members, member fastest; (I * M, C, H, W) in physical units
        cur_all = torch.from_numpy(read_frames(data, spec, where)).repeat_interleave(members, 0)
        prev_all = torch.from_numpy(read_frames(data, spec, prev)).repeat_interleave(members, 0)
        row_inits = inits.repeat(members)
        keep = [int(lead / self.step_) for lead in leads]
        out = np.empty((len(inits) * members, len(leads), *cur_all.shape[1:]), dtype=np.float32)
        generator = torch.Generator(device=device).manual_seed(int(seed))
        n_rows = cur_all.shape[0]
        bar = tqdm(total=n_rows * n_steps, disable=not self.progress, desc="forecast", unit="member-step")
        for lo in range(0, n_rows, self.max_batch):
            hi = min(lo + self.max_batch, n_rows)
            cur, before = cur_all[lo:hi].to(device), prev_all[lo:hi].to(device)
            for k in range(1, n_steps + 1):
                valid = pd.DatetimeIndex(row_inits[lo:hi]) + k * self.step_
                now = torch.from_numpy((valid - self.step_).hour.values.astype(np.int64)).to(device)
                condition = Condition(
                    side=self._side((cur - mean) / std, (before - mean) / std, now),
                    scalars=torch.from_numpy(time_scalars(valid)).to(device),
                )
                offset, scale = self._anomaly(now, cur)
                residual = self._draw(condition, cur.shape, generator) * scale + offset
                cur, before = cur + residual * res_std, cur  # NaN cells stay NaN
                if k in keep:
                    out[lo:hi, keep.index(k)] = cur.cpu().numpy()
                bar.update(hi - lo)
        bar.close()
        out = out.reshape(len(inits), members, len(leads), *cur_all.shape[1:])  # (I, M, lead, C, H, W)
        kind = "diffusion DiT ensemble" if self.probabilistic else "deterministic DiT"
        return ensemble_dataset(out, data, spec, inits, leads, tsdiff_model=kind)

    @torch.no_grad()
    def _draw(self, condition: Condition, shape, generator) -> torch.Tensor:
        device = condition.side.device
        model = compile_model(self.model_, self.compile)
        with autocast(device, self.amp):
            if not self.probabilistic:
                zeros = torch.zeros(shape, device=device)
                return model(zeros, torch.zeros(shape[0], device=device), condition).float()
            options = {"s_churn": self.s_churn, "s_noise": self.s_noise} if self.sampler == "heun" else {}
            return sample(
                model,
                shape,
                self.schedule_,
                sampler=self.sampler,
                steps=self.sample_steps,
                condition=condition,
                generator=generator,
                spacing="karras",
                **options,
            )

    # --- persistence --------------------------------------------------------------------------------------------
    def _check_fitted(self):
        if not hasattr(self, "model_"):
            raise RuntimeError("EnsembleForecaster is not fitted: call fit(ds) or EnsembleForecaster.load(path)")

    def _meta(self) -> dict:
        return {
            "task": "grid_forecast",
            "model_kind": self.model_.describe(),
            "schedule": self.schedule_.to_dict(),
            "grid": self.spec_.to_dict(),
            "params": self.get_params(),
            "step": str(self.step_),
            "mean": self.mean_.tolist(),
            "std": self.std_.tolist(),
            "res_std": self.res_std_.tolist(),
            "static": self.static_,
            "diurnal": self.diurnal_,
            "cell_scale": self.cell_scale_,
            "periodic_lon": self.periodic_lon_,
        }

    def save(self, path) -> Path:
        """One self-describing checkpoint: weights, DiT config, schedule, grid, normalisation, static fields."""
        self._check_fitted()
        return save_checkpoint(path, {**self._meta(), "model": self.model_.state_dict()})

    @classmethod
    def load(cls, path, **overrides) -> EnsembleForecaster:
        """Read a forecaster written by ``save``; ``overrides`` change sampling params (sampler, sample_steps ...)."""
        state = load_checkpoint(
            path,
            task=("grid_forecast", "a gridded forecaster"),
            required=(
                "model",
                "model_kind",
                "grid",
                "params",
                "schedule",
                "step",
                "mean",
                "std",
                "res_std",
                "static",
                "diurnal",
                "periodic_lon",
            ),
        )
        if isinstance(state["params"], dict) and "residual" not in state["params"]:  # written before the option
            state = {**state, "params": {**state["params"], "residual": "change"}}
        self = restore_params(cls, state, overrides, path)
        self.model_ = load_model(state, path).to(resolve_device(self.device))
        self.schedule_ = Schedule.from_dict(state["schedule"])
        self.spec_ = GridSpec.from_dict(state["grid"])
        self.step_ = pd.Timedelta(state["step"])
        self.mean_, self.std_ = np.asarray(state["mean"]), np.asarray(state["std"])
        self.res_std_ = np.asarray(state["res_std"])
        self.static_ = state["static"]
        self.diurnal_ = state["diurnal"]
        self.cell_scale_ = state.get("cell_scale", torch.ones(self.diurnal_.shape[1:]))  # older checkpoints
        self.periodic_lon_ = bool(state["periodic_lon"])
        c, grid = len(self.spec_.channels), tuple(self.spec_.shape)
        config = self.model_.config
        if config.in_channels != c:
            raise CheckpointError(f"{path}: the network takes {config.in_channels} channels, the grid names {c}")
        check_shapes(
            path,
            **{name: (getattr(self, f"{name}_"), (c,)) for name in ("mean", "std", "res_std")},
            diurnal=(self.diurnal_, (24, c, *grid)),
            cell_scale=(self.cell_scale_, (c, *grid)),
            static=(self.static_, (config.cond_channels - COND_GROUPS * c, *grid)),
        )
        return self
