"""Stocks (GOOG daily prices), the TimeGAN / Diffusion-TS synthesis benchmark (see ../shared/REFERENCE.md).

Protocol: MinMax-scale each of the six columns over the whole file, cut windows of 24 days with stride 1 (3,662
windows from 3,685 rows), generate as many windows as there are real ones, score in the [0, 1] scale.
TimeGAN's loader reverses the rows (its copy of the file was newest first); the file here is oldest first and
Diffusion-TS reads it as is, so windows run forward in time unless ``reverse=True``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler

from .adapters import windows_of

__all__ = ["STOCK_COLUMNS", "load_stocks", "stock_windows"]

STOCK_COLUMNS = ["Open", "High", "Low", "Close", "Adj_Close", "Volume"]


def load_stocks(path: str | Path, reverse: bool = False) -> pd.DataFrame:
    """The six price columns of ``stock_data.csv`` (rows oldest first unless ``reverse``)."""
    path = Path(path)
    if path.is_dir():
        path = path / "stock_data.csv"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; see data_scripts/stocks.py to download it")
    df = pd.read_csv(path, float_precision="round_trip")
    missing = [c for c in STOCK_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}; expected {STOCK_COLUMNS}")
    df = df[STOCK_COLUMNS].astype(np.float64)
    if df.isna().any().any():
        raise ValueError(f"{path}: {int(df.isna().sum().sum())} missing values; the benchmark file has none")
    return df.iloc[::-1].reset_index(drop=True) if reverse else df


def stock_windows(path: str | Path, seq_len: int = 24, reverse: bool = False) -> tuple[np.ndarray, MinMaxScaler]:
    """The benchmark's windows (N, seq_len, 6) in [0, 1] and the scaler fitted on the whole file."""
    df = load_stocks(path, reverse)
    scaler = MinMaxScaler().fit(df.to_numpy())
    return windows_of(scaler.transform(df.to_numpy()), seq_len), scaler
