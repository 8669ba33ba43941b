"""Download a subset of WeatherBench 2's ERA5 at 64 x 32 (5.625 degrees) lazily and write it as NetCDF.

    pip install -e ".[grid]" gcsfs
    python data_scripts/weatherbench2.py --variables 2m_temperature geopotential --levels 500 \\
        --start 2017-01-01 --end 2018-12-31 --out data/era5_64x32_2017_2018.nc

The store is opened with xarray + dask (zarr, anonymous Google Cloud Storage access): only the chunks of the chosen
variables, levels and times are read, one time block at a time, so the archive (1959-2023, ~100 GB) is never
loaded whole. ``--source`` points at another zarr store (a local copy, another resolution). WeatherBench 2's dims
are time, level, latitude (ascending, -87.19 .. 87.19), longitude (0 .. 354.375); tsdiff reads them as they are.
Terms: ERA5 is Copernicus data (Licence to Use Copernicus Products); cite Rasp et al. 2024 (WeatherBench 2) and
Hersbach et al. 2020 (ERA5).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tsdiff.data.download import run_script

SOURCE = "gs://weatherbench2/datasets/era5/1959-2023_01_10-6h-64x32_equiangular_conservative.zarr"


def open_store(source: str):
    """The zarr store, lazily (dask chunks). A clear error when the network or gcsfs is missing."""
    import xarray as xr

    try:
        import zarr  # noqa: F401
    except ImportError as err:
        raise SystemExit("reading zarr needs zarr and dask: pip install zarr dask") from err
    options = {}
    if source.startswith("gs://"):
        try:
            import gcsfs  # noqa: F401
        except ImportError as err:
            raise SystemExit(f"{source} is on Google Cloud Storage: pip install gcsfs") from err
        options = {"storage_options": {"token": "anon"}}
    try:
        return xr.open_zarr(source, chunks={"time": 64}, **options)
    except (OSError, ValueError, KeyError) as err:
        raise SystemExit(f"cannot open {source} ({type(err).__name__}: {err}); offline? use --source") from err


def subset(source: str, variables, levels, start: str, end: str, out: Path, block: int = 256) -> Path:
    """Select variables / levels / times from the store and write NetCDF, reading ``block`` time steps at once."""
    import xarray as xr

    ds = open_store(source)
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise SystemExit(f"variables {missing} not in the store; available: {sorted(ds.data_vars)}")
    ds = ds[list(variables)].sel(time=slice(start, end))
    if levels and "level" in ds.dims:
        ds = ds.sel(level=[int(v) for v in levels])
    if ds.sizes["time"] == 0:
        raise SystemExit(f"no time stamps between {start} and {end}")
    parts = [ds.isel(time=slice(i, i + block)).load() for i in range(0, ds.sizes["time"], block)]
    result = xr.concat(parts, dim="time") if len(parts) > 1 else parts[0]
    result.attrs.update(source=source, history=f"subset by tsdiff data_scripts/weatherbench2.py: {start} .. {end}")
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_netcdf(out)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--source", default=SOURCE, help="zarr store (URL or local path)")
    p.add_argument("--variables", nargs="+", default=["2m_temperature", "geopotential", "temperature"])
    p.add_argument("--levels", nargs="*", default=["500", "850"], help="pressure levels (hPa) of 3-D variables")
    p.add_argument("--start", default="2017-01-01")
    p.add_argument("--end", default="2017-12-31")
    p.add_argument("--out", default="data/era5_64x32.nc")
    args = p.parse_args()
    path = subset(args.source, args.variables, args.levels, args.start, args.end, Path(args.out))
    print(f"wrote {path}")


if __name__ == "__main__":
    run_script(main)
