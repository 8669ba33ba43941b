"""Files in and out for the command line, the format chosen by the extension: tables (CSV, Parquet or NetCDF) and
grids (NetCDF, a folder of NetCDF files, or zarr)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pandas as pd

__all__ = [
    "read_csv",
    "read_table",
    "table_format",
    "write_table",
    "netcdf_times",
    "open_grid",
    "write_grid",
    "FORMATS",
]

FORMATS = (".csv", ".parquet", ".nc")
GRIB_SUFFIXES = (".grib", ".grb", ".grib2", ".grb2")


def table_format(path: Path) -> str:
    """The table format of ``path`` by its suffix (one of ``FORMATS``), or an error that names it."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unsupported format {suffix!r}; use one of {FORMATS}")
    return suffix


def read_csv(path, **kwargs) -> pd.DataFrame:
    """pd.read_csv with floats parsed exactly: pandas 2's default parser may be one ulp off; pandas 3 parses
    exactly and deprecates the float_precision option."""
    if int(pd.__version__.split(".")[0]) < 3:
        kwargs.setdefault("float_precision", "round_trip")
    return pd.read_csv(path, **kwargs)


def read_table(path: str | Path, columns: list | None = None) -> pd.DataFrame:
    """A table with time (or row) index and one numeric column per variable; empty cells / NaN = missing.
    CSV: the first column is the index (parsed as dates when it looks like dates). NetCDF: every variable along
    the file's one dimension becomes a column. With ``columns``, only those must exist and be numeric (the whole
    table is returned: the others, text or flags say, can be carried through)."""
    path = Path(path)
    fmt = table_format(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if fmt == ".csv":
        header = pd.read_csv(path, header=None, nrows=1).iloc[0, 1:]  # as written: pandas renames a repeat "a.1"
        if header.duplicated().any():
            raise ValueError(f"{path}: duplicated column names {sorted(set(header[header.duplicated()]))}")
        df = read_csv(path, index_col=0)
        df.index = _dates(df.index)
    elif fmt == ".parquet":
        df = _parquet(lambda: pd.read_parquet(path))
    else:
        import xarray as xr

        with xr.open_dataset(path) as ds:
            if len(ds.dims) != 1:
                raise ValueError(
                    f"{path}: expected variables along one dimension (e.g. time), got dims {dict(ds.sizes)}"
                )
            df = ds.to_dataframe()
            zone = ds[df.index.name].attrs.get("time_zone") if df.index.name in ds.coords else None
            if zone and isinstance(df.index, pd.DatetimeIndex):  # written by write_table from zoned times
                df.index = df.index.tz_localize("UTC").tz_convert(zone)
    if columns is not None:
        absent = [c for c in columns if c not in df.columns]
        if absent or not columns:
            raise ValueError(f"{path}: no column named {absent or columns}; it has {list(df.columns)[:20]}")
    non_numeric = [c for c in (df.columns if columns is None else columns) if not pd.api.types.is_numeric_dtype(df[c])]
    if non_numeric:
        raise ValueError(f"{path}: columns {non_numeric} are not numeric (--columns picks the ones to model)")
    return df


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    fmt = table_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == ".csv":
        df.to_csv(path)
    elif fmt == ".parquet":
        _parquet(lambda: df.to_parquet(path))
    else:
        netcdf_times(df.to_xarray()).to_netcdf(path)
    return path


def _dates(index: pd.Index) -> pd.Index:
    """A CSV's first column as dates when it holds date strings: numbers (row numbers, years) stay numbers, and
    time stamps with mixed UTC offsets (a column that crosses a daylight-saving change) become UTC."""
    if not (pd.api.types.is_object_dtype(index) or pd.api.types.is_string_dtype(index)):
        return index
    for utc in (False, True):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pandas 2 warns before it gives up on mixed offsets
                return pd.DatetimeIndex(pd.to_datetime(index, utc=utc), name=index.name)
        except (ValueError, TypeError):
            continue
    return index  # labels that are not dates


def netcdf_times(ds):
    """A Dataset whose zoned datetime coordinates (which NetCDF cannot store) are in UTC, with the zone in their
    attributes."""
    for name, coord in ds.coords.items():
        index = coord.to_index() if coord.ndim == 1 else None
        if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
            utc = index.tz_convert("UTC").tz_localize(None)
            ds = ds.assign_coords({name: (coord.dims, utc, {**coord.attrs, "time_zone": str(index.tz)})})
    return ds


def _parquet(action):
    try:
        return action()
    except ImportError as err:
        raise ImportError("Parquet needs pyarrow: pip install pyarrow (or use CSV / NetCDF)") from err


def open_grid(path: str | Path):
    """A gridded Dataset from a NetCDF file, a folder of NetCDF files (merged: one variable per file is common), a
    zarr store (opened lazily; the ``grid`` extra) or a GRIB file (through cfgrib; the ``grib`` extra)."""
    import xarray as xr

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    if path.suffix.lower() == ".zarr":
        return _zarr(lambda: xr.open_zarr(path))
    if path.is_dir():
        files = sorted(path.glob("*.nc"))
        if not files:
            raise FileNotFoundError(f"{path}: a folder without .nc files (and not a .zarr store)")
        parts = []
        for f in files:
            with xr.open_dataset(f) as one:
                parts.append(one.load())
        return xr.merge(parts, combine_attrs="drop_conflicts")
    if path.suffix.lower() in GRIB_SUFFIXES:
        try:
            with xr.open_dataset(path, engine="cfgrib") as ds:
                return ds.load()
        except ValueError as err:
            if "cfgrib" in str(err):
                raise ImportError('GRIB files need the grib extra: pip install "tsdiff[grib]"') from err
            raise
    if path.suffix.lower() != ".nc":
        raise ValueError(
            f"{path}: unsupported grid format {path.suffix!r}; use .nc, a folder of .nc files, .zarr or GRIB"
        )
    with xr.open_dataset(path) as ds:
        return ds.load()


def write_grid(ds, path: str | Path) -> Path:
    """Write a Dataset to .nc (NetCDF) or .zarr (replacing an existing store)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".nc":
        ds.to_netcdf(path)
    elif suffix == ".zarr":
        _zarr(lambda: ds.to_zarr(path, mode="w"))
    else:
        raise ValueError(f"{path}: write grids to .nc or .zarr")
    return path


def _zarr(action):
    try:
        return action()
    except ImportError as err:
        raise ImportError('zarr stores need the zarr extra: pip install "tsdiff[grid]"') from err
