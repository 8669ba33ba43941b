"""End-to-end example: an MLP denoiser trained on a 2-D Gaussian mixture whose density is known.

Because the exact denoiser of the mixture is known (``core.GaussianMixtureDenoiser``), every sampler can be run
both with the trained network and with the exact denoiser: the gap between the two is the network's error, the
gap between the exact denoiser's samples and the data is the sampler's.
"""

from __future__ import annotations

import math
import time

import torch

from ..core import SAMPLERS, GaussianMixtureDenoiser, Schedule, denoising_loss, get_schedule, sample
from ..metrics import sliced_wasserstein
from ..models import MLPDenoiser
from ..training import TrainConfig, train

# a fixed sampler budget for the comparison: (steps, options); ddpm/euler/pc are first order and get more steps
SAMPLER_SETTINGS = {
    "ddpm": (200, {}),
    "ddim": (50, {}),
    "dpmpp_2m": (20, {}),
    "euler_maruyama": (200, {}),
    "heun": (20, {}),
    "pc": (100, {}),
}


def default_mixture(schedule: Schedule) -> GaussianMixtureDenoiser:
    """Six anisotropic components on a ring of radius 3, unequal weights."""
    k = 6
    angles = torch.arange(k, dtype=torch.float64) * 2 * math.pi / k
    means = 3.0 * torch.stack([angles.cos(), angles.sin()], 1)
    covs = []
    for a in angles:  # elongated along the ring's tangent
        u = torch.tensor([[-math.sin(a), math.cos(a)], [math.cos(a), math.sin(a)]], dtype=torch.float64).T
        covs.append(u @ torch.diag(torch.tensor([0.35, 0.04], dtype=torch.float64)) @ u.T)
    weights = torch.tensor([3, 1, 2, 1, 3, 2], dtype=torch.float64)
    return GaussianMixtureDenoiser(weights / weights.sum(), means, torch.stack(covs), schedule)


def train_mixture_model(
    n_data: int = 20_000, steps: int = 3000, seed: int = 0, progress: bool = False, schedule: Schedule | None = None
):
    """Train an MLP denoiser on draws from ``default_mixture``; returns (model with EMA weights, mixture, result)."""
    schedule = schedule or get_schedule("linear", 1000)
    mixture = default_mixture(schedule)
    data, _ = mixture.sample(n_data, torch.Generator().manual_seed(seed))
    model = MLPDenoiser(dim=2, hidden=128, depth=3)
    config = TrainConfig(
        max_steps=steps,
        batch_size=512,
        lr=2e-3,
        warmup_steps=100,
        ema_decay=0.995,
        seed=seed,
        progress=progress,
        weight_decay=0.0,
    )

    def loss_fn(net, x0, generator):
        return denoising_loss(net, x0.float(), schedule, generator=generator)

    result = train(model, data.float(), loss_fn, config)
    result.ema.copy_to(model)
    return model, mixture, schedule, result


def compare_samplers(
    model,
    mixture: GaussianMixtureDenoiser,
    schedule: Schedule,
    n: int = 4000,
    seed: int = 1,
    settings: dict | None = None,
) -> list[dict]:
    """Sliced W1 to fresh data, for samples from the trained model and from the exact denoiser, per sampler."""
    reference, _ = mixture.sample(n, torch.Generator().manual_seed(seed + 1000))
    floor = sliced_wasserstein(
        mixture.sample(n, torch.Generator().manual_seed(seed + 2000))[0],
        reference,
        generator=torch.Generator().manual_seed(0),
    )
    rows = []
    for name, (steps, options) in (settings or SAMPLER_SETTINGS).items():
        row = {"sampler": name, "steps": steps, "data_floor": floor}
        for label, den in (("model", model), ("exact", mixture)):
            start = time.perf_counter()
            x = sample(
                den,
                (n, 2),
                schedule,
                name,
                steps,
                generator=torch.Generator().manual_seed(seed),
                dtype=torch.float32,
                **options,
            )
            row[f"{label}_seconds"] = time.perf_counter() - start
            row[f"{label}_swd"] = sliced_wasserstein(x, reference, generator=torch.Generator().manual_seed(0))
            row[f"{label}_samples"] = x
        rows.append(row)
    return rows


__all__ = ["SAMPLER_SETTINGS", "default_mixture", "train_mixture_model", "compare_samplers", "SAMPLERS"]
