"""Files in and out for the command line, the format chosen by the extension: tables (CSV, Parquet or NetCDF) and
grids (NetCDF, a folder of NetCDF files, or zarr)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["read_table", "write_table", "open_grid", "write_grid", "FORMATS"]

FORMATS = (".csv", ".parquet", ".nc")
GRIB_SUFFIXES = (".grib", ".grb", ".grib2", ".grb2")


def _format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: unsupported format {suffix!r}; use one of {FORMATS}")
    return suffix


def read_table(path: str | Path) -> pd.DataFrame:
    """A table with time (or row) index and one numeric column per variable; empty cells / NaN = missing.
    CSV: the first column is the index (parsed as dates when it looks like dates). NetCDF: every variable along
    the file's one dimension becomes a column."""
    path = Path(path)
    fmt = _format(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if fmt == ".csv":
        df = pd.read_csv(path, index_col=0, float_precision="round_trip")  # exact under pandas 2 and 3
        try:
            df.index = pd.to_datetime(df.index)
        except (ValueError, TypeError):
            pass  # a plain row index
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
    non_numeric = [c for c in df.columns if not pd.api.types.is_numeric_dtype(df[c])]
    if non_numeric:
        raise ValueError(f"{path}: columns {non_numeric} are not numeric")
    return df


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    path = Path(path)
    fmt = _format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == ".csv":
        df.to_csv(path)
    elif fmt == ".parquet":
        _parquet(lambda: df.to_parquet(path))
    else:
        df.to_xarray().to_netcdf(path)
    return path


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
