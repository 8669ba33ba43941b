import numpy as np
import properscoring
import pytest
import torch

from tsdiff.metrics import crps_ensemble, crps_quantile, interval_coverage, mae, mre, pit_values, rmse


def _case(s=40, n=200, seed=0):
    g = torch.Generator().manual_seed(seed)
    samples = torch.randn(s, n, generator=g, dtype=torch.float64) * 1.5 + 0.3
    target = torch.randn(n, generator=g, dtype=torch.float64)
    mask = torch.rand(n, generator=g) < 0.7
    return samples, target, mask


def test_crps_ensemble_against_properscoring_and_brute_force():
    samples, target, mask = _case()
    plain = crps_ensemble(samples, target, fair=False)
    expected = properscoring.crps_ensemble(target.numpy(), samples.T.numpy())
    np.testing.assert_allclose(plain.numpy(), expected, rtol=1e-10)
    # the fair estimator against its O(S^2) definition
    s = samples.shape[0]
    pair = (samples[:, None] - samples[None]).abs().sum((0, 1))
    brute = (samples - target).abs().mean(0) - 0.5 * pair / (s * (s - 1))
    torch.testing.assert_close(crps_ensemble(samples, target), brute)
    assert crps_ensemble(samples, target, mask) == pytest.approx(float(brute[mask].mean()))


def test_crps_of_an_ensemble_of_one_is_the_absolute_error():
    target = torch.tensor([1.0, -2.0])
    one = torch.tensor([[0.5, 0.0]])
    torch.testing.assert_close(crps_ensemble(one, target), torch.tensor([0.5, 2.0], dtype=torch.float64))


def test_crps_quantile_matches_the_csdi_formula():
    samples, target, mask = _case()
    levels = np.arange(0.05, 1.0, 0.05)
    s, y = samples[:, mask].numpy(), target[mask].numpy()
    total = 0.0
    for q in levels:
        qp = np.quantile(s, q, axis=0)  # linear interpolation, as torch.quantile
        total += 2 * np.abs((qp - y) * ((y <= qp) * 1.0 - q)).sum() / np.abs(y).sum()
    assert crps_quantile(samples, target, mask) == pytest.approx(total / len(levels), rel=1e-9)


def test_point_metrics_and_coverage():
    pred = torch.tensor([1.0, 2.0, 3.0, 10.0])
    target = torch.tensor([1.0, 1.0, 5.0, 0.0])
    mask = torch.tensor([True, True, True, False])
    assert mae(pred, target, mask) == pytest.approx(1.0)
    assert rmse(pred, target, mask) == pytest.approx((5 / 3) ** 0.5)
    assert mre(pred, target, mask) == pytest.approx(3 / 7)
    samples = torch.linspace(-1, 1, 101)[:, None].expand(101, 4)
    inside = torch.tensor([0.0, 0.95, -0.95, 0.5])
    assert interval_coverage(samples, inside, torch.ones(4, dtype=torch.bool), 0.9) == pytest.approx(0.5)  # [-0.9, 0.9]


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="shapes differ"):
        mae(torch.zeros(3), torch.zeros(4), torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="no entries"):
        rmse(torch.zeros(3), torch.zeros(3), torch.zeros(3, dtype=torch.bool))
    with pytest.raises(ValueError, match="samples"):
        crps_quantile(torch.zeros(5, 3), torch.zeros(4), torch.ones(4, dtype=torch.bool))


def test_pit_values_uniform_when_calibrated_and_u_shaped_when_narrow():
    g = torch.Generator().manual_seed(0)
    n, s = 20_000, 19
    centre = torch.randn(n, generator=g) * 3
    truth = centre + torch.randn(n, generator=g)
    mask = torch.ones(n, dtype=torch.bool)
    calibrated = centre + torch.randn(s, n, generator=g)
    pit = pit_values(calibrated, truth, mask, g)
    assert pit.shape == (n,) and pit.min() > 0 and pit.max() < 1
    hist = torch.histc(pit, bins=10, min=0, max=1) / n
    assert (hist - 0.1).abs().max() < 0.01
    narrow = centre + 0.3 * torch.randn(s, n, generator=g)
    hist_u = torch.histc(pit_values(narrow, truth, mask, g), bins=10, min=0, max=1) / n
    assert hist_u[0] > 2.5 * hist_u[5] and hist_u[-1] > 2.5 * hist_u[5]
    # ties (a point mass) spread uniformly instead of piling on one rank
    tied = pit_values(torch.zeros(s, n), torch.zeros(n), mask, g)
    assert (torch.histc(tied, bins=10, min=0, max=1) / n - 0.1).abs().max() < 0.01


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_scores_of_gpu_tensors_equal_those_on_the_cpu():
    g = torch.Generator().manual_seed(0)
    samples, target = torch.randn(20, 4, 6, generator=g), torch.randn(4, 6, generator=g)
    mask = torch.rand(4, 6, generator=g) > 0.3
    on_gpu = samples.cuda(), target.cuda(), mask.cuda()
    assert crps_ensemble(*on_gpu) == pytest.approx(crps_ensemble(samples, target, mask))
    assert crps_quantile(*on_gpu) == pytest.approx(crps_quantile(samples, target, mask))
    assert interval_coverage(*on_gpu) == pytest.approx(interval_coverage(samples, target, mask))
    pit = pit_values(*on_gpu, generator=torch.Generator().manual_seed(1))
    assert pit.device.type == "cuda"
    torch.testing.assert_close(pit.cpu(), pit_values(samples, target, mask, generator=torch.Generator().manual_seed(1)))


def test_sample_scores_name_bad_samples_levels_and_masks():
    samples, target = torch.randn(8, 3, 4), torch.randn(3, 4)
    mask = torch.ones(3, 4, dtype=torch.bool)
    mask[0, 0] = False
    holed = samples.clone()
    holed[2, 1, 1] = float("nan")
    for score in (crps_quantile, interval_coverage, pit_values):
        with pytest.raises(ValueError, match="samples hold NaN or inf at entries the mask scores"):
            score(holed, target, mask)
        with pytest.raises(ValueError, match=r"must be \(S, \*target.shape\)"):
            score(samples[:, :2], target, mask)
    unscored = samples.clone()
    unscored[:, 0, 0] = float("nan")  # where the mask does not score: fine
    assert interval_coverage(unscored, target, mask) == interval_coverage(samples, target, mask)
    for level in (-0.1, 0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match=f"level must lie in \\(0, 1\\), got {level}"):
            interval_coverage(samples, target, mask, level)
    with pytest.raises(TypeError, match="mask must be a torch.bool tensor, got ndarray of bool"):
        mae(target, target, mask.numpy())
