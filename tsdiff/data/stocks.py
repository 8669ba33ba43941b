"""Stocks (GOOG daily prices), the TimeGAN / Diffusion-TS synthesis benchmark (see ../shared/REFERENCE.md).

Protocol: MinMax-scale each of the six columns over the whole file, cut windows of 24 days with stride 1 (3,662
windows from 3,685 rows), generate as many windows as there are real ones, score in the [0, 1] scale.
TimeGAN's loader reverses the rows (its copy of the file was newest first); the file here is oldest first and
Diffusion-TS reads it as is, so windows run forward in time unless ``reverse=True``.

Any other daily price table with the same six columns (a DataFrame or CSV; Yahoo's "Adj Close" spelling is
accepted) goes through the same protocol, e.g. the S&P 500 and NASDAQ files that the ``arch`` package ships.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler

from ..io import read_csv
from .adapters import windows_of

__all__ = ["STOCK_COLUMNS", "load_stocks", "stock_windows"]

STOCK_COLUMNS = ["Open", "High", "Low", "Close", "Adj_Close", "Volume"]


def load_stocks(source, reverse: bool = False) -> pd.DataFrame:
    """The six price columns of ``stock_data.csv`` (a folder or file path) or of any DataFrame with them, rows
    oldest first unless ``reverse``. The caller's frame is not modified."""
    if isinstance(source, pd.DataFrame):
        df, name = source, "the price table"
    else:
        path = Path(source)
        if path.is_dir():
            path = path / "stock_data.csv"
        if not path.exists():
            raise FileNotFoundError(f"{path} not found; see data_scripts/stocks.py to download it")
        df, name = read_csv(path), str(path)
    if {"Adj Close", "Adj_Close"} <= set(df.columns):
        raise ValueError(f"{name}: both 'Adj Close' and 'Adj_Close': keep one adjusted close")
    df = df.rename(columns={"Adj Close": "Adj_Close"})
    date = next((c for c in df.columns if str(c).lower() == "date"), None)  # e.g. Yahoo Finance's downloads
    if date is None and not isinstance(df.index, pd.DatetimeIndex) and pd.api.types.is_string_dtype(df.index):
        try:  # a frame indexed by date strings (read_csv(..., index_col="Date") without parse_dates)
            df = df.set_axis(pd.DatetimeIndex(pd.to_datetime(df.index), name=df.index.name))
        except (ValueError, TypeError) as err:
            raise ValueError(f"{name}: the index holds text that is not dates: {err}") from err
    if date is not None:
        try:
            df = df.set_index(pd.DatetimeIndex(pd.to_datetime(df[date]), name=date))
        except (ValueError, TypeError) as err:
            raise ValueError(f"{name}: the {date!r} column does not hold dates: {err}") from err
    missing = [c for c in STOCK_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {missing}; expected {STOCK_COLUMNS}")
    text = [c for c in STOCK_COLUMNS if not pd.api.types.is_numeric_dtype(df[c])]
    if text:
        raise ValueError(f"{name}: columns {text} are not numeric")
    df = df[STOCK_COLUMNS].astype(np.float64)
    if df.isna().any().any():
        raise ValueError(f"{name}: {int(df.isna().sum().sum())} missing values; the benchmark file has none")
    infinite = [c for c in STOCK_COLUMNS if np.isinf(df[c]).any()]
    if infinite:
        raise ValueError(f"{name}: columns {infinite} hold inf")
    constant = [c for c in STOCK_COLUMNS if df[c].nunique() < 2]
    if constant:
        raise ValueError(f"{name}: columns {constant} are constant: MinMax scaling would make them all zeros")
    if isinstance(df.index, pd.DatetimeIndex):
        if not df.index.is_monotonic_increasing:
            raise ValueError(f"{name}: dates are not sorted oldest first")
        if not df.index.is_unique:
            repeated = df.index[df.index.duplicated()].unique()
            raise ValueError(f"{name}: {len(repeated)} dates repeat, first {repeated[0].date()}")
    df = df.reset_index(drop=True)
    return df.iloc[::-1].reset_index(drop=True) if reverse else df


def stock_windows(source, seq_len: int = 24, reverse: bool = False) -> tuple[np.ndarray, MinMaxScaler]:
    """The benchmark's windows (N, seq_len, 6) in [0, 1] and the scaler fitted on the whole table (a path to
    ``stock_data.csv`` or a DataFrame with the six columns)."""
    df = load_stocks(source, reverse)
    scaler = MinMaxScaler().fit(df.to_numpy())
    return windows_of(scaler.transform(df.to_numpy()), seq_len), scaler
