"""How much of the WFDE5 test week the inputs can predict: a statistical forecast to set beside the DiT's ratios.

For each scored variable and lead time, a gradient-boosted regression (scikit-learn) learns the anomaly of the
increment, z = (x(t + lead) - x(t) - diurnal mean) / diurnal spread (the persistence+noise baseline's centre and
scale, `tsdiff.baselines.grid.diurnal_increment`), per land cell from local inputs at t: every variable's value,
its changes over the last 1, 2, 3, 6, 12 and 24 hours and its contrast with the 4 neighbouring cells, and the hour
of day. It is direct (one model per lead, no roll-out), trained on the same 1-24 January as the DiT. A second
regression learns the size of the first one's out-of-fold errors (two halves of January in turn), so the forecast
is a Gaussian ensemble with a state-dependent spread ("mean + spread"); "mean" keeps one spread per lead.
The table gives the fair CRPS over the forecast-grid benchmark's inits and its ratio to persistence+noise.

    python benchmarks/grid_predictability.py            # about 8 minutes on 2 CPU cores
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from tsdiff.baselines.grid import diurnal_increment, persistence_noise
from tsdiff.data.grid import check_grid, ensemble_dataset, verifying_truth
from tsdiff.data.wfde5 import load_wfde5, wfde5_split
from tsdiff.metrics import grid
from tsdiff.tasks.forecast import parse_lead_times

CHANGES = (1, 2, 3, 6, 12, 24)  # hours back over which each variable's change is an input
HISTORY = max(CHANGES)


def neighbour_contrast(x: np.ndarray) -> np.ndarray:
    """(..., H, W) -> the mean of the 4 neighbouring cells with data minus the cell (NaN where none has data)."""
    pad = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(1, 1), (1, 1)], constant_values=np.nan)
    around = np.stack([pad[..., :-2, 1:-1], pad[..., 2:, 1:-1], pad[..., 1:-1, :-2], pad[..., 1:-1, 2:]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(around, axis=0) - x


def features(x: np.ndarray, t: np.ndarray, hours: np.ndarray) -> np.ndarray:
    """Inputs at init indices ``t`` (each >= HISTORY) of ``x`` (T, C, H, W) -> (len(t), F, H, W)."""
    out = []
    for c in range(x.shape[1]):
        now = x[t, c]
        out += [now, neighbour_contrast(now), neighbour_contrast(now - x[t - 1, c])]
        out += [now - x[t - k, c] for k in CHANGES]
    phase = 2 * np.pi * hours[t][:, None, None] / 24 * np.ones_like(x[t, 0])
    return np.stack(out + [np.sin(phase), np.cos(phase)], axis=1)


def gbm(max_iter: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(max_iter=max_iter, learning_rate=0.05, max_leaf_nodes=31, min_samples_leaf=50)


def forecast(x, times, n_train, c, lead_steps, inits_at, members, max_iter, rng):
    """Gaussian ensembles of channel ``c`` at ``lead_steps`` after ``inits_at``: (mean + spread, mean), each
    (I, M, H, W)."""
    land = np.isfinite(x[:n_train, c]).any(axis=0)  # (H, W)
    mean, sd = diurnal_increment(x[:n_train], times[:n_train], (times[1] - times[0]) * lead_steps)
    mean, sd = mean[:, c], sd[:, c]
    hours = times.hour.values

    t = np.arange(HISTORY, n_train - lead_steps)
    z = (x[t + lead_steps, c] - x[t, c] - mean[hours[t]]) / sd[hours[t]]  # (N, H, W)
    f = np.moveaxis(features(x, t, hours), 1, -1)[:, land]  # (N, cells, F)
    y, f = z[:, land].reshape(-1), f.reshape(-1, f.shape[-1])
    keep = np.isfinite(y)
    y, f = y[keep], f[keep]

    half = len(y) // 2  # rows are in time order: out-of-fold errors from the other half of January
    error = np.empty_like(y)
    for fit, held in ((slice(0, half), slice(half, None)), (slice(half, None), slice(0, half))):
        error[held] = y[held] - gbm(max_iter).fit(f[fit], y[fit]).predict(f[held])
    centre_model = gbm(max_iter).fit(f, y)
    scale_model = gbm(max_iter).fit(f, np.abs(error))

    ft = np.moveaxis(features(x, inits_at, hours), 1, -1)[:, land]  # (I, cells, F)
    flat = ft.reshape(-1, ft.shape[-1])
    mu = centre_model.predict(flat).reshape(ft.shape[:2])
    sigma = np.maximum(scale_model.predict(flat), 1e-3).reshape(ft.shape[:2]) * np.sqrt(np.pi / 2)  # E|e| -> sd
    base = x[inits_at, c][:, land] + mean[hours[inits_at]][:, land]  # persistence + diurnal, (I, cells)
    scale = sd[hours[inits_at]][:, land]
    eps = rng.standard_normal((len(inits_at), members, land.sum()))
    out = []
    for spread in (sigma[:, None], np.std(error)):
        block = np.full((len(inits_at), members, *land.shape), np.nan, dtype=np.float32)
        block[:, :, land] = base[:, None] + scale[:, None] * (mu[:, None] + spread * eps)
        out.append(block)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "wfde5_gb_2017_01"
    p.add_argument("--data", default=str(shared))
    p.add_argument("--scored", nargs="+", default=["Tair", "Wind"])
    p.add_argument("--lead-times", default="1h,3h,6h")
    p.add_argument("--every", default="6h", help="spacing of init times over the test week")
    p.add_argument("--members", type=int, default=100)
    p.add_argument("--max-iter", type=int, default=400, help="boosting iterations of each regression")
    p.add_argument("--out", default="benchmarks/results/forecast_grid_predictability.md")
    args = p.parse_args(argv)

    start = time.perf_counter()
    ds = load_wfde5(args.data)
    data, spec = check_grid(ds, None, "data")
    x, times = spec.to_array(data), pd.DatetimeIndex(data["time"].values)
    train, inits = wfde5_split(ds, args.every)
    leads = parse_lead_times(args.lead_times, times[1] - times[0])
    inits = inits[inits + leads[-1] <= times[-1]]  # the forecast-grid benchmark's inits
    inits_at, n_train = times.get_indexer(inits), train.sizes["time"]
    if n_train <= HISTORY + leads[-1] / (times[1] - times[0]):
        raise SystemExit(f"{n_train} training times are too few for {HISTORY} h of history and a {leads[-1]} lead")

    unknown = sorted(set(args.scored) - set(spec.variables))
    if unknown:
        raise SystemExit(f"--scored {unknown} not in the data's variables {list(spec.variables)}")
    shape = (len(inits), args.members, len(leads), *x.shape[1:])
    ours = {
        "regression, mean + spread": np.full(shape, np.nan, np.float32),
        "regression, mean": np.full(shape, np.nan, np.float32),
    }
    rng = np.random.default_rng(0)
    for var in args.scored:
        c = list(spec.variables).index(var)
        for j, lead in enumerate(leads):
            steps = int(lead / (times[1] - times[0]))
            for block, name in zip(
                forecast(x, times, n_train, c, steps, inits_at, args.members, args.max_iter, rng), ours
            ):
                ours[name][:, :, j, c] = block
            print(f"{var} {steps} steps: fitted ({time.perf_counter() - start:.0f} s)", flush=True)

    forecasts = {"persistence+noise": persistence_noise(train, ds, inits, leads, members=args.members, seed=0)}
    forecasts |= {name: ensemble_dataset(out, data, spec, inits, leads) for name, out in ours.items()}
    table = pd.concat(
        [
            grid.score_table(fc[args.scored], verifying_truth(fc, ds)[args.scored], method=name)
            for name, fc in forecasts.items()
        ]
    )
    noise = table[table.method == "persistence+noise"].set_index(["variable", "lead_time"]).crps
    table["ratio"] = table.crps.values / noise.loc[list(zip(table.variable, table.lead_time))].values
    lines = [
        "# What the inputs can predict: WFDE5 test week",
        "",
        f"`python benchmarks/grid_predictability.py` ({time.perf_counter() - start:.0f} s): {len(inits)} inits every "
        f"{args.every}, {args.members} members, {args.max_iter} boosting iterations; latitude-weighted fair CRPS; "
        "ratio = CRPS / persistence+noise's.",
        "",
        "| variable | lead | method | CRPS | ratio | RMSE (mean) | spread-skill |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.sort_values(["variable", "lead_time"], kind="stable").itertuples():
        lead = f"{int(r.lead_time / pd.Timedelta('1h'))}h"
        scores = f"{r.crps:.4g} | {r.ratio:.3f} | {r.rmse:.4g} | {r.spread_skill:.3f}"
        lines.append(f"| {r.variable} | {lead} | {r.method} | {scores} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    return table


if __name__ == "__main__":
    main()
