"""The ``tsdiff`` command line: ``demo``, ``impute``, ``forecast``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# defaults sized for a 2-core CPU: a table of ~5,000 rows x 10 columns trains and imputes in a few minutes
IMPUTE_DEFAULTS = dict(
    seq_len=48,
    preset="small",
    epochs=120,
    batch_size=16,
    lr=2e-3,
    lr_decay="cosine",
    warmup_steps=50,
    n_samples=20,
    sampler="ddim",
    sample_steps=10,
)


def _impute_table(df, args):
    """Fit (or load) an imputer on the table; return (median-filled, q05, q95, imputer, draws)."""
    from .tasks.impute import DiffusionImputer

    overrides = {
        k: v
        for k, v in (("n_samples", args.samples), ("sampler", args.sampler), ("sample_steps", args.steps))
        if v is not None
    }
    if args.model and Path(args.model).exists():
        imputer = DiffusionImputer.load(args.model, **overrides)
    else:
        params = {**IMPUTE_DEFAULTS, **overrides, "seed": args.seed}
        if args.epochs is not None:
            params["epochs"] = args.epochs
        imputer = DiffusionImputer(**params).fit(df)
        if args.model:
            imputer.save(args.model)
            print(f"model saved to {args.model}")
    draws = imputer.sample(df)  # (S, T, K), reused for the bands and the scores
    bands = imputer.predict_quantiles(df, q=(0.05, 0.5, 0.95), draws=draws)
    return bands[0.5], bands[0.05], bands[0.95], imputer, draws


def _impute(args) -> int:
    import pandas as pd

    from .io import read_table, write_table

    df = read_table(args.input)
    start = time.perf_counter()
    filled, lo, hi, _, _ = _impute_table(df, args)
    out = pd.concat([filled, lo.add_suffix("_q05"), hi.add_suffix("_q95")], axis=1)
    path = write_table(out, args.out)
    n_gaps = int(df.isna().sum().sum())
    print(
        f"filled {n_gaps} gaps in {df.shape[0]} rows x {df.shape[1]} columns in {time.perf_counter() - start:.0f} s"
        f" -> {path}"
    )
    if args.plot:
        from .plotting import imputation_panels

        print(f"plot: {imputation_panels(df, filled, lo, hi, Path(args.plot))}")
    return 0


def _forecast(args) -> int:
    from .io import read_table
    from .tasks.forecast_series import fit_forecaster, forecast
    from .tasks.impute import DiffusionImputer

    df = read_table(args.input)
    start = time.perf_counter()
    overrides = {k: v for k, v in (("sampler", args.sampler), ("sample_steps", args.steps)) if v is not None}
    if args.model and Path(args.model).exists():
        model = DiffusionImputer.load(args.model, **overrides)
    else:
        params = {k: v for k, v in IMPUTE_DEFAULTS.items() if k not in ("seq_len", "n_samples")}
        params.update(overrides, seed=args.seed)
        if args.epochs is not None:
            params["epochs"] = args.epochs
        model = fit_forecaster(df, args.horizon, **params)
        if args.model:
            model.save(args.model)
    ds = forecast(model, df, args.horizon, args.members)
    out = Path(args.out)
    if out.suffix.lower() == ".nc":
        ds.to_netcdf(out)
    elif out.suffix.lower() == ".csv":
        ds[[str(c) for c in df.columns]].to_dataframe().to_csv(out)
        quantiles = ds[[f"{c}_quantiles" for c in df.columns]].to_dataframe()
        quantiles.to_csv(out.with_name(out.stem + "_quantiles.csv"))
    else:
        raise ValueError(f"{out}: write forecasts to .nc (NetCDF) or .csv")
    print(
        f"{args.members} members x {args.horizon} steps for {df.shape[1]} variables in "
        f"{time.perf_counter() - start:.0f} s -> {out}"
    )
    return 0


def _demo(args) -> int:
    if args.example == "samplers":
        return _demo_samplers(args)
    return _demo_imputation(args)


def _demo_imputation(args) -> int:
    """Simulated sensor network (no download): hide 10% of the observed readings, impute, score against
    linear interpolation and the mean, plot one sensor with its 90% band."""
    import numpy as np
    import torch

    from .baselines import linear_impute, mean_impute
    from .data.simulate import sensor_network
    from .metrics import crps_quantile, interval_coverage, mae
    from .plotting import imputation_panels

    truth, observed = sensor_network(n_hours=5000, n_sensors=10, seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    targets = observed.notna().to_numpy() & (rng.random(observed.shape) < 0.1)
    given = observed.mask(targets)
    print(
        f"tsdiff demo: imputing a simulated sensor network, {given.shape[0]} hours x {given.shape[1]} sensors, "
        f"{given.isna().to_numpy().mean():.0%} missing; scored on {int(targets.sum())} hidden readings"
    )
    start = time.perf_counter()
    filled, lo, hi, imputer, draws = _impute_table(given, args)
    seconds = time.perf_counter() - start
    y = torch.from_numpy(truth.to_numpy())
    m = torch.from_numpy(targets)
    train = given.to_numpy()[None]
    rows = [
        (
            "tsdiff (median of draws)",
            mae(torch.from_numpy(filled.to_numpy()), y, m),
            crps_quantile(torch.from_numpy(draws), y, m),
            interval_coverage(torch.from_numpy(draws), y, m, 0.9),
        ),
        ("linear interpolation", mae(torch.from_numpy(linear_impute(train, train)[0]), y, m), None, None),
        ("feature mean", mae(torch.from_numpy(mean_impute(train, train)[0]), y, m), None, None),
    ]
    print(f"\ntrained and imputed in {seconds:.0f} s\n")
    print("| method | MAE | CRPS | 90% interval coverage |\n|---|---|---|---|")
    for name, a, c, cov in rows:
        print(f"| {name} | {a:.3f} | {'' if c is None else f'{c:.3f}'} | {'' if cov is None else f'{cov:.2f}'} |")
    path = imputation_panels(given, filled, lo, hi, Path(args.out) / "demo_imputation.png", truth=truth, hours=240)
    print(f"\nplot: {path}")
    return 0


def _demo_samplers(args) -> int:
    """Train the MLP denoiser on the 2-D mixture, sample with every sampler, print the table, save a plot."""
    import torch

    from .examples.mixture2d import compare_samplers, train_mixture_model
    from .plotting import scatter_panels

    torch.manual_seed(args.seed)
    print(f"tsdiff demo samplers: an MLP denoiser on a 2-D Gaussian mixture ({args.train_steps} steps)")
    start = time.perf_counter()
    model, mixture, schedule, result = train_mixture_model(steps=args.train_steps, seed=args.seed, progress=True)
    print(f"trained in {time.perf_counter() - start:.0f} s; final loss {sum(result.losses[-100:]) / 100:.3f}")
    rows = compare_samplers(model, mixture, schedule, n=args.n, seed=args.seed + 1)
    print(
        f"\nsliced Wasserstein-1 to fresh data (lower is better; two fresh data samples: {rows[0]['data_floor']:.4f})"
    )
    print("| sampler | steps | trained model | exact denoiser | model s / 1000 samples |\n|---|---|---|---|---|")
    for r in rows:
        per_k = r["model_seconds"] / args.n * 1000
        print(f"| {r['sampler']} | {r['steps']} | {r['model_swd']:.4f} | {r['exact_swd']:.4f} | {per_k:.3f} |")
    data, _ = mixture.sample(args.n, torch.Generator().manual_seed(args.seed))
    panels = {"data": data, **{r["sampler"]: r["model_samples"] for r in rows}}
    path = scatter_panels(panels, Path(args.out) / "demo_mixture.png", "trained MLP denoiser, each sampler", 4.5)
    print(f"\nplot: {path}")
    return 0


def _add_sampling_options(p):
    p.add_argument("--samples", type=int, help="draws per gap (default 20)")
    p.add_argument("--sampler", choices=["ddpm", "ddim", "dpmpp_2m", "euler_maruyama", "heun", "pc"])
    p.add_argument("--steps", type=int, help="sampler steps (default 10)")
    p.add_argument("--epochs", type=float, help="training epochs (default 120)")
    p.add_argument("--seed", type=int, default=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tsdiff", description="Diffusion models for time series and grids.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the main job on embedded data: impute a simulated sensor network")
    demo.add_argument("example", nargs="?", default="imputation", choices=["imputation", "samplers"])
    demo.add_argument("--out", default="outputs", help="folder for the plot")
    demo.add_argument("--model", help="save the trained imputer here (or reuse it if the file exists)")
    demo.add_argument("--train-steps", type=int, default=3000, help="samplers example: training steps")
    demo.add_argument("--n", type=int, default=4000, help="samplers example: samples per sampler")
    _add_sampling_options(demo)
    demo.set_defaults(run=_demo)

    imp = sub.add_parser("impute", help="fill the gaps of a table (CSV, Parquet or NetCDF) with a diffusion model")
    imp.add_argument("input", help="table with a time index and one column per variable; empty = missing")
    imp.add_argument("--out", required=True, help="output table (same format): filled columns + _q05 / _q95")
    imp.add_argument("--model", help="trained imputer to reuse; if the file does not exist, train and save there")
    imp.add_argument("--plot", help="write a PNG of the first columns with their 90%% bands")
    _add_sampling_options(imp)
    imp.set_defaults(run=_impute)

    fc = sub.add_parser("forecast", help="ensemble forecast of the steps after a table's last row")
    fc.add_argument("input", help="table with a regular time index and one column per variable")
    fc.add_argument("--horizon", type=int, required=True, help="steps to forecast")
    fc.add_argument("--members", type=int, default=50, help="ensemble members")
    fc.add_argument("--out", required=True, help=".nc (members + quantiles) or .csv (+ _quantiles.csv)")
    fc.add_argument("--model", help="trained forecaster to reuse; if the file does not exist, train and save there")
    _add_sampling_options(fc)
    fc.set_defaults(run=_forecast)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, FileNotFoundError, ImportError, RuntimeError) as err:
        print(f"tsdiff {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
