"""Split-conformal spread calibration (tsdiff.calibration): scores, factors, rescaling, bad input."""

import numpy as np
import pytest

from tsdiff.calibration import conformity_scores, rescale_spread, spread_scale


def test_conformity_scores_measure_the_stretch_to_the_target():
    draws = np.repeat(np.linspace(-1.0, 1.0, 101)[:, None], 5, axis=1)  # (S, n): median 0, 90% interval +-0.9
    truth = np.array([0.0, 0.9, -0.45, 1.8, -2.7])
    np.testing.assert_allclose(conformity_scores(draws, truth, 0.9), [0.0, 1.0, 0.5, 2.0, 3.0])
    flat = np.zeros((4, 2))  # no spread: a target off the median needs an infinite stretch
    assert conformity_scores(flat, np.array([0.0, 1.0]), 0.9).tolist() == [0.0, np.inf]


def _gaussian_case(rng, n=400, s=64, true_sd=(2.0, 0.5, 1.0)):
    """Draws with sd 1 around the truth's mean; the truth's sd per feature is true_sd."""
    k = len(true_sd)
    centre = rng.normal(size=(n, 1, 1, k))
    draws = centre + rng.normal(size=(n, s, 1, k))
    truth = centre[:, 0] + rng.normal(size=(n, 1, k)) * np.array(true_sd)
    return draws, truth


def test_spread_scale_recovers_each_features_dispersion_error_and_calibrates_new_data():
    rng = np.random.default_rng(0)
    draws, truth = _gaussian_case(rng)
    mask = np.ones(truth.shape, dtype=bool)
    scale = spread_scale(draws, truth, mask, level=0.9)
    np.testing.assert_allclose(scale, [2.0, 0.5, 1.0], rtol=0.15)
    # in sample the conformal quantile covers at least the level; on fresh data it covers about the level
    new_draws, new_truth = _gaussian_case(rng, n=4000)
    rescaled = rescale_spread(new_draws.copy(), scale)
    lo, hi = np.quantile(rescaled, [0.05, 0.95], axis=1)
    covered = ((new_truth >= lo) & (new_truth <= hi)).mean(axis=(0, 1))
    assert np.all(np.abs(covered - 0.9) < 0.03), covered
    lo0, hi0 = np.quantile(new_draws, [0.05, 0.95], axis=1)
    raw = ((new_truth >= lo0) & (new_truth <= hi0)).mean(axis=(0, 1))
    assert raw[0] < 0.65 and raw[1] > 0.99  # what the rescaling corrected: too narrow, too wide


def test_rescale_spread_keeps_the_median_and_scales_the_deviations():
    rng = np.random.default_rng(1)
    draws = rng.normal(size=(3, 9, 4, 2))
    median = np.median(draws, axis=1)
    out = rescale_spread(draws.copy(), np.array([3.0, 0.5]))
    np.testing.assert_allclose(np.median(out, axis=1), median)
    np.testing.assert_allclose(out[..., 0] - median[:, None, :, 0], 3 * (draws[..., 0] - median[:, None, :, 0]))


def test_sparse_features_take_the_pooled_factor():
    rng = np.random.default_rng(2)
    draws, truth = _gaussian_case(rng, true_sd=(2.0, 2.0))
    mask = np.ones(truth.shape, dtype=bool)
    mask[10:, 0, 1] = False  # feature 1 keeps 10 targets: fewer than min_targets
    scale = spread_scale(draws, truth, mask, level=0.9, min_targets=50)
    pooled = spread_scale(draws, truth, mask, level=0.9, min_targets=10**9)
    assert scale[1] == pooled[1] and scale[0] != pooled[0]


def test_bad_input_is_named():
    rng = np.random.default_rng(3)
    draws, truth = _gaussian_case(rng, n=20)
    mask = np.ones(truth.shape, dtype=bool)
    few = np.zeros_like(mask)
    few[:8, 0, 0] = True  # 8 targets: a 90% interval needs 9
    with pytest.raises(ValueError, match="too few"):
        spread_scale(draws, truth, few, 0.9)
    with pytest.raises(ValueError, match=r"\(N, S, L, K\)"):
        spread_scale(draws[0], truth, mask)
    with pytest.raises(ValueError, match="at least 2 draws"):
        spread_scale(draws[:, :1], truth, mask)
    with pytest.raises(ValueError, match="missing"):
        spread_scale(draws, np.where(mask, np.nan, truth), mask)
    with pytest.raises(ValueError, match="no spread"):
        spread_scale(np.zeros_like(draws), truth, mask)
    with pytest.raises(ValueError, match="level"):
        conformity_scores(draws[:, :, 0, 0].T, truth[:, 0, 0], 1.0)


def test_more_bad_input_is_named_and_the_draws_are_kept():
    rng = np.random.default_rng(4)
    draws, truth = _gaussian_case(rng, n=20)
    mask = np.ones(truth.shape, dtype=bool)
    with pytest.raises(ValueError, match="level"):
        spread_scale(draws, truth, mask, level=float("nan"))
    with pytest.raises(TypeError, match="boolean"):
        spread_scale(draws, truth, mask.astype(int))
    with pytest.raises(ValueError, match="infinite"):
        spread_scale(draws, np.where(mask, np.inf, truth), mask)
    broken = draws.copy()
    broken[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or inf at held-out targets"):
        spread_scale(broken, truth, mask)
    before = draws.copy()
    with pytest.raises(ValueError, match=r"scale \(K,\)"):
        rescale_spread(draws, np.ones(draws.shape[-1] + 3))
    np.testing.assert_array_equal(draws, before)  # refused before anything was changed in place
