"""Frames of a gridded Dataset read on demand, so that a forecaster trains on archives larger than memory.

``open_grid(path)`` opens a zarr store or NetCDF file lazily with dask chunks. ``Frames(ds, spec)`` serves
(time, channel, lat, lon) frames of any gridded Dataset: an in-memory one is converted once; a lazy one (dask,
or xarray's lazily indexed backend arrays) is read a batch of time stamps at a time, so memory holds the batches
and never the archive. ``grid_statistics`` computes the per-channel normalisation and the diurnal mean step
change in one pass over time blocks, with the same result for both.

Random access reads whole chunks: a store meant for training should be chunked finely along time (1 to 24
steps per chunk) and whole in space.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import xarray as xr

from .grid import GridSpec, is_lazy

__all__ = ["open_grid", "is_lazy", "Frames", "read_frames", "grid_statistics"]


def open_grid(path, chunks: dict | str | None = None) -> xr.Dataset:
    """Open a zarr store (a directory or ``*.zarr``) or a NetCDF file lazily; nothing is read until frames are
    asked for. By default (``chunks=None``) without dask: each read fetches exactly the chunks it needs and memory
    does not grow with the store's size. ``chunks`` ({} for the store's own chunks, or a dict) opens it with dask
    instead, for users who compute on it with dask themselves."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such zarr store or NetCDF file")
    engine = "zarr" if path.is_dir() or path.suffix == ".zarr" else None
    return xr.open_dataset(path, engine=engine, chunks=chunks, cache=False)


def read_frames(ds: xr.Dataset, spec: GridSpec, idx) -> np.ndarray:
    """The frames of ``ds`` at time positions ``idx`` (any order, repeats allowed): (len(idx), C, H, W) float32,
    reading each time stamp once and nothing else, whether ``ds`` is in memory or lazy."""
    wanted, inverse = np.unique(np.asarray(idx, dtype=np.int64), return_inverse=True)  # in store order
    frames = spec.to_array(ds.isel(time=wanted))
    if np.isinf(frames).any():
        raise ValueError("data holds inf values; mark missing data as NaN")
    return frames[inverse]


class Frames:
    """(time, channel, lat, lon) float32 frames of ``ds`` (checked by ``check_grid``) with NaN where no data."""

    def __init__(self, ds: xr.Dataset, spec: GridSpec):
        self.ds, self.spec = ds, spec
        self.lazy = is_lazy(ds)
        self.array = None if self.lazy else spec.to_array(ds)  # (T, C, H, W)

    def __len__(self) -> int:
        return self.ds.sizes["time"]

    def take(self, idx) -> np.ndarray:
        """Frames at time positions ``idx`` (any order, repeats allowed): (len(idx), C, H, W)."""
        if self.array is not None:
            return self.array[np.asarray(idx, dtype=np.int64)]
        return read_frames(self.ds, self.spec, idx)

    def blocks(self, size: int, overlap: int = 0) -> Iterator[tuple[int, np.ndarray]]:
        """(start, frames[start : start + size + overlap]) for start = 0, size, 2 size ...: every frame once, plus
        ``overlap`` frames of the next block so that differences across the boundary are seen."""
        n = len(self)
        for start in range(0, n, size):
            stop = min(n, start + size + overlap)
            if self.array is not None:
                yield start, self.array[start:stop]
            else:
                yield start, self.take(np.arange(start, stop))


def _sums(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per channel of (N, C, H, W): count, sum and sum of squares of the finite values (float64)."""
    ok = np.isfinite(x)
    x = np.where(ok, x, 0.0).astype(np.float64)
    return ok.sum(axis=(0, 2, 3)), x.sum(axis=(0, 2, 3)), (x * x).sum(axis=(0, 2, 3))


def grid_statistics(frames: Frames, stride: int, hours: np.ndarray, block: int = 256) -> dict:
    """One pass over ``frames`` in time blocks. Returns per channel ``mean``, ``std`` of the values and ``res_std``
    of the ``stride``-step changes x(t + stride) - x(t) (population std, NaN ignored), ``diurnal`` (24, C, H, W):
    the mean change per hour of day of its start, in units of ``res_std``, 0 where never seen, and ``cell_scale``
    (C, H, W): each cell's std of the change about that diurnal mean, in units of ``res_std``, 1 where never seen.

    The sums are shifted by the first block's channel means, so that float64 sums of squares keep their digits."""
    names = [f"{v}" if lev is None else f"{v}@{lev}" for v, lev in frames.spec.channels]
    shift = None
    n_v = s_v = q_v = n_r = s_r = q_r = 0
    d_sum = d_sq = d_count = None
    for start, x in frames.blocks(block, overlap=stride):
        own = x[: min(block, len(x))]  # frames that belong to this block (the rest is the next block's overlap)
        if shift is None:
            with warnings.catch_warnings():  # a channel without data in the first block: shift 0
                warnings.simplefilter("ignore", RuntimeWarning)
                shift = np.nan_to_num(np.nanmean(own, axis=(0, 2, 3)).astype(np.float64))
            d_sum = np.zeros((24, *x.shape[1:]), np.float64)
            d_sq = np.zeros((24, *x.shape[1:]), np.float64)
            d_count = np.zeros((24, *x.shape[1:]), np.int64)
        c, s, q = _sums(own - shift[:, None, None].astype(np.float32))
        n_v, s_v, q_v = n_v + c, s_v + s, q_v + q
        res = x[stride:] - x[:-stride]  # changes starting in this block: (len(x) - stride, C, H, W)
        res = res[: min(block, len(res))]
        if len(res):
            c, s, q = _sums(res)
            n_r, s_r, q_r = n_r + c, s_r + s, q_r + q
            h = hours[start : start + len(res)]
            ok = np.isfinite(res)
            res = np.where(ok, res, 0.0)
            for hour in np.unique(h):
                d_sum[hour] += res[h == hour].sum(axis=0, dtype=np.float64)
                d_sq[hour] += np.square(res[h == hour], dtype=np.float64).sum(axis=0)
                d_count[hour] += ok[h == hour].sum(axis=0)
    empty = [names[i] for i in np.flatnonzero(n_v == 0)]
    if empty:
        raise ValueError(f"channels {empty} are all NaN")
    mean = s_v / n_v
    std = np.sqrt(np.maximum(q_v / n_v - mean**2, 0.0))
    with np.errstate(all="ignore"):
        res_mean = s_r / n_r
        res_std = np.sqrt(np.maximum(q_r / n_r - res_mean**2, 0.0))
        diurnal = np.where(d_count > 0, d_sum / np.maximum(d_count, 1), 0.0)  # (24, C, H, W), data units
        # sum over hours of the squared deviations from each hour's mean, per cell
        anomaly_var = (d_sq - d_sum * diurnal).sum(0) / np.maximum(d_count.sum(0), 1)
        cell_scale = np.sqrt(np.maximum(anomaly_var, 0.0)) / res_std[:, None, None]
        cell_scale = np.where(np.isfinite(cell_scale) & (cell_scale > 0), cell_scale, 1.0)
        diurnal = diurnal / res_std[:, None, None]
    return {
        "mean": mean + shift,
        "std": std,
        "res_std": res_std,
        "diurnal": np.nan_to_num(diurnal).astype(np.float32),
        "cell_scale": cell_scale.astype(np.float32),
    }
