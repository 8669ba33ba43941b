"""Gridded ensemble forecasting benchmark: tsdiff's EnsembleForecaster against the baselines, WeatherBench 2 scores.

    python benchmarks/forecast_grid.py                                  # WFDE5 GB, January 2017 (the dev set)
    python benchmarks/forecast_grid.py --step 3h --lead-times 3h,6h --no-deterministic --tag step3h
                                                                        # a model with a 3-hour step
    python benchmarks/forecast_grid.py --coarsen 2 --flip-lat --variables Tair Wind Qair --tag other
                                                                        # the same defaults on a 1-degree grid
    python benchmarks/forecast_grid.py --model wfde5_ensemble.pt --members 50 --no-deterministic --tag m50
                                                                        # a saved ensemble model, 50 members

Protocol (../shared/REFERENCE.md): train on 1-24 January, forecast from inits every 6 h over 25-31 January (only
inits whose longest lead lies inside the data), score against the data at the valid time over land cells with
latitude (cell-area) weights. Per variable and lead: fair CRPS, ensemble-mean RMSE, spread-skill ratio (with the
sqrt((M + 1) / M) factor), rank-histogram flatness, wall time per member. Deterministic rows have one member (their
CRPS is their MAE). Writes ``results.md``, ``scores.csv`` and plots to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from tsdiff.baselines.grid import GRID_BASELINES
from tsdiff.data.grid import verifying_truth
from tsdiff.data.wfde5 import WFDE5_TRAIN_END, load_wfde5, wfde5_split
from tsdiff.metrics import grid
from tsdiff.plotting import grid_forecast_plots
from tsdiff.tasks.forecast import EnsembleForecaster, parse_lead_times

PAPER = {  # ../shared/REFERENCE.md, "Development-set baselines" (26 inits; MAE = CRPS of one member)
    ("Tair", "1h"): (0.327, 0.294),
    ("Tair", "3h"): (0.711, 0.681),
    ("Tair", "6h"): (1.545, 1.361),
    ("Wind", "1h"): (0.263, 0.279),
    ("Wind", "3h"): (0.621, 0.647),
    ("Wind", "6h"): (1.048, 1.072),
}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "wfde5_gb_2017_01"
    p.add_argument("--data", default=str(shared))
    p.add_argument("--variables", nargs="+", default=None, help="variables modelled (default: all in the data)")
    p.add_argument("--scored", nargs="+", default=["Tair", "Wind"], help="variables in the table")
    p.add_argument("--lead-times", default="1h,3h,6h")
    p.add_argument("--every", default="6h", help="spacing of init times over the test week")
    p.add_argument("--members", type=int, default=20)
    p.add_argument("--epochs", type=float, default=None, help="default: the forecaster's")
    p.add_argument("--step", default=None, help="the model's time step (default: the data's, 1h); leads are multiples")
    p.add_argument("--sampler", default=None)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--options", default="{}", help='more EnsembleForecaster options as JSON: {"dropout": 0.1}')
    p.add_argument("--coarsen", type=int, default=1, help="average k x k cells (another resolution)")
    p.add_argument("--flip-lat", action="store_true", help="reverse the latitude axis (descending latitudes)")
    p.add_argument("--no-deterministic", action="store_true", help="skip the deterministic DiT row")
    p.add_argument("--model", default=None, help="a saved EnsembleForecaster to score instead of training one")
    p.add_argument("--deterministic-model", default=None, help="a saved deterministic DiT, likewise")
    p.add_argument("--tag", default="wfde5")
    p.add_argument("--out", default="benchmarks/results/forecast_grid")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    ds = load_wfde5(args.data, args.variables)
    if args.coarsen > 1:  # land-only mean: a coarse cell has data when any of its fine cells has
        ds = ds.coarsen(lat=args.coarsen, lon=args.coarsen, boundary="trim").mean()
    if args.flip_lat:
        ds = ds.isel(lat=slice(None, None, -1))
    train, inits = wfde5_split(ds, args.every)
    leads = parse_lead_times(args.lead_times, pd.Timedelta(args.step or "1h"))
    inits = inits[inits + leads[-1] <= pd.Timestamp(ds["time"].values[-1])]
    print(
        f"{args.tag}: grid {dict(ds.sizes)}, variables {list(ds.data_vars)}, train until {WFDE5_TRAIN_END}, "
        f"{len(inits)} inits, leads {args.lead_times}, {args.members} members",
        flush=True,
    )

    chosen = {"epochs": args.epochs, "step": args.step, "sampler": args.sampler, "sample_steps": args.steps}
    options = {k: v for k, v in chosen.items() if v is not None} | json.loads(args.options)
    rows, forecasts = [], {}

    def score(name, forecast, train_s, predict_s):
        truth = verifying_truth(forecast, ds)
        table = grid.score_table(forecast[args.scored], truth[args.scored], method=name)
        table["train_s"] = train_s
        table["s_per_member"] = predict_s / (forecast.sizes["member"] * forecast.sizes["time"])  # per member per init
        rows.append(table)
        forecasts[name] = (forecast, truth)
        print(table.to_string(index=False), flush=True)

    kinds = [("tsdiff DiT ensemble", True, args.model)]
    kinds += [] if args.no_deterministic else [("deterministic DiT", False, args.deterministic_model)]
    sampling = {k: options[k] for k in ("sampler", "sample_steps") if k in options}
    saved = {}  # only --sampler / --steps apply to a saved model; its train s is reported as 0
    for name, probabilistic, path in kinds:
        if path:
            saved[name] = EnsembleForecaster.load(path, **sampling)
            if saved[name].probabilistic != probabilistic:
                raise SystemExit(f"{path} is {'not ' if probabilistic else ''}a probabilistic model")

    for name, fn in GRID_BASELINES.items():
        start = time.perf_counter()
        if name == "persistence":
            fc = fn(ds, inits, leads)
        elif name == "persistence+noise":
            fc = fn(train, ds, inits, leads, members=args.members, seed=0)
        else:
            fc = fn(train, ds, inits, leads)
        score(name, fc, 0.0, time.perf_counter() - start)

    for name, probabilistic, _ in kinds:
        if name in saved:
            model, train_s = saved[name], 0.0
        else:
            model = EnsembleForecaster(probabilistic=probabilistic, **options)
            start = time.perf_counter()
            model.fit(train)
            train_s = time.perf_counter() - start
            model.save(out / f"{args.tag}_{'ensemble' if probabilistic else 'deterministic'}.pt")
        start = time.perf_counter()
        fc = model.predict(ds, inits, leads, members=args.members, seed=0)
        predict_s = time.perf_counter() - start
        fc.to_netcdf(out / f"{args.tag}_{'ensemble' if probabilistic else 'deterministic'}.nc")
        score(name, fc, train_s, predict_s)

    table = pd.concat(rows, ignore_index=True)
    table.to_csv(out / f"{args.tag}_scores.csv", index=False)
    write_report(table, forecasts, leads, args, out, len(inits))


def write_report(table: pd.DataFrame, forecasts: dict, leads, args, out: Path, n_inits: int):
    lines = markdown(table, leads, args, n_inits)
    (out / f"{args.tag}_results.md").write_text("\n".join(lines))
    print("\n".join(lines))
    # the ensemble rows first, so that the maps show tsdiff's
    order = sorted(forecasts, key=lambda name: "DiT ensemble" not in name)
    grid_forecast_plots({k: forecasts[k] for k in order}, table, out, args.scored, prefix=f"{args.tag}_")


def markdown(table: pd.DataFrame, leads, args, n_inits: int) -> list[str]:
    lines = [
        f"### Gridded ensemble forecasts: {args.tag}",
        "",
        f"{n_inits} inits every {args.every} over the test week, {args.members} members; latitude-weighted scores "
        "over cells with data. CRPS of a one-member row = its MAE. Ratio = CRPS / the best baseline's CRPS. "
        "RMSE (mean, M=inf): the RMSE the mean of infinitely many members would have, estimated from these members "
        "(`ensemble_mean_rmse(..., infinite_ensemble=True)`).",
        "",
    ]
    fmt = lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.4g}"  # noqa: E731
    for var in args.scored:
        lines += [
            f"**{var}**",
            "",
            "| method | lead | members | CRPS | ratio | RMSE (mean) | RMSE (mean, M=inf) | spread-skill "
            "| rank flatness | train s | s per member per init |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for lead in leads:
            sub = table[(table.variable == var) & (table.lead_time == lead)]
            baselines = sub[~sub.method.str.contains("DiT")]
            best = baselines.crps.min()
            for _, r in sub.iterrows():
                lines.append(
                    f"| {r.method} | {lead.components.hours}h | {r.members} | {fmt(r.crps)} | {fmt(r.crps / best)} | "
                    f"{fmt(r.rmse)} | {fmt(r.rmse_inf)} | {fmt(r.spread_skill)} | {fmt(r.rank_flatness)} | "
                    f"{r.train_s:.0f} | "
                    f"{r.s_per_member:.2f} |"
                )
            key = (var, f"{lead.components.hours}h")
            if args.tag == "wfde5" and key in PAPER:
                pers, diurnal = PAPER[key]
                lines.append(f"| persistence (REFERENCE.md) | {key[1]} | 1 | {pers:.3f} | | | | | | | |")
                lines.append(f"| persistence + diurnal (REFERENCE.md) | {key[1]} | 1 | {diurnal:.3f} | | | | | | | |")
        lines.append("")
    return lines


if __name__ == "__main__":
    main()
