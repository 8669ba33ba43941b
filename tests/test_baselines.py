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
