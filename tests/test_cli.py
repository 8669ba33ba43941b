import subprocess
import sys

import pandas as pd
import pytest

from tsdiff import DiffusionImputer
from tsdiff.data.simulate import sensor_network
from tsdiff.io import read_csv


def _run(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "tsdiff.cli", *args], capture_output=True, text=True, timeout=timeout)


def test_impute_command_writes_filled_table_with_bands(tmp_path):
    _, df = sensor_network(n_hours=120, n_sensors=3, seed=2)
    df.to_csv(tmp_path / "in.csv")
    proc = _run(
        "impute",
        str(tmp_path / "in.csv"),
        "--out",
        str(tmp_path / "out.csv"),
        "--epochs",
        "2",
        "--samples",
        "4",
        "--steps",
        "3",
        "--model",
        str(tmp_path / "m.pt"),
        "--plot",
        str(tmp_path / "p.png"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "90% intervals calibrated on" in proc.stdout  # --calibrate 0.05 by default
    out = read_csv(tmp_path / "out.csv", index_col=0)
    cols = list(df.columns)
    assert list(out.columns) == cols + [f"{c}_q05" for c in cols] + [f"{c}_q95" for c in cols]
    assert not out.isna().any().any()
    observed = df.notna().to_numpy()
    assert (out[cols].to_numpy()[observed] == df.to_numpy()[observed]).all()
    assert (out[[f"{c}_q05" for c in cols]].to_numpy() <= out[[f"{c}_q95" for c in cols]].to_numpy() + 1e-9).all()
    assert (tmp_path / "p.png").stat().st_size > 5000
    # the saved model is reused without training, here sampling with bf16 matrix products
    again = _run(
        "impute",
        str(tmp_path / "in.csv"),
        "--out",
        str(tmp_path / "out2.nc"),
        "--model",
        str(tmp_path / "m.pt"),
        "--samples",
        "4",
        "--steps",
        "3",
        "--bf16",
    )
    assert again.returncode == 0, again.stderr[-2000:]
    from tsdiff.io import read_table

    bf16 = read_table(tmp_path / "out2.nc")
    assert (bf16[cols].to_numpy()[observed] == df.to_numpy()[observed]).all()  # observed values kept exactly
    gaps = ~observed
    assert abs(bf16[cols].to_numpy()[gaps] - out[cols].to_numpy()[gaps]).mean() < 0.5 * df.std().mean()


def test_impute_reports_bad_input_clearly(tmp_path):
    (tmp_path / "bad.csv").write_text("time,a\n2024-01-02,1\n2024-01-01,2\n")
    proc = _run("impute", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "o.csv"))
    assert proc.returncode == 1 and "not sorted" in proc.stderr
    proc = _run("impute", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o.csv"))
    assert proc.returncode == 1 and "does not exist" in proc.stderr
    _, df = sensor_network(n_hours=96, n_sensors=2, seed=3)
    df.to_csv(tmp_path / "good.csv")
    proc = _run("impute", str(tmp_path / "good.csv"), "--out", str(tmp_path / "o.txt"))
    assert proc.returncode == 1 and "unsupported format '.txt'" in proc.stderr and "filled" not in proc.stdout
    (tmp_path / "a_file").write_text("not a folder")
    fast = ("--epochs", "1", "--samples", "2", "--steps", "2", "--calibrate", "0")
    proc = _run("impute", str(tmp_path / "good.csv"), "--out", str(tmp_path / "a_file" / "o.csv"), *fast)
    assert proc.returncode == 1 and "a_file" in proc.stderr and "Traceback" not in proc.stderr


def test_impute_columns_models_some_and_carries_the_rest(tmp_path):
    _, df = sensor_network(n_hours=96, n_sensors=2, seed=3)
    df = df.assign(site="north", flag=1)[["site", *df.columns, "flag"]]
    df.to_csv(tmp_path / "in.csv")
    fast = ("--epochs", "1", "--samples", "2", "--steps", "2", "--calibrate", "0")
    proc = _run("impute", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o.csv"), *fast)
    assert proc.returncode == 1 and "['site']" in proc.stderr and "--columns" in proc.stderr
    proc = _run(
        "impute", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o.csv"), "--columns", "sensor_00,nope", *fast
    )
    assert proc.returncode == 1 and "no column named ['nope']" in proc.stderr
    modelled = [c for c in df.columns if c not in ("site", "flag")]
    proc = _run(
        "impute", str(tmp_path / "in.csv"), "--out", str(tmp_path / "o.csv"), "--columns", ",".join(modelled), *fast
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = read_csv(tmp_path / "o.csv", index_col=0)
    assert list(out.columns) == list(df.columns) + [f"{c}_q05" for c in modelled] + [f"{c}_q95" for c in modelled]
    assert (out["site"] == "north").all() and (out["flag"] == 1).all()
    assert not out[modelled].isna().any().any()
    observed = df[modelled].notna().to_numpy()
    assert (out[modelled].to_numpy()[observed] == df[modelled].to_numpy()[observed]).all()


def test_samplers_demo_runs(tmp_path):
    proc = _run("demo", "samplers", "--train-steps", "150", "--n", "300", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("ddpm", "ddim", "dpmpp_2m", "euler_maruyama", "heun", "pc"):
        assert f"| {name} |" in proc.stdout
    assert (tmp_path / "demo_mixture.png").stat().st_size > 10_000


def test_unknown_command_fails_cleanly():
    proc = _run("nope")
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


def test_forecast_command_writes_an_ensemble(tmp_path):
    import xarray as xr

    _, df = sensor_network(n_hours=200, n_sensors=2, seed=3)
    df.assign(site="north").to_csv(tmp_path / "in.csv")  # a text column, left out by --columns
    proc = _run(
        "forecast",
        str(tmp_path / "in.csv"),
        "--horizon",
        "6",
        "--members",
        "5",
        "--out",
        str(tmp_path / "fc.nc"),
        "--train-steps",
        "4",
        "--steps",
        "3",
        "--columns",
        "sensor_00,sensor_01",
        "--model",
        str(tmp_path / "fc.pt"),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    trained = DiffusionImputer.load(tmp_path / "fc.pt")
    params = trained.get_params()
    assert (params["max_steps"], params["center_windows"], params["train_stride"]) == (4, True, 1)  # forecast recipe
    ds = xr.open_dataset(tmp_path / "fc.nc")
    assert "site" not in ds
    assert dict(ds["sensor_00"].sizes) == {"member": 5, "time": 6}
    assert pd.Timestamp(ds.time.values[0]) == df.index[-1] + pd.Timedelta("1h")
    assert dict(ds["sensor_00_quantiles"].sizes) == {"quantile": 3, "time": 6}
    assert not ds["sensor_01"].isnull().any()


def test_forecast_grid_command_writes_ensemble_scores_and_plots(tmp_path):
    import xarray as xr

    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_forecast_grid import synthetic

    ds = synthetic(n_hours=60)
    ds.to_netcdf(tmp_path / "grid.nc")
    args = ["forecast-grid", str(tmp_path / "grid.nc"), "--train-until", str(ds.time.values[47])[:19]]
    args += ["--lead-times", "1h,2h", "--members", "3", "--steps", "3", "--every", "4h"]
    proc = _run(*args, "--epochs", "1", "--out", str(tmp_path / "ens.nc"), "--plots", str(tmp_path / "plots"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    ens = xr.open_dataset(tmp_path / "ens.nc")
    assert ens["Tair"].dims == ("time", "member", "lead_time", "lat", "lon")
    assert ens.sizes["member"] == 3 and ens.sizes["time"] == 3  # inits at 48 h, 52 h, 56 h
    assert "crps" in proc.stdout and "spread_skill" in proc.stdout
    for name in ("maps_Tair.png", "rank_Wind.png", "crps_Tair.png", "spread_skill_Wind.png"):
        assert (tmp_path / "plots" / name).stat().st_size > 3000
    zarr = __import__("importlib").util.find_spec("zarr")
    if zarr is not None:  # zarr out, reusing the saved model
        more = ["--model", str(tmp_path / "m.pt")]
        assert _run(*args, "--epochs", "1", "--out", str(tmp_path / "ens.zarr"), *more).returncode == 0
        proc = _run(*args, "--out", str(tmp_path / "ens2.zarr"), *more)
        assert proc.returncode == 0 and "saved" not in proc.stdout
        xr.testing.assert_identical(
            xr.open_zarr(tmp_path / "ens.zarr").load(), xr.open_zarr(tmp_path / "ens2.zarr").load()
        )
    bad = _run(
        "forecast-grid", str(tmp_path / "grid.nc"), "--train-until", "2030-01-01", "--out", str(tmp_path / "x.nc")
    )
    assert bad.returncode == 1 and "train-until" in bad.stderr


def test_train_command_fits_and_saves_the_config_model(tmp_path):
    sys.path.insert(0, str(__import__("pathlib").Path(__file__).parent))
    from test_forecast_grid import synthetic

    from tsdiff.tasks.forecast import EnsembleForecaster

    synthetic(n_hours=40).to_netcdf(tmp_path / "grid.nc")
    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "tiny.yaml"
    config.write_text(
        "task: grid_forecast\n"
        "data: {path: grid.nc, train_until: '2017-01-02T06:00'}\n"
        "model: {epochs: 1, width: 32, depth: 1, heads: 2, progress: false}\n"
    )
    proc = _run("train", "--config", str(config), "--out", str(tmp_path / "m.pt"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    model = EnsembleForecaster.load(tmp_path / "m.pt")
    assert model.spec_.variables == ("Tair", "Wind") and model.width == 32
    config.write_text("task: dance\ndata: {path: grid.nc}\n")
    bad = _run("train", "--config", str(config))
    assert bad.returncode == 1 and "unknown task" in bad.stderr


def test_flags_and_configs_are_checked_before_any_training(tmp_path, capsys):
    """Counts, output formats, durations, dates and configs are refused with a named error before training starts
    (in-process: each call returns before a model is built)."""
    import pytest

    from tsdiff.cli import main

    _, df = sensor_network(n_hours=96, n_sensors=2, seed=3)
    table = tmp_path / "in.csv"
    df.to_csv(table)

    def fails(*args, code=1):
        if code == 2:  # argparse
            with pytest.raises(SystemExit) as exit_:
                main(list(args))
            assert exit_.value.code == 2
        else:
            assert main(list(args)) == code
        return capsys.readouterr().err

    assert "must be at least 1, got 0" in fails("impute", str(table), "--out", "o.csv", "--samples", "0", code=2)
    assert "must be at least 1, got -1" in fails(
        "forecast", str(table), "--horizon", "2", "--out", "f.nc", "--steps", "-1", code=2
    )
    assert "must be at least 1" in fails(
        "forecast", str(table), "--horizon", "2", "--members", "0", "--out", "f.nc", code=2
    )
    assert "--train-steps or as --epochs, not both" in fails(
        "forecast", str(table), "--horizon", "2", "--out", "f.nc", "--epochs", "1", "--train-steps", "5"
    )
    assert "is the input file" in fails("impute", str(table), "--out", str(table))
    assert "write figures to" in fails("impute", str(table), "--out", str(tmp_path / "o.csv"), "--plot", "p.xyz")
    assert "write forecasts to .nc" in fails(
        "forecast", str(table), "--horizon", "2", "--out", str(tmp_path / "f.parquet")
    )
    grid = ["forecast-grid", str(tmp_path / "absent.nc"), "--train-until", "2020-01-02"]
    assert "--every 'banana' cannot be read" in fails(*grid, "--out", "e.nc", "--every", "banana")
    assert "--init-times 'banana' cannot be read" in fails(*grid, "--out", "e.nc", "--init-times", "banana")
    assert "write grids to .nc or .zarr" in fails(*grid, "--out", "e.csv")
    assert "--every must be a positive duration" in fails(*grid, "--out", "e.nc", "--every=-6h")

    (tmp_path / "configs").mkdir()
    config = tmp_path / "configs" / "c.yaml"
    config.write_text("task: [imputation\n")
    assert "not valid YAML" in fails("train", "--config", str(config))
    config.write_text("task: imputation\ndata: data/physionet\n")
    assert "`data` must be a mapping" in fails("train", "--config", str(config))
    config.write_text("task: imputation\ndata: {dataset: physionet2012, path: 5}\n")
    assert "path must be a file or folder name, got 5" in fails("train", "--config", str(config))
    config.write_text("task: windows\ndata: {path: in.csv, columns: sensor_00}\nmodel: {seq_len: 8}\n")
    assert "columns must be a list of names" in fails(
        "synthesize", "--config", str(config), "--out", str(tmp_path / "s.npy")
    )
    assert "unsupported format '.xlsx'" in fails(
        "synthesize", "--config", str(config), "--out", str(tmp_path / "s.xlsx")
    )
    config.write_text("task: windows\ndata: {path: in.csv}\nmodel: 5\n")
    assert "`model` must be a mapping" in fails("synthesize", "--config", str(config), "--out", str(tmp_path / "s.npy"))


def test_a_model_of_the_other_series_task_is_refused(tmp_path, capsys):
    from tsdiff.cli import main
    from tsdiff.tasks.forecast_series import fit_forecaster
    from tsdiff.tasks.impute import DiffusionImputer

    _, df = sensor_network(n_hours=96, n_sensors=2, seed=3)
    df.to_csv(tmp_path / "in.csv")
    tiny = dict(preset="small", epochs=1, progress=False)
    DiffusionImputer(seq_len=24, **tiny).fit(df).save(tmp_path / "imputer.pt")
    fit_forecaster(df, horizon=3, seq_len=24, **tiny).save(tmp_path / "forecaster.pt")
    common = [str(tmp_path / "in.csv"), "--out", str(tmp_path / "o.nc")]
    assert main(["forecast", *common, "--horizon", "3", "--model", str(tmp_path / "imputer.pt")]) == 1
    assert "trained to impute gaps" in capsys.readouterr().err
    assert main(["forecast", *common, "--horizon", "5", "--model", str(tmp_path / "forecaster.pt")]) == 1
    assert "horizon 5 is longer than the 3 steps the model was trained for" in capsys.readouterr().err
    assert main(["impute", *common, "--model", str(tmp_path / "forecaster.pt")]) == 1
    assert "is a forecaster" in capsys.readouterr().err
    assert main(["impute", *common, "--model", str(tmp_path / "imputer.pt"), "--epochs", "3"]) == 1
    assert "--epochs trains a new model, but --model" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # the ensemble's draws are its --members: no --samples flag
        main(["forecast", *common, "--horizon", "3", "--samples", "4"])
    assert "unrecognized arguments: --samples 4" in capsys.readouterr().err
