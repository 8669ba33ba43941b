"""Download WFDE5 (bias-adjusted ERA5, hourly, 0.5 degree, land only) from the Copernicus Climate Data Store and cut
a region: the gridded forecasting task's development set, or the same for another region and month.

    pip install cdsapi          # and a CDS account with its key in ~/.cdsapirc (https://cds.climate.copernicus.eu)
    python data_scripts/wfde5.py --out data/wfde5_gb_2017_01                  # Great Britain, January 2017
    python data_scripts/wfde5.py --year 2018 --month 7 --box 43 55 -5 16 --out data/wfde5_alps_2018_07

One request per variable (dataset ``derived-near-surface-meteorological-variables``, version 2.1, CRU reference)
returns a zip with that month's global NetCDF file; the cells whose centres fall in ``--box`` (south north west east,
degrees) are written as one file per variable, named as in ``../shared/data/wfde5_gb_2017_01`` (``air_temperature.nc``
holding ``Tair`` ...), latitudes ascending, longitudes in -180..180; ``pr`` is WFDE5's rainfall plus snowfall flux.
Ocean cells stay NaN as WFDE5 gives them. The zips are kept in ``<out>/downloads`` and reused. The CDS publishes no
checksums: each file is checked for its variable, units, 0.5-degree grid and hourly steps in the month instead.
``--archives`` reads zips downloaded by hand (the CDS web form) instead of calling the API.
Terms: Licence to Use Copernicus Products; cite Cucchi et al., ESSD 12, 2097-2120 (2020).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from tsdiff.data.download import DownloadError, extract_members, run_script

DATASET = "derived-near-surface-meteorological-variables"
# WFDE5 name: (CDS variable, units, output file); Rainf and Snowf are summed into pr
VARIABLES = {
    "Tair": ("near_surface_air_temperature", "K", "air_temperature.nc"),
    "Qair": ("near_surface_specific_humidity", "kg kg-1", "specific_humidity.nc"),
    "Wind": ("near_surface_wind_speed", "m s-1", "wind_speed.nc"),
    "LWdown": ("surface_downwelling_longwave_radiation", "W m-2", "surface_downwelling_longwave_flux_in_air.nc"),
    "SWdown": ("surface_downwelling_shortwave_radiation", "W m-2", "surface_downwelling_shortwave_flux_in_air.nc"),
    "Rainf": ("rainfall_flux", "kg m-2 s-1", None),
    "Snowf": ("snowfall_flux", "kg m-2 s-1", None),
}
OUTPUTS = ["Tair", "pr", "Qair", "LWdown", "SWdown", "Wind"]
GB_BOX = (50.0, 60.0, -11.0, 3.0)  # south, north, west, east: the development set's 20 x 28 cells


def request(name: str, year: int, month: int, extra: dict | None = None) -> dict:
    """The CDS API request for one WFDE5 variable and month (the fields of the dataset's CDS form; the form's "Show
    API request" gives the current spelling if the CDS changes it, and ``--request`` overrides any field)."""
    return {
        "variable": [VARIABLES[name][0]],
        "reference_dataset": "cru",
        "year": [f"{year:04d}"],
        "month": [f"{month:02d}"],
        "version": ["2_1"],
        **(extra or {}),
    }


def retrieve(
    name: str, year: int, month: int, folder: Path, client=None, extra: dict | None = None, download: bool = True
) -> Path:
    """The zip of one variable and month in ``folder``: downloaded unless it is there already (or ``download`` is
    False, when its absence is an error)."""
    target = folder / f"{name}_{year:04d}{month:02d}.zip"
    if target.is_file():
        return target
    if not download:
        raise DownloadError(f"{target} not found: download it from the CDS form, or drop --archives")
    if client is None:
        try:
            import cdsapi
        except ImportError as err:
            raise ImportError("the Climate Data Store client is missing: pip install cdsapi") from err
        client = cdsapi.Client()
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    try:
        client.retrieve(DATASET, request(name, year, month, extra), str(partial))
    except Exception as err:  # the client raises plain exceptions for keys, licences and the network alike
        raise DownloadError(
            f"the CDS refused or could not send {DATASET} {VARIABLES[name][0]} {year}-{month:02d}: {err} "
            "(offline? a key in ~/.cdsapirc? the licence accepted on the dataset's page? or pass --archives)"
        ) from err
    partial.replace(target)
    return target


def read_box(archive: Path, name: str, box, year: int, month: int):
    """The cells of ``box`` (see ``cut``) of variable ``name`` from a CDS zip holding one NetCDF file, checked for
    the variable, its units, WFDE5's 0.5-degree grid and hourly steps within the month; only the box is loaded (a
    global month is about 0.8 GB), and the extracted file is deleted."""
    import pandas as pd
    import xarray as xr

    with tempfile.TemporaryDirectory() as tmp:
        (path,) = extract_members(archive, {".nc": f"{name}.nc"}, tmp)  # exactly one NetCDF file, or an error
        with xr.open_dataset(path) as ds:
            if name not in ds.data_vars:
                raise DownloadError(f"{archive}: no variable {name!r}; it holds {sorted(ds.data_vars)}")
            da = ds[name]
            units = da.attrs.get("units")
            if units != VARIABLES[name][1]:
                raise DownloadError(f"{archive}: {name} in {units!r}, expected {VARIABLES[name][1]!r}")
            for dim in ("lat", "lon"):
                steps = [] if dim not in da.dims else np.unique(np.round(np.abs(np.diff(da[dim].values)), 6))
                if list(steps) != [0.5]:
                    raise DownloadError(f"{archive}: {name} has no 0.5-degree {dim!r} axis (dims {da.dims})")
            times = pd.DatetimeIndex(da["time"].values)
            hourly = (np.diff(times.values) == np.timedelta64(1, "h")).all()
            if not hourly or (times.year != year).any() or (times.month != month).any():
                raise DownloadError(
                    f"{archive}: {name} runs {times[0]} .. {times[-1]} ({len(times)} steps), not hourly in "
                    f"{year}-{month:02d}"
                )
            return cut(da, box).load()


def cut(da, box):
    """Cells whose centres lie in box = (south, north, west, east), latitudes ascending, longitudes -180..180."""
    south, north, west, east = box
    da = da.assign_coords(lon=((da["lon"] + 180) % 360) - 180).sortby(["lat", "lon"])
    lat, lon = da["lat"].values, da["lon"].values
    da = da.isel(lat=np.flatnonzero((lat >= south) & (lat <= north)), lon=np.flatnonzero((lon >= west) & (lon <= east)))
    if da.sizes["lat"] == 0 or da.sizes["lon"] == 0:
        raise ValueError(f"the box {box} holds no 0.5-degree cell centre")
    return da


def write(out: Path, year: int, month: int, box, archives: dict[str, Path]) -> list[Path]:
    """One NetCDF per output variable in ``out``, cut from the zips in ``archives`` (WFDE5 name: zip)."""
    fields = {name: read_box(path, name, box, year, month) for name, path in archives.items()}
    if "Rainf" in fields and "Snowf" in fields:
        pr = (fields.pop("Rainf") + fields.pop("Snowf")).rename("pr")
        pr.attrs.update(units="kg m-2 s-1", long_name="Rainfall flux + snowfall flux (WFDE5 Rainf + Snowf)")
        fields["pr"] = pr
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, da in fields.items():
        filename = "precipitation_flux.nc" if name == "pr" else VARIABLES[name][2]
        ds = da.to_dataset(name=name)
        ds.attrs.update(
            source=f"Copernicus CDS {DATASET} v2.1 (WFDE5, Cucchi et al. 2020), {year}-{month:02d}",
            history=f"cut to box {list(box)} (south, north, west, east) by tsdiff data_scripts/wfde5.py",
            licence="Licence to Use Copernicus Products",
        )
        ds.to_netcdf(out / filename)
        written.append(out / filename)
    return written


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--year", type=int, default=2017, help="1979-2019")
    p.add_argument("--month", type=int, default=1)
    p.add_argument("--box", type=float, nargs=4, default=GB_BOX, metavar=("SOUTH", "NORTH", "WEST", "EAST"))
    p.add_argument("--variables", nargs="+", default=OUTPUTS, choices=OUTPUTS)
    p.add_argument(
        "--out",
        help="folder to write (default: data/wfde5_gb_<year>_<month> for the default box, "
        "data/wfde5_<south>_<north>_<west>_<east>_<year>_<month> otherwise)",
    )
    p.add_argument("--archives", type=Path, help="a folder of zips named <WFDE5 name>_<YYYYMM>.zip (no download)")
    p.add_argument("--request", default="{}", help="JSON merged into each CDS request (if the CDS renames a field)")
    args = p.parse_args()
    south, north, west, east = args.box
    if not (1979 <= args.year <= 2019 and 1 <= args.month <= 12):
        raise SystemExit(f"WFDE5 v2.1 covers 1979-2019: --year {args.year} --month {args.month}")
    if not (-90 <= south < north <= 90 and -180 <= west < east <= 180):
        raise SystemExit(f"--box is SOUTH NORTH WEST EAST in degrees (south < north, west < east), got {args.box}")
    centres = np.arange(-179.75, 180, 0.5)  # WFDE5's cell centres (latitudes: the same from -89.75)
    if not (((centres >= south) & (centres <= north)).any() and ((centres >= west) & (centres <= east)).any()):
        raise SystemExit(f"--box {args.box} holds no 0.5-degree cell centre (they lie at x.25 and x.75 degrees)")
    extra = json.loads(args.request)
    if not isinstance(extra, dict):
        raise SystemExit(f"--request must be a JSON object of request fields, got {args.request!r}")
    if args.out:
        out = Path(args.out)
    elif tuple(args.box) == GB_BOX:
        out = Path(f"data/wfde5_gb_{args.year}_{args.month:02d}")
    else:
        out = Path(f"data/wfde5_{'_'.join(f'{v:g}' for v in args.box)}_{args.year}_{args.month:02d}")
    names = [n for v in args.variables for n in (("Rainf", "Snowf") if v == "pr" else (v,))]
    folder = args.archives or out / "downloads"
    download = args.archives is None
    archives = {n: retrieve(n, args.year, args.month, folder, extra=extra, download=download) for n in names}
    for path in write(out, args.year, args.month, tuple(args.box), archives):
        print(f"wrote {path}")


if __name__ == "__main__":
    run_script(main)
