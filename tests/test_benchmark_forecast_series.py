"""benchmarks/forecast_series.py: its baselines on series they forecast exactly, and a tiny run end to end."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import forecast_series as bench  # noqa: E402


def periodic(days=40, k=2):
    index = pd.date_range("2024-01-01", periods=24 * days, freq="h")
    t = np.arange(len(index))[:, None]
    return pd.DataFrame(np.sin(2 * np.pi * t / 24) * [1.0, 3.0][:k] + [0.0, 5.0][:k], index=index)


def test_baselines_are_exact_where_they_should_be():
    df = periodic()
    history, train = df.iloc[: 24 * 35 + 5], df.iloc[: 24 * 30]  # an origin at 05:00
    future = df.iloc[24 * 35 + 5 : 24 * 35 + 35].to_numpy()  # a horizon longer than a day repeats the last day
    draws = bench.baselines(history, train, 30, 24, 7, 16, np.random.default_rng(0))
    assert draws["seasonal naive"].shape == (1, 30, 2)
    np.testing.assert_allclose(draws["seasonal naive"][0], future, atol=1e-12)
    assert draws["seasonal ensemble"].shape == (7, 30, 2)
    np.testing.assert_allclose(bench.score(draws["seasonal ensemble"], future)["crps_sum"], 0, atol=1e-9)
    np.testing.assert_allclose(draws["persistence"][0], np.broadcast_to(history.iloc[-1], (30, 2)))
    # persistence + noise draws training changes from the origin's time of day: on a daily cycle, the true ones
    noise = draws["persistence + noise"]
    assert noise.shape == (16, 30, 2)
    np.testing.assert_allclose(noise, np.broadcast_to(future, noise.shape), atol=1e-9)
    early = bench.baselines(df.iloc[:60], train, 6, 24, 7, 4, np.random.default_rng(0))
    assert early["seasonal ensemble"].shape == (2, 6, 2)  # only two earlier days to draw from


def test_score_skips_unknown_truth_and_counts_coverage():
    draws = np.stack([np.full((2, 1), v) for v in (0.0, 1.0, 2.0)])  # (3, H=2, K=1)
    got = bench.score(draws, np.array([[1.0], [np.nan]]))
    assert got["n"] == 1 and got["abs_sum"] == 0.0
    assert got["crps_sum"] == np.abs(draws[:, 0, 0] - 1).mean() - 0.5 * 8 / 6  # fair CRPS, by hand
    assert got["covered"] == 1 and got["members"] == 3
    nothing = bench.score(draws, np.full((2, 1), np.nan))  # an origin without any known truth counts for nothing
    assert nothing["n"] == 0 and nothing["crps_sum"] == nothing["covered"] == 0


def test_tiny_run_writes_a_table(tmp_path):
    argv = ["--epochs", "0.05", "--every", "500", "--members", "4", "--days", "3", "--out", str(tmp_path)]
    table = bench.main(argv)
    assert set(table.method) >= {"tsdiff", "persistence", "seasonal naive"} and table.crps.notna().all()
    text = (tmp_path / "forecast_series_sensors.md").read_text()
    assert "| tsdiff | 4 |" in text and "2 origins every 500 steps" in text
    model = tmp_path / "forecaster.pt"
    bench.main([*argv, "--model", str(model)])  # trains and saves
    assert model.exists() and "s of training" in (tmp_path / "forecast_series_sensors.md").read_text()
    again = bench.main([*argv, "--model", str(model), "--sampler", "ddpm", "--steps", "2"])  # reuses it
    text = (tmp_path / "forecast_series_sensors.md").read_text()
    assert f"model loaded from {model}" in text and "ddpm 2 steps" in text
    assert again.crps.notna().all()
