"""Gridded data in and out: validate an xarray Dataset of fields and turn it into (time, channel, lat, lon) arrays.

A grid is an xarray Dataset (or DataArray) with dims ``time``, a latitude dim (``latitude`` or ``lat``), a longitude
dim (``longitude`` or ``lon``) and optionally ``level``; NaN means "no data" (e.g. ocean cells of a land-only field).
Each (variable, level) pair becomes one channel. Coordinates are kept exactly as given: descending latitudes,
longitudes in -180..180 or 0..360 are all fine, the output has the input's order and values. A grid whose
longitudes cover the whole circle is treated as periodic in longitude.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..metrics.grid import spatial_dims

__all__ = [
    "GridSpec",
    "check_grid",
    "grid_step",
    "is_global",
    "init_indices",
    "ensemble_dataset",
    "verifying_truth",
    "mean_by_hour",
    "is_lazy",
]

MEMBER_ALIASES = ("member", "number", "realization")


@dataclass(frozen=True)
class GridSpec:
    """What a fitted model needs to know about its grid: channel names, dims, shape and coordinate values."""

    variables: tuple[str, ...]
    levels: tuple | None  # values of the ``level`` dim, or None
    lat: str
    lon: str
    shape: tuple[int, int]  # (n_lat, n_lon)
    lat_values: tuple[float, ...] | None = None  # None in checkpoints written before they were stored
    lon_values: tuple[float, ...] | None = None

    def mismatch(self, fitted: GridSpec) -> str | None:
        """Why a model fitted on the grid ``fitted`` cannot run on this one (None when it can): other dims, shape,
        levels, or latitudes / longitudes that differ by more than 1e-6 degrees."""
        if (self.lat, self.lon, self.shape, self.levels) != (fitted.lat, fitted.lon, fitted.shape, fitted.levels):
            return (
                f"grid {self.lat} x {self.lon} {self.shape} (levels {self.levels}) differs from the fitted grid "
                f"{fitted.lat} x {fitted.lon} {fitted.shape} (levels {fitted.levels})"
            )
        for dim, mine, theirs in (
            (self.lat, self.lat_values, fitted.lat_values),
            (self.lon, self.lon_values, fitted.lon_values),
        ):
            if mine is not None and theirs is not None and not np.allclose(mine, theirs, rtol=0, atol=1e-6):
                at = int(np.argmax(~np.isclose(mine, theirs, rtol=0, atol=1e-6)))
                return f"`{dim}` values differ from the fitted grid's (position {at}: {mine[at]} vs {theirs[at]})"
        return None

    @property
    def channels(self) -> list[tuple[str, object]]:
        levels = self.levels if self.levels is not None else (None,)
        return [(v, lev) for v in self.variables for lev in levels]

    def to_array(self, ds: xr.Dataset) -> np.ndarray:
        """(time, channel, lat, lon) float32 with NaN where there is no data."""
        parts = []
        for var in self.variables:
            da = ds[var]
            if self.levels is not None:
                parts.append(da.transpose("time", "level", self.lat, self.lon).values)
            else:
                parts.append(da.transpose("time", self.lat, self.lon).values[:, None])
        return np.concatenate(parts, axis=1).astype(np.float32)

    def to_dict(self) -> dict:
        return {
            "variables": list(self.variables),
            "levels": None if self.levels is None else [_plain(v) for v in self.levels],
            "lat": self.lat,
            "lon": self.lon,
            "shape": list(self.shape),
            "lat_values": None if self.lat_values is None else list(self.lat_values),
            "lon_values": None if self.lon_values is None else list(self.lon_values),
        }

    @classmethod
    def from_dict(cls, d: dict) -> GridSpec:
        levels = None if d["levels"] is None else tuple(d["levels"])
        coords = {k: tuple(d[k]) for k in ("lat_values", "lon_values") if d.get(k) is not None}
        return cls(tuple(d["variables"]), levels, d["lat"], d["lon"], tuple(d["shape"]), **coords)


def _plain(v):
    return v.item() if hasattr(v, "item") else v


def is_lazy(ds: xr.Dataset) -> bool:
    """True when some data variable is not in memory yet (dask-backed, or a lazily indexed file array)."""
    return any(da.chunks is not None or not isinstance(da.variable._data, np.ndarray) for da in ds.data_vars.values())


def check_grid(ds, variables=None, name: str = "data") -> tuple[xr.Dataset, GridSpec]:
    """Validate a gridded Dataset and return (the selected variables in (time, [level], lat, lon) order, its spec).

    Errors name the problem: missing dims, extra dims, times that are unsorted, duplicated or irregular, variables
    that are absent, all-NaN or infinite. The caller's object is not modified (xarray operations return new ones).
    Values of lazy data (``is_lazy``) are not read here: ``tsdiff.data.frames`` checks them as it reads them.
    """
    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name or "x")
    if not isinstance(ds, xr.Dataset):
        raise TypeError(f"{name}: expected an xarray Dataset or DataArray, got {type(ds).__name__}")
    if "time" not in ds.dims:
        raise ValueError(f"{name}: no `time` dim; dims are {tuple(ds.dims)}")
    lat, lon = spatial_dims(ds)
    if variables is None:
        variables = list(ds.data_vars)
    variables = [variables] if isinstance(variables, str) else list(variables)
    if not variables:
        raise ValueError(f"{name}: no variables to forecast")
    if len(set(variables)) < len(variables):
        raise ValueError(f"{name}: variables named more than once: {variables}")
    absent = [v for v in variables if v not in ds.data_vars]
    if absent:
        raise ValueError(f"{name}: variables {absent} not found; available: {list(ds.data_vars)}")
    allowed = {"time", lat, lon, "level"}
    for v in variables:
        extra = set(ds[v].dims) - allowed
        if extra:
            raise ValueError(f"{name}: variable {v!r} has dims {sorted(extra)} besides time, level, {lat}, {lon}")
        missing = {"time", lat, lon} - set(ds[v].dims)
        if missing:
            raise ValueError(f"{name}: variable {v!r} lacks dims {sorted(missing)}")
        if not np.issubdtype(ds[v].dtype, np.number):
            raise ValueError(f"{name}: variable {v!r} is not numeric ({ds[v].dtype})")
        if is_lazy(ds[[v]]):
            continue
        values = ds[v].values
        if np.isinf(values).any():
            raise ValueError(f"{name}: variable {v!r} holds inf values; mark missing data as NaN")
        if np.isnan(values).all():
            raise ValueError(f"{name}: variable {v!r} is all NaN")
        biggest = np.nanmax(np.abs(values))
        if biggest > np.finfo(np.float32).max:  # the model computes in float32
            raise ValueError(
                f"{name}: variable {v!r} reaches {biggest:.3g}, beyond float32's range (3.4e38); "
                "rescale it (other units)"
            )
    has_level = any("level" in ds[v].dims for v in variables)
    if has_level and not all("level" in ds[v].dims for v in variables):
        raise ValueError(f"{name}: some variables have a `level` dim and others do not; select levels first")
    if not np.issubdtype(ds["time"].dtype, np.datetime64):
        raise ValueError(f"{name}: `time` must hold dates and times (datetime64), got {ds['time'].dtype}")
    times = pd.DatetimeIndex(ds["time"].values)
    if times.has_duplicates:
        raise ValueError(f"{name}: duplicated time stamps, e.g. {times[times.duplicated()][:3].tolist()}")
    if not times.is_monotonic_increasing:
        bad = int(np.argmax(np.diff(times.asi8) < 0))
        raise ValueError(
            f"{name}: time stamps are not sorted (at position {bad + 1}: {times[bad + 1]} after {times[bad]})"
        )
    for d in (lat, lon):
        c = np.asarray(ds[d].values, dtype=float)
        if c.size > 1 and not (np.all(np.diff(c) > 0) or np.all(np.diff(c) < 0)):
            raise ValueError(f"{name}: `{d}` coordinate is not strictly monotonic")
    order = ("time", "level", lat, lon) if has_level else ("time", lat, lon)
    out = ds[variables].transpose(*order)
    levels = tuple(_plain(v) for v in ds["level"].values) if has_level else None
    coords = {d: tuple(float(v) for v in ds[d].values) for d in (lat, lon)}
    return out, GridSpec(tuple(variables), levels, lat, lon, (ds.sizes[lat], ds.sizes[lon]), coords[lat], coords[lon])


def grid_step(ds: xr.Dataset, name: str = "data") -> pd.Timedelta:
    """The regular time step of ``ds``; an error names the first irregular gap."""
    times = pd.DatetimeIndex(ds["time"].values)
    if len(times) < 2:
        raise ValueError(f"{name}: need at least two time stamps")
    gaps = np.diff(times.values)  # timedelta64 in the index's own unit
    if not np.all(gaps == gaps[0]):
        bad = int(np.argmax(gaps != gaps[0]))
        raise ValueError(
            f"{name}: irregular time steps: {pd.Timedelta(gaps[0])} then {pd.Timedelta(gaps[bad])} "
            f"between {times[bad]} and {times[bad + 1]}; resample to a regular step first (ds.resample(time=...))"
        )
    return pd.Timedelta(gaps[0])


def is_global(lon: np.ndarray) -> bool:
    """True when a regular longitude axis covers the whole circle (n * spacing == 360 degrees)."""
    lon = np.asarray(lon, dtype=float)
    if lon.size < 2:
        return False
    spacing = abs(lon[1] - lon[0])
    return bool(abs(spacing * lon.size - 360.0) < 1e-6 * 360)


def init_indices(data: xr.Dataset, init_times, history: pd.Timedelta | None = None) -> tuple:
    """(init times, their positions in ``data``) and, with ``history``, the positions of init - history as a third
    item (every one must be present). Errors name the init times that are missing or lack history."""
    times = pd.DatetimeIndex(data["time"].values)
    inits = pd.DatetimeIndex([times[-1]] if init_times is None else pd.to_datetime(np.atleast_1d(init_times)))
    if inits.has_duplicates:
        raise ValueError("init_times has duplicates")
    where = times.get_indexer(inits)
    if (where < 0).any():
        raise ValueError(f"init times {list(inits[where < 0][:3])} are not time stamps of the data")
    if history is not None:
        prev = times.get_indexer(inits - history)
        if (prev < 0).any():
            raise ValueError(f"init times {list(inits[prev < 0][:3])} lack the previous state at init - {history}")
        return inits, where, prev
    return inits, where


def mean_by_hour(values: np.ndarray, hours: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Per wanted hour of day, the NaN-mean of the ``values`` rows with that hour (NaN where the hour never occurs
    or a cell never has data)."""
    out = np.full((len(wanted), *values.shape[1:]), np.nan, dtype=np.float32)
    with warnings.catch_warnings():  # cells without data (all NaN) stay NaN quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        for h in np.unique(wanted):
            rows = hours == h
            if rows.any():
                out[wanted == h] = np.nanmean(values[rows], axis=0)
    return out


def ensemble_dataset(out: np.ndarray, data: xr.Dataset, spec: GridSpec, inits, leads, **attrs) -> xr.Dataset:
    """Forecast values (I inits, M members, n leads, C channels, H, W) -> Dataset with dims (time, member,
    lead_time, [level,] lat, lon) per variable, the coordinates and attributes of ``data`` and a ``valid_time``
    coordinate; ``attrs`` are added to the Dataset's attributes. Every forecaster and baseline returns this."""
    lat, lon = spec.lat, spec.lon
    coords = {
        "time": pd.DatetimeIndex(inits).values,
        "member": np.arange(out.shape[1]),
        "lead_time": pd.TimedeltaIndex(leads).values,
        lat: data[lat].values,
        lon: data[lon].values,
    }
    if spec.levels is not None:
        coords["level"] = data["level"].values
    n_lev = 1 if spec.levels is None else len(spec.levels)
    variables = {}
    for i, var in enumerate(spec.variables):
        block = out[:, :, :, i * n_lev : (i + 1) * n_lev]  # (I, M, lead, n_lev, H, W)
        if spec.levels is None:
            dims, block = ["time", "member", "lead_time", lat, lon], block[:, :, :, 0]
        else:
            dims = ["time", "member", "lead_time", "level", lat, lon]
        variables[var] = xr.DataArray(block, dims=dims, attrs=dict(data[var].attrs))
    result = xr.Dataset(variables, coords=coords, attrs={**data.attrs, **attrs})
    for name in (lat, lon, *(["level"] if spec.levels is not None else [])):
        result[name].attrs = dict(data[name].attrs)
    return result.assign_coords(valid_time=result["time"] + result["lead_time"])


def verifying_truth(forecast: xr.Dataset, ds) -> xr.Dataset:
    """The observed fields at each forecast's valid time: dims (time, lead_time, lat, lon) like ``forecast`` without
    ``member``; NaN where a valid time is not in ``ds`` (forecasts beyond the data are then left out of scores)."""
    valid = forecast["valid_time"]  # (time, lead_time)
    needed = np.unique(valid.values.ravel())
    data = ds[list(forecast.data_vars)].reindex(time=needed)
    index = xr.DataArray(valid.values, dims=("_init", "lead_time"))
    truth = data.sel(time=index).drop_vars("time").rename(_init="time")
    return truth.assign_coords(time=forecast["time"].values, lead_time=forecast["lead_time"].values)
