"""WFDE5 (Cucchi et al., ESSD 2020): hourly 0.5-degree ERA5 with bias correction, one NetCDF file per variable.

The development set of the gridded forecasting task is ``../shared/data/wfde5_gb_2017_01``: Great Britain and
Ireland, January 2017, variables Tair, pr, Qair, LWdown, SWdown, Wind on (time 744, lat 20, lon 28), land cells
only (ocean = NaN). Protocol (../shared/REFERENCE.md): train on 1-24 January, forecast from inits every 6 h over
25-31 January.
"""

from __future__ import annotations

import pandas as pd
import xarray as xr

__all__ = ["load_wfde5", "wfde5_split", "WFDE5_TRAIN_END", "WFDE5_TEST_START"]

WFDE5_TRAIN_END = "2017-01-24T23:00"
WFDE5_TEST_START = "2017-01-25T00:00"


def load_wfde5(path, variables=None) -> xr.Dataset:
    """Every ``*.nc`` file of the folder merged into one Dataset (loaded into memory), optionally a subset of
    variables."""
    from ..io import open_grid

    ds = open_grid(path)
    if variables is not None:
        ds = ds[[variables] if isinstance(variables, str) else list(variables)]
    return ds


def wfde5_split(ds: xr.Dataset, every: str = "6h"):
    """(training Dataset: 1-24 January, init times every ``every`` over 25-31 January).

    Inits start at the first test hour; forecasts verify against ``ds`` itself, so an init only counts when its
    longest lead still falls inside the data (the caller filters by lead)."""
    train = ds.sel(time=slice(None, WFDE5_TRAIN_END))
    times = pd.DatetimeIndex(ds["time"].values)
    inits = times[(times >= pd.Timestamp(WFDE5_TEST_START))]
    inits = inits[(inits - inits[0]) % pd.Timedelta(every) == pd.Timedelta(0)]
    return train, inits
