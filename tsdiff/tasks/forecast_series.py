"""Probabilistic forecasts of multivariate series with the imputation model: the future as missing values.

A ``DiffusionImputer`` trained with ``mask_strategy="forecast"`` learns to fill the last ``horizon`` steps of a
window from the steps before them (CSDI's forecasting setting, Tashiro et al. 2021, sec. 6.3). ``forecast`` takes
the last ``seq_len - horizon`` rows of a series as context, appends ``horizon`` empty rows, and draws ``members``
continuations in one batched pass.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import xarray as xr

from ..checks import whole_number
from ..data.adapters import check_index, regular_freq
from .impute import DiffusionImputer

__all__ = ["forecast", "fit_forecaster", "DEFAULTS"]

# fit_forecaster's recipe (measured in benchmarks/forecast_series.py): a window starting at every row, each centred on
# its context's level, the last observed value carried into the horizon as an input channel (the interpolated input
# of tsdiff.models.csdi), and a fixed number of optimizer steps (a budget that does not grow with the series: about
# 6.5 minutes on 2 CPU cores for 10 columns and a 96-step window); the imputation recipe's small model and optimizer
DEFAULTS = dict(
    preset="small",
    model_options={"interpolated_input": True},
    max_steps=3000,
    batch_size=16,
    lr=2e-3,
    lr_decay="cosine",
    warmup_steps=50,
    sampler="ddim",
    sample_steps=10,
    center_windows=True,
    train_stride=1,
)


def fit_forecaster(df: pd.DataFrame, horizon: int, seq_len: int | None = None, **params) -> DiffusionImputer:
    """A DiffusionImputer trained to fill the last ``horizon`` steps (default window: max(48, 4 horizon)).

    ``params`` go to the DiffusionImputer over ``DEFAULTS``; ``epochs`` given without ``max_steps`` replaces the
    default budget of steps by passes over the windows."""
    _check_horizon(horizon)
    _check_names(df)
    if isinstance(getattr(df, "index", None), pd.PeriodIndex):  # forecast() extends datetimes, not periods
        raise ValueError("a PeriodIndex cannot be extended into the future: use df.to_timestamp() first")
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1, got {horizon}")
    seq_len = max(48, 4 * horizon) if seq_len is None else seq_len
    if horizon >= seq_len:
        raise ValueError(f"horizon ({horizon}) must be shorter than the window ({seq_len})")
    if len(df) < seq_len:  # a shorter series is padded: every target would be padding and nothing learnt
        raise ValueError(
            f"the series has {len(df)} rows, fewer than one window of {seq_len} (context + horizon {horizon}): "
            "pass a shorter seq_len or a smaller horizon"
        )
    params = {**DEFAULTS, **({"max_steps": None} if "epochs" in params else {}), **params}
    return DiffusionImputer(seq_len=seq_len, mask_strategy="forecast", horizon=horizon, **params).fit(df)


def _check_horizon(horizon) -> None:
    whole_number(horizon, "horizon", unit=" of steps", error=TypeError)


def _check_names(df) -> None:
    """The names ``forecast`` gives its variables: each column's string, beside ``<name>_quantiles`` and the
    coordinates time, member and quantile; two columns may not end up with one name."""
    if not isinstance(df, pd.DataFrame):
        return
    names = [str(c) for c in df.columns]
    taken = {"time", "member", "quantile"} | {f"{n}_quantiles" for n in names}
    clash = sorted({n for n in names if n in taken} | {n for n in names if names.count(n) > 1})
    if clash:
        raise ValueError(
            f"columns {clash} clash with the forecast's names (each column's string, <name>_quantiles, time, member, "
            "quantile): rename them"
        )


def _future_index(index: pd.Index, horizon: int) -> pd.Index:
    if isinstance(index, pd.DatetimeIndex):
        freq = regular_freq(index)
        if freq is None:
            raise ValueError("the time index has no regular frequency: resample it (df.resample(...)) to forecast")
        return pd.date_range(index[-1], periods=horizon + 1, freq=freq)[1:].rename(index.name)
    if pd.api.types.is_integer_dtype(index):
        steps = np.unique(np.diff(index.to_numpy()))
        if len(steps) > 1:
            raise ValueError(
                f"the integer index is not evenly spaced (steps {steps[:5].tolist()}): reindex it to forecast"
            )
        step = int(steps[0]) if len(steps) else 1
        return pd.Index(index[-1] + step * np.arange(1, horizon + 1), name=index.name)
    raise ValueError(f"cannot extend an index of type {type(index).__name__}: use a DatetimeIndex or integers")


def forecast(
    model: DiffusionImputer,
    df: pd.DataFrame,
    horizon: int | None = None,
    members: int = 50,
    quantiles=(0.05, 0.5, 0.95),
) -> xr.Dataset:
    """Ensemble forecast of the ``horizon`` steps after ``df``: an xarray Dataset with each variable on
    (member, time) and its quantiles on (quantile, time); attributes record the horizon and the context."""
    if not hasattr(model, "model_"):
        raise RuntimeError("the forecaster is not fitted")
    horizon = model.horizon if horizon is None else horizon
    if horizon is not None:
        _check_horizon(horizon)
    if horizon is None or not 1 <= horizon < model.seq_len_:
        raise ValueError(f"horizon must be in [1, {model.seq_len_ - 1}] for this model, got {horizon}")
    if model.horizon is not None and horizon > model.horizon:  # it never learnt to fill a longer end block
        raise ValueError(f"horizon {horizon} is longer than the {model.horizon} steps the model was trained for")
    members = whole_number(members, "members", 1)
    if not isinstance(df, pd.DataFrame):
        raise TypeError("forecast takes a DataFrame with a time index")
    check_index(df.index, warn_uneven=False)  # sorted, no duplicates
    future = _future_index(df.index, horizon)  # a regular step, or an error (not the imputer's spacing warning)
    model._check_fitted_input(df)  # columns as in fit, numbers without inf
    _check_names(df)
    context = df.iloc[-(model.seq_len_ - horizon) :]
    observed = context.notna().sum()  # per column
    if observed.sum() == 0:
        raise ValueError("the context window before the forecast has no observed value")
    empty = [str(c) for c, n in observed.items() if n == 0]
    if empty:  # legitimate (the other columns inform them), but worth knowing
        warnings.warn(
            f"columns {empty} have no observed value in the context window ({context.index[0]} to "
            f"{context.index[-1]}): their forecast rests on the other columns alone",
            stacklevel=2,
        )
    # (L, K): a context shorter than training's is padded with missing rows in front, so the horizon stays last
    k = df.shape[1]
    pad = np.full((model.seq_len_ - horizon - len(context), k), np.nan)
    window = np.concatenate([pad, context.to_numpy(dtype=np.float64, na_value=np.nan), np.full((horizon, k), np.nan)])
    draws = model.sample(window[None], n_samples=members)[0, :, -horizon:]  # (M, H, K)
    names = [str(c) for c in df.columns]
    ds = xr.Dataset(
        {name: (("member", "time"), draws[:, :, k]) for k, name in enumerate(names)},
        coords={"member": np.arange(members), "time": future.rename("time")},  # whatever the index's own name
    )
    q = ds.quantile(list(quantiles), dim="member")
    for name in names:
        ds[f"{name}_quantiles"] = q[name]
    ds.attrs.update(
        horizon=horizon,
        members=members,
        context_start=str(context.index[0]),
        context_end=str(context.index[-1]),
        source="tsdiff forecast (CSDI-style conditional diffusion)",
    )
    return ds
