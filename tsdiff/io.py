"""Files in and out for the command line, the format chosen by the extension: tables (CSV, Parquet or NetCDF) and
grids (NetCDF, a folder of NetCDF files, or zarr)."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pandas as pd

__all__ = [
    "read_csv",
    "read_table",
    "table_format",
    "grid_format",
    "write_table",
    "netcdf_times",
    "open_grid",
    "write_grid",
    "FORMATS",
]

FORMATS = (".csv", ".parquet", ".nc")
GRIB_SUFFIXES = (".grib", ".grb", ".grib2", ".grb2")


def table_format(path: Path) -> str:
    """The table format of ``path`` by its suffix (one of ``FORMATS``), or an error that names it; Parquet only
    where pandas has an engine for it (so that a command says so before it trains, not after)."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unsupported format {suffix!r}; use one of {FORMATS}")
    if suffix == ".parquet" and not any(importlib.util.find_spec(m) for m in ("pyarrow", "fastparquet")):
        raise ImportError(f"{path}: Parquet needs pyarrow: pip install pyarrow (or use CSV / NetCDF)")
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
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a table file")
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if fmt == ".csv":
        df = _read_csv_table(path)
    elif fmt == ".parquet":
        df = pd.read_parquet(path)
    else:
        import xarray as xr

        try:
            ds = xr.open_dataset(path)
        except (OSError, ValueError) as err:  # not NetCDF, truncated, or no engine for it
            raise ValueError(f"{path} is not a readable NetCDF file: {err}") from err
        with ds:
            if not ds.data_vars:
                raise ValueError(f"{path}: a NetCDF file without data variables (coordinates only)")
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


def _read_csv_table(path: Path) -> pd.DataFrame:
    """A CSV whose first column is the index, read without shifting the columns of rows that end in a delimiter
    (pandas would otherwise take the first column as an extra index and move every label one to the left)."""
    try:
        header = pd.read_csv(path, header=None, nrows=1).iloc[0, 1:]  # as written: pandas renames a repeat "a.1"
    except pd.errors.EmptyDataError as err:
        raise ValueError(f"{path} is empty") from err
    if header.duplicated().any():
        raise ValueError(f"{path}: duplicated column names {sorted(set(header[header.duplicated()]))}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", pd.errors.ParserWarning)  # more values in a row than names in the header
        try:
            df = read_csv(path, index_col=False)
        except pd.errors.ParserWarning as err:
            raise ValueError(
                f"{path}: some rows hold more values than the header names ({len(header) + 1} columns with the "
                "index): a column without a name?"
            ) from err
    first = df.columns[0]
    df = df.set_index(first).rename_axis(None if str(first).startswith("Unnamed: ") else first)
    if df.shape[1] == 0:
        other = next((f" (separated by {sep!r}? write it with commas)" for sep in (";", "\t") if sep in str(first)), "")
        raise ValueError(
            f"{path}: no columns besides the first, which is read as the index (time or row labels){other}"
        )
    if df.shape[0] == 0:
        raise ValueError(f"{path}: a header without rows")
    df.index = _dates(df.index, path)
    return df


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    fmt = table_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == ".csv":
        df.to_csv(path)
    elif fmt == ".parquet":
        df.to_parquet(path)
    else:
        netcdf_times(df.to_xarray()).to_netcdf(path)
    return path


def _dates(index: pd.Index, path) -> pd.Index:
    """A CSV's first column as dates when it holds date strings: numbers (row numbers, years) stay numbers, and
    time stamps with mixed UTC offsets (a column that crosses a daylight-saving change) become UTC. Labels of which
    at least half read as dates but not all as one kind of date (a typo, formats or time zones mixed) are an error;
    labels that are mostly not dates (station names, say) stay labels."""
    if not (pd.api.types.is_object_dtype(index) or pd.api.types.is_string_dtype(index)):
        return index
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns before it gives up on mixed offsets or infers formats
        for utc in (False, True):
            try:
                return pd.DatetimeIndex(pd.to_datetime(index, utc=utc), name=index.name)
            except (ValueError, TypeError):
                continue
        loose = pd.to_datetime(pd.Series(index, dtype=object), errors="coerce", utc=True, format="mixed")
    if loose.notna().mean() < 0.5:
        return index  # labels that are not dates
    bad = list(index[loose.isna().to_numpy()][:3])
    what = f"values that are not dates, e.g. {bad}" if bad else "dates in more than one format or time zone"
    raise ValueError(f"{path}: the first column holds time stamps but also {what}: fix them or write one format")


def netcdf_times(ds):
    """A Dataset whose zoned datetime coordinates (which NetCDF cannot store) are in UTC, with the zone in their
    attributes."""
    for name, coord in ds.coords.items():
        index = coord.to_index() if coord.ndim == 1 else None
        if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
            utc = index.tz_convert("UTC").tz_localize(None)
            ds = ds.assign_coords({name: (coord.dims, utc, {**coord.attrs, "time_zone": str(index.tz)})})
    return ds


def open_grid(path: str | Path):
    """A gridded Dataset from a NetCDF file, a folder of NetCDF files (merged: one variable per file is common), a
    zarr store (opened lazily; needs zarr and dask) or a GRIB file (needs cfgrib)."""
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
                raise ImportError("GRIB files need cfgrib: pip install cfgrib") from err
            raise
    if path.suffix.lower() != ".nc":
        raise ValueError(
            f"{path}: unsupported grid format {path.suffix!r}; use .nc, a folder of .nc files, .zarr or GRIB"
        )
    with xr.open_dataset(path) as ds:
        return ds.load()


def grid_format(path: Path) -> str:
    """The grid format ``write_grid`` writes to ``path`` (.nc or .zarr), or an error that names it."""
    suffix = path.suffix.lower()
    if suffix not in (".nc", ".zarr"):
        raise ValueError(f"{path}: write grids to .nc or .zarr")
    return suffix


def write_grid(ds, path: str | Path) -> Path:
    """Write a Dataset to .nc (NetCDF) or .zarr (replacing an existing store)."""
    path = Path(path)
    suffix = grid_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".nc":
        ds.to_netcdf(path)
    else:
        _zarr(lambda: ds.to_zarr(path, mode="w"))
    return path


def _zarr(action):
    try:
        return action()
    except ImportError as err:
        raise ImportError("zarr stores need zarr: pip install zarr dask") from err
