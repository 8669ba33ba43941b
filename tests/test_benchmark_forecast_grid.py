"""benchmarks/forecast_grid.py scoring a saved forecaster (``--model``) on the WFDE5 development set."""

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import forecast_grid as bench  # noqa: E402

from tsdiff.data.wfde5 import load_wfde5, wfde5_split  # noqa: E402
from tsdiff.tasks.forecast import EnsembleForecaster  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "wfde5_gb_2017_01"
TINY = dict(width=16, depth=1, heads=2, patch=4, sample_steps=2, batch_size=32, progress=False)


@pytest.mark.skipif(not DATA.exists(), reason="../shared/data/wfde5_gb_2017_01 not beside the checkout")
def test_saved_model_is_scored_with_the_members_asked_for(tmp_path):
    train, _ = wfde5_split(load_wfde5(DATA, ["Tair", "Wind"]))
    ensemble = EnsembleForecaster(epochs=0.1, **TINY).fit(train).save(tmp_path / "ens.pt")
    deterministic = EnsembleForecaster(epochs=0.1, probabilistic=False, **TINY).fit(train).save(tmp_path / "det.pt")
    common = ["--data", str(DATA), "--variables", "Tair", "Wind", "--lead-times", "1h,2h", "--every", "24h"]
    common += ["--members", "3", "--out", str(tmp_path / "out"), "--tag", "t"]

    bench.main([*common, "--model", str(ensemble), "--deterministic-model", str(deterministic), "--steps", "1"])
    scores = pd.read_csv(tmp_path / "out" / "t_scores.csv")
    ours = scores[scores.method == "tsdiff DiT ensemble"]
    assert len(ours) == 4 and (ours.members == 3).all() and (ours.train_s == 0).all()  # 2 variables x 2 leads
    assert (scores[scores.method == "deterministic DiT"].members == 1).all()
    assert ours.crps.notna().all() and (ours.crps > 0).all()
    assert ours.rmse_inf.notna().all() and scores[scores.method == "deterministic DiT"].rmse_inf.isna().all()
    report = (tmp_path / "out" / "t_results.md").read_text()
    assert "3 members" in report and "| RMSE (mean, M=inf) |" in report
    row = next(line for line in report.splitlines() if line.startswith("| tsdiff DiT ensemble | 1h |"))
    header = next(line for line in report.splitlines() if line.startswith("| method |"))
    assert row.count("|") == header.count("|") == 12  # the ensemble's row fills the header's 11 columns

    with pytest.raises(SystemExit, match="not a probabilistic model"):
        bench.main([*common, "--model", str(deterministic), "--no-deterministic"])


@pytest.mark.skipif(not DATA.exists(), reason="../shared/data/wfde5_gb_2017_01 not beside the checkout")
def test_predictability_regression_beats_the_noise_ensemble_at_one_hour(tmp_path):
    """benchmarks/grid_predictability.py: the regression's Tair forecast 1 h ahead is sharper than persistence +
    noise (the recent change carries a quarter of the next hour's), and the table holds each method once."""
    import grid_predictability

    out = tmp_path / "p.md"
    table = grid_predictability.main(
        ["--data", str(DATA), "--scored", "Tair", "--lead-times", "1h", "--every", "24h", "--members", "16"]
        + ["--max-iter", "40", "--out", str(out)]
    )
    assert sorted(table.method) == ["persistence+noise", "regression, mean", "regression, mean + spread"]
    ratios = table.set_index("method").ratio
    assert ratios["persistence+noise"] == 1 and ratios["regression, mean"] < 0.95
    assert ratios["regression, mean + spread"] < 0.95
    assert "| Tair | 1h | regression, mean |" in out.read_text()
