import pytest
import torch

from tsdiff.core import convert, from_x0_eps, get_schedule, q_posterior, q_sample, to_x0_eps


def test_q_sample_moments():
    s = get_schedule("linear", 1000)
    x0 = torch.tensor([[1.5, -2.0, 0.3]], dtype=torch.float64).expand(200_000, 3)
    t = torch.full((200_000,), 300)
    xt = q_sample(x0, t, s, generator=torch.Generator().manual_seed(0))
    ab = s.alpha_bar[300]
    torch.testing.assert_close(xt.mean(0), ab.sqrt() * x0[0], atol=5e-3, rtol=0)
    torch.testing.assert_close(xt.var(0), (1 - ab).expand(3), atol=5e-3, rtol=0)


@pytest.mark.parametrize("t", [0, 1, 10, 500, 999])
def test_posterior_matches_gaussian_conditioning(t):
    """q(x_{t-1} | x_t, x_0) from conditioning the joint Gaussian of (x_{t-1}, x_t) given x_0 directly."""
    s = get_schedule("linear", 1000)
    ab_prev = float(s.alpha_bar_prev[t])
    alpha = 1 - float(s.betas[t])
    x0 = torch.tensor([[0.7]], dtype=torch.float64)
    xt = torch.tensor([[-0.4]], dtype=torch.float64)
    # x_{t-1} = sqrt(ab_prev) x0 + sqrt(1 - ab_prev) e1;  x_t = sqrt(alpha) x_{t-1} + sqrt(1 - alpha) e2
    var_prev = 1 - ab_prev
    cov_prev_t = alpha**0.5 * var_prev
    var_t = alpha * var_prev + (1 - alpha)
    mean_prev, mean_t = ab_prev**0.5 * 0.7, alpha**0.5 * ab_prev**0.5 * 0.7
    exp_mean = mean_prev + cov_prev_t / var_t * (-0.4 - mean_t)
    exp_var = var_prev - cov_prev_t**2 / var_t
    mean, var = q_posterior(x0, xt, torch.tensor([t]), s)
    assert float(mean) == pytest.approx(exp_mean, abs=1e-12)
    assert float(var) == pytest.approx(exp_var, abs=1e-12)


@pytest.mark.parametrize("src", ["eps", "x0", "v", "score"])
@pytest.mark.parametrize("dst", ["eps", "x0", "v", "score"])
def test_parameterization_round_trips(src, dst):
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(6, 4, generator=g, dtype=torch.float64)
    eps = torch.randn(6, 4, generator=g, dtype=torch.float64)
    ab = torch.linspace(0.01, 0.99, 6, dtype=torch.float64)
    xt = ab.sqrt()[:, None] * x0 + (1 - ab).sqrt()[:, None] * eps
    pred = from_x0_eps(x0, eps, ab, src)
    x0_back, eps_back = to_x0_eps(pred, xt, ab, src)
    torch.testing.assert_close(x0_back, x0)
    torch.testing.assert_close(eps_back, eps)
    torch.testing.assert_close(convert(convert(pred, xt, ab, src, dst), xt, ab, dst, src), pred)
    torch.testing.assert_close(convert(pred, xt, ab, src, dst), from_x0_eps(x0, eps, ab, dst))


def test_v_and_score_definitions():
    ab = torch.tensor([0.64], dtype=torch.float64)  # alpha = 0.8, s = 0.6
    x0, eps = torch.tensor([[1.0]], dtype=torch.float64), torch.tensor([[2.0]], dtype=torch.float64)
    assert float(from_x0_eps(x0, eps, ab, "v")) == pytest.approx(0.8 * 2 - 0.6 * 1)
    assert float(from_x0_eps(x0, eps, ab, "score")) == pytest.approx(-2 / 0.6)
    with pytest.raises(ValueError, match="parameterization"):
        from_x0_eps(x0, eps, ab, "mu")
