"""Probabilistic forecasts of series: `tsdiff forecast`'s model against simple baselines, scored by CRPS.

Train on the first part of a series (``--train-fraction``), then forecast ``--horizon`` steps from origins every
``--every`` steps over the rest, each from the observed history before it (gaps included), and score every origin's
ensemble where the truth is known: the simulator's true values (`--dataset sensors`, the embedded default of
`tsdiff demo`) or the observed readings (`--dataset aqi36`, Beijing PM2.5 at 36 stations, ../shared/data/aqi36).

Baselines (each from the same history):
    persistence          the last observed value of each column (one member: its CRPS is its MAE)
    seasonal naive       the value one period (a day) before each target step, last observed
    seasonal ensemble    the values at the same time of day over the last ``--days`` days (one member a day)
    persistence + noise  the last value plus ``members`` changes over the same leads drawn from the training part,
                         each from a row at the same time of day as the origin's last one (the series counterpart
                         of the gridded benchmark's noise ensemble, calibrated per hour and lead)

    python benchmarks/forecast_series.py                   # simulated sensors, 24-hour horizon
    python benchmarks/forecast_series.py --dataset aqi36   # AQI-36: train to 16 February 2015, then forecast
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from tsdiff.data.aqi36 import load_aqi36_table
from tsdiff.data.simulate import sensor_network
from tsdiff.metrics.probabilistic import crps_ensemble, interval_coverage
from tsdiff.tasks.forecast_series import fit_forecaster, forecast
from tsdiff.tasks.impute import DiffusionImputer

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def load(dataset: str, root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(observed, truth): the table a user has (NaN = missing) and the values it is scored on."""
    if dataset == "sensors":
        truth, observed = sensor_network(seed=0)
        return observed, truth
    observed = load_aqi36_table(root).asfreq("h")  # one row an hour (a missing row would become a gap)
    return observed, observed


def baselines(history: pd.DataFrame, train: pd.DataFrame, horizon: int, period: int, days: int, members: int, rng):
    """{name: (members, horizon, K) draws} of each baseline from ``history`` (the rows before the origin; its rows
    and the training part's are counted from the same first row, so row % period is the time of day)."""
    k = history.shape[1]
    filled = history.ffill().fillna(train.mean()).to_numpy(np.float64)  # (T, K)
    t, last = len(filled), filled[-1]
    if t < period:
        raise ValueError(f"the history before an origin has {t} rows, less than a period of {period}")
    steps = np.arange(1, horizon + 1)
    seasonal = filled[t - period + (steps - 1) % period]  # (H, K): the same time a period before
    back = [t - d * period + (steps - 1) % period for d in range(1, days + 1)]  # same time, earlier days
    seasonal_ens = np.stack([filled[b] for b in back if b.min() >= 0])  # (D, H, K), D <= days
    # persistence + noise: the changes over each lead from training rows at the origin's time of day
    values = train.to_numpy(np.float64)
    starts = np.arange((t - 1) % period, len(values) - horizon, period)  # rows like the last one before the origin
    starts = rng.choice(starts, size=members)
    changes = values[starts[:, None] + steps] - values[starts][:, None]  # (M, H, K), NaN where a reading is missing
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a lead with no finite change: its median is NaN, then 0
        typical = np.nan_to_num(np.nanmedian(changes, axis=0))
    changes = np.where(np.isnan(changes), typical, changes)  # a missing change: the median change of that lead
    return {
        "persistence": np.broadcast_to(last, (1, horizon, k)),
        "seasonal naive": seasonal[None],
        "seasonal ensemble": seasonal_ens,
        "persistence + noise": last + changes,
    }


def score(draws: np.ndarray, truth: np.ndarray) -> dict:
    """Sums of the fair CRPS, the median's absolute error and the 5-95% interval's hits of (M, H, K) draws over the
    (H, K) truth where it is known, with their count ``n`` and the number of members."""
    samples, target = torch.tensor(draws, dtype=torch.float64), torch.tensor(truth, dtype=torch.float64)
    mask = torch.isfinite(target)
    n = int(mask.sum())
    target = torch.nan_to_num(target)
    median = samples.quantile(0.5, dim=0)
    hits = np.nan if len(samples) < 2 else interval_coverage(samples, target, mask) * n if n else 0.0
    return {
        "crps_sum": float(crps_ensemble(samples, target)[mask].sum()),
        "abs_sum": float((median - target).abs()[mask].sum()),
        "covered": hits,
        "n": n,
        "members": len(samples),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=["sensors", "aqi36"], default="sensors")
    p.add_argument("--data", type=Path, default=DATA / "aqi36", help="AQI-36's folder (with --dataset aqi36)")
    p.add_argument("--horizon", type=int, default=24)
    p.add_argument("--every", type=int, default=24, help="steps between forecast origins")
    p.add_argument("--train-fraction", type=float, default=0.8)
    p.add_argument("--members", type=int, default=50)
    p.add_argument("--days", type=int, default=28, help="days of the seasonal ensemble")
    p.add_argument("--epochs", type=float, default=None, help="training epochs (default: fit_forecaster's steps)")
    p.add_argument("--options", default="{}", help="JSON of further fit_forecaster options")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", type=Path, help="save the trained forecaster here, or reuse it if the file exists")
    p.add_argument("--sampler", help="sampler to forecast with (default: the model's)")
    p.add_argument("--steps", type=int, help="sampler steps to forecast with (default: the model's)")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = p.parse_args(argv)

    observed, truth = load(args.dataset, args.data)
    split = int(len(observed) * args.train_fraction)
    train = observed.iloc[:split]
    origins = list(range(split, len(observed) - args.horizon + 1, args.every))
    if not origins:
        raise SystemExit(f"no forecast origin: {len(observed) - split} rows after training, horizon {args.horizon}")
    print(f"{args.dataset}: {observed.shape}, train {train.index[0]} .. {train.index[-1]}, {len(origins)} origins")

    params = {"seed": args.seed, **json.loads(args.options)}  # over fit_forecaster's DEFAULTS
    if args.epochs is not None:
        params["epochs"] = args.epochs
    start = time.perf_counter()
    reuse = args.model is not None and args.model.exists()
    if reuse:
        model = DiffusionImputer.load(args.model)  # trained on this split by an earlier run: the caller's word
    else:
        model = fit_forecaster(train, args.horizon, **params)
        if args.model is not None:
            model.save(args.model)
    train_s = time.perf_counter() - start
    sampling = {k: v for k, v in (("sampler", args.sampler), ("sample_steps", args.steps)) if v is not None}
    model.set_params(progress=False, **sampling)  # one sampling bar per origin would flood the log

    rng = np.random.default_rng(args.seed)
    totals: dict[str, dict] = {}
    forecast_s = 0.0
    for origin in origins:
        history, target = observed.iloc[:origin], truth.iloc[origin : origin + args.horizon].to_numpy(np.float64)
        start = time.perf_counter()
        ens = forecast(model, history, members=args.members)
        forecast_s += time.perf_counter() - start
        draws = {"tsdiff": np.stack([ens[str(c)].values for c in observed.columns], axis=-1)}  # (M, H, K)
        draws |= baselines(history, train, args.horizon, 24, args.days, args.members, rng)
        for name, d in draws.items():
            got = score(d, target)
            total = totals.setdefault(name, dict.fromkeys(got, 0))
            for key, value in got.items():
                total[key] = max(total[key], value) if key == "members" else total[key] + value

    rows = [
        {
            "method": name,
            "members": t["members"],  # the seasonal ensemble's: at most --days
            "crps": t["crps_sum"] / t["n"],
            "mae": t["abs_sum"] / t["n"],
            "coverage": t["covered"] / t["n"],
        }
        for name, t in totals.items()
    ]
    table = pd.DataFrame(rows)
    best = table[table.method != "tsdiff"].crps.min()
    trained = f"model loaded from {args.model}" if reuse else f"{train_s:.0f} s of training"
    lines = [
        f"### Series forecasts: {args.dataset}",
        "",
        f"`{' '.join(['python benchmarks/forecast_series.py', *(sys.argv[1:] if argv is None else argv)])}`",
        "",
        f"{observed.shape[1]} columns; trained on {train.index[0]} .. {train.index[-1]} ({split} rows; {trained}); "
        f"{len(origins)} origins every {args.every} steps, horizon {args.horizon}; {totals['tsdiff']['n']} scored "
        f"values; forecasting {forecast_s / len(origins):.2f} s per origin ({args.members} members, {model.sampler} "
        f"{model.sample_steps or 'all'} steps). CRPS fair; MAE of the ensemble median; coverage of the 5-95% interval.",
        "",
        "| method | members | CRPS | CRPS / best baseline | MAE (median) | 90% coverage |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        cover = "" if np.isnan(r["coverage"]) else f"{r['coverage']:.2f}"
        lines.append(
            f"| {r['method']} | {r['members']} | {r['crps']:.4g} | {r['crps'] / best:.3f} | {r['mae']:.4g} | {cover} |"
        )
    text = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"forecast_series_{args.dataset}.md").write_text(text)
    print(text)
    return table


if __name__ == "__main__":
    main()
