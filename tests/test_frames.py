"""Gridded frames read on demand: statistics in one blockwise pass, lazy stores equal to in-memory data."""

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from tsdiff import EnsembleForecaster
from tsdiff.data.frames import Frames, grid_statistics, open_grid
from tsdiff.data.grid import check_grid, is_lazy, mean_by_hour

pytest.importorskip("zarr")
pytest.importorskip("dask")


def _grid(t=60, seed=0, nan_cells=True):
    rng = np.random.default_rng(seed)
    times = pd.date_range("2021-03-01", periods=t, freq="1h")
    lat, lon = np.linspace(50, 55, 6), np.linspace(-3, 2, 8)
    hour = times.hour.values[:, None, None]
    tair = 280 + 3 * np.sin(hour / 24 * 2 * np.pi) + rng.normal(size=(t, 6, 8)).cumsum(0) * 0.3
    wind = np.abs(5 + rng.normal(size=(t, 6, 8)).cumsum(0) * 0.2)
    if nan_cells:
        tair[:, 0, :3] = np.nan  # sea cells
        wind[:, 0, :3] = np.nan
    return xr.Dataset(
        {"Tair": (("time", "lat", "lon"), tair.astype(np.float32)), "Wind": (("time", "lat", "lon"), wind)},
        coords={"time": times, "lat": lat, "lon": lon},
        attrs={"source": "test"},
    )


@pytest.mark.filterwarnings("ignore:Mean of empty slice")  # the cells without data
def test_blockwise_statistics_equal_the_in_memory_formulas():
    ds = _grid()
    data, spec = check_grid(ds)
    x = spec.to_array(data)
    hours = pd.DatetimeIndex(data["time"].values).hour.values
    for block in (7, 256):  # many blocks, and one
        stats = grid_statistics(Frames(data, spec), 2, hours, block=block)
        np.testing.assert_allclose(stats["mean"], np.nanmean(x.astype(np.float64), axis=(0, 2, 3)), rtol=1e-9)
        np.testing.assert_allclose(stats["std"], np.nanstd(x.astype(np.float64), axis=(0, 2, 3)), rtol=1e-5)
        res = x[2:] - x[:-2]
        res_std = np.nanstd(res.astype(np.float64), axis=(0, 2, 3))
        np.testing.assert_allclose(stats["res_std"], res_std, rtol=1e-5)
        expected = np.nan_to_num(mean_by_hour(res / res_std[:, None, None], hours[:-2], np.arange(24)))
        np.testing.assert_allclose(stats["diurnal"], expected, rtol=1e-4, atol=1e-5)
        # each cell's spread of the change about its hour's mean, in units of res_std; 1 where a cell has no data
        hourly = mean_by_hour(res, hours[:-2], hours[:-2])
        spread = np.sqrt(np.nanmean((res - hourly).astype(np.float64) ** 2, axis=0)) / res_std[:, None, None]
        np.testing.assert_allclose(stats["cell_scale"], np.where(np.isfinite(spread), spread, 1.0), rtol=1e-4)


def test_lazy_frames_read_only_what_is_asked(tmp_path):
    ds = _grid()
    ds.to_zarr(tmp_path / "g.zarr", encoding={v: {"chunks": (4, 6, 8)} for v in ds.data_vars})
    lazy = open_grid(tmp_path / "g.zarr")
    assert is_lazy(lazy) and not is_lazy(ds)
    data, spec = check_grid(lazy)
    frames = Frames(data, spec)
    assert frames.array is None
    idx = np.array([9, 3, 3, 40])  # unsorted, repeated
    np.testing.assert_array_equal(frames.take(idx), spec.to_array(ds)[idx])
    with pytest.raises(FileNotFoundError, match="no such zarr store"):
        open_grid(tmp_path / "absent.zarr")


def test_training_from_a_lazy_store_equals_training_in_memory(tmp_path):
    ds = _grid(t=48)
    ds.to_zarr(tmp_path / "g.zarr", encoding={v: {"chunks": (5, 6, 8)} for v in ds.data_vars})
    lazy = open_grid(tmp_path / "g.zarr")
    options = dict(width=32, depth=1, heads=2, epochs=2, batch_size=8, progress=False, sample_steps=3)
    in_memory = EnsembleForecaster(**options).fit(ds)
    streamed = EnsembleForecaster(**options).fit(lazy)
    np.testing.assert_allclose(streamed.mean_, in_memory.mean_, rtol=1e-12)
    assert streamed.train_result_.losses == pytest.approx(in_memory.train_result_.losses, rel=1e-5)
    a = in_memory.predict(ds, lead_times=["1h", "2h"], members=3)
    b = streamed.predict(lazy, lead_times=["1h", "2h"], members=3)
    xr.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    assert np.isnan(b["Tair"].values[..., 0, :3]).all()  # cells without data stay NaN
    assert ds.attrs == {"source": "test"} and ds.sizes["time"] == 48  # the caller's data is untouched


def test_bad_values_in_a_lazy_store_are_named(tmp_path):
    ds = _grid(t=30, nan_cells=False)
    bad = ds.copy(deep=True)
    bad["Wind"][17, 2, 2] = np.inf
    bad.to_zarr(tmp_path / "inf.zarr")
    with pytest.raises(ValueError, match="inf"):
        EnsembleForecaster(width=16, depth=1, heads=1, epochs=1, progress=False).fit(open_grid(tmp_path / "inf.zarr"))
    empty = ds.copy(deep=True)
    empty["Wind"][:] = np.nan
    empty.to_zarr(tmp_path / "nan.zarr")
    with pytest.raises(ValueError, match="Wind.*all NaN"):
        EnsembleForecaster(width=16, depth=1, heads=1, epochs=1, progress=False).fit(open_grid(tmp_path / "nan.zarr"))


def test_train_accepts_a_row_source():
    from tsdiff.models import MLPDenoiser
    from tsdiff.training import TrainConfig, train

    class Squares:  # rows i -> x = (i, i^2) / 100, made on demand
        def __len__(self):
            return 40

        def take(self, rows):
            i = rows.double()
            return (torch.stack([i, i * i], 1).float() / 100,)

    seen = []

    def loss_fn(net, x, generator):
        seen.append(x.shape)
        return (net(x, torch.zeros(len(x))) - x).pow(2).mean()

    result = train(MLPDenoiser(dim=2, hidden=8, depth=1), Squares(), loss_fn,
                   TrainConfig(max_steps=6, batch_size=8, progress=False))  # fmt: skip
    assert len(result.losses) == 6 and seen[0] == (8, 2)
