"""Inputs in the caller's type -> windows (N, L, K) with NaN for missing, and back to the caller's type.

Accepted: numpy (N, L, K) windows; numpy (T, K) or a pandas DataFrame (T rows, K columns) holding one long
series, cut into consecutive windows of ``seq_len`` (the tail padded with missing rows, removed again on the way
back). DataFrame indexes must be sorted and free of duplicates. The caller's object is never modified.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Windows", "to_windows"]


@dataclass
class Windows:
    values: np.ndarray  # (N, L, K) float64, NaN = missing
    columns: list  # feature names (column labels, or 0..K-1)
    restore: Callable[[np.ndarray], object]  # (N, L, K) array -> the caller's type and shape
    restore_many: Callable[[np.ndarray], np.ndarray]  # (N, S, L, K) -> (N, S, L, K) windows, (S, T, K) a series


def _as_float(values: np.ndarray, what: str) -> np.ndarray:
    try:
        out = np.array(values, dtype=np.float64)  # a copy: the caller's array is never touched
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must hold numbers (NaN for missing): {err}") from err
    if np.isinf(out).any():
        raise ValueError(f"{what} holds +/-inf at {int(np.isinf(out).sum())} entries; use NaN for missing values")
    return out


def _check_index(index: pd.Index) -> None:
    if index.has_duplicates:
        dup = index[index.duplicated()][:3].tolist()
        raise ValueError(f"the index has duplicated time stamps, e.g. {dup}; aggregate them first")
    if not (index.is_monotonic_increasing or len(index) < 2):
        raise ValueError("the index is not sorted in increasing time order; sort it first (df.sort_index())")


def _windowed(series: np.ndarray, seq_len: int):
    t, k = series.shape
    n = -(-t // seq_len)  # ceil
    padded = np.full((n * seq_len, k), np.nan)
    padded[:t] = series
    return padded.reshape(n, seq_len, k), t


def to_windows(x, seq_len: int | None = None) -> Windows:
    """Convert the caller's data to windows; see the module docstring."""
    if isinstance(x, pd.DataFrame):
        _check_index(x.index)
        if x.shape[1] == 0 or x.shape[0] == 0:
            raise ValueError(f"the DataFrame is empty ({x.shape})")
        values = _as_float(x.to_numpy(), "the DataFrame")
        if seq_len is None:
            raise ValueError("seq_len is needed to cut a DataFrame into windows")
        windows, t = _windowed(values, seq_len)
        index, columns = x.index, list(x.columns)
        return Windows(
            windows,
            columns,
            lambda w: pd.DataFrame(w.reshape(-1, w.shape[-1])[:t], index=index, columns=columns),
            lambda s: s.transpose(1, 0, 2, 3).reshape(s.shape[1], -1, s.shape[-1])[:, :t],
        )
    arr = _as_float(x, "X")
    if arr.ndim == 3:
        if min(arr.shape) == 0:
            raise ValueError(f"X has an empty axis: {arr.shape}")
        return Windows(arr, list(range(arr.shape[2])), lambda w: w, lambda s: s)
    if arr.ndim == 2:
        if seq_len is None:
            raise ValueError("seq_len is needed to cut a (T, K) series into windows")
        windows, t = _windowed(arr, seq_len)
        return Windows(
            windows,
            list(range(arr.shape[1])),
            lambda w: w.reshape(-1, w.shape[-1])[:t],
            lambda s: s.transpose(1, 0, 2, 3).reshape(s.shape[1], -1, s.shape[-1])[:, :t],
        )
    raise ValueError(f"X must be (N, L, K) windows or a (T, K) series / DataFrame, got an array of shape {arr.shape}")
