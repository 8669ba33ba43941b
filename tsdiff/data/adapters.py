"""Inputs in the caller's type -> windows (N, L, K) with NaN for missing, and back to the caller's type.

Accepted: numpy (N, L, K) windows; numpy (T, K), a pandas DataFrame (T rows, K columns), an xarray Dataset of
variables along one time dimension or a 2-D DataArray (time, feature), each holding one long series, cut into
consecutive windows of ``seq_len`` (the tail padded with missing rows, removed again on the way back). Time
indexes must be sorted and free of duplicates. The caller's object is never modified.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from ..checks import whole_number

__all__ = ["Windows", "to_windows", "column_labels", "frame_values", "sliding_windows", "windows_of", "regular_freq"]


@dataclass
class Windows:
    values: np.ndarray  # (N, L, K) float64, NaN = missing
    columns: list  # feature names (column labels, or 0..K-1)
    restore: Callable[[np.ndarray], object]  # (N, L, K) array -> the caller's type and shape
    restore_many: Callable[[np.ndarray], np.ndarray]  # (N, S, L, K) -> (N, S, L, K) windows, (S, T, K) a series
    series: np.ndarray | None = None  # the (T, K) series the windows were cut from, if any


def _as_float(values, what: str) -> np.ndarray:
    try:
        if isinstance(values, (pd.DataFrame, pd.Series)):  # nullable dtypes (Float64, Int64) hold pd.NA
            out = values.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
        else:
            out = np.array(values, dtype=np.float64)  # a copy: the caller's array is never touched
    except (TypeError, ValueError) as err:
        bad = ""
        if isinstance(values, pd.DataFrame):
            names = [c for c in values.columns if not _numeric(values[c])]
            bad = f"; columns that are not: {names[:8]}" if names else ""
        raise TypeError(f"{what} must hold numbers (NaN for missing){bad}: {err}") from err
    if np.isinf(out).any():
        raise ValueError(f"{what} holds +/-inf at {int(np.isinf(out).sum())} entries; use NaN for missing values")
    return out


def _numeric(column: pd.Series) -> bool:
    try:
        column.to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError):
        return False
    return True


def column_labels(columns: pd.Index) -> list:
    """A DataFrame's column labels as plain Python values a checkpoint can hold: strings and integers kept (numpy
    integers as int), any other label (a tuple of a MultiIndex, a float, a date) as its string."""

    def plain(label):
        if isinstance(label, (str, int, np.integer)) and not isinstance(label, (bool, np.bool_)):
            return label if isinstance(label, str) else int(label)
        return str(label)

    return [plain(c) for c in columns]


def frame_values(df: pd.DataFrame, warn_uneven: bool = True) -> np.ndarray:
    """A DataFrame's values (T, K) as float64 with NaN for missing (a copy), after the checks every task makes: a
    sorted, duplicate-free index (``warn_uneven``: a warning when its time stamps are not evenly spaced), a name
    per column, numbers only (the columns that are not are named), no inf."""
    check_index(df.index, warn_uneven)
    if df.shape[1] == 0 or df.shape[0] == 0:
        raise ValueError(f"the DataFrame is empty ({df.shape})")
    if df.columns.has_duplicates:
        dup = df.columns[df.columns.duplicated()].unique().tolist()
        raise ValueError(f"the DataFrame has duplicated column names {dup[:8]}: each feature needs its own name")
    return _as_float(df, "the DataFrame")


def check_index(index: pd.Index, warn_uneven: bool = True) -> None:
    """A time index must be sorted and free of duplicates (errors that name the fix); ``warn_uneven``: a warning when
    its time stamps are not evenly spaced."""
    if index.has_duplicates:
        dup = index[index.duplicated()][:3].tolist()
        raise ValueError(f"the index has duplicated time stamps, e.g. {dup}; aggregate them first")
    if not (index.is_monotonic_increasing or len(index) < 2):
        raise ValueError("the index is not sorted in increasing time order; sort it first (df.sort_index())")
    if warn_uneven:
        _warn_if_uneven(index)


def regular_freq(index: pd.DatetimeIndex | pd.TimedeltaIndex):
    """The index's step as a pandas frequency if its time stamps are evenly spaced on a calendar (hours, days across
    a DST change, month starts, business days ...), else None."""
    if index.freq is not None:
        return index.freq
    if len(index) < 3:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas 3.1 announces that infer_freq will return an offset
        return pd.infer_freq(index)


def _warn_if_uneven(index: pd.Index) -> None:
    """Rows are taken as consecutive, evenly spaced steps: say so when a time index is not evenly spaced (missing
    rows, say), with the way to insert the missing time stamps as gaps. Trading days and other calendars whose
    rows are the steps may ignore it."""
    if not isinstance(index, (pd.DatetimeIndex, pd.TimedeltaIndex)) or len(index) < 3:
        return
    if regular_freq(index) is not None:
        return
    steps = pd.Series(index[1:] - index[:-1])  # (T - 1,) Timedeltas
    common = steps.mode().iloc[0]
    uneven = np.flatnonzero((steps != common).to_numpy())
    if not len(uneven):  # equal steps that pandas names no frequency for
        return
    first = int(uneven[0])
    freq = pd.tseries.frequencies.to_offset(common).freqstr
    warnings.warn(
        f"the time stamps are not evenly spaced: the most common step is {common}, but {index[first + 1]} follows "
        f"{index[first]} by {index[first + 1] - index[first]}. Rows are taken as consecutive steps; to impute the "
        f"missing time stamps as gaps, insert them first (pandas: df.asfreq('{freq}'); xarray: "
        f"ds.resample(time='{freq}').asfreq())",
        UserWarning,
        stacklevel=6,  # the caller of fit / transform
    )


def _windowed(series: np.ndarray, seq_len: int):
    t, k = series.shape
    n = -(-t // seq_len)  # ceil
    padded = np.full((n * seq_len, k), np.nan)
    padded[:t] = series
    return padded.reshape(n, seq_len, k), t


def to_windows(x, seq_len: int | None = None) -> Windows:
    """Convert the caller's data to windows; see the module docstring."""
    if isinstance(x, (xr.DataArray, xr.Dataset)):
        return _xarray_windows(x, seq_len)
    if isinstance(x, pd.DataFrame):
        values = frame_values(x)

        def wrap(v):  # the caller's index, columns (with their names) and attrs around new values
            out = pd.DataFrame(v, index=x.index, columns=x.columns)
            out.attrs = dict(x.attrs)
            return out

        return _series_windows(values, seq_len, list(x.columns), wrap)
    arr = _as_float(x, "X")
    if arr.ndim == 3:
        if min(arr.shape) == 0:
            raise ValueError(f"X has an empty axis: {arr.shape}")
        return Windows(arr, list(range(arr.shape[2])), lambda w: w, lambda s: s)
    if arr.ndim == 2:
        if min(arr.shape) == 0:
            raise ValueError(f"X has an empty axis: {arr.shape}")
        return _series_windows(arr, seq_len, list(range(arr.shape[1])), lambda v: v)
    raise ValueError(f"X must be (N, L, K) windows or a (T, K) series / DataFrame, got an array of shape {arr.shape}")


def _series_windows(series: np.ndarray, seq_len: int | None, columns: list, wrap) -> Windows:
    if seq_len is None:
        raise ValueError("seq_len is needed to cut a (T, K) series or a DataFrame into windows")
    windows, t = _windowed(series, whole_number(seq_len, "seq_len", 1, unit=" of steps"))
    return Windows(
        windows,
        columns,
        lambda w: wrap(w.reshape(-1, w.shape[-1])[:t]),
        lambda s: s.transpose(1, 0, 2, 3).reshape(s.shape[1], -1, s.shape[-1])[:, :t],
        series,
    )


def _xarray_windows(x, seq_len: int | None) -> Windows:
    """A Dataset of variables along one time dimension, or a 2-D DataArray (time, feature): as a DataFrame, and
    back to the same xarray type with its coordinates and attributes."""
    if isinstance(x, xr.Dataset):
        if len(x.dims) != 1:
            raise ValueError(f"a Dataset to impute must have one dimension (time), got {dict(x.sizes)}")
        frame = x.reset_coords(drop=True).to_dataframe()  # the data variables only, not their coordinates
        template = x

        def wrap(v):
            out = template.copy()  # new variables below: the caller's (possibly dask-backed) data are not written
            for k, name in enumerate(frame.columns):
                dtype = template[name].dtype if template[name].dtype.kind == "f" else np.float64
                out[name] = template[name].copy(data=v[:, k].astype(dtype))
            return out
    else:
        if x.ndim != 2:
            raise ValueError(f"a DataArray to impute must be 2-D (time, feature), got dims {x.dims}")
        frame = x.to_pandas()
        template = x

        def wrap(v):
            return template.copy(data=v)

    check_index(frame.index)
    values = _as_float(frame, "the xarray data")
    return _series_windows(values, seq_len, list(frame.columns), wrap)


def sliding_windows(series: np.ndarray, seq_len: int, stride: int) -> np.ndarray:
    """Overlapping windows (N, seq_len, K) of a (T, K) series every ``stride`` rows (more training examples from
    one long series); a series shorter than seq_len gives one window padded with missing rows."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if len(series) < seq_len:
        return _windowed(series, seq_len)[0]
    starts = list(range(0, len(series) - seq_len + 1, stride))
    if starts[-1] != len(series) - seq_len:
        starts.append(len(series) - seq_len)  # the tail is covered too
    return np.stack([series[s : s + seq_len] for s in starts])


def windows_of(series: np.ndarray, seq_len: int, stride: int = 1) -> np.ndarray:
    """Every window (N, seq_len, K) of a (T, K) series, starting every ``stride`` rows; an error when the
    series is shorter than one window. Unlike ``sliding_windows`` (imputation: gaps are fine, so a short series is
    padded and the tail always covered), synthesis needs every window to be real data."""
    series = np.asarray(series, dtype=np.float64)
    if series.ndim != 2:
        raise ValueError(f"expected a (T, K) series, got shape {series.shape}")
    if seq_len < 1 or stride < 1:
        raise ValueError(f"seq_len and stride must be >= 1, got {seq_len} and {stride}")
    if len(series) < seq_len:
        raise ValueError(f"windows of {seq_len} steps are longer than the series ({len(series)} rows)")
    starts = np.arange(0, len(series) - seq_len + 1, stride)
    return np.stack([series[s : s + seq_len] for s in starts])  # (N, L, K)
