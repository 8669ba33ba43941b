"""A documented simulator of a sensor network with gaps: the download-free default for the imputation demo.

Hourly readings of K sensors (think temperatures at nearby stations):
    x[t, k] = 15 + a_k sin(2 pi (t - p_k) / 24) + l_k f[t] + e[t, k]
with a shared slow "weather" factor f (AR(1), phi 0.98, unit variance), per-sensor daily amplitude a_k ~ U(2, 6),
phase p_k ~ U(0, 24), loading l_k ~ U(2, 5), and per-sensor AR(1) noise e (phi 0.8, sd 0.5). Gaps: each reading
is lost with probability ``missing``, and each sensor has outages (blocks of 6-48 h) covering about ``outage``
of its hours. The true values are returned too, so that imputations can be scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["sensor_network"]


def _ar1(rng, n, k, phi, sd):
    e = np.zeros((n, k))
    shocks = rng.standard_normal((n, k)) * sd * np.sqrt(1 - phi**2)
    e[0] = rng.standard_normal(k) * sd
    for t in range(1, n):
        e[t] = phi * e[t - 1] + shocks[t]
    return e


def sensor_network(
    n_hours: int = 5000,
    n_sensors: int = 10,
    missing: float = 0.1,
    outage: float = 0.05,
    seed: int = 0,
    start: str = "2024-01-01",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(truth, observed): two DataFrames (n_hours x n_sensors) with an hourly DatetimeIndex; observed has NaN gaps."""
    if n_hours < 2 or n_sensors < 1 or not 0 <= missing < 1 or not 0 <= outage < 1:
        raise ValueError("sensor_network: need n_hours >= 2, n_sensors >= 1, 0 <= missing, outage < 1")
    rng = np.random.default_rng(seed)
    t = np.arange(n_hours)[:, None]
    amp, phase, load = rng.uniform(2, 6, n_sensors), rng.uniform(0, 24, n_sensors), rng.uniform(2, 5, n_sensors)
    factor = _ar1(rng, n_hours, 1, 0.98, 1.0)
    values = 15 + amp * np.sin(2 * np.pi * (t - phase) / 24) + load * factor + _ar1(rng, n_hours, n_sensors, 0.8, 0.5)
    gaps = rng.random(values.shape) < missing
    for k in range(n_sensors):
        covered = 0
        while covered < outage * n_hours:
            length = int(rng.integers(6, 49))
            begin = int(rng.integers(0, max(1, n_hours - length)))
            gaps[begin : begin + length, k] = True
            covered += length
    index = pd.date_range(start, periods=n_hours, freq="h", name="time")
    columns = [f"sensor_{k:02d}" for k in range(n_sensors)]
    truth = pd.DataFrame(values, index=index, columns=columns)
    return truth, truth.mask(gaps)
