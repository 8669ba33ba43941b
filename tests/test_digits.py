"""The class-conditional DiT example on scikit-learn's digits: data, guided sampling mechanics, the judge."""

import pytest
import torch

from tsdiff.examples.digits import (
    DigitsConfig,
    digit_classifier,
    guided_accuracy,
    load_digits_images,
    sample_digits,
    train_digits,
)


def test_digits_data_and_real_classifier():
    x, y = load_digits_images("train")
    x_test, y_test = load_digits_images("test")
    assert x.shape[1:] == (1, 8, 8) and x.min() >= -1 and x.max() <= 1
    assert len(x) + len(x_test) == 1797 and set(y.tolist()) == set(range(10))
    clf, accuracy = digit_classifier()
    assert accuracy > 0.95  # the judge of guided samples is reliable on real digits
    assert guided_accuracy(clf, x_test, y_test) == pytest.approx(accuracy)


def test_short_training_and_guided_sampling_mechanics():
    config = DigitsConfig(model={"width": 32, "depth": 1, "heads": 2, "patch": 2})
    config.train["max_steps"] = 30
    model, schedule, result = train_digits(config)
    assert len(result.losses) == 30
    labels = torch.tensor([0, 1, 2, 3])
    a = sample_digits(model, schedule, labels, scale=2.0, steps=5, seed=1)
    b = sample_digits(model, schedule, labels, scale=2.0, steps=5, seed=1)
    c = sample_digits(model, schedule, labels, scale=0.0, steps=5, seed=1)
    assert a.shape == (4, 1, 8, 8) and a.abs().max() <= 1
    assert torch.equal(a, b)  # seeded
    assert not torch.allclose(a, c)  # guidance changes the draw
    with pytest.raises(ValueError, match="unknown keys"):
        DigitsConfig.from_dict({"epochs": 3})


@pytest.mark.slow
def test_default_config_guided_samples_are_recognised():
    """The issue's target: >= 90% of guided samples (default scale) labelled as asked by a real-data classifier."""
    config = DigitsConfig()
    model, schedule, _ = train_digits(config)
    clf, _ = digit_classifier()
    labels = torch.arange(10).repeat_interleave(config.per_class)
    images = sample_digits(model, schedule, labels, config.default_scale, config.sampler, config.sample_steps)
    assert guided_accuracy(clf, images, labels) >= 0.9
