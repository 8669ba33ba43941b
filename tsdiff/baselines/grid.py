"""Baselines for gridded forecasts, each returning the same Dataset as ``EnsembleForecaster.predict`` (dims time,
member, lead_time, [level,] lat, lon; one member for the deterministic ones).

    persistence              x(init) at every lead
    hourly_climatology       the training mean at the valid time's hour of day
    persistence_diurnal      x(init) + the training mean of x(t + lead) - x(t) over t at the init's hour of day
    persistence_noise        persistence_diurnal + Gaussian noise whose standard deviation (per hour of day, lead,
                             channel and cell) is that of persistence_diurnal's errors on the training data: a
                             calibrated ensemble that knows nothing about the weather of the day
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from ..data.grid import check_grid, ensemble_dataset, grid_step, init_indices, mean_by_hour

__all__ = [
    "diurnal_increment",
    "persistence",
    "hourly_climatology",
    "persistence_diurnal",
    "persistence_noise",
    "GRID_BASELINES",
]


def _setup(train, ds, init_times, lead_times, variables):
    from ..tasks.forecast import parse_lead_times

    data, spec = check_grid(ds, variables, "data")
    step = grid_step(data, "data")
    leads = parse_lead_times(lead_times, step)
    inits, where = init_indices(data, init_times)
    tr = None
    if train is not None:
        tr_data, tr_spec = check_grid(train, list(spec.variables), "training data")
        if tr_spec.shape != spec.shape:
            raise ValueError(f"training grid {tr_spec.shape} differs from the forecast grid {spec.shape}")
        grid_step(tr_data, "training data")
        tr = (tr_data, tr_spec.to_array(tr_data), pd.DatetimeIndex(tr_data["time"].values))
    return data, spec, spec.to_array(data), inits, where, leads, tr


def diurnal_increment(x: np.ndarray, times: pd.DatetimeIndex, lead) -> tuple[np.ndarray, np.ndarray]:
    """The training increments x(t + lead) - x(t) by the hour of day of t: (mean, standard deviation about that
    mean), each (24, C, H, W) and NaN for hours that never occur or cells without data. ``x`` (T, C, H, W) at
    ``times``. The diurnal baselines' centre and spread."""
    later = times.get_indexer(times + pd.Timedelta(lead))
    ok = later >= 0
    hours, inc = times[ok].hour.values, x[later[ok]] - x[ok]
    mean = mean_by_hour(inc, hours, np.arange(24))
    sd = np.full_like(mean, np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for h in np.unique(hours):
            sd[h] = np.nanstd(inc[hours == h] - mean[h], axis=0, ddof=1)
    return mean, sd


def persistence(ds, init_times=None, lead_times=("1h",), variables=None):
    data, spec, x, inits, where, leads, _ = _setup(None, ds, init_times, lead_times, variables)
    out = np.repeat(x[where][:, None, None], len(leads), axis=2)  # (I, 1, n_lead, C, H, W)
    return ensemble_dataset(out, data, spec, inits, leads, tsdiff_model="persistence")


def hourly_climatology(train, ds, init_times=None, lead_times=("1h",), variables=None):
    data, spec, x, inits, where, leads, tr = _setup(train, ds, init_times, lead_times, variables)
    train_hours = tr[2].hour.values
    out = np.stack([mean_by_hour(tr[1], train_hours, (inits + lead).hour.values) for lead in leads], axis=1)
    return ensemble_dataset(out[:, None], data, spec, inits, leads, tsdiff_model="climatology by hour of day")


def persistence_diurnal(train, ds, init_times=None, lead_times=("1h",), variables=None):
    data, spec, x, inits, where, leads, tr = _setup(train, ds, init_times, lead_times, variables)
    out = [x[where] + diurnal_increment(tr[1], tr[2], lead)[0][inits.hour.values] for lead in leads]
    return ensemble_dataset(np.stack(out, 1)[:, None], data, spec, inits, leads, tsdiff_model="persistence + diurnal")


def persistence_noise(train, ds, init_times=None, lead_times=("1h",), members: int = 50, seed: int = 0, variables=None):
    if members < 1:
        raise ValueError(f"members must be >= 1, got {members}")
    data, spec, x, inits, where, leads, tr = _setup(train, ds, init_times, lead_times, variables)
    rng = np.random.default_rng(seed)
    out = np.empty((len(inits), members, len(leads), *x.shape[1:]), dtype=np.float32)
    for j, lead in enumerate(leads):
        mean, sd = diurnal_increment(tr[1], tr[2], lead)
        centre = x[where] + mean[inits.hour.values]  # (I, C, H, W)
        noise = rng.standard_normal((len(inits), members, *x.shape[1:])).astype(np.float32)
        out[:, :, j] = centre[:, None] + noise * sd[inits.hour.values][:, None]
    return ensemble_dataset(out, data, spec, inits, leads, tsdiff_model="persistence + diurnal + noise")


GRID_BASELINES = {
    "persistence": persistence,
    "climatology": hourly_climatology,
    "persistence+diurnal": persistence_diurnal,
    "persistence+noise": persistence_noise,
}
