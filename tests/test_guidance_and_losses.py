import pytest
import torch

from tsdiff.core import (
    ClassifierFreeGuidance,
    ClassifierGuidance,
    Condition,
    GaussianDenoiser,
    GaussianMixtureDenoiser,
    denoising_loss,
    get_schedule,
    loss_weight,
    masked_mse,
)


@pytest.fixture
def mixture():
    schedule = get_schedule("cosine", 200)
    means = torch.tensor([[-2.0, 0.0], [2.0, 1.0], [0.0, -2.5]], dtype=torch.float64)
    covs = torch.stack(
        [torch.tensor([[0.3, 0.1], [0.1, 0.2]]), torch.eye(2) * 0.5, torch.tensor([[0.6, -0.2], [-0.2, 0.3]])]
    )
    return GaussianMixtureDenoiser([0.5, 0.3, 0.2], means, covs.double(), schedule), schedule


def _inputs(n=32, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 2, generator=g, dtype=torch.float64) * 2
    t = torch.randint(0, 200, (n,), generator=g).double()
    labels = torch.randint(0, 3, (n,), generator=g)
    return x, t, Condition(labels=labels)


def test_cfg_scale_zero_and_one_are_the_two_branches(mixture):
    den, _ = mixture
    x, t, cond = _inputs()
    torch.testing.assert_close(ClassifierFreeGuidance(den, 0.0)(x, t, cond), den(x, t, cond.null()))
    torch.testing.assert_close(ClassifierFreeGuidance(den, 1.0)(x, t, cond), den(x, t, cond))
    w = 3.0
    u, c = den(x, t, cond.null()), den(x, t, cond)
    torch.testing.assert_close(ClassifierFreeGuidance(den, w)(x, t, cond), u + w * (c - u))


class _Unconditional:
    """The mixture's denoiser with labels ignored (as an unconditional model would)."""

    def __init__(self, den):
        self.den, self.parameterization = den, den.parameterization

    def __call__(self, x, t, condition):
        return self.den(x, t, None)


@pytest.mark.parametrize("parameterization", ["eps", "v"])
def test_classifier_guidance_with_the_exact_classifier_is_bayes(mixture, parameterization):
    """grad log p(x|y) = grad log p(x) + grad log p(y|x): guiding the mixture's denoiser with its exact class
    posterior at scale 1 gives each component's exact denoiser."""
    den, schedule = mixture
    den.parameterization = parameterization
    guided = ClassifierGuidance(_Unconditional(den), den.class_log_prob, schedule, scale=1.0)
    x, t, cond = _inputs()
    torch.testing.assert_close(guided(x, t, cond), den(x, t, cond), rtol=1e-6, atol=1e-6)


def test_guidance_needs_labels(mixture):
    den, schedule = mixture
    x, t, _ = _inputs()
    with pytest.raises(ValueError, match="labels"):
        ClassifierGuidance(den, den.class_log_prob, schedule)(x, t, None)


def test_masked_loss_has_no_gradient_outside_the_target_mask():
    pred = torch.randn(4, 3, 5, requires_grad=True)
    target = torch.randn(4, 3, 5)
    target[0, 0, 0] = torch.nan  # garbage outside the mask must not leak
    mask = torch.rand(4, 3, 5) > 0.5
    mask[0, 0, 0] = False
    loss = masked_mse(pred, target, mask, weight=torch.tensor([1.0, 2.0, 0.5, 1.0]))
    loss.backward()
    assert torch.isfinite(loss)
    assert (pred.grad[~mask] == 0).all() and (pred.grad[mask] != 0).all()
    w = torch.tensor([1.0, 2.0, 0.5, 1.0])[:, None, None]
    expected = (w * (pred.detach() - target) ** 2)[mask].sum() / mask.sum()
    torch.testing.assert_close(loss.detach(), expected)


def test_loss_weights():
    s = get_schedule("linear", 1000)
    t = torch.tensor([0, 100, 500, 999])
    snr = s.snr[t]
    torch.testing.assert_close(loss_weight(s, t, "eps", "min_snr", 5.0), snr.clamp(max=5) / snr)
    torch.testing.assert_close(loss_weight(s, t, "v", "min_snr", 5.0), snr.clamp(max=5) / (snr + 1))
    torch.testing.assert_close(loss_weight(s, t, "x0", "min_snr", 5.0), snr.clamp(max=5))
    all_t = torch.arange(1000)
    elbo_eps = loss_weight(s, all_t, "eps", "elbo")
    assert elbo_eps.mean() == pytest.approx(1.0)
    dlam = -torch.gradient(s.log_snr)[0]  # ELBO: eps-MSE weighted by -d lambda / dt (Kingma & Gao 2023)
    torch.testing.assert_close(elbo_eps, dlam / dlam.mean())
    # the same objective whatever the parameterization: x0-space weights differ from eps-space ones by SNR only
    ratio = loss_weight(s, all_t, "x0", "elbo") / elbo_eps
    torch.testing.assert_close(ratio / ratio[0], s.snr / s.snr[0])


def test_denoising_loss_of_the_exact_denoiser_is_the_bayes_error(gaussian8):
    """For the exact x0-denoiser the expected loss at step t is the posterior variance per entry,
    mean_i lambda_i s^2 / (a^2 lambda_i + s^2), in closed form."""
    mean, cov, schedule = gaussian8
    den = GaussianDenoiser(mean, cov, schedule, parameterization="x0")
    x0 = den.sample(200_000, torch.Generator().manual_seed(0))
    t = torch.full((200_000,), 120)
    loss = denoising_loss(den, x0, schedule, t=t, generator=torch.Generator().manual_seed(1))
    lam = torch.linalg.eigvalsh(cov)
    ab = schedule.alpha_bar[120]
    bayes = (lam * (1 - ab) / (ab * lam + 1 - ab)).mean()
    assert float(loss) == pytest.approx(float(bayes), rel=0.02)


def test_denoising_loss_uses_only_targets(gaussian8):
    mean, cov, schedule = gaussian8
    x0 = torch.randn(16, 8, dtype=torch.float64, requires_grad=False)
    layer = torch.nn.Linear(8, 8).double()

    def model(x_t, t, condition):
        return layer(x_t)

    model.parameterization = "eps"
    target_mask = torch.zeros(16, 8, dtype=torch.bool)
    target_mask[:, :3] = True
    cond = Condition(observed=x0, obs_mask=~target_mask, target_mask=target_mask)
    loss = denoising_loss(model, x0, schedule, cond, generator=torch.Generator().manual_seed(0))
    loss.backward()
    # output rows 3..7 never reach the loss
    assert (layer.weight.grad[3:] == 0).all() and (layer.weight.grad[:3] != 0).any()
