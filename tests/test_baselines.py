import sys

import numpy as np
import pytest

from tsdiff.baselines import IMPUTATION_BASELINES, linear_impute, locf_impute, mean_impute


def _data():
    x = np.array([[[1.0, np.nan], [np.nan, 4.0], [3.0, np.nan], [np.nan, np.nan]]])  # (1, L=4, K=2)
    train = np.array([[[0.0, 10.0], [2.0, 20.0]]])
    return x, train


def test_linear_locf_and_mean_by_hand():
    x, train = _data()
    np.testing.assert_allclose(linear_impute(x, train)[0], [[1, 4], [2, 4], [3, 4], [3, 4]])
    np.testing.assert_allclose(locf_impute(x, train)[0], [[1, 4], [1, 4], [3, 4], [3, 4]])
    np.testing.assert_allclose(mean_impute(x, train)[0], [[1, 15], [1, 4], [3, 15], [1, 15]])


@pytest.mark.parametrize("name", sorted(IMPUTATION_BASELINES))
def test_every_baseline_fills_everything_and_keeps_observed(name):
    rng = np.random.default_rng(0)
    train = rng.normal(size=(20, 8, 3))
    x = rng.normal(size=(5, 8, 3))
    x[rng.random(x.shape) < 0.3] = np.nan
    x[0, :, 1] = np.nan  # a feature missing in a whole window
    before = x.copy()
    out = IMPUTATION_BASELINES[name](x, train)
    assert not np.isnan(out).any()
    obs = ~np.isnan(x)
    assert np.array_equal(out[obs], x[obs])
    assert np.array_equal(x, before, equal_nan=True)


def test_pypots_peers_name_the_missing_extra_and_bad_input(monkeypatch):
    from tsdiff.baselines.peers import pypots_impute

    x = np.random.default_rng(0).normal(size=(4, 6, 3))
    with pytest.raises(ValueError, match="unknown PyPOTS peer 'gru'"):
        pypots_impute("gru", x, x, epochs=1)
    monkeypatch.setitem(sys.modules, "pypots", None)  # as if not installed
    with pytest.raises(ImportError, match="the PyPOTS peers need pypots: pip install pypots"):
        pypots_impute("saits", x, x, epochs=1)


def test_pypots_peer_imputes_in_data_units_and_keeps_observed_values():
    pytest.importorskip("pypots")
    from tsdiff.baselines.peers import pypots_impute

    rng = np.random.default_rng(0)
    train = 100 + 10 * rng.normal(size=(24, 8, 3))
    train[rng.random(train.shape) < 0.2] = np.nan
    x = 100 + 10 * rng.normal(size=(5, 8, 3))
    x[rng.random(x.shape) < 0.3] = np.nan
    with pytest.raises(ValueError, match="equal L, K"):
        pypots_impute("saits", x[:, :4], train, epochs=1)
    draws, secs = pypots_impute("saits", x, train, epochs=1)
    assert draws.shape == (5, 1, 8, 3) and np.isfinite(draws).all()
    observed = ~np.isnan(x)
    np.testing.assert_array_equal(draws[:, 0][observed], x[observed])
    assert 50 < draws[:, 0][~observed].mean() < 150  # the imputed entries are back in data units, not z-units
    assert secs["train_s"] > 0 and secs["impute_s"] > 0
    draws, _ = pypots_impute("csdi", x, train, epochs=1, n_samples=3)
    assert draws.shape == (5, 3, 8, 3) and np.isfinite(draws).all()
    # one epoch of CSDI leaves wide draws, so their median (not their mean) shows the data units (100, not 0)
    assert 50 < np.median(draws.transpose(1, 0, 2, 3)[:, ~observed]) < 150
