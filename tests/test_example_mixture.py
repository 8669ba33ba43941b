"""End to end: an MLP trained on the 2-D mixture samples it with every sampler far better than a Gaussian fit."""

import torch

from tsdiff.core import SAMPLERS, get_schedule, sample
from tsdiff.examples.mixture2d import train_mixture_model
from tsdiff.metrics import sliced_wasserstein


def test_trained_mlp_samples_the_mixture_with_every_sampler():
    schedule = get_schedule("linear", 200, beta_end=0.1)
    model, mixture, schedule, result = train_mixture_model(n_data=8000, steps=1200, schedule=schedule)
    assert sum(result.losses[-50:]) < 0.7 * sum(result.losses[:50])
    n = 2000
    reference, _ = mixture.sample(n, torch.Generator().manual_seed(7))
    swd = lambda x: sliced_wasserstein(x, reference, generator=torch.Generator().manual_seed(0))  # noqa: E731
    floor = swd(mixture.sample(n, torch.Generator().manual_seed(8))[0])
    # a Gaussian with the data's mean and covariance: right moments, wrong shape
    data, _ = mixture.sample(20_000, torch.Generator().manual_seed(9))
    fit = torch.distributions.MultivariateNormal(data.mean(0), torch.cov(data.T))
    gaussian_swd = swd(fit.sample((n,)))
    steps = {"ddpm": 200, "euler_maruyama": 200, "pc": 100, "ddim": 40, "dpmpp_2m": 20, "heun": 20}
    for name in SAMPLERS:
        x = sample(model, (n, 2), schedule, name, steps[name], generator=torch.Generator().manual_seed(1))
        d = swd(x)
        assert torch.isfinite(x).all()
        assert d < 0.5 * gaussian_swd and d < 5 * floor, (name, d, gaussian_swd, floor)
