"""DiffusionImputer: the scikit-learn surface, types in and out, observed values, persistence, bad input."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from tsdiff import DiffusionImputer
from tsdiff.checkpoint import CheckpointError, save_checkpoint
from tsdiff.data.adapters import to_windows

FAST = dict(preset="small", epochs=2, batch_size=16, n_samples=4, sampler="ddim", sample_steps=5, progress=False)


def _windows(n=48, l=12, k=3, missing=0.2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(l)
    x = np.sin(t[None, :, None] / 3 + rng.uniform(0, 6, (n, 1, 1)) + np.arange(k)) * 10 + 50
    x[rng.random(x.shape) < missing] = np.nan
    return x


@pytest.fixture(scope="module")
def fitted():
    return DiffusionImputer(**FAST).fit(_windows())


def test_transform_fills_gaps_and_keeps_observed_values_bit_for_bit(fitted):
    x = _windows(seed=1)
    before = x.copy()
    out = fitted.transform(x)
    assert out.shape == x.shape and not np.isnan(out).any()
    obs = ~np.isnan(x)
    assert np.array_equal(out[obs], x[obs])  # exactly, not approximately
    assert np.array_equal(x, before, equal_nan=True)  # the caller's array is untouched
    assert 10 < out[~obs].mean() < 90  # back in data units


def test_sample_and_quantiles(fitted):
    x = _windows(n=5, seed=2)
    draws = fitted.sample(x, n_samples=6)
    assert draws.shape == (5, 6, 12, 3)
    obs = ~np.isnan(x)
    assert np.array_equal(draws[:, 3][obs], x[obs])
    assert draws.std(1)[~obs].mean() > 0  # the draws differ where values are missing
    bands = fitted.predict_quantiles(x, q=(0.05, 0.5, 0.95))
    assert set(bands) == {0.05, 0.5, 0.95}
    assert (bands[0.05] <= bands[0.95] + 1e-9).all()
    with pytest.raises(ValueError, match="quantile"):
        fitted.predict_quantiles(x, q=(1.5,))
    with pytest.raises(ValueError, match="n_samples must be >= 1, got 0"):
        fitted.sample(x, n_samples=0)  # not the default in its place
    low = fitted.predict_quantiles(x, q=0.1, draws=draws)[0.1]
    np.testing.assert_array_equal(low, np.where(obs, x, np.quantile(draws, 0.1, axis=1)))
    with pytest.raises(ValueError, match=r"draws must have sample\(X\)'s shape \(5, S, 12, 3\) for this X"):
        fitted.predict_quantiles(x, draws=draws[:1])  # one window's draws for five windows


def test_dataframe_in_dataframe_out():
    idx = pd.date_range("2024-01-01", periods=100, freq="h")
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"a": np.sin(np.arange(100) / 5), "b": np.cos(np.arange(100) / 5)}, index=idx)
    df = df.mask(rng.random(df.shape) < 0.2)
    imp = DiffusionImputer(seq_len=24, **FAST).fit(df)
    out = imp.transform(df)
    assert isinstance(out, pd.DataFrame) and out.index.equals(df.index) and list(out.columns) == ["a", "b"]
    assert not out.isna().any().any()
    pd.testing.assert_frame_equal(out[df.notna()], df[df.notna()])
    draws = imp.sample(df, n_samples=3)
    assert draws.shape == (3, 100, 2)
    median = imp.predict_quantiles(df, q=0.5, draws=draws)[0.5]  # the draws reused, not drawn anew
    pd.testing.assert_frame_equal(median, df.fillna(pd.DataFrame(np.median(draws, 0), df.index, df.columns)))
    for bad in (draws[:, :90], draws[None], draws[..., :1]):
        with pytest.raises(ValueError, match=r"draws must have sample\(X\)'s shape \(S, 100, 2\) for this X"):
            imp.predict_quantiles(df, draws=bad)
    with pytest.raises(ValueError, match="columns"):
        imp.transform(df.rename(columns={"b": "c"}))


def test_sklearn_conventions(fitted):
    params = fitted.get_params()
    assert params["n_samples"] == 4 and params["preset"] == "small"
    clone(fitted).set_params(n_samples=9)
    pipe = make_pipeline(FunctionTransformer(lambda z: z), DiffusionImputer(**FAST))
    out = pipe.fit_transform(_windows())
    assert not np.isnan(out).any()


def test_save_load_round_trip(fitted, tmp_path):
    path = fitted.save(tmp_path / "imputer.pt")
    loaded = DiffusionImputer.load(path, progress=False)
    x = _windows(n=4, seed=3)
    np.testing.assert_array_equal(loaded.transform(x), fitted.transform(x))
    other = tmp_path / "other.pt"
    save_checkpoint(
        other,
        {"task": "forecast", "model": {}, "model_kind": {}, "schedule": {}, "scaler": {}, "columns": [], "params": {}},
    )
    with pytest.raises(CheckpointError, match="not an imputation model"):
        DiffusionImputer.load(other)
    save_checkpoint(other, {**{k: v for k, v in torch.load(path, weights_only=True).items() if k != "seq_len"}})
    with pytest.raises(CheckpointError, match=r"lacks \['seq_len'\]: it was not written for this use"):
        DiffusionImputer.load(other)  # a named error, not a bare KeyError


def test_load_reads_a_training_checkpoint_with_the_weights_fit_samples_with(tmp_path):
    x = _windows()
    imp = DiffusionImputer(**FAST, ema_decay=0.9).fit(x, checkpoint=tmp_path / "train.pt")
    loaded = DiffusionImputer.load(tmp_path / "train.pt", progress=False)
    for name, value in imp.model_.state_dict().items():  # fit sampled with the EMA weights: so does the loaded one
        torch.testing.assert_close(loaded.model_.state_dict()[name], value, rtol=0, atol=0)


def test_inconsistent_checkpoints_raise_checkpoint_errors(fitted, tmp_path):
    state = torch.load(fitted.save(tmp_path / "ok.pt"), weights_only=True)

    def broken(name, **changes):
        save_checkpoint(tmp_path / name, {k: v for k, v in {**state, **changes}.items() if k not in ("format",)})
        return tmp_path / name

    with pytest.raises(CheckpointError, match=r"stored parameters \['colour'\]"):
        DiffusionImputer.load(broken("p.pt", params={**state["params"], "colour": "red"}))
    with pytest.raises(TypeError, match="unknown parameters"):
        DiffusionImputer.load(tmp_path / "ok.pt", colour="red")
    weights = {k: v for k, v in state["model"].items() if not k.startswith("output")}
    with pytest.raises(CheckpointError, match="do not fit together"):
        DiffusionImputer.load(broken("w.pt", model=weights))
    with pytest.raises(CheckpointError, match="3 features but the file names 2 columns"):
        DiffusionImputer.load(broken("c.pt", columns=["a", "b"]))
    scaler = {**state["scaler"], "std": state["scaler"]["std"][:2]}
    with pytest.raises(CheckpointError, match=r"'scaler std' has shape \(2,\) where this model needs \(3,\)"):
        DiffusionImputer.load(broken("s.pt", scaler=scaler))


def test_interpolated_input_option_survives_save_and_load(tmp_path):
    x = _windows()
    imp = DiffusionImputer(**FAST, model_options={"interpolated_input": True}).fit(x)
    assert imp.model_.input_proj.in_features == 3  # observed, noisy, interpolated
    loaded = DiffusionImputer.load(imp.save(tmp_path / "interp.pt"), progress=False)
    assert loaded.model_.config.interpolated_input
    np.testing.assert_array_equal(loaded.transform(x[:4]), imp.transform(x[:4]))


def test_bad_input_is_named(fitted):
    x = _windows()
    bad = x.copy()
    bad[:, :, 1] = np.nan
    with pytest.raises(ValueError, match=r"no observed value.*\[1\]"):
        DiffusionImputer(**FAST).fit(bad)
    inf = x.copy()
    inf[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="inf"):
        fitted.transform(inf)
    with pytest.raises(ValueError, match="3 features|fitted on 3"):
        fitted.transform(x[:, :, :2])
    with pytest.raises(ValueError, match="shape"):
        fitted.transform(np.zeros(5))
    with pytest.raises(RuntimeError, match="not fitted"):
        DiffusionImputer().transform(x)
    with pytest.raises(ValueError, match="mask_strategy"):
        DiffusionImputer(mask_strategy="zigzag").fit(x)
    idx = pd.DatetimeIndex(["2024-01-02", "2024-01-01", "2024-01-03"])
    with pytest.raises(ValueError, match="not sorted"):
        DiffusionImputer(seq_len=2, **FAST).fit(pd.DataFrame({"a": [1.0, 2, 3]}, index=idx))
    dup = pd.DatetimeIndex(["2024-01-01", "2024-01-01", "2024-01-03"])
    with pytest.raises(ValueError, match="duplicated"):
        DiffusionImputer(seq_len=2, **FAST).fit(pd.DataFrame({"a": [1.0, 2, 3]}, index=dup))
    for seq_len in (0, -3, 2.5):
        with pytest.raises(ValueError, match=f"seq_len must be a whole number of steps >= 1, got {seq_len}"):
            DiffusionImputer(seq_len=seq_len, **FAST).fit(x.reshape(-1, 3))
    sparse = np.full((2, 12, 2), np.nan)
    sparse[0, 0, 0], sparse[1, 3, 1] = 1.0, 2.0  # one value per window: nothing to hide and recover
    with pytest.raises(ValueError, match="no window has at least two"):
        DiffusionImputer(**FAST).fit(sparse)


def test_a_failed_refit_leaves_the_fitted_imputer_as_it_was():
    x = _windows(n=16)
    imp = DiffusionImputer(**{**FAST, "epochs": 1}).fit(x)
    state = {name: value for name, value in vars(imp).items() if name.endswith("_")}
    wider = np.concatenate([_windows(n=16, k=4)[..., :3], np.full((16, 12, 1), np.nan)], axis=2)  # 4th all NaN
    with pytest.raises(ValueError, match="no observed value"):
        imp.fit(wider)
    with pytest.raises(ValueError, match="X_val"):
        imp.fit(_windows(n=16, k=4), X_val=x)  # 3 features against 4
    assert {name: value for name, value in vars(imp).items() if name.endswith("_")}.keys() == state.keys()
    assert all(getattr(imp, name) is value for name, value in state.items())
    assert imp.transform(x).shape == x.shape


def test_bad_tables_are_named_and_uneven_time_stamps_warned(fitted):
    idx = pd.date_range("2024-01-01", periods=48, freq="h")
    df = pd.DataFrame(_windows(n=4).reshape(48, 3), index=idx, columns=["a", "b", "c"])
    with pytest.raises(TypeError, match=r"columns that are not: \['site'\]"):
        fitted.transform(df.assign(site="north"))
    with pytest.raises(ValueError, match=r"duplicated column names \['a'\]"):
        DiffusionImputer(seq_len=12, **FAST).fit(df.set_axis(["a", "a", "c"], axis=1))
    dropped = df.drop(df.index[5:8])  # three hours without a row
    before = dropped.copy()
    with pytest.warns(
        UserWarning, match=r"not evenly spaced.*08:00:00 follows 2024-01-01 04:00:00 by 0 days 04:00:00.*asfreq\('h'\)"
    ):
        out = DiffusionImputer(seq_len=12, **FAST).fit_transform(dropped)
    pd.testing.assert_frame_equal(dropped, before)  # untouched, and the rows come back as given
    assert out.index.equals(dropped.index)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # evenly spaced calendars do not warn: hours, days across DST, month starts
        for index in (
            idx,
            pd.date_range("2024-03-20", periods=48, freq="D", tz="Europe/Berlin"),
            pd.date_range("2020-01-01", periods=48, freq="MS"),
        ):
            to_windows(df.set_axis(index), 12)


def test_constant_feature_is_centred_not_scaled():
    x = _windows()
    x[:, :, 2] = np.where(np.isnan(x[:, :, 2]), np.nan, 7.0)
    imp = DiffusionImputer(**FAST).fit(x)
    assert imp.scaler_.std[2] == 1.0 and imp.scaler_.mean[2] == 7.0


def test_xarray_in_xarray_out(fitted):
    import xarray as xr

    x = _windows(n=1, l=30, seed=4)[0]  # (T=30, K=3)
    da = xr.DataArray(
        x, dims=("time", "sensor"), coords={"time": pd.date_range("2024", periods=30, freq="h")}, attrs={"units": "K"}
    )
    fitted.seq_len = 12
    out = fitted.transform(da)
    assert isinstance(out, xr.DataArray) and out.dims == ("time", "sensor") and out.attrs == {"units": "K"}
    assert not np.isnan(out.values).any() and np.isnan(da.values).any()  # input untouched
    ds = xr.Dataset({f"v{k}": ("time", x[:, k]) for k in range(3)}, coords={"time": da.time})
    out_ds = fitted.transform(ds)
    assert isinstance(out_ds, xr.Dataset) and not np.isnan(out_ds["v1"].values).any()
    obs = ~np.isnan(ds["v1"].values)
    assert np.array_equal(out_ds["v1"].values[obs], ds["v1"].values[obs])
    fitted.seq_len = None


def test_xarray_dataset_with_coordinates_and_dask_chunks(fitted):
    import xarray as xr

    x = _windows(n=1, l=30, seed=4)[0]  # (T=30, K=3)
    time = pd.date_range("2024", periods=30, freq="h")
    ds = xr.Dataset(
        {f"v{k}": ("time", x[:, k].astype(np.float32)) for k in range(3)},
        coords={"time": time, "doy": ("time", time.day_of_year), "station_lat": 51.5},
    )
    fitted.seq_len = 12
    try:
        for given in (ds, ds.chunk({"time": 10})):  # coordinates are not features; dask data get filled too
            out = fitted.transform(given)
            assert list(out.data_vars) == ["v0", "v1", "v2"] and "doy" in out.coords
            assert out["v1"].dtype == np.float32 and not np.isnan(out["v1"].values).any()
            obs = ~np.isnan(x[:, 1])
            assert np.array_equal(out["v1"].values[obs], x[obs, 1].astype(np.float32))
            assert np.isnan(given["v1"].values).sum() == np.isnan(x[:, 1]).sum()  # the caller's data untouched
    finally:
        fitted.seq_len = None


def test_nullable_dtypes_are_numbers_with_missing_values(fitted):
    x = _windows(n=1, l=24, seed=6)[0]
    df = pd.DataFrame(x, columns=pd.Index(["a", "b", "c"], name="sensor")).astype("Float64")  # NaN -> pd.NA
    df.attrs["units"] = "ug/m3"
    assert df.isna().to_numpy().sum() == np.isnan(x).sum() > 0
    fitted.seq_len = 12
    try:
        out = fitted.transform(df)
    finally:
        fitted.seq_len = None
    assert not out.isna().to_numpy().any()
    np.testing.assert_array_equal(out.to_numpy(dtype=float)[~np.isnan(x)], x[~np.isnan(x)])
    assert out.columns.name == "sensor" and out.attrs == {"units": "ug/m3"}  # the caller's labels come back


def test_calibrate_fits_spread_factors_and_keeps_observed_values(fitted, tmp_path):
    imp = DiffusionImputer.load(fitted.save(tmp_path / "fitted.pt"), progress=False, n_samples=8)
    assert imp.spread_scale_ is None
    held_out = _windows(n=40, seed=4)
    before = held_out.copy()
    imp.calibrate(held_out, fraction=0.2)
    assert np.array_equal(held_out, before, equal_nan=True)
    scale = imp.spread_scale_
    assert scale.shape == (3,) and np.all(np.isfinite(scale)) and np.all(scale > 0)
    info = imp.calibration_
    assert info["targets"] > 50 and info["coverage_after"] >= 0.9  # conformal: at least the level in sample
    x = _windows(n=6, seed=5)
    raw, cal = fitted.sample(x, n_samples=8), imp.sample(x, n_samples=8)
    obs = ~np.isnan(x)
    assert np.array_equal(cal[:, 0][obs], x[obs])
    np.testing.assert_allclose(np.median(cal, 1), np.median(raw, 1))  # the same draws, rescaled about the median
    dev_raw = np.abs(raw - np.median(raw, 1, keepdims=True)).sum(axis=(0, 1, 2))
    dev_cal = np.abs(cal - np.median(cal, 1, keepdims=True)).sum(axis=(0, 1, 2))
    np.testing.assert_allclose(dev_cal, dev_raw * scale, rtol=1e-9)
    loaded = DiffusionImputer.load(imp.save(tmp_path / "calibrated.pt"), progress=False)
    np.testing.assert_array_equal(loaded.spread_scale_, scale)
    np.testing.assert_array_equal(loaded.sample(x, n_samples=8), cal)
    assert loaded.calibration_["sampler"] == "ddim" and loaded.calibration_["sample_steps"] == 5
    loaded.set_params(sample_steps=3)
    with pytest.warns(UserWarning, match="calibrate"):
        loaded.sample(x, n_samples=8)


def test_calibrate_names_bad_target_masks(fitted):
    x = _windows(n=20, seed=6)
    with pytest.raises(ValueError, match="shape"):
        fitted.calibrate(x, target_mask=np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError, match="boolean"):
        fitted.calibrate(x, target_mask=np.ones(x.shape))
    with pytest.raises(ValueError, match="missing in X"):
        fitted.calibrate(x, target_mask=np.isnan(x))
    with pytest.raises(ValueError, match="fraction"):
        fitted.calibrate(x, fraction=0.0)


def test_a_failed_calibration_keeps_the_previous_factors(fitted, tmp_path):
    imp = DiffusionImputer.load(fitted.save(tmp_path / "fitted.pt"), progress=False)
    imp.spread_scale_ = np.full(3, 2.0)
    with pytest.raises(ValueError, match="too few"):
        imp.calibrate(_windows(n=2, seed=8), fraction=0.01)
    np.testing.assert_array_equal(imp.spread_scale_, np.full(3, 2.0))


def test_calibration_fraction_holds_values_out_of_training_and_calibrates_on_them(monkeypatch):
    import tsdiff.tasks.impute as impute_module

    shares = []

    def spy(model, data, *args, **kwargs):  # the share of observed values in the training windows
        shares.append(float(data[1].float().mean()))
        return real_train(model, data, *args, **kwargs)

    real_train = impute_module.train
    monkeypatch.setattr(impute_module, "train", spy)
    idx = pd.date_range("2024-01-01", periods=240, freq="h")
    rng = np.random.default_rng(7)
    df = pd.DataFrame({"a": np.sin(np.arange(240) / 5), "b": np.cos(np.arange(240) / 7)}, index=idx)
    df = df.mask(rng.random(df.shape) < 0.1)
    before = df.copy()
    seen = []
    imp = DiffusionImputer(seq_len=24, calibration_fraction=0.2, **{**FAST, "n_samples": 9})
    imp.fit(df, callback=lambda step, loss: seen.append(step))
    pd.testing.assert_frame_equal(df, before)
    info = imp.calibration_
    assert 60 < info["targets"] < 130  # about 20% of the ~430 observed values
    assert imp.spread_scale_.shape == (2,) and info["coverage_after"] >= 0.9
    out = imp.transform(df)
    pd.testing.assert_frame_equal(out[df.notna()], df[df.notna()])  # held-out values come back as given
    plain = DiffusionImputer(seq_len=24, **{**FAST, "n_samples": 9}).fit(df)
    assert plain.spread_scale_ is None and len(seen) > 0
    assert abs(shares[0] - 0.8 * shares[1]) < 0.05  # 20% of the observed values were held out of training
    with pytest.raises(ValueError, match="calibration_fraction"):
        DiffusionImputer(calibration_fraction=0.7, **FAST).fit(_windows())


def test_calibration_fraction_too_small_warns_and_leaves_the_spread():
    with pytest.warns(UserWarning, match="too few"):
        imp = DiffusionImputer(calibration_fraction=0.01, **FAST).fit(_windows(n=6))
    assert imp.spread_scale_ is None and hasattr(imp, "model_")


def test_calibration_holdout_does_not_replay_the_callers_random_stream():
    x = _windows(n=20, missing=0.0)
    x[np.random.default_rng(1).random(x.shape) < 0.1] = np.nan  # hidden as `tsdiff demo` hides its scored values
    imp = DiffusionImputer(calibration_fraction=0.05, **{**FAST, "n_samples": 9}).fit(x)
    assert imp.calibration_["targets"] > 9  # the same stream would pick only values that are already hidden


def test_validation_set_scores_every_epoch_and_keeps_the_best_weights():
    x, x_val = _windows(n=32), _windows(n=12, seed=5)
    before = x_val.copy()
    imp = DiffusionImputer(**{**FAST, "epochs": 3}).fit(x, X_val=x_val)
    np.testing.assert_array_equal(x_val, before)  # the caller's data is untouched
    result = imp.train_result_
    assert [s for s, _ in result.validation] == [2, 4, 6]  # every epoch (2 steps) and at the end
    values = dict(result.validation)
    assert result.best_step == min(values, key=values.get)
    for name, weight in imp.model_.state_dict().items():
        assert torch.equal(weight, result.best_state[name]), name
    # fixed masks, steps and noise: unchanged weights score the same at every call
    frozen = DiffusionImputer(**{**FAST, "epochs": 2, "lr": 0.0}).fit(x, X_val=x_val)
    scores = [v for _, v in frozen.train_result_.validation]
    assert len(scores) == 2 and scores[0] == scores[1] and np.isfinite(scores[0])


def test_validation_set_is_checked_against_the_training_data():
    x = _windows(n=16)
    with pytest.raises(ValueError, match=r"X_val has windows of \(12, 2\)"):
        DiffusionImputer(**FAST).fit(x, X_val=_windows(n=4, k=2))
    with pytest.raises(ValueError, match=r"X_val has windows of \(10, 3\)"):
        DiffusionImputer(**FAST).fit(x, X_val=_windows(n=4, l=10))
    with pytest.raises(ValueError, match="no window with at least two observed values"):
        DiffusionImputer(**FAST).fit(x, X_val=np.full((3, 12, 3), np.nan))
    idx = pd.date_range("2024-01-01", periods=96, freq="h")
    df = pd.DataFrame({"a": np.sin(np.arange(96) / 5), "b": np.cos(np.arange(96) / 7)}, index=idx)
    with pytest.raises(ValueError, match="X_val's columns"):
        DiffusionImputer(seq_len=24, **FAST).fit(df, X_val=df.rename(columns={"b": "c"}))


def test_window_mean_matches_a_loop():
    from tsdiff.data.scaling import window_mean

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 9, generator=gen)
    mask = torch.rand(4, 3, 9, generator=gen) < 0.5
    mask[1, 2] = False  # a feature with nothing to average: 0
    got = window_mean(x, mask)
    assert got.shape == (4, 3, 1)
    for b in range(4):
        for k in range(3):
            want = x[b, k][mask[b, k]].mean() if mask[b, k].any() else torch.tensor(0.0)
            torch.testing.assert_close(got[b, k, 0], want)


def test_center_windows_draws_follow_each_windows_level(tmp_path):
    x = _windows(n=32)
    imp = DiffusionImputer(**FAST, center_windows=True, clip_denoised=False).fit(x)
    test = _windows(n=3, seed=3)
    draws = imp.sample(test, n_samples=3)
    shifted = imp.sample(test + 40.0, n_samples=3)  # the same windows at another level: the same draws, moved
    np.testing.assert_allclose(shifted, draws + 40.0, atol=1e-3)
    plain = DiffusionImputer(**FAST, clip_denoised=False).fit(x)
    moved = plain.sample(test + 40.0, n_samples=3) - plain.sample(test, n_samples=3)
    assert np.abs(moved - 40.0)[np.isnan(test)[:, None].repeat(3, 1)].mean() > 1  # without centring they do not
    # clipping keeps the training range in data units (to float32 rounding), whatever the window's level
    clipped = imp.set_params(clip_denoised=True).sample(test + 200.0, n_samples=3)
    low, high = imp.scaler_.inverse(np.stack(imp.scaler_.z_range()))
    gaps = np.isnan(test)[:, None].repeat(3, 1)
    assert (clipped[gaps] <= np.broadcast_to(high, clipped.shape)[gaps] + 1e-4).all()
    assert (clipped[gaps] >= np.broadcast_to(low, clipped.shape)[gaps] - 1e-4).all()
    path = imp.set_params(clip_denoised=False).save(tmp_path / "centred.pt")
    np.testing.assert_array_equal(DiffusionImputer.load(path).sample(test, n_samples=3), draws)  # kept by save
    state = torch.load(path, weights_only=True)
    del state["params"]["center_windows"], state["params"]["max_steps"]  # as written before the options existed
    save_checkpoint(tmp_path / "older.pt", state)
    assert DiffusionImputer.load(tmp_path / "older.pt").center_windows is False
