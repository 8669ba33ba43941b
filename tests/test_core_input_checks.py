"""The low-level API names bad input: losses, guidance, conditions, samplers, model configs, devices, training data."""

import numpy as np
import pytest
import torch

from tsdiff.accel import autocast, rows_per_call
from tsdiff.core import ClassifierFreeGuidance, Condition, denoising_loss, get_schedule, loss_weight, sample
from tsdiff.models.csdi import CSDIConfig, CSDIDenoiser
from tsdiff.models.dit import DiTConfig
from tsdiff.models.mlp import MLPConfig, MLPDenoiser
from tsdiff.training import TrainConfig, resolve_device, train

SCHEDULE = get_schedule("linear", 50)


def _csdi_batch(seed=0):
    torch.manual_seed(seed)
    net = CSDIDenoiser(CSDIConfig(n_features=3, channels=8, layers=1, heads=2, diffusion_embedding_dim=8))
    x0 = torch.randn(2, 3, 6)
    obs = torch.ones_like(x0, dtype=torch.bool)
    target = torch.zeros_like(obs)
    target[:, :, -2:] = True
    return net, x0, obs, target


def test_missing_values_outside_the_targets_are_not_fed_to_the_model():
    net, x0, obs, target = _csdi_batch()
    gaps = x0.clone()
    gaps[0, 0, 0] = float("nan")  # missing, neither observed nor a target
    obs[0, 0, 0] = False
    g = torch.Generator().manual_seed(1)
    loss = denoising_loss(
        net, gaps, SCHEDULE, Condition(observed=gaps, obs_mask=obs & ~target, target_mask=target), generator=g
    )
    assert torch.isfinite(loss)
    assert torch.isnan(gaps[0, 0, 0])  # the caller's tensor is untouched
    target[0, 0, 0] = True
    with pytest.raises(ValueError, match="NaN at entries the loss scores"):
        denoising_loss(net, gaps, SCHEDULE, Condition(target_mask=target))
    for t, message in [
        (torch.tensor([-1, 3]), r"t must lie in \[0, 49\], got -1"),
        (torch.tensor([1.5, 2.0]), "integer steps"),
    ]:
        with pytest.raises(ValueError, match=message):
            denoising_loss(net, x0, SCHEDULE, Condition(target_mask=~target), t=t)
    for gamma in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="gamma must be positive"):
            loss_weight(SCHEDULE, torch.tensor([3]), "eps", "min_snr", gamma)


def test_guidance_that_would_change_nothing_is_refused():
    mlp = MLPDenoiser(MLPConfig(dim=2))  # no label embedding
    x, t = torch.randn(4, 2), torch.full((4,), 10.0)
    with pytest.raises(ValueError, match="no label embedding"):
        ClassifierFreeGuidance(mlp, 2.0)(x, t, Condition(labels=torch.zeros(4, dtype=torch.long)))
    labelled = MLPDenoiser(MLPConfig(dim=2, n_classes=3))
    with pytest.raises(ValueError, match="no labels"):
        ClassifierFreeGuidance(labelled, 2.0)(x, t, Condition(scalars=torch.zeros(4, 1)))


def test_conditions_and_sampler_options_are_checked():
    with pytest.raises(TypeError, match="obs_mask must be a torch tensor, got ndarray"):
        Condition(observed=torch.zeros(2, 3), obs_mask=np.ones((2, 3), dtype=bool))
    mlp = MLPDenoiser(MLPConfig(dim=2))
    target_only = Condition(target_mask=torch.ones(3, 2, dtype=torch.bool))  # a training condition reused
    assert sample(mlp, (3, 2), SCHEDULE, sampler="ddim", steps=2, condition=target_only).shape == (3, 2)
    for options, message in [
        ({"steps": 2.7}, "steps must be a whole number"),
        ({"n_samples": 2.5}, "n_samples must be a whole number"),
        ({"x0_range": (1.0, -1.0)}, "low < high"),
        ({"x0_range": (1.0,)}, r"\(low, high\)"),
        ({"sampler": "heun", "s_churn": float("nan")}, "s_churn must be a finite number"),
        ({"sampler": "heun", "s_noise": -1.0}, "s_noise must be a finite number"),
        ({"sampler": "pc", "snr": 2.0}, r"snr must lie in \(0, 1\)"),
        ({"sampler": "pc", "n_corrector": -1}, "n_corrector must be a whole number"),
    ]:
        with pytest.raises(ValueError, match=message):
            sample(mlp, (3, 2), SCHEDULE, **{"sampler": "ddim", "steps": 2, **options})


def test_model_configs_are_checked_when_built():
    for options, message in [
        ({"heads": 0}, "heads >= 1"),
        ({"width": 6, "heads": 2}, "multiple of 4"),
        ({"out_channels": 0}, "out_channels must be >= 1"),
        ({"n_classes": -1}, "must be >= 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            DiTConfig(in_channels=2, **{"width": 16, "heads": 2, **options})
    for options, message in [
        ({"layers": 0}, r"\{'layers': 0\} must be >= 1"),
        ({"heads": 3}, "not a multiple of heads"),
        ({"diffusion_embedding_dim": 2}, "even number >= 4"),
        ({"time_embedding_dim": 7}, "even number >= 4"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
    ]:
        with pytest.raises(ValueError, match=message):
            CSDIConfig(n_features=3, **options)
    assert get_schedule("linear", np.int64(10)).n_steps == 10  # a numpy integer is an integer


def test_devices_and_training_data_are_checked():
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is available here"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="not a device torch knows"):
        resolve_device("gpu0")
    assert rows_per_call("cpu") == 8 and autocast("cpu", False) is not None  # strings are devices too
    with pytest.raises(ValueError, match="whole number"):
        rows_per_call("cpu", 2.5)
    mlp = MLPDenoiser(MLPConfig(dim=3))
    with pytest.raises(TypeError, match="not an array"):
        train(mlp, np.random.default_rng(0).normal(size=(8, 3)).astype("f4"), lambda *a: None, TrainConfig(max_steps=1))


def test_labels_of_another_shape_or_type_are_named():
    mlp = MLPDenoiser(MLPConfig(dim=2, n_classes=3))
    x, t = torch.randn(4, 2), torch.full((4,), 10.0)
    for labels, message in [
        (torch.zeros(4, 1, dtype=torch.long), r"integers of shape \(4,\), got torch.int64 \[4, 1\]"),
        (torch.full((4,), 1.7), "integers of shape"),
        (torch.full((4,), -5), "must lie in 0..2"),
    ]:
        with pytest.raises(ValueError, match=message):
            mlp(x, t, Condition(labels=labels))
    null = mlp(x, t, Condition(labels=torch.full((4,), -1)))  # NULL_LABEL: the unconditional row
    assert null.shape == (4, 2) and torch.isfinite(null).all()
