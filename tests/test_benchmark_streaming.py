"""benchmarks/streaming.py on a tiny store: the store it writes is valid and the measurement runs end to end."""

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("zarr")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import streaming  # noqa: E402

from tsdiff.data.frames import open_grid  # noqa: E402


def test_streaming_benchmark_writes_and_measures_a_store(tmp_path):
    path = tmp_path / "tiny.zarr"
    hours = streaming.write_store(path, 0.006, block=48)
    assert hours == 72  # 0.006 GB of 64 x 32 x 10 float32 fields, whole days
    ds = open_grid(path)
    assert dict(ds.sizes) == {"time": 72, "latitude": 32, "longitude": 64} and len(ds.data_vars) == 10
    assert np.isfinite(ds["v3"].isel(time=[0, 71]).values).all()
    result = streaming.measure(str(path), steps=2)
    assert result["steps"] == 2 and result["hours"] == 72 and result["forecast_finite"]
    assert result["peak_rss_mib"] >= result["rss_after_import_mib"] > 0
