"""Peak memory of training the gridded forecaster on zarr stores of 1, 4 and 16 GB: it must not grow with the size.

    python benchmarks/streaming.py [--sizes 1,4,16] [--dir /tmp/tsdiff_stores] [--steps 40] [--keep]

Writes synthetic hourly 64 x 32 stores of 10 variables (float32, time chunks of 24, uncompressed) to ``--dir``,
then, for each store in a fresh process: ``open_grid`` (lazy, no dask), ``EnsembleForecaster.fit`` (one blockwise
statistics pass over the whole store, then ``--steps`` optimizer steps on batches read on demand) and a 4-member
forecast. Prints and writes (benchmarks/results/streaming.md) the peak resident memory of each process and the time
of each phase. The stores are deleted afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from peak_memory import peak_rss_mib  # benchmarks/peak_memory.py

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_VARS, N_LAT, N_LON, CHUNK = 10, 32, 64, 24
BYTES_PER_HOUR = N_VARS * N_LAT * N_LON * 4


def write_store(path: Path, gigabytes: float, block: int = 24 * 120) -> int:
    """A synthetic store of about ``gigabytes`` GB: a diurnal cycle plus noise per variable. Returns its hours."""
    import pandas as pd
    import xarray as xr

    hours = int(gigabytes * 2**30 / BYTES_PER_HOUR) // CHUNK * CHUNK
    lat = np.linspace(-87.19, 87.19, N_LAT)
    lon = np.arange(N_LON) * 360.0 / N_LON
    rng = np.random.default_rng(0)
    times = pd.date_range("1990-01-01", periods=hours, freq="1h")
    encoding = {f"v{i}": {"chunks": (CHUNK, N_LAT, N_LON), "compressors": None} for i in range(N_VARS)}
    for start in range(0, hours, block):
        t = times[start : start + block]
        cycle = np.sin(2 * np.pi * t.hour.values / 24).astype(np.float32)[:, None, None]
        data = {
            f"v{i}": (("time", "latitude", "longitude"),
                      (i + cycle + rng.standard_normal((len(t), N_LAT, N_LON), dtype=np.float32)))
            for i in range(N_VARS)
        }  # fmt: skip
        ds = xr.Dataset(data, coords={"time": t, "latitude": lat, "longitude": lon})
        if start == 0:
            ds.to_zarr(path, mode="w", encoding=encoding, consolidated=False)
        else:
            ds.to_zarr(path, append_dim="time", consolidated=False)
    import zarr

    zarr.consolidate_metadata(str(path))  # one metadata read when opened
    return hours


def measure(path: str, steps: int) -> dict:
    """Run in a fresh process: open, fit, forecast; report the phases' times and the peak resident memory."""
    import warnings

    warnings.filterwarnings("ignore")
    from tsdiff import EnsembleForecaster
    from tsdiff.data.frames import open_grid

    out = {"rss_after_import_mib": peak_rss_mib()}
    start = time.perf_counter()
    ds = open_grid(path)
    n = ds.sizes["time"]
    batch = 16
    model = EnsembleForecaster(width=64, depth=2, heads=2, batch_size=batch, epochs=steps * batch / (n - 2),
                               warmup_steps=5, progress=False)  # fmt: skip
    model.fit(ds)
    out["fit_s"] = time.perf_counter() - start
    out["train_loop_s"] = model.train_result_.seconds
    out["steps"] = model.train_result_.steps
    start = time.perf_counter()
    forecast = model.predict(ds, lead_times=["1h", "3h"], members=4)
    out["predict_s"] = time.perf_counter() - start
    out["forecast_finite"] = bool(np.isfinite(forecast["v0"].values).all())
    out["hours"] = n
    out["peak_rss_mib"] = peak_rss_mib()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1,4,16", help="store sizes in GB")
    p.add_argument("--dir", default="/tmp/tsdiff_stores")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--keep", action="store_true")
    p.add_argument("--measure", default=None, help=argparse.SUPPRESS)  # internal: the child process
    args = p.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.steps)))
        return
    root = Path(args.dir)
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in [float(s) for s in args.sizes.split(",")]:
        path = root / f"grid_{size:g}GB.zarr"
        start = time.perf_counter()
        if not path.exists():  # written under another name first: an interrupted write is never reused
            partial = path.with_name(path.name + ".partial")
            shutil.rmtree(partial, ignore_errors=True)
            write_store(partial, size)
            partial.rename(path)
        written = time.perf_counter() - start
        on_disk = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**30
        child = subprocess.run([sys.executable, __file__, "--measure", str(path), "--steps", str(args.steps)],
                               capture_output=True, text=True, check=False)  # fmt: skip
        if child.returncode:
            raise SystemExit(f"measuring {path} failed:\n{child.stderr[-3000:]}")
        row = {"size_gb": size, "on_disk_gib": on_disk, "write_s": written, **json.loads(child.stdout.splitlines()[-1])}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if not args.keep:
            shutil.rmtree(path)
    base = rows[0]["peak_rss_mib"]
    lines = [
        f"`python benchmarks/streaming.py --sizes {args.sizes} --steps {args.steps}`: synthetic hourly 64 x 32 stores "
        "of 10 variables, opened lazily with `open_grid` (no dask), `EnsembleForecaster.fit` (statistics pass over "
        "the whole store + training on batches read on demand) and a 4-member forecast, each in a fresh process.",
        "",
        "| store | on disk GiB | hours | fit s (stats + train) | train s | predict s | peak RSS MiB | vs smallest |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['size_gb']:g} GB | {r['on_disk_gib']:.2f} | {r['hours']:,} | {r['fit_s']:.0f} | "
            f"{r['train_loop_s']:.1f} | {r['predict_s']:.1f} | {r['peak_rss_mib']:.0f} | "
            f"{100 * (r['peak_rss_mib'] / base - 1):+.1f}% |"
        )
    table = "\n".join(lines)
    print(table)
    out = Path(__file__).parent / "results" / "streaming.md"
    out.write_text(table + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
