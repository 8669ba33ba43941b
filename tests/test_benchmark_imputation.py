"""benchmarks/imputation.py's scoring of a saved model over several sampler settings (``--model``, ``--sweep``)."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import imputation as bench  # noqa: E402

from tsdiff import DiffusionImputer  # noqa: E402
from tsdiff.data.scaling import FeatureScaler  # noqa: E402
from tsdiff.data.simulate import sensor_network  # noqa: E402


def _case(seed=0):
    truth, observed = sensor_network(n_hours=24 * 40, n_sensors=4, seed=seed)
    windows = truth.to_numpy().reshape(-1, 24, 4)  # (40, 24, 4)
    obs = observed.to_numpy().reshape(-1, 24, 4)
    target = ~np.isnan(obs) & (np.random.default_rng(seed).random(obs.shape) < 0.2)
    inputs = np.where(target, np.nan, obs)
    train = obs[:32]
    return {
        "name": "sensors",
        "train": train,
        "scaler": FeatureScaler.fit(train),
        "inputs": inputs[32:],
        "truth": windows[32:],
        "mask": target[32:],
        "val": (inputs[32:34], windows[32:34], target[32:34]),
        "calib": (np.where(np.isnan(obs[:32]), np.nan, windows[:32]), target[:32]),
        "fit": {},
        "strategy": "random",
        "unit": "z-units",
    }


def test_saved_model_is_scored_once_per_sweep_setting(tmp_path):
    case = _case()
    model = tmp_path / "imputer.pt"
    DiffusionImputer(preset="small", epochs=2, batch_size=8, progress=False).fit(case["train"]).save(model)
    args = bench.parse_args(
        ["--baselines", "linear", "--epochs", "0", "--batch-size", "8", "--samples", "4", "--sampler", "ddpm"]
        + ["--curve-points", "0", "--model", str(model), "--sweep", "ddim:3:4", "dpmpp_2m:2:3"]
    )
    args.steps = None  # the sampler's default
    lines = bench.run_case(args, case, tmp_path)
    rows = [line for line in lines if line.startswith("| tsdiff")]
    assert len(rows) == 2
    assert "(ddim, 3 steps, 4 samples)" in rows[0] and "(dpmpp_2m, 2 steps, 3 samples)" in rows[1]
    metrics = [tuple(float(v) for v in row.split("|")[2:6]) for row in rows]
    for mae, rmse, crps, coverage in metrics:
        assert 0 < mae <= rmse and crps > 0 and 0 <= coverage <= 1
    assert metrics[0] != metrics[1]  # each setting really sampled anew
    assert any(line.startswith("| linear |") for line in lines)
    assert not (tmp_path / "sensors_small.pt").exists()  # a loaded model is not trained or saved again


def test_sweep_argument_parses_sampler_steps_samples():
    args = bench.parse_args(["--sweep", "ddim:10:50", "ddpm:50:100", "--model", "m.pt"])
    assert args.sweep == [("ddim", 10, 50), ("ddpm", 50, 100)] and args.model == "m.pt"
    assert bench.parse_args([]).sweep is None
    assert bench.parse_args(["--sweep", "ddpm:all:100"]).sweep == [("ddpm", None, 100)]
    assert bench.parse_args(["--peers", "csdi", "saits:30"]).peers == [("csdi", None), ("saits", 30)]
    for bad in (["--peers", "gru"], ["--peers", "saits:0"], ["--sweep", "ddim:10"], ["--sweep", "ddim:x:5"]):
        with pytest.raises(SystemExit):
            bench.parse_args(bad)


def test_calibrate_adds_a_calibrated_row_per_setting(tmp_path):
    case = _case(seed=1)
    model = tmp_path / "imputer.pt"
    imputer = DiffusionImputer(preset="small", epochs=2, batch_size=8, clip_denoised=False, progress=False)
    imputer.fit(case["train"]).save(model)  # unclipped: two epochs leave draws pinned to the clipping bounds
    args = bench.parse_args(
        ["--baselines", "linear", "--samples", "5", "--sampler", "ddim", "--steps", "3", "--curve-points", "0"]
        + ["--model", str(model), "--calibrate", "20"]
    )
    rows = [line for line in bench.run_case(args, case, tmp_path) if line.startswith("| tsdiff")]
    assert len(rows) == 2 and "calibrated on 20 validation windows" in rows[1] and "calibrated" not in rows[0]
    (mae0, crps0, cov0), (mae1, crps1, cov1) = [[float(row.split("|")[k]) for k in (2, 4, 5)] for row in rows]
    assert mae0 == mae1  # rescaling about the median leaves the median (of an odd number of draws: torch's)
    assert (crps0, cov0) != (crps1, cov1)


def test_validate_trains_with_the_validation_split_and_names_the_chosen_step(tmp_path):
    case = _case()
    args = bench.parse_args(
        ["--baselines", "--epochs", "2", "--batch-size", "8", "--samples", "3", "--sampler", "ddim", "--steps", "3"]
        + ["--curve-points", "0", "--validate"]
    )
    lines = bench.run_case(args, case, tmp_path)
    rows = [line for line in lines if line.startswith("| tsdiff")]
    assert len(rows) == 1 and "(lowest validation loss)" in rows[0]
    step = int(rows[0].split("weights of step ")[1].split("/")[0])
    assert step in (4, 8)  # validated after each of the 2 epochs of 32 / 8 = 4 steps
    assert any(line.startswith("Validation loss") and ", 8: " in line for line in lines)


def test_budget_defaults_to_the_papers_epochs_on_a_gpu_only(monkeypatch):
    assert bench.parse_args(["--budget", "7"]).epochs == 7 == bench.parse_args(["--epochs", "7"]).epochs
    monkeypatch.setattr(bench.torch.cuda, "is_available", lambda: False)
    assert bench.parse_args([]).epochs == 20
    monkeypatch.setattr(bench.torch.cuda, "is_available", lambda: True)
    assert bench.parse_args([]).epochs == 200


def test_a_stopped_run_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch):
    case = _case()
    argv = ["--baselines", "--epochs", "2", "--batch-size", "8", "--samples", "3", "--sampler", "ddim", "--steps", "3"]
    argv += ["--curve-points", "4", "--lr-decay", "cosine"]  # 8 steps, curve points at steps 2, 4, 6, 8
    (tmp_path / "whole").mkdir()
    whole = bench.run_case(bench.parse_args(argv), case, tmp_path / "whole")

    fit = bench.DiffusionImputer.fit

    def killed_at_step_6(self, X, callback=None, **kw):
        def stop(step, loss):
            callback(step, loss)
            if step == 6:
                raise KeyboardInterrupt  # the checkpoint of step 3 is the last one written

        return fit(self, X, callback=stop, **kw)

    monkeypatch.setattr(bench.DiffusionImputer, "fit", killed_at_step_6)
    stopped = tmp_path / "stopped"
    stopped.mkdir()
    with pytest.raises(KeyboardInterrupt):
        bench.run_case(bench.parse_args(argv + ["--checkpoint-every", "3"]), case, stopped)
    monkeypatch.setattr(bench.DiffusionImputer, "fit", fit)
    resumed = bench.run_case(bench.parse_args(argv + ["--resume"]), case, stopped)

    def table(lines):
        return [row.split("|")[1:6] for row in lines if row.startswith("| tsdiff")]

    assert table(resumed) == table(whole) and len(table(whole)) == 1
    curve = [json.loads((d / "curve_sensors.json").read_text()) for d in (tmp_path / "whole", stopped)]
    assert [c[2] for c in curve[1]] == [2, 4, 6, 8]  # the points of steps 4 and 6 scored once, after the resume
    assert [c[1] for c in curve[1]] == pytest.approx([c[1] for c in curve[0]])
    assert curve[1][-1][0] > curve[1][0][0] > 0  # training seconds carried across the resume


def test_a_resume_with_other_training_settings_is_refused(tmp_path):
    case = _case()
    argv = ["--baselines", "--epochs", "1", "--batch-size", "8", "--samples", "2", "--steps", "2"]
    argv += ["--curve-points", "0"]
    bench.run_case(bench.parse_args(argv + ["--checkpoint-every", "2"]), case, tmp_path)
    with pytest.raises(ValueError, match="lr=0.001 there, 0.002 here"):
        bench.run_case(bench.parse_args(argv + ["--resume", "--lr", "2e-3"]), case, tmp_path)
