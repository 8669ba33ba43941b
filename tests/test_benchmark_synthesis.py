"""benchmarks/synthesis.py's tsdiff row: ``--sampler`` / ``--sample-steps`` reach the Synthesizer, trained or loaded."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import synthesis as bench  # noqa: E402


def test_sampler_flags_reach_trained_and_loaded_synthesizer(tmp_path):
    real = np.random.default_rng(0).random((16, 8, 2))
    model = tmp_path / "synth.pt"
    args = bench.parse_args(["--max-steps", "3", "--sampler", "ddpm", "--sample-steps", "4", "--save", str(model)])
    notes = {}
    generated = bench.generate(args, real, notes, seq_len=8, width=16, depth=1, heads=2, progress=False)
    assert generated["tsdiff"].shape == real.shape
    assert "3 steps" in notes["tsdiff training"] and "(ddpm, 4 steps)" in notes["tsdiff sampling"]
    assert set(generated) == {"tsdiff", *bench.SYNTHESIS_BASELINES}

    loaded_args = bench.parse_args(["--model", str(model), "--sampler", "ddim", "--sample-steps", "2"])
    notes = {}
    bench.generate(loaded_args, real, notes)
    assert "(ddim, 2 steps)" in notes["tsdiff sampling"] and "tsdiff training" not in notes


def test_extra_channels_are_learnt_and_dropped(tmp_path):
    rng = np.random.default_rng(1)
    real, extra = rng.random((16, 8, 2)), rng.random((16, 8, 2))
    model = tmp_path / "synth.pt"
    args = bench.parse_args(["--max-steps", "3", "--sample-steps", "2", "--save", str(model)])
    notes = {}
    generated = bench.generate(args, real, notes, extra=extra, seq_len=8, width=16, depth=1, heads=2, progress=False)
    assert all(windows.shape == real.shape for windows in generated.values())  # scored on the real channels only
    assert "2 extra channels learnt and dropped" in notes["tsdiff training"]
    from tsdiff.tasks.synthesize import Synthesizer

    assert Synthesizer.load(model).n_features_in_ == 4  # the model did learn them


def test_correlational_floor_is_sampling_noise_that_shrinks_with_more_windows():
    rng = np.random.default_rng(0)

    def windows(n):  # two correlated features, so the score measures noise in a real correlation
        z = rng.standard_normal((n, 8, 1))
        return np.concatenate([z, 0.6 * z + 0.8 * rng.standard_normal((n, 8, 1))], axis=2)

    few, lo, hi = bench.expected_correlational(*[windows(100)] * 2, runs=5, draws=50)
    many, _, _ = bench.expected_correlational(*[windows(2000)] * 2, runs=5, draws=50)
    assert 0 < lo <= few <= hi
    assert many < few / 2  # noise of a correlation ~ 1 / sqrt(n): 20x the windows, about 4.5x less


def test_expected_correlational_separates_a_biased_generator_from_the_floor():
    rng = np.random.default_rng(1)

    def windows(n, rho):
        z = rng.standard_normal((n, 8, 1))
        return np.concatenate([z, rho * z + np.sqrt(1 - rho**2) * rng.standard_normal((n, 8, 1))], axis=2)

    real = windows(500, 0.6)
    floor, _, _ = bench.expected_correlational(real, real, runs=5, draws=50)
    fair, _, _ = bench.expected_correlational(real, windows(500, 0.6), runs=5, draws=50)
    biased, lo, _ = bench.expected_correlational(real, windows(500, 0.4), runs=5, draws=50)
    assert biased > 5 * floor and lo > fair  # a correlation off by 0.2 scores about 0.02, far above the noise
    assert abs(biased - 0.02) < 0.005
