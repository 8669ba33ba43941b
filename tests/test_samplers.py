"""Samplers against closed forms: the exact Gaussian denoiser makes every sampler's only error its own."""

import pytest
import torch
from conftest import whitened_noise

from tsdiff.core import SAMPLERS, GaussianDenoiser, ddim_invert, sample

N = 8192


def rel(a, b):
    return float((a - b).norm() / b.norm())


# (sampler, steps, options): moderate step counts; the first-order stochastic samplers use every training step
CASES = [
    ("ddpm", 500, {}),
    ("ddim", 100, {}),
    ("ddim", 250, {"eta": 1.0}),
    ("dpmpp_2m", 20, {}),
    ("euler_maruyama", 500, {}),
    ("heun", 20, {}),
    ("heun", 40, {"s_churn": 5.0}),
    ("pc", 250, {"snr": 0.1}),
]


@pytest.mark.parametrize("name,steps,options", CASES)
def test_every_sampler_matches_gaussian_moments(gaussian8, name, steps, options):
    mean, cov, schedule = gaussian8
    den = GaussianDenoiser(mean, cov, schedule)
    x = sample(
        den,
        (N, 8),
        schedule,
        sampler=name,
        steps=steps,
        noise=whitened_noise(N, 8),
        generator=torch.Generator().manual_seed(1),
        dtype=torch.float64,
        **options,
    )
    assert x.shape == (N, 8) and torch.isfinite(x).all()
    assert rel(x.mean(0), mean) < 0.05
    assert rel(torch.cov(x.T), cov) < 0.05


@pytest.mark.parametrize("name,steps", [("ddim", 100), ("dpmpp_2m", 25), ("heun", 25)])
def test_few_step_samplers_on_a_cosine_schedule(gaussian8, name, steps):
    """The cosine schedule's sigma_max is about 10^4 and its next training step's about 16: a trapezoid step across
    that ratio multiplies the change in the x0 estimate by sigma / sigma_next, so heun keeps the Euler step there
    (with the correction its covariance was 26x off). DDIM, first order, needs about 100 steps for 5% here."""
    from tsdiff.core import get_schedule

    mean, cov, _ = gaussian8
    schedule = get_schedule("cosine", 500)
    den = GaussianDenoiser(mean, cov, schedule)
    x = sample(den, (N, 8), schedule, name, steps, noise=whitened_noise(N, 8), dtype=torch.float64)
    assert rel(x.mean(0), mean) < 0.05
    assert rel(torch.cov(x.T), cov) < 0.05


@pytest.mark.parametrize("parameterization", ["x0", "v", "score"])
def test_parameterization_does_not_change_samples(gaussian8, parameterization):
    mean, cov, schedule = gaussian8
    z = whitened_noise(64, 8)
    ref = sample(
        GaussianDenoiser(mean, cov, schedule, "eps"), (64, 8), schedule, "ddim", 20, noise=z, dtype=torch.float64
    )
    other = sample(
        GaussianDenoiser(mean, cov, schedule, parameterization),
        (64, 8),
        schedule,
        "ddim",
        20,
        noise=z,
        dtype=torch.float64,
    )
    torch.testing.assert_close(other, ref, rtol=1e-7, atol=1e-7)


def exact_flow(x_T, mean, cov, sigma_max):
    """The probability-flow ODE's exact solution for Gaussian data: x(0) = mu + C^1/2 (C + s^2 I)^-1/2 (x_T - mu)."""
    lam, u = torch.linalg.eigh(cov)
    gain = (lam / (lam + sigma_max**2)).sqrt()
    x_T_ve = x_T * (1 + sigma_max**2) ** 0.5
    return mean + ((x_T_ve - mean) @ u * gain) @ u.T


@pytest.mark.parametrize("name,order", [("ddim", 1), ("dpmpp_2m", 2), ("heun", 2)])
def test_ode_samplers_converge_to_the_exact_flow(gaussian8, name, order):
    mean, cov, schedule = gaussian8
    den = GaussianDenoiser(mean, cov, schedule)
    z = whitened_noise(256, 8)
    errs = []
    for steps in (10, 20, 40, 80):
        sig = schedule.sampling_sigmas(steps, "karras")
        x = sample(den, (256, 8), schedule, name, steps, noise=z, spacing="karras", dtype=torch.float64)
        errs.append(rel(x, exact_flow(z, mean, cov, float(sig[0]))))
    assert all(b < a for a, b in zip(errs, errs[1:])), errs
    # doubling the steps divides the error by about 2^order
    assert errs[-2] / errs[-1] > 2**order * 0.7, errs


def test_ddim_eta0_is_deterministic_and_invertible(gaussian8):
    mean, cov, schedule = gaussian8
    den = GaussianDenoiser(mean, cov, schedule)
    z = whitened_noise(128, 8)
    a = sample(
        den, (128, 8), schedule, "ddim", 50, noise=z, generator=torch.Generator().manual_seed(1), dtype=torch.float64
    )
    b = sample(
        den, (128, 8), schedule, "ddim", 50, noise=z, generator=torch.Generator().manual_seed(2), dtype=torch.float64
    )
    assert torch.equal(a, b)
    errors = []
    x0 = den.sample(128, torch.Generator().manual_seed(3))
    for steps in (50, 200):
        x_T = ddim_invert(den, x0, schedule, steps)
        back = sample(den, (128, 8), schedule, "ddim", steps, noise=x_T, dtype=torch.float64)
        errors.append(rel(back, x0))
    assert errors[1] < 0.02 and errors[1] < errors[0], errors


def test_stochastic_samplers_use_the_generator(gaussian8):
    mean, cov, schedule = gaussian8
    den = GaussianDenoiser(mean, cov, schedule)
    for name in SAMPLERS:
        opts = {"s_churn": 5.0} if name == "heun" else {}

        def run(seed, name=name, opts=opts):
            return sample(
                den,
                (4, 8),
                schedule,
                name,
                20,
                generator=torch.Generator().manual_seed(seed),
                dtype=torch.float64,
                **opts,
            )

        assert torch.equal(run(0), run(0))
        assert not torch.equal(run(0), run(1))


def test_callback_reports_every_step(gaussian8):
    mean, cov, schedule = gaussian8
    seen = []
    sample(GaussianDenoiser(mean, cov, schedule), (2, 8), schedule, "dpmpp_2m", 7, callback=seen.append)
    assert [s["i"] for s in seen] == list(range(7)) and seen[-1]["sigma_next"] == 0


def test_bad_arguments_raise(gaussian8):
    mean, cov, schedule = gaussian8
    den = GaussianDenoiser(mean, cov, schedule)
    with pytest.raises(ValueError, match="unknown sampler"):
        sample(den, (2, 8), schedule, "euler_a")
    with pytest.raises(ValueError, match="noise must have shape"):
        sample(den, (2, 8), schedule, noise=torch.zeros(3, 8))
    with pytest.raises(ValueError, match="parameterization"):
        sample(lambda x, t, c: x, (2, 8), schedule)
    with pytest.raises(ValueError, match="eta must be a finite number >= 0"):
        sample(den, (2, 8), schedule, "ddim", 10, eta=-0.5)


def test_x0_range_clips_the_denoised_estimate(gaussian8):
    mean, cov, schedule = gaussian8
    den = GaussianDenoiser(mean, cov, schedule)
    seen = []
    x = sample(
        den,
        (256, 8),
        schedule,
        "ddim",
        10,
        x0_range=(-0.5, 0.5),
        callback=seen.append,
        generator=torch.Generator().manual_seed(0),
        dtype=torch.float64,
    )
    assert x.abs().max() <= 0.5 and all(s["denoised"].abs().max() <= 0.5 for s in seen)
    per_feature = (torch.full((8,), -0.2, dtype=torch.float64), torch.linspace(0.1, 0.8, 8, dtype=torch.float64))
    y = sample(den, (256, 8), schedule, "ddim", 10, x0_range=per_feature, dtype=torch.float64)
    assert (y >= -0.2).all() and (y <= per_feature[1]).all()
