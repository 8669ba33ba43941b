"""Masked conditioning: exact conditionals, bit-for-bit observations, and the measured error of replacement."""

import pytest
import torch

from tsdiff.core import SAMPLERS, Condition, GaussianDenoiser, gaussian_conditional, sample

N = 8192


def rel(a, b):
    return float((a - b).norm() / b.norm())


@pytest.fixture
def observed_case(gaussian8):
    mean, cov, schedule = gaussian8
    den = GaussianDenoiser(mean, cov, schedule)
    y = den.sample(1, torch.Generator().manual_seed(5))
    obs_mask = torch.zeros(1, 8, dtype=torch.bool)
    obs_mask[0, [0, 3, 5]] = True
    y_with_nan = torch.where(obs_mask, y, torch.nan)  # missing entries may be NaN
    return den, Condition(observed=y_with_nan, obs_mask=obs_mask), y, obs_mask, schedule


def test_gaussian_conditional_against_schur_complement(gaussian8):
    mean, cov, _ = gaussian8
    y = torch.randn(1, 8, dtype=torch.float64)
    m = torch.zeros(1, 8, dtype=torch.bool)
    m[0, [1, 2]] = True
    o, u = m[0], ~m[0]
    exp_mean = mean[u] + cov[u][:, o] @ torch.linalg.solve(cov[o][:, o], y[0, o] - mean[o])
    exp_cov = cov[u][:, u] - cov[u][:, o] @ torch.linalg.solve(cov[o][:, o], cov[o][:, u])
    cm, cc = gaussian_conditional(mean, cov, y, m)
    torch.testing.assert_close(cm[0, u], exp_mean)
    torch.testing.assert_close(cc[0][u][:, u], exp_cov)
    torch.testing.assert_close(cm[0, o], y[0, o])
    assert cc[0][o].abs().max() == 0


@pytest.mark.parametrize("name,steps", [("ddpm", 500), ("heun", 30), ("dpmpp_2m", 30)])
def test_model_conditioning_matches_the_analytic_conditional(observed_case, name, steps):
    den, cond, y, obs_mask, schedule = observed_case
    x = sample(
        den, (1, 8), schedule, name, steps, condition=cond, n_samples=N, generator=torch.Generator().manual_seed(2)
    )[0]  # (N, 8), float64 from the observations
    cm, cc = gaussian_conditional(den.mean, den.cov, y, obs_mask)
    u = ~obs_mask[0]
    assert rel(x[:, u].mean(0), cm[0, u]) < 0.05
    assert rel(torch.cov(x[:, u].T), cc[0][u][:, u]) < 0.05


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("conditioning", ["model", "replace"])
def test_observed_entries_come_back_bit_for_bit(observed_case, name, conditioning):
    den, cond, y, obs_mask, schedule = observed_case
    y32 = (y * 1.1).to(torch.float32)
    cond32 = Condition(observed=torch.where(obs_mask, y32, torch.nan), obs_mask=obs_mask)
    x = sample(
        den,
        (1, 8),
        schedule,
        name,
        10,
        condition=cond32,
        n_samples=5,
        conditioning=conditioning,
        generator=torch.Generator().manual_seed(0),
    )
    assert x.dtype == torch.float32 and x.shape == (1, 5, 8)
    assert torch.equal(x[0][:, obs_mask[0]], y32[:, obs_mask[0]].expand(5, -1))
    assert torch.isfinite(x).all()


def test_replacement_error_is_measured_and_resampling_reduces_it(observed_case):
    """RePaint replacement with an unconditional denoiser is an approximation: its error against the exact
    conditional is large here (strong correlations), and resampling shrinks it."""
    den, cond, y, obs_mask, schedule = observed_case
    cm, cc = gaussian_conditional(den.mean, den.cov, y, obs_mask)
    u = ~obs_mask[0]

    def errors(**kw):
        x = sample(
            den,
            (1, 8),
            schedule,
            "ddpm",
            100,
            condition=cond,
            n_samples=4096,
            conditioning="replace",
            generator=torch.Generator().manual_seed(3),
            **kw,
        )[0]
        return rel(x[:, u].mean(0), cm[0, u]), rel(torch.cov(x[:, u].T), cc[0][u][:, u])

    plain, resampled = errors(), errors(resample=4)
    exact_model = sample(
        den, (1, 8), schedule, "ddpm", 100, condition=cond, n_samples=4096, generator=torch.Generator().manual_seed(3)
    )[0]
    assert rel(exact_model[:, u].mean(0), cm[0, u]) < 0.05
    assert plain[0] > 0.1  # the approximation error is real ...
    assert resampled[0] < 0.7 * plain[0] and resampled[1] < plain[1]  # ... and resampling reduces it


def test_condition_validates_its_input():
    m = torch.ones(2, 3, dtype=torch.bool)
    with pytest.raises(ValueError, match="NaN or inf"):
        Condition(observed=torch.full((2, 3), torch.nan), obs_mask=m)
    with pytest.raises(ValueError, match="differ in shape"):
        Condition(observed=torch.zeros(2, 4), obs_mask=m)
    with pytest.raises(TypeError, match="bool"):
        Condition(observed=torch.zeros(2, 3), obs_mask=m.float())
    with pytest.raises(ValueError, match="batch size"):
        Condition(observed=torch.zeros(2, 3), obs_mask=m, labels=torch.zeros(3, dtype=torch.long))


def test_condition_does_not_mutate_user_tensors():
    observed = torch.tensor([[1.0, torch.nan, 3.0]])
    mask = torch.tensor([[True, False, True]])
    before = observed.clone()
    c = Condition(observed=observed, obs_mask=mask)
    assert torch.equal(observed.isnan(), before.isnan()) and observed[0, 0] == 1
    assert c.observed[0, 1] == 0  # the condition's own copy is zero-filled


def test_sample_rejects_mismatched_condition(observed_case):
    den, cond, y, obs_mask, schedule = observed_case
    with pytest.raises(ValueError, match="batch size"):
        sample(den, (2, 8), schedule, condition=cond)
    with pytest.raises(ValueError, match="resample"):
        sample(den, (1, 8), schedule, condition=cond, resample=2)
