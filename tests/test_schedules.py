import math

import pytest
import torch

from tsdiff.core import Schedule, get_schedule, karras_sigmas, shift_log_snr


@pytest.mark.parametrize("name", ["linear", "cosine", "quadratic", "sigmoid", "karras"])
def test_schedule_tables_are_consistent(name):
    s = get_schedule(name, 100)
    assert s.n_steps == 100
    ab = s.alpha_bar
    assert (ab[1:] < ab[:-1]).all() and (ab > 0).all() and (ab < 1).all()
    torch.testing.assert_close(torch.cumprod(1 - s.betas, 0), ab)
    torch.testing.assert_close(s.sigmas, ((1 - ab) / ab).sqrt())
    torch.testing.assert_close(s.log_snr, torch.log(s.snr))


def test_linear_and_quadratic_match_their_papers():
    lin = get_schedule("linear", 1000)
    torch.testing.assert_close(lin.betas, torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64))
    quad = get_schedule("quadratic", 50)  # CSDI: linspace(sqrt(1e-4), sqrt(0.5), 50) ** 2
    torch.testing.assert_close(quad.betas, torch.linspace(1e-2, 0.5**0.5, 50, dtype=torch.float64) ** 2)


def test_cosine_matches_closed_form():
    s = get_schedule("cosine", 1000)
    t = torch.tensor([0, 250, 500, 750])
    f = lambda u: math.cos((u / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    expected = torch.tensor([f(int(k) + 1) / f(0) for k in t], dtype=torch.float64)
    torch.testing.assert_close(s.alpha_bar[t], expected)


def test_karras_sigmas_endpoints_and_rho():
    sig = karras_sigmas(10, 0.002, 80.0, 7.0)
    assert math.isclose(sig[0], 0.002, rel_tol=1e-12) and math.isclose(sig[-1], 80.0, rel_tol=1e-12)
    roots = sig ** (1 / 7)
    torch.testing.assert_close(
        roots[1:] - roots[:-1], torch.full((9,), float(roots[1] - roots[0]), dtype=torch.float64)
    )
    s = get_schedule("edm", 10)
    torch.testing.assert_close(s.sigmas, sig)


def test_continuous_steps_round_trip():
    s = get_schedule("linear", 1000)
    t = torch.tensor([0.0, 0.5, 10.25, 500.0, 998.9, 999.0], dtype=torch.float64)
    torch.testing.assert_close(s.sigma_to_t(s.t_to_sigma(t)), t)
    # integer steps hit the table exactly
    torch.testing.assert_close(s.alpha_bar_at(torch.arange(1000.0)), s.alpha_bar)


def test_subset_keeps_alpha_bar_exact_and_betas_consistent():
    s = get_schedule("linear", 1000)
    sub = s.subset([999, 0, 499, 250])
    torch.testing.assert_close(sub.alpha_bar, s.alpha_bar[[0, 250, 499, 999]])
    torch.testing.assert_close(torch.cumprod(1 - sub.betas, 0), sub.alpha_bar)
    with pytest.raises(ValueError, match="steps must lie"):
        s.subset([1000])


@pytest.mark.parametrize("spacing", ["trailing", "linspace", "leading"])
def test_timesteps_are_distinct_and_descending(spacing):
    s = get_schedule("linear", 1000)
    ts = s.timesteps(50, spacing)
    assert len(ts) == 50 and (ts[1:] < ts[:-1]).all()
    if spacing != "leading":
        assert ts[0] == 999
    sig = s.sampling_sigmas(50, spacing)
    assert sig[-1] == 0 and len(sig) == 51


@pytest.mark.parametrize("spacing", ["trailing", "linspace", "leading"])
def test_timesteps_give_exactly_n_steps_for_every_n(spacing):
    for n_steps in (50, 100, 500):  # e.g. T = 50, n = 29 used to give 30 trailing steps (float arange)
        s = get_schedule("linear", n_steps)
        for n in range(1, n_steps + 1):
            ts = s.timesteps(n, spacing)
            assert len(ts) == n and ts.max() < n_steps and ts.min() >= 0, (n_steps, n)


def test_bad_schedules_raise():
    with pytest.raises(ValueError, match="unknown schedule"):
        get_schedule("nope", 10)
    with pytest.raises(ValueError, match="decrease"):
        Schedule(torch.tensor([0.5, 0.9]))
    with pytest.raises(ValueError, match="inside"):
        Schedule(torch.tensor([1.0, 0.5]))
    with pytest.raises(ValueError, match="n must be"):
        get_schedule("linear", 10).timesteps(11)


def test_schedule_dict_round_trip():
    s = get_schedule("cosine", 20)
    s2 = Schedule.from_dict(s.to_dict())
    torch.testing.assert_close(s2.alpha_bar, s.alpha_bar)
    assert s2.name == "cosine"


def test_log_snr_shift_is_input_scaling():
    base = get_schedule("cosine", 200)
    b = 2.0
    shifted = get_schedule("cosine", 200, log_snr_shift=2 * math.log(b))
    # the data scaled by b meet SNR b^2 alpha_bar / (1 - alpha_bar) at every step (Chen 2023)
    torch.testing.assert_close(shifted.snr, b**2 * base.snr)
    assert (shifted.alpha_bar > base.alpha_bar).all() and shifted.n_steps == 200
    # so x_t of the scaled data, divided by its standard deviation, is x_t of the shifted schedule in law
    x0 = torch.tensor([0.7], dtype=torch.float64)
    t = 120
    ab, ab2 = base.alpha_bar[t], shifted.alpha_bar[t]
    scale = (b**2 * ab + 1 - ab).sqrt()
    torch.testing.assert_close((ab.sqrt() * b * x0) / scale, ab2.sqrt() * x0)
    torch.testing.assert_close((1 - ab).sqrt() / scale, (1 - ab2).sqrt())
    assert shift_log_snr(base, 0.0) is base
    torch.testing.assert_close(shift_log_snr(shifted, -2 * math.log(b)).alpha_bar, base.alpha_bar)
    with pytest.raises(ValueError, match="shift must be finite"):
        get_schedule("cosine", 10, log_snr_shift=float("inf"))
