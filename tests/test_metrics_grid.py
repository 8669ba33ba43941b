"""Gridded ensemble scores against brute-force loops and against an ensemble of one."""

import numpy as np
import pytest
import xarray as xr

from tsdiff.metrics import grid


def make(m=5, seed=0, lat=(50.25, 50.75, 51.25, 70.0), nan_cells=True, lat_name="lat"):
    rng = np.random.default_rng(seed)
    n_time, n_lead, n_lat, n_lon = 3, 2, len(lat), 6
    coords = {"time": np.arange(n_time), "lead_time": np.arange(n_lead), lat_name: list(lat), "lon": np.arange(n_lon)}
    truth = xr.DataArray(rng.normal(size=(n_time, n_lead, n_lat, n_lon)), coords=coords, dims=list(coords))
    if nan_cells:
        truth[:, :, 0, :2] = np.nan  # "ocean" cells
    fc = xr.DataArray(
        rng.normal(size=(m, n_time, n_lead, n_lat, n_lon)) + 0.3,
        coords={"member": np.arange(m), **coords},
        dims=["member", *coords],
    )
    return fc, truth


def brute_crps(x, y, fair=True):
    m = len(x)
    skill = np.mean(np.abs(x - y))
    pairs = sum(abs(a - b) for a in x for b in x)
    return skill - 0.5 * pairs / (m * (m - 1) if fair else m * m)


def test_latitude_weights_cell_area():
    lat = xr.DataArray(np.arange(-87.1875, 90, 5.625), dims=["latitude"], name="latitude")
    w = grid.latitude_weights(lat)
    assert float(w.mean()) == pytest.approx(1.0)
    np.testing.assert_allclose(w, np.cos(np.deg2rad(lat)) / np.cos(np.deg2rad(lat)).mean(), rtol=1e-3)
    # descending axis: the same weights, in its order
    w_desc = grid.latitude_weights(lat[::-1].rename("latitude"))
    np.testing.assert_allclose(w_desc.values, w.values[::-1])
    with pytest.raises(ValueError, match=r"latitudes must lie in \[-90, 90\], got -81.5625 .. 92.8125"):
        grid.latitude_weights((lat + 5.625).rename("latitude"))  # a shifted axis, not a cell-area error


def test_crps_matches_brute_force():
    fc, truth = make()
    # interior-cell weights are exactly proportional to cos(lat) only on a regular grid: use the module's weights
    w = grid.latitude_weights(fc["lat"]).values
    for fair in (True, False):
        per_cell = np.full(truth.shape, np.nan)
        for idx in np.ndindex(truth.shape):
            per_cell[idx] = brute_crps(fc.values[(slice(None), *idx)], truth.values[idx], fair)
        expected = []
        for j in range(truth.shape[1]):
            valid = np.isfinite(truth.values[:, j])
            ww = np.broadcast_to(w[None, :, None], valid.shape)
            expected.append((per_cell[:, j] * ww)[valid].sum() / ww[valid].sum())
        got = grid.crps(fc, truth, fair=fair)
        assert got.dims == ("lead_time",)
        np.testing.assert_allclose(got.values, expected, rtol=1e-10)


def test_crps_and_rmse_of_one_member_are_mae_and_rmse():
    fc, truth = make(m=1)
    w = grid.latitude_weights(truth["lat"])
    err = fc.isel(member=0) - truth
    mae = (abs(err) * w).sum(["time", "lat", "lon"]) / (w * truth.notnull()).sum(["time", "lat", "lon"])
    np.testing.assert_allclose(grid.crps(fc, truth).values, mae.values, rtol=1e-10)
    mse = (err**2 * w).sum(["time", "lat", "lon"]) / (w * truth.notnull()).sum(["time", "lat", "lon"])
    np.testing.assert_allclose(grid.ensemble_mean_rmse(fc, truth).values, np.sqrt(mse.values), rtol=1e-10)
    hist = grid.rank_histogram(fc, truth)
    assert hist.sizes["rank"] == 2 and int(hist.sum()) == int(truth.notnull().sum())
    assert float(grid.energy_score(fc, truth).isel(lead_time=0)) > 0
    with pytest.raises(ValueError, match="two members"):
        grid.spread(fc, truth)


def test_spread_skill_and_rank_histogram_on_a_calibrated_ensemble():
    """Members and truth drawn from the same law: spread-skill ~ 1 (with the finite-ensemble factor), flat ranks."""
    rng = np.random.default_rng(1)
    m, n = 10, 20_000
    centre = rng.normal(size=(1, n, 1, 1)) * 3
    coords = {"time": np.arange(n), "lat": [10.0], "lon": [0.0]}
    truth = xr.DataArray((centre + rng.normal(size=(1, n, 1, 1)))[0], coords=coords, dims=list(coords))
    fc = xr.DataArray(
        centre + rng.normal(size=(m, n, 1, 1)), coords={"member": np.arange(m), **coords}, dims=["member", *coords]
    )
    ratio = float(grid.spread_skill_ratio(fc, truth))
    raw = float(grid.spread_skill_ratio(fc, truth, finite_ensemble=False))
    assert ratio == pytest.approx(1.0, abs=0.03)
    assert raw == pytest.approx(np.sqrt(m / (m + 1)), abs=0.03)
    # the mean of M members errs by an extra variance / M; the infinite-ensemble estimate takes it off
    assert float(grid.ensemble_mean_rmse(fc, truth)) == pytest.approx(np.sqrt(1 + 1 / m), abs=0.015)
    assert float(grid.ensemble_mean_rmse(fc, truth, infinite_ensemble=True)) == pytest.approx(1.0, abs=0.015)
    two = fc.isel(member=[0, 1])
    assert float(grid.ensemble_mean_rmse(two, truth)) == pytest.approx(np.sqrt(1.5), abs=0.02)
    assert float(grid.ensemble_mean_rmse(two, truth, infinite_ensemble=True)) == pytest.approx(1.0, abs=0.02)
    hist = grid.rank_histogram(fc, truth)
    assert hist.sizes["rank"] == m + 1
    assert float(grid.rank_flatness(hist)) < 0.08
    # an under-dispersed ensemble has a U-shaped histogram
    narrow = centre + 0.3 * rng.normal(size=(m, n, 1, 1))
    hist_u = grid.rank_histogram(fc.copy(data=narrow), truth)
    assert float(grid.rank_flatness(hist_u)) > 0.5
    assert hist_u.values[0] > 3 * hist_u.values[m // 2]


def test_infinite_ensemble_rmse_matches_brute_force():
    fc, truth = make(m=4)
    w = grid.latitude_weights(truth["lat"]).values[None, :, None]
    per_cell = (fc.values.mean(0) - truth.values) ** 2 - fc.values.var(0, ddof=1) / 4
    for j in range(truth.shape[1]):
        valid = np.isfinite(truth.values[:, j])
        ww = np.broadcast_to(w, valid.shape)
        expected = np.sqrt(max(0.0, (per_cell[:, j] * ww)[valid].sum() / ww[valid].sum()))
        got = grid.ensemble_mean_rmse(fc, truth, infinite_ensemble=True).isel(lead_time=j)
        assert float(got) == pytest.approx(expected, rel=1e-10)
    table = grid.score_table(fc.to_dataset(name="x"), truth.to_dataset(name="x"))
    assert (table.rmse_inf < table.rmse).all()
    with pytest.raises(ValueError, match="needs at least two members"):
        grid.ensemble_mean_rmse(fc.isel(member=[0]), truth, infinite_ensemble=True)
    assert grid.score_table(fc.isel(member=[0]).to_dataset(name="x"), truth.to_dataset(name="x")).rmse_inf.isna().all()


def test_spread_matches_brute_force():
    fc, truth = make(m=4)
    w = grid.latitude_weights(truth["lat"])
    var = fc.values.var(0, ddof=1)
    valid = np.isfinite(truth.values)
    ww = np.broadcast_to(w.values[None, None, :, None], valid.shape)
    for j in range(truth.shape[1]):
        expected = np.sqrt((var[:, j] * ww[:, j])[valid[:, j]].sum() / ww[:, j][valid[:, j]].sum())
        assert float(grid.spread(fc, truth).isel(lead_time=j)) == pytest.approx(expected, rel=1e-10)


def test_energy_score_brute_force():
    fc, truth = make(m=3)
    w = grid.latitude_weights(truth["lat"]).values[:, None]
    es = grid.energy_score(fc, truth)
    for j in range(truth.shape[1]):
        vals = []
        for t in range(truth.shape[0]):
            y = truth.values[t, j]
            valid = np.isfinite(y)
            ww = np.broadcast_to(w, y.shape)[valid]

            def norm(d, ww=ww, valid=valid):
                return np.sqrt((ww * d[valid] ** 2).sum() / ww.sum())

            xs = [fc.values[i, t, j] for i in range(3)]
            skill = np.mean([norm(x - y) for x in xs])
            pairs = sum(norm(a - b) for a in xs for b in xs) / (3 * 2)
            vals.append(skill - 0.5 * pairs)
        assert float(es.isel(lead_time=j)) == pytest.approx(np.mean(vals), rel=1e-10)


def test_dataset_in_dataset_out_and_latitude_names():
    fc, truth = make(lat_name="latitude", lat=(60.0, 55.0, 50.0))
    fc_ds = xr.Dataset({"Tair": fc, "Wind": fc * 2})
    truth_ds = xr.Dataset({"Tair": truth, "Wind": truth * 2})
    out = grid.crps(fc_ds, truth_ds)
    assert set(out.data_vars) == {"Tair", "Wind"}
    np.testing.assert_allclose(out["Wind"].values, 2 * out["Tair"].values)
    with pytest.raises(ValueError, match="member dim"):
        grid.crps(fc.isel(member=0), truth)
    with pytest.raises(ValueError, match="latitude and longitude"):
        grid.crps(fc.rename(lon="x"), truth.rename(lon="x"))


def test_scores_align_truth_to_the_forecast_and_accept_reversed_axes():
    fc, truth = make()
    # a truth spanning more times than the forecast is cut to the forecast's times
    longer = xr.concat([truth, truth.isel(time=[0]).assign_coords(time=[99])], "time")
    for score in (grid.crps, grid.ensemble_mean_rmse, grid.spread):
        np.testing.assert_allclose(score(fc, longer), score(fc, truth))
    np.testing.assert_array_equal(grid.rank_histogram(fc, longer), grid.rank_histogram(fc, truth))
    # a descending latitude axis (a negative-stride view) gives the same scores
    flipped_fc, flipped_truth = fc.isel(lat=slice(None, None, -1)), truth.isel(lat=slice(None, None, -1))
    np.testing.assert_allclose(grid.crps(flipped_fc, flipped_truth), grid.crps(fc, truth))
    with pytest.raises(ValueError, match="share no coordinate values along \\['time'\\]"):
        grid.crps(fc, truth.assign_coords(time=truth.time + 100))


def test_a_forecast_without_values_where_the_truth_has_data_is_an_error():
    fc, truth = make()  # truth is NaN in the "ocean" cells [:, :, 0, :2]
    ocean = fc.copy()
    ocean[:, :, :, 0, :2] = np.nan  # no forecast where there is no truth: scored as before
    np.testing.assert_allclose(grid.crps(ocean, truth), grid.crps(fc, truth))
    scores = (grid.crps, grid.ensemble_mean_rmse, grid.spread, grid.spread_skill_ratio, grid.rank_histogram)
    for bad_value in (np.nan, np.inf):
        bad = fc.copy()
        bad[1, 0, 0, 2, 3] = bad_value  # one member of one land cell
        for score in (*scores, grid.energy_score):
            with pytest.raises(ValueError, match="NaN or inf in 1 values where the truth has data"):
                score(bad, truth)
    wind = fc.copy()
    wind[0, 0, 0, 3, 5] = np.nan  # in one variable of a Dataset
    with pytest.raises(ValueError, match="NaN or inf in 1 values"):
        grid.crps(xr.Dataset({"Tair": fc, "Wind": wind}), xr.Dataset({"Tair": truth, "Wind": truth}))
    fc_copy = fc.copy(deep=True)
    grid.crps(fc, truth)
    xr.testing.assert_identical(fc, fc_copy)  # the user's forecast is not modified
