import warnings

import numpy as np
import pandas as pd
import pytest

from tsdiff.data.masks import forecast_mask
from tsdiff.tasks.forecast_series import fit_forecaster, forecast

FAST = dict(preset="small", epochs=1, sampler="ddim", sample_steps=3, progress=False)


def test_forecast_mask_hides_the_last_steps():
    import torch

    obs = torch.ones(2, 3, 10, dtype=torch.bool)
    cond = forecast_mask(obs, 4)
    assert cond[..., :6].all() and not cond[..., 6:].any()
    with pytest.raises(ValueError, match="horizon"):
        forecast_mask(obs, 10)


def test_forecast_shapes_index_and_errors():
    idx = pd.date_range("2024-01-01", periods=150, freq="h")
    df = pd.DataFrame({"a": np.sin(np.arange(150) / 4), "b": np.cos(np.arange(150) / 4)}, index=idx)
    model = fit_forecaster(df, horizon=5, **FAST)
    ds = forecast(model, df, members=7)
    assert ds["a"].shape == (7, 5) and ds.attrs["horizon"] == 5
    assert (ds.time.values == pd.date_range(idx[-1], periods=6, freq="h")[1:]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an uneven index is an error here, without the imputer's spacing warning
        with pytest.raises(ValueError, match="regular frequency"):
            forecast(model, df.iloc[[0, 1, 5, 9]])
    with pytest.raises(ValueError, match="duplicated time stamps"):
        forecast(model, df.iloc[[0, 1, 1, 2]])
    rows = df.reset_index(drop=True)
    assert list(forecast(model, rows, members=2).time.values) == list(range(150, 155))  # integer rows go on
    with pytest.raises(ValueError, match=r"not evenly spaced \(steps \[1, 5\]\)"):
        forecast(model, rows.iloc[[0, 1, 2, 7, 8]])
    with pytest.raises(ValueError, match="horizon"):
        forecast(model, df, horizon=model.seq_len_)
    with pytest.raises(ValueError, match="horizon 6 is longer than the 5 steps the model was trained for"):
        forecast(model, df, horizon=6)
    assert forecast(model, df, horizon=3, members=2)["a"].shape == (2, 3)  # a shorter horizon: fewer steps
    with pytest.raises(ValueError, match=r"horizon must be in \[1, 47\] for this model, got 0"):
        forecast(model, df, horizon=0)  # not the model's horizon in its place
    with pytest.raises(ValueError, match="shorter than the window"):
        fit_forecaster(df, horizon=60, seq_len=48)
    with pytest.raises(ValueError, match=r"must be shorter than the window \(0\)"):
        fit_forecaster(df, horizon=5, seq_len=0)
    with pytest.raises(ValueError, match="the series has 40 rows, fewer than one window of 48"):
        fit_forecaster(df.iloc[:40], horizon=4)  # every target would be padding: nothing to learn
    for horizon in (4.5, "4", True):
        with pytest.raises(TypeError, match="horizon must be a whole number of steps"):
            fit_forecaster(df, horizon=horizon)
    with pytest.raises(TypeError, match="horizon must be a whole number of steps"):
        forecast(model, df, horizon=2.5)
    for names in (["time", "b"], ["a", "a_quantiles"], [0, "0"]):  # names the forecast Dataset would lose
        with pytest.raises(ValueError, match="clash with the forecast's names"):
            fit_forecaster(df.set_axis(names, axis=1), horizon=5, **FAST)
    with pytest.raises(ValueError, match="PeriodIndex"):
        fit_forecaster(df.set_axis(df.index.to_period("h")), horizon=5, **FAST)
    with pytest.raises(ValueError, match="differ from those seen in fit"):
        forecast(model, df[["b", "a"]])
    with pytest.raises(ValueError, match="not sorted"):
        forecast(model, df.iloc[::-1])
    # a context shorter than training's: padded in front, the horizon still the window's last steps
    short = forecast(model, df.iloc[-3:], members=4)
    assert short["a"].shape == (4, 5) and np.isfinite(short["a"].values).all()
    gap = df.copy()
    gap.iloc[-43:, 1] = np.nan  # column b empty over the whole context (48 - 5 rows)
    with pytest.warns(UserWarning, match=r"columns \['b'\] have no observed value in the context window"):
        ds = forecast(model, gap, members=3)
    assert np.isfinite(ds["b"].values).all()  # still forecast, from column a
    assert gap["b"].isna().sum() == 43  # the caller's frame unchanged
    named = forecast(model, df.rename_axis("datetime"), members=2)  # an index named otherwise (AQI-36's file)
    assert named["a_quantiles"].dims == ("quantile", "time") and (named.time.values == ds.time.values).all()
    for members in (0, 2.5):
        with pytest.raises(ValueError, match=f"members must be a whole number >= 1, got {members!r}"):
            forecast(model, df, members=members)


def test_fit_forecaster_recipe_and_budget():
    from tsdiff.tasks.forecast_series import DEFAULTS

    idx = pd.date_range("2024-01-01", periods=120, freq="h")
    df = pd.DataFrame({"a": np.sin(np.arange(120) / 4)}, index=idx)
    before = df.copy()
    model = fit_forecaster(df, horizon=4, max_steps=3, progress=False)  # the recipe, with a budget of 3 steps
    params = model.get_params()
    assert {k: params[k] for k in DEFAULTS} == {**DEFAULTS, "max_steps": 3}
    assert params["center_windows"] and params["train_stride"] == 1 and model.train_result_.steps == 3
    windows = len(df) - model.seq_len_ + 1  # a window at every row
    by_epochs = fit_forecaster(df, horizon=4, epochs=1, batch_size=8, progress=False)  # epochs replace the steps
    assert by_epochs.max_steps is None and by_epochs.train_result_.steps == windows // 8  # full batches
    pd.testing.assert_frame_equal(df, before)
