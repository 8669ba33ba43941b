"""Tables in and out for the command line: CSV, Parquet or NetCDF, the format chosen by the file extension."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

__all__ = ["read_table", "write_table", "FORMATS"]

FORMATS = (".csv", ".parquet", ".nc")


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
        df = pd.read_csv(path, index_col=0)
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
