"""AQI-36 (Beijing PM2.5, 36 stations, hourly, 2014-05 .. 2015-04) on CSDI's protocol (dataset_pm25.py).

- ``pm25_ground.txt`` holds the data with its real gaps; ``pm25_missing.txt`` the same with the standard evaluation
  mask also removed: the evaluation targets are the values present in ground and absent in missing.
- Test: months 3, 6, 9 and 12, cut into consecutive windows of 36 h; a month's last, partial window is taken as
  the month's final 36 h, and only its new hours are scored (``cut`` says how many leading hours to skip).
- Training: every 36-h window (stride 1) of months 1, 2, 4, 5, 7, 8, 10 and 11, less the validation month
  (month 1 by default). Historical training masks come from months 2, 5, 8 and 11 only: the missing patterns of
  months 1, 4, 7 and 10 were used to make the test mask, so using them would leak it.
- Validation: the validation month's stride-1 windows (``valid``), and the same month cut and masked as the test
  months are (``valid_inputs``, ``valid_targets``), so that a learning curve scores what the test scores.
- Scaling: per station, over the training months (the reference ships precomputed values for the same).
Metrics are reported in ug/m3.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import read_csv

__all__ = ["AQI36", "load_aqi36", "load_aqi36_table", "TRAIN_MONTHS", "TEST_MONTHS", "HISTMASK_MONTHS"]

TRAIN_MONTHS = (1, 2, 4, 5, 7, 8, 10, 11)
TEST_MONTHS = (3, 6, 9, 12)
HISTMASK_MONTHS = (2, 5, 8, 11)
WINDOW = 36


@dataclass
class AQI36:
    stations: list[str]
    train: np.ndarray  # (N, 36, 36) training windows, NaN = missing
    valid: np.ndarray  # (M, 36, 36) validation windows (stride 1)
    valid_eval: np.ndarray  # (V, 36, 36) the validation month cut as the test months are: ground values
    valid_inputs: np.ndarray  # (V, 36, 36) its missing-file values
    valid_targets: np.ndarray  # (V, 36, 36) bool: its entries scored as the test's are
    test: np.ndarray  # (T, 36, 36) test windows: ground values (NaN where ground is missing)
    test_inputs: np.ndarray  # (T, 36, 36) what the imputer is given: missing-file values
    test_targets: np.ndarray  # (T, 36, 36) bool: scored entries (present in ground, absent in missing, not cut)
    hist_patterns: np.ndarray  # (P, 36, 36) bool observed masks of windows from HISTMASK_MONTHS


def _read(path: Path) -> pd.DataFrame:
    header = read_csv(path, nrows=0).columns
    if "datetime" not in header:
        raise ValueError(f"{path}: no `datetime` column; the header is {list(header)[:8]}")
    df = read_csv(path, index_col="datetime")
    times = pd.to_datetime(df.index, errors="coerce")
    if times.isna().any():
        raise ValueError(f"{path}: time stamps that are not dates, e.g. {list(df.index[times.isna()][:3])}")
    df.index = times
    if df.index.has_duplicates or not df.index.is_monotonic_increasing:
        raise ValueError(f"{path}: time stamps are duplicated or unsorted")
    return df


def _sliding(values: np.ndarray, length: int) -> np.ndarray:
    """All windows of ``length`` consecutive rows, stride 1: (T - length + 1, length, K)."""
    return np.lib.stride_tricks.sliding_window_view(values, length, axis=0).transpose(0, 2, 1).copy()


def _test_windows(values: np.ndarray, length: int) -> tuple[np.ndarray, list[int]]:
    """Consecutive windows; a partial tail becomes the last ``length`` rows, with its overlap to skip."""
    n = len(values) // length
    windows = [values[i * length : (i + 1) * length] for i in range(n)]
    cuts = [0] * n
    if len(values) % length:
        windows.append(values[-length:])
        cuts.append(length - len(values) % length)
    return np.stack(windows), cuts


def _path(root: str | Path, name: str) -> Path:
    path = Path(root) / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found (data_scripts/aqi36.py downloads it)")
    return path


def load_aqi36_table(root: str | Path) -> pd.DataFrame:
    """The whole year as one table (hourly DatetimeIndex x 36 stations, NaN = no reading): ``pm25_ground.txt``, for
    uses outside CSDI's imputation protocol (forecasting, say)."""
    return _read(_path(root, "pm25_ground.txt"))


def load_aqi36(root: str | Path, valid_month: int = 1) -> AQI36:
    root = Path(root)
    ground_path, missing_path = (_path(root, name) for name in ("pm25_ground.txt", "pm25_missing.txt"))
    if valid_month not in TRAIN_MONTHS:
        raise ValueError(f"valid_month must be one of {TRAIN_MONTHS}, got {valid_month!r}")
    ground, missing = _read(ground_path), _read(missing_path)
    if not ground.index.equals(missing.index) or list(ground.columns) != list(missing.columns):
        raise ValueError("pm25_ground.txt and pm25_missing.txt disagree on time stamps or stations")
    short = [m for m in range(1, 13) if (ground.index.month == m).sum() < WINDOW]
    if short:
        raise ValueError(f"{root}: AQI-36 is a year of hourly data; months {short} have fewer than {WINDOW} hours")

    def month(df, m):
        return df[df.index.month == m].to_numpy(dtype=np.float64)

    train = [_sliding(month(ground, m), WINDOW) for m in TRAIN_MONTHS if m != valid_month]
    hist = [~np.isnan(_sliding(month(ground, m), WINDOW)) for m in HISTMASK_MONTHS if m != valid_month]

    def evaluation(months):
        """Ground windows, missing-file windows and the scored entries of ``months``, cut as the test is."""
        out = [], [], []
        for m in months:
            g, cuts = _test_windows(month(ground, m), WINDOW)
            x, _ = _test_windows(month(missing, m), WINDOW)
            t = ~np.isnan(g) & np.isnan(x)
            for i, c in enumerate(cuts):
                t[i, :c] = False
            for part, value in zip(out, (g, x, t)):
                part.append(value)
        return [np.concatenate(part) for part in out]

    test, test_inputs, test_targets = evaluation(TEST_MONTHS)
    valid_eval, valid_inputs, valid_targets = evaluation((valid_month,))
    return AQI36(
        stations=list(ground.columns),
        train=np.concatenate(train),
        valid=_sliding(month(ground, valid_month), WINDOW),
        valid_eval=valid_eval,
        valid_inputs=valid_inputs,
        valid_targets=valid_targets,
        test=test,
        test_inputs=test_inputs,
        test_targets=test_targets,
        hist_patterns=np.concatenate(hist),
    )
