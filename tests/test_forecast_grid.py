"""EnsembleForecaster and the gridded baselines on small synthetic grids (fast: tiny DiT, few steps)."""

import re

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from tsdiff.baselines.grid import hourly_climatology, persistence, persistence_diurnal, persistence_noise
from tsdiff.checkpoint import CheckpointError, save_checkpoint
from tsdiff.data.grid import mean_by_hour
from tsdiff.metrics import grid
from tsdiff.tasks.forecast import EnsembleForecaster, parse_lead_times

TINY = dict(width=32, depth=1, heads=2, patch=2, sample_steps=10, lr=3e-3, progress=False, batch_size=8)


def synthetic(n_hours=96, seed=0, lat_descending=True, lon_0_360=False):
    """Two variables: a diurnal cycle plus a pattern drifting east one cell per hour; a corner without data."""
    rng = np.random.default_rng(seed)
    time = pd.date_range("2017-01-01", periods=n_hours, freq="h")
    lat = np.linspace(60, 50, 6) if lat_descending else np.linspace(50, 60, 6)
    lon = np.linspace(350, 359, 7) if lon_0_360 else np.linspace(-10, -1, 7)
    hours = np.arange(n_hours)[:, None, None]
    cols = np.arange(7)[None, None, :]
    wave = np.sin(2 * np.pi * (cols - hours) / 7) + 0.0 * np.arange(6)[None, :, None]
    tair = 280 + 2 * np.sin(2 * np.pi * hours / 24) + wave + 0.05 * rng.standard_normal((n_hours, 6, 7))
    wind = 5 + wave + 0.05 * rng.standard_normal((n_hours, 6, 7))
    tair[:, :2, :2] = np.nan  # "ocean"
    wind[:, :2, :2] = np.nan
    ds = xr.Dataset(
        {
            "Tair": (("time", "lat", "lon"), tair.astype(np.float32), {"units": "K"}),
            "Wind": (("time", "lat", "lon"), wind.astype(np.float32), {"units": "m s-1"}),
        },
        coords={"time": time, "lat": lat, "lon": lon},
        attrs={"title": "synthetic"},
    )
    ds["lat"].attrs["units"] = "degrees_north"
    return ds


@pytest.fixture(scope="module")
def fitted():
    ds = synthetic()
    return ds, EnsembleForecaster(epochs=3, **TINY).fit(ds.isel(time=slice(0, 72)))


def test_predict_dims_coords_attrs_and_nan_cells(fitted, tmp_path):
    ds, fc = fitted
    before = ds.copy(deep=True)
    inits = ds.time.values[[72, 78]]
    ens = fc.predict(ds, init_times=inits, lead_times="1h,3h", members=4, seed=1)
    assert ens["Tair"].dims == ("time", "member", "lead_time", "lat", "lon")
    assert ens.sizes == {"time": 2, "member": 4, "lead_time": 2, "lat": 6, "lon": 7}
    np.testing.assert_array_equal(ens["lat"], ds["lat"])  # descending kept
    assert ens["Tair"].attrs["units"] == "K" and ens.attrs["title"] == "synthetic"
    assert ens["lat"].attrs["units"] == "degrees_north"
    assert list(ens["lead_time"].values) == [np.timedelta64(1, "h"), np.timedelta64(3, "h")]
    assert ens["valid_time"].values[0, 1] == inits[0] + np.timedelta64(3, "h")
    assert np.isnan(ens["Tair"].values[..., :2, :2]).all()  # cells without data stay NaN
    assert np.isfinite(ens["Tair"].values[..., 2:, :]).all()
    assert float(ens["Tair"].std("member").mean()) > 0  # members differ
    xr.testing.assert_identical(ds, before)  # the caller's Dataset is untouched
    ens.to_netcdf(tmp_path / "ens.nc")
    xr.testing.assert_allclose(xr.open_dataset(tmp_path / "ens.nc").load(), ens)


def test_seed_reproducible_and_save_load(fitted, tmp_path):
    ds, fc = fitted
    a = fc.predict(ds, init_times=ds.time.values[80], lead_times=["2h"], members=3, seed=5)
    b = fc.predict(ds, init_times=ds.time.values[80], lead_times=["2h"], members=3, seed=5)
    c = fc.predict(ds, init_times=ds.time.values[80], lead_times=["2h"], members=3, seed=6)
    xr.testing.assert_identical(a, b)
    assert not np.allclose(a["Tair"].values, c["Tair"].values, equal_nan=True)
    path = fc.save(tmp_path / "fc.pt")
    loaded = EnsembleForecaster.load(path)
    xr.testing.assert_identical(loaded.predict(ds, ds.time.values[80], ["2h"], members=3, seed=5), a)
    assert loaded.spec_ == fc.spec_ and loaded.spec_.lon_values == tuple(ds.lon.values)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        EnsembleForecaster.load(tmp_path / "bad.pt")
    state = torch.load(path, weights_only=True)
    n_static, h, w = state["static"].shape
    for name, value, needs in [
        ("res_std", state["res_std"][:1], "(1,) where this model needs (2,)"),
        ("diurnal", state["diurnal"][:, :, :-1], f"(24, 2, {h - 1}, {w}) where this model needs (24, 2, {h}, {w})"),
        ("static", torch.zeros(n_static + 1, h, w), f"({n_static + 1}, {h}, {w}) where this model needs ({n_static},"),
    ]:
        save_checkpoint(tmp_path / "edited.pt", {k: v for k, v in {**state, name: value}.items() if k != "format"})
        with pytest.raises(CheckpointError, match=re.escape(f"'{name}' has shape {needs}")):
            EnsembleForecaster.load(tmp_path / "edited.pt")


def test_learns_the_diurnal_cycle_and_drift():
    """After a short training the ensemble beats persistence on a predictable system (CRPS < persistence MAE)."""
    ds = synthetic(n_hours=200, seed=1)
    fc = EnsembleForecaster(epochs=25, **{**TINY, "width": 48, "depth": 2, "heads": 4}).fit(ds.isel(time=slice(0, 168)))
    inits = ds.time.values[170:196:3]
    ens = fc.predict(ds, init_times=inits, lead_times=["1h"], members=8, seed=0)
    truth = ds.sel(time=ens.valid_time).drop_vars("time")
    crps = grid.crps(ens, truth)
    base = grid.crps(persistence(ds, inits, ["1h"]), truth)
    for v in ("Tair", "Wind"):
        c, b = crps[v].item(), base[v].item()
        assert c < 0.6 * b, (v, c, b)


def test_anomaly_residual_maps_draws_to_the_diurnal_mean_and_each_cells_spread(monkeypatch, tmp_path):
    """residual="anomaly" (the default): a draw of 0 is persistence + the diurnal mean change, a standard normal
    draw spreads each cell by its training spread about that mean (the calibrated noise baseline); "change": 0 is
    persistence. A checkpoint written before the option existed loads as "change"."""
    ds = synthetic(n_hours=96, seed=3)
    train = ds.isel(time=slice(0, 72))
    inits = ds.time.values[74:90:5]
    anomaly = EnsembleForecaster(epochs=1, **TINY).fit(train)
    change = EnsembleForecaster(epochs=1, residual="change", **TINY).fit(train)
    zeros = lambda condition, shape, generator: torch.zeros(shape)  # noqa: E731
    monkeypatch.setattr(anomaly, "_draw", zeros)
    monkeypatch.setattr(change, "_draw", zeros)
    expected = persistence_diurnal(train, ds, inits, ["1h"])
    got = anomaly.predict(ds, inits, ["1h"], members=2)
    for v in ("Tair", "Wind"):
        np.testing.assert_allclose(got[v].values, np.broadcast_to(expected[v].values, got[v].shape), atol=2e-4)
    still = change.predict(ds, inits, ["1h"], members=1)["Tair"].values[:, 0, 0]
    np.testing.assert_allclose(still, ds["Tair"].sel(time=inits).values)

    normal = lambda condition, shape, generator: torch.randn(shape, generator=generator)  # noqa: E731
    monkeypatch.setattr(anomaly, "_draw", normal)
    spread = anomaly.predict(ds, inits, ["1h"], members=400, seed=1)["Tair"].std("member").mean("time").values[0]
    tair = train["Tair"].values.astype(np.float64)
    steps, hours = tair[1:] - tair[:-1], train["time"].dt.hour.values[:-1]
    expected = np.sqrt(np.mean((steps - mean_by_hour(steps, hours, hours)) ** 2, axis=0))
    land = np.isfinite(spread)
    assert land.sum() == 6 * 7 - 4
    np.testing.assert_allclose(spread[land], expected[land], rtol=0.1)
    loaded = EnsembleForecaster.load(anomaly.save(tmp_path / "anomaly.pt"))
    assert loaded.residual == "anomaly" and torch.equal(loaded.cell_scale_, anomaly.cell_scale_)
    state = torch.load(change.save(tmp_path / "change.pt"), weights_only=True)
    del state["params"]["residual"], state["cell_scale"]
    torch.save(state, tmp_path / "older.pt")
    older = EnsembleForecaster.load(tmp_path / "older.pt")
    assert older.residual == "change" and torch.equal(older.cell_scale_, torch.ones_like(change.cell_scale_))
    with pytest.raises(ValueError, match="residual must be one of"):
        EnsembleForecaster(residual="delta", **TINY).fit(train)


def test_validation_period_holds_out_the_last_days_and_keeps_the_best_weights():
    ds = synthetic(n_hours=72)
    model = EnsembleForecaster(epochs=4, validation_period="12h", **TINY).fit(ds)
    result = model.train_result_
    assert len(result.validation) >= 2 and all(np.isfinite(v) for _, v in result.validation)
    for k, v in model.model_.state_dict().items():
        assert torch.equal(v, result.best_state[k])
    assert model.get_params()["validation_period"] == "0 days 12:00:00"
    with pytest.raises(ValueError, match="validation_period"):
        EnsembleForecaster(epochs=1, validation_period="80h", **TINY).fit(ds)
    with pytest.raises(ValueError, match="positive"):
        EnsembleForecaster(epochs=1, validation_period="-1h", **TINY).fit(ds)


def test_validation_split_never_trains_on_the_held_out_period():
    ds = synthetic(n_hours=48)
    model = EnsembleForecaster(validation_period="10h", **TINY)
    times = pd.DatetimeIndex(ds["time"].values)
    rows = list(range(len(times) - 2))  # a row source's rows: triple i reads frames i, i + 1, i + 2
    train_rows, held = model._split(rows, times, 1)
    last_train = max(int(r) for r in train_rows.rows) + 2  # the last frame a training triple reads
    first_held = min(int(r) for r in held.rows)
    assert times[last_train] <= times[-1] - pd.Timedelta("10h") < times[first_held]


def test_deterministic_mode_gives_one_member(fitted):
    ds, _ = fitted
    det = EnsembleForecaster(epochs=1, probabilistic=False, **TINY).fit(ds.isel(time=slice(0, 48)))
    ens = det.predict(ds, init_times=ds.time.values[50], lead_times=["1h", "2h"], members=10)
    assert ens.sizes["member"] == 1 and ens.attrs["tsdiff_model"] == "deterministic DiT"


def test_longitude_conventions_and_ascending_latitudes():
    ds = synthetic(n_hours=30, lat_descending=False, lon_0_360=True)
    fc = EnsembleForecaster(epochs=1, **TINY).fit(ds)
    ens = fc.predict(ds, lead_times="1h", members=2)
    np.testing.assert_array_equal(ens["lon"], ds["lon"])
    np.testing.assert_array_equal(ens["lat"], ds["lat"])


def test_bad_input_errors(fitted):
    ds, fc = fitted
    with pytest.raises(ValueError, match="time"):
        EnsembleForecaster(**TINY).fit(ds.isel(time=0))
    with pytest.raises(ValueError, match="not sorted"):
        EnsembleForecaster(**TINY).fit(ds.isel(time=[0, 2, 1, 3]))
    with pytest.raises(ValueError, match="duplicated"):
        EnsembleForecaster(**TINY).fit(ds.isel(time=[0, 1, 1, 2]))
    with pytest.raises(ValueError, match="irregular"):
        EnsembleForecaster(**TINY).fit(ds.isel(time=[0, 1, 2, 4, 5]))
    with pytest.raises(ValueError, match=r"`time` must hold dates and times \(datetime64\), got int64"):
        EnsembleForecaster(**TINY).fit(ds.assign_coords(time=np.arange(ds.sizes["time"])))  # not nanoseconds
    for step in ("-1h", "0h"):
        with pytest.raises(ValueError, match=f"step must be a positive duration, got '{step}'"):
            EnsembleForecaster(step=step, **TINY).fit(ds)
    nan_var = ds.assign(Wind=ds["Wind"] * np.nan)
    with pytest.raises(ValueError, match="all NaN"):
        EnsembleForecaster(**TINY).fit(nan_var)
    inf_var = ds.copy(deep=True)
    inf_var["Wind"][0, 3, 3] = np.inf
    with pytest.raises(ValueError, match="inf"):
        EnsembleForecaster(**TINY).fit(inf_var)
    huge = ds.assign(Wind=ds["Wind"].astype(np.float64) * 1e40)  # finite in float64, inf in the model's float32
    with pytest.raises(ValueError, match=r"variable 'Wind' reaches .*e\+40, beyond float32's range"):
        EnsembleForecaster(**TINY).fit(huge)
    with pytest.raises(ValueError, match="latitude and longitude"):
        EnsembleForecaster(**TINY).fit(ds.rename(lon="x"))
    with pytest.raises(ValueError, match="multiple"):
        fc.predict(ds, ds.time.values[80], lead_times=["90min"])
    with pytest.raises(ValueError, match="previous state"):
        fc.predict(ds, ds.time.values[0], lead_times=["1h"])
    with pytest.raises(ValueError, match="not time stamps"):
        fc.predict(ds, np.datetime64("2030-01-01"), lead_times=["1h"])
    with pytest.raises(ValueError, match="grid"):
        fc.predict(ds.isel(lat=slice(0, 4)), ds.time.values[80], lead_times=["1h"])
    with pytest.raises(ValueError, match=r"`lon` values differ from the fitted grid's \(position 0: -9.0 vs -10.0\)"):
        fc.predict(ds.assign_coords(lon=ds.lon + 1), ds.time.values[80], lead_times=["1h"])
    with pytest.raises(ValueError, match="not found"):
        fc.predict(ds[["Tair"]], ds.time.values[80], lead_times=["1h"])
    with pytest.raises(RuntimeError, match="not fitted"):
        EnsembleForecaster().predict(ds)
    with pytest.raises(ValueError, match="positive multiple"):
        parse_lead_times(["-1h"], pd.Timedelta("1h"))
    with pytest.raises(ValueError, match=r"lead_times must be durations such as '1h' or '1h,3h', got \['abc'\]"):
        parse_lead_times("abc", pd.Timedelta("1h"))
    for members in (2.7, 0, True):
        with pytest.raises(ValueError, match=f"members must be a whole number >= 1, got {members!r}"):
            fc.predict(ds, ds.time.values[80], lead_times=["1h"], members=members)
    with pytest.raises(ValueError, match=r"variables named more than once: \['Tair', 'Tair'\]"):
        EnsembleForecaster(variables=["Tair", "Tair"], **TINY).fit(ds)


def test_baselines():
    ds = synthetic(n_hours=120, seed=2)
    train = ds.isel(time=slice(0, 96))
    inits = ds.time.values[96:114:6]
    pers = persistence(ds, inits, ["1h", "3h"])
    np.testing.assert_array_equal(pers["Tair"].values[:, 0, 1], ds["Tair"].sel(time=inits).values)
    assert pers.sizes["member"] == 1
    truth = ds.sel(time=pers.valid_time).drop_vars("time")
    # the pattern repeats every 7 hours and the cycle every 24: the hourly climatology is poor, diurnal helps
    clim = hourly_climatology(train, ds, inits, ["1h", "3h"])
    diurnal = persistence_diurnal(train, ds, inits, ["1h", "3h"])
    assert clim.sizes == pers.sizes == diurnal.sizes
    noise = persistence_noise(train, ds, inits, ["1h", "3h"], members=30, seed=0)
    assert noise.sizes["member"] == 30
    crps_noise = grid.crps(noise, truth)["Tair"]
    crps_diurnal = grid.crps(diurnal, truth)["Tair"]
    assert (crps_noise < crps_diurnal).all()  # a calibrated spread lowers CRPS below the MAE
    assert np.isnan(noise["Tair"].values[..., :2, :2]).all()
    with pytest.raises(ValueError, match="members"):
        persistence_noise(train, ds, inits, ["1h"], members=0)


def test_static_fields_are_matched_by_coordinate_and_checked():
    ds = synthetic(n_hours=30)
    height = xr.DataArray(
        np.arange(42.0).reshape(6, 7), coords={"lat": ds.lat, "lon": ds.lon}, dims=("lat", "lon"), name="height"
    )
    aligned = EnsembleForecaster(epochs=1, **TINY).fit(ds, static=height)
    flipped = EnsembleForecaster(epochs=1, **TINY).fit(ds, static=height.isel(lat=slice(None, None, -1)))
    assert aligned.static_.shape == (1, 6, 7)
    np.testing.assert_array_equal(flipped.static_.numpy(), aligned.static_.numpy())  # not reversed on the grid
    with pytest.raises(ValueError, match="static field 'height': its `lon` values are not the grid's"):
        EnsembleForecaster(epochs=1, **TINY).fit(ds, static=height.assign_coords(lon=height.lon + 0.5))
    for bad in (height.where(height != 5, np.inf), height * np.nan):
        with pytest.raises(ValueError, match="static field 'height' holds inf or no value at all"):
            EnsembleForecaster(epochs=1, **TINY).fit(ds, static=bad)
