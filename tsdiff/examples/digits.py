"""Class-conditional image generation with the DiT and classifier-free guidance, on scikit-learn's digits or MNIST.

The 1,797 8x8 digits ship with scikit-learn (no download); MNIST's 70,000 28x28 digits come from
``data_scripts/mnist.py`` (``DigitsConfig(dataset="mnist", data="data/mnist")``). A DiT over patches learns
p(image | class) with 10% of the labels dropped to the null class (Ho & Salimans 2022), so one network gives both
branches of guidance. Guided samples are scored by a classifier trained on real digits of the same data set: the
share it labels as the class asked for.

    model, schedule, data = train_digits()
    images = sample_digits(model, schedule, labels=torch.arange(10).repeat(8), scale=2.0)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..core import NULL_LABEL, ClassifierFreeGuidance, Condition, Schedule, denoising_loss, get_schedule, sample
from ..core.random import rand
from ..data.mnist import load_mnist
from ..models.dit import DiTConfig, DiTDenoiser
from ..training import TrainConfig, train

__all__ = [
    "DigitsConfig",
    "load_images",
    "load_digits_images",
    "train_digits",
    "sample_digits",
    "digit_classifier",
    "guided_accuracy",
]


@dataclass
class DigitsConfig:
    dataset: str = "digits"  # "digits" (scikit-learn, 8x8) or "mnist" (28x28, IDX files in ``data``)
    data: str | None = None  # the folder data_scripts/mnist.py wrote (mnist only)
    model: dict = field(default_factory=lambda: {"width": 128, "depth": 4, "heads": 4, "patch": 2})
    schedule: str = "linear"
    n_diffusion_steps: int = 1000
    label_dropout: float = 0.1
    train: dict = field(
        default_factory=lambda: {
            "max_steps": 4000,
            "batch_size": 64,
            "lr": 1e-3,
            "warmup_steps": 200,
            "ema_decay": 0.999,
            "weight_decay": 0.0,
        }
    )
    sampler: str = "ddim"
    sample_steps: int = 50
    scales: list = field(default_factory=lambda: [0.0, 1.0, 2.0, 4.0])
    default_scale: float = 2.0
    per_class: int = 20
    seed: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> DigitsConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"digits config: unknown keys {unknown}; known: {sorted(known)}")
        return cls(**d)


def load_digits_images(split: str = "all", seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 1, 8, 8) in [-1, 1], labels (N,)); split "train" / "test" is a fixed 80/20 stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.images.astype(np.float32) / 8.0 - 1.0  # pixel values 0..16 -> [-1, 1]
    y = digits.target.astype(np.int64)
    if split != "all":
        parts = train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)
        x, y = (parts[0], parts[2]) if split == "train" else (parts[1], parts[3])
    return torch.from_numpy(x[:, None]), torch.from_numpy(y)


def load_images(
    dataset: str = "digits", split: str = "all", seed: int = 0, data: str | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 1, H, W) in [-1, 1], labels (N,)) of scikit-learn's "digits" (split as ``load_digits_images``)
    or "mnist" (its own 60,000 / 10,000 split, read from the folder ``data``)."""
    if dataset == "digits":
        return load_digits_images(split, seed)
    if dataset != "mnist":
        raise ValueError(f"dataset must be 'digits' or 'mnist', got {dataset!r}")
    if data is None:
        raise ValueError("dataset 'mnist' needs `data`: the folder that data_scripts/mnist.py wrote")
    if split != "all":
        return load_mnist(data, split)
    parts = [load_mnist(data, s) for s in ("train", "test")]
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def train_digits(config: DigitsConfig | None = None, progress: bool = False):
    """Train the class-conditional DiT on the training split; returns (model with EMA weights, schedule, result)."""
    config = config or DigitsConfig()
    images, labels = load_images(config.dataset, "train", config.seed, config.data)
    schedule = get_schedule(config.schedule, config.n_diffusion_steps)
    torch.manual_seed(config.seed)
    model = DiTDenoiser(DiTConfig(in_channels=1, n_classes=10, parameterization="eps", **config.model))
    dropout = config.label_dropout

    def loss_fn(net, batch, generator):
        x, y = batch
        drop = rand(y.shape, generator, y.device) < dropout
        y = torch.where(drop, torch.full_like(y, NULL_LABEL), y)
        return denoising_loss(net, x, schedule, Condition(labels=y), generator=generator)

    result = train(
        model, (images, labels), loss_fn, TrainConfig(**{"seed": config.seed, **config.train, "progress": progress})
    )
    result.copy_to(model)
    return model.eval(), schedule, result


@torch.no_grad()
def sample_digits(
    model: DiTDenoiser,
    schedule: Schedule,
    labels: torch.Tensor,
    scale: float,
    sampler: str = "ddim",
    steps: int = 50,
    seed: int = 0,
    size: tuple[int, int] = (8, 8),
) -> torch.Tensor:
    """Images (N, 1, *size) in [-1, 1] for the given class labels, with classifier-free guidance ``scale``
    (0: unconditional, 1: conditional, > 1: guided)."""
    guided = ClassifierFreeGuidance(model, scale)
    generator = torch.Generator().manual_seed(seed)
    condition = Condition(labels=labels.long())
    x = sample(guided, (len(labels), 1, *size), schedule, sampler, steps, condition, generator, x0_range=(-1.0, 1.0))
    return x.clamp(-1, 1)


def digit_classifier(
    seed: int = 0, dataset: str = "digits", data: str | None = None, max_train: int = 10_000, max_test: int = 2_000
):
    """A classifier of real digits (scaled pixels -> class) and its accuracy on the held-out real test split:
    an RBF support-vector machine, about 99% accurate on scikit-learn's digits. On MNIST it is fitted on a random
    ``max_train`` of the training images and scored on ``max_test`` test images (an SVM's cost grows as N^2)."""
    from sklearn.svm import SVC

    rng = np.random.default_rng(seed)
    (x_train, y_train), (x_test, y_test) = (
        _subset(load_images(dataset, split, seed, data), cap, rng)
        for split, cap in (("train", max_train), ("test", max_test))
    )
    clf = SVC(gamma="scale").fit(x_train.flatten(1).numpy(), y_train.numpy())
    accuracy = float((clf.predict(x_test.flatten(1).numpy()) == y_test.numpy()).mean())
    return clf, accuracy


def guided_accuracy(clf, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Share of generated images that the real-data classifier assigns to the class asked for."""
    return float((clf.predict(images.flatten(1).numpy()) == labels.numpy()).mean())


def _subset(pair: tuple[torch.Tensor, torch.Tensor], cap: int, rng) -> tuple[torch.Tensor, torch.Tensor]:
    """At most ``cap`` random items of (images, labels), in their order."""
    images, labels = pair
    if len(images) <= cap:
        return images, labels
    keep = torch.from_numpy(np.sort(rng.choice(len(images), cap, replace=False)))
    return images[keep], labels[keep]
