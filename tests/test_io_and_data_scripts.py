import importlib.util
import io
import tarfile
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsdiff.data.download import DownloadError, extract_members, fetch, run_script, sha256, verify
from tsdiff.data.simulate import sensor_network
from tsdiff.io import read_table, table_format, write_table

ROOT = Path(__file__).resolve().parents[1]


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "data_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("suffix", [".csv", ".nc", ".parquet"])
def test_table_round_trip(tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")  # in the dev extra; the parquet extra for users
    _, df = sensor_network(n_hours=30, n_sensors=3)
    path = write_table(df, tmp_path / f"t{suffix}")
    back = read_table(path)
    assert list(back.columns) == list(df.columns)
    np.testing.assert_allclose(back.to_numpy(), df.to_numpy())
    assert (back.index == df.index).all()


def test_table_indexes_numbers_and_time_zones(tmp_path):
    rows = pd.DataFrame({"a": [1.0, 2.0, 3.0]}, index=pd.Index([0, 1, 2], name="row"))
    rows.to_csv(tmp_path / "rows.csv")
    assert read_table(tmp_path / "rows.csv").index.tolist() == [0, 1, 2]  # not nanoseconds after 1970
    (tmp_path / "dup.csv").write_text("time,a,b,a\n2024-01-01,1,2,3\n2024-01-02,4,5,6\n")
    with pytest.raises(ValueError, match=r"dup.csv: duplicated column names \['a'\]"):
        read_table(tmp_path / "dup.csv")  # not read as a, b, a.1
    years = rows.set_axis(pd.Index([2001, 2002, 2003], name="year"))
    years.to_csv(tmp_path / "years.csv")
    assert read_table(tmp_path / "years.csv").index.tolist() == [2001, 2002, 2003]
    # a column that crosses a daylight-saving change carries two UTC offsets: read as UTC
    berlin = pd.date_range("2024-03-31 00:00", periods=4, freq="h", tz="Europe/Berlin", name="time")
    zoned = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0]}, index=berlin)
    zoned.to_csv(tmp_path / "dst.csv")
    back = read_table(tmp_path / "dst.csv")
    assert isinstance(back.index, pd.DatetimeIndex) and (back.index == berlin).all()
    # NetCDF has no time zones: written in UTC with the zone in the attributes, read back zoned
    write_table(zoned, tmp_path / "z.nc")
    nc = read_table(tmp_path / "z.nc")
    assert str(nc.index.tz) == "Europe/Berlin" and (nc.index == berlin).all()
    np.testing.assert_array_equal(nc["a"], zoned["a"])


def test_table_errors(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unsupported format"):
        read_table(tmp_path / "x.xlsx")
    real_find_spec = importlib.util.find_spec
    engines = ("pyarrow", "fastparquet")
    monkeypatch.setattr(importlib.util, "find_spec", lambda m, *a: None if m in engines else real_find_spec(m, *a))
    with pytest.raises(ImportError, match=r"out.parquet: Parquet needs pyarrow"):  # said before any work
        table_format(tmp_path / "out.parquet")
    monkeypatch.undo()
    (tmp_path / "t.csv").write_text("time,a,b\n2024-01-01,1,x\n")
    with pytest.raises(ValueError, match="not numeric"):
        read_table(tmp_path / "t.csv")


def test_malformed_csv_tables_are_named_not_shifted(tmp_path):
    def table(text):
        (tmp_path / "t.csv").write_text(text)
        return read_table(tmp_path / "t.csv")

    trailing = table("time,a,b\n2020-01-01,1,2,\n2020-01-02,3,,\n")  # every row ends in a comma
    assert list(trailing.columns) == ["a", "b"] and trailing.index.name == "time"
    assert trailing["a"].tolist() == [1, 3] and trailing["b"].isna().tolist() == [False, True]
    stations = table("station,a\nnorth,1\nsouth,2\n")  # labels that are not dates stay labels
    assert stations.index.tolist() == ["north", "south"]
    for text, message in [
        ("time,a,b\n2020-01-01,1,2,5\n", "more values than the header names"),
        ("time,a\n2020-01-01 00:00,1\n2020-01-01 01:00,2\n2020-0l-01 02:00,3\n", r"e.g. \['2020-0l-01 02:00'\]"),
        ("time,a\n01/02/2020,1\n13/02/2020,2\n", "more than one format or time zone"),
        ("", "is empty"),
        ("time,a,b\n", "a header without rows"),
        ("time\n2020-01-01\n", "no columns besides the first"),
        ("time;a;b\n2020-01-01;1;2\n", "separated by ';'"),
    ]:
        with pytest.raises(ValueError, match=message):
            table(text)
    (tmp_path / "folder.csv").mkdir()
    with pytest.raises(ValueError, match="is a folder, not a table file"):
        read_table(tmp_path / "folder.csv")
    import xarray as xr

    xr.Dataset(coords={"time": np.arange(3)}).to_netcdf(tmp_path / "coords.nc")
    with pytest.raises(ValueError, match="without data variables"):
        read_table(tmp_path / "coords.nc")


def test_simulator_truth_and_gaps():
    truth, observed = sensor_network(n_hours=500, n_sensors=4, missing=0.1, outage=0.05, seed=1)
    assert truth.shape == (500, 4) and not truth.isna().any().any()
    share = observed.isna().to_numpy().mean()
    assert 0.1 < share < 0.3
    pd.testing.assert_frame_equal(observed[observed.notna()], truth[observed.notna()])


def test_aqi36_script_extracts_and_verifies(tmp_path):
    aqi = _script("aqi36")
    payload = {name: f"{name} content".encode() for name in aqi.FILES}
    archive = tmp_path / "STMVL-Release.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for name, data in payload.items():
            z.writestr(f"Code/STMVL/SampleData/{name}", data)
    # the fixture's bytes differ from the real release: verification must refuse them
    with pytest.raises(DownloadError, match="does not match"):
        aqi.download(tmp_path / "out", archive)
    extracted = extract_members(archive, {f"SampleData/{n}": n for n in payload}, tmp_path / "raw")
    assert sorted(p.read_bytes() for p in extracted) == sorted(payload.values())


def test_physionet_script_parses_checksums_and_tar(tmp_path):
    phys = _script("physionet2012")
    sums = phys.parse_sums("abc123  ./set-a.tar.gz\ndef456  Outcomes-a.txt\n")
    assert sums == {"set-a.tar.gz": "abc123", "Outcomes-a.txt": "def456"}
    archive = tmp_path / "set-a.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        data = b"Time,Parameter,Value\n00:00,RecordID,132539\n"
        info = tarfile.TarInfo("set-a/132539.txt")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
    out = extract_members(archive, {"132539.txt": "132539.txt"}, tmp_path / "x")
    assert out[0].read_bytes().startswith(b"Time,")
    verify(archive, sha256(archive))


def test_fetch_offline_names_the_url(tmp_path, monkeypatch):
    def offline(*a, **k):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("urllib.request.urlopen", offline)
    with pytest.raises(DownloadError, match="could not download https://example.org/f.zip"):
        fetch("https://example.org/f.zip", tmp_path / "f.zip")
    assert not (tmp_path / "f.zip.part").exists()


def test_download_helpers_name_bad_archives_sums_and_urls(tmp_path):
    phys = _script("physionet2012")
    sums = phys.parse_sums("abc123 *set-a.tar.gz\ndef456  ./.hidden/Outcomes-a.txt\n")  # binary mode, ./ prefix
    assert sums == {"set-a.tar.gz": "abc123", ".hidden/Outcomes-a.txt": "def456"}
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"an HTML error page, not an archive")
    with pytest.raises(DownloadError, match="neither a zip nor a tar archive"):
        extract_members(junk, {"a.txt": "a.txt"}, tmp_path / "x")
    twice = tmp_path / "twice.zip"
    with zipfile.ZipFile(twice, "w") as z:
        z.writestr("one/a.txt", b"1")
        z.writestr("two/a.txt", b"2")
    with pytest.raises(DownloadError, match="more than one member ending in 'a.txt'"):
        extract_members(twice, {"a.txt": "a.txt"}, tmp_path / "x")
    verify(junk, sha256(junk).upper() + "\n")  # a hash pasted with its line end still matches
    with pytest.raises(DownloadError, match="could not download notaurl"):
        fetch("notaurl", tmp_path / "f.zip")

    def offline():
        raise DownloadError("could not download https://example.org")

    with pytest.raises(SystemExit, match="^error: could not download https://example.org$"):
        run_script(offline)  # one line on stderr and status 1, not a traceback


def wb2_like_store(path):
    """A tiny zarr store with WeatherBench 2's layout: time, level, latitude (ascending), longitude 0..360."""
    import xarray as xr

    pytest.importorskip("zarr")
    time = pd.date_range("2017-01-01", periods=12, freq="6h")
    lat = np.linspace(-87.1875, 87.1875, 4)
    lon = np.arange(8) * 45.0
    rng = np.random.default_rng(0)
    ds = xr.Dataset(
        {
            "2m_temperature": (("time", "latitude", "longitude"), rng.normal(280, 5, (12, 4, 8)).astype("f4")),
            "geopotential": (("time", "level", "latitude", "longitude"), rng.normal(5e4, 1e3, (12, 2, 4, 8))),
        },
        coords={"time": time, "level": [500, 850], "latitude": lat, "longitude": lon},
    )
    ds.to_zarr(path, mode="w")
    return ds


def test_weatherbench2_script_subsets_a_zarr_store_lazily(tmp_path):
    import xarray as xr

    source = wb2_like_store(tmp_path / "era5.zarr")
    wb2 = _script("weatherbench2")
    out = wb2.subset(
        str(tmp_path / "era5.zarr"),
        ["geopotential", "2m_temperature"],
        ["500"],
        "2017-01-01T06",
        "2017-01-02",
        tmp_path / "sub.nc",
        block=3,
    )
    got = xr.open_dataset(out).load()
    expected = source.sel(time=slice("2017-01-01T06", "2017-01-02"), level=[500])
    np.testing.assert_allclose(got["geopotential"].values, expected["geopotential"].values)
    np.testing.assert_allclose(got["2m_temperature"].values, expected["2m_temperature"].values)
    assert got.sizes["time"] == 7 and list(got["level"].values) == [500]
    with pytest.raises(SystemExit, match="not in the store"):
        wb2.subset(str(tmp_path / "era5.zarr"), ["u_wind"], [], "2017", "2017", tmp_path / "x.nc")
    with pytest.raises(SystemExit, match="cannot open"):
        wb2.subset(str(tmp_path / "absent.zarr"), ["geopotential"], [], "2017", "2017", tmp_path / "x.nc")


def test_open_grid_formats_and_errors(tmp_path):
    import xarray as xr

    from tsdiff.io import open_grid, write_grid

    ds = xr.Dataset(
        {"t": (("time", "lat", "lon"), np.arange(12.0).reshape(3, 2, 2))},
        coords={"time": pd.date_range("2017-01-01", periods=3, freq="h"), "lat": [1.0, 2.0], "lon": [3.0, 4.0]},
    )
    folder = tmp_path / "folder"
    write_grid(ds, folder / "t.nc")
    write_grid(ds.rename(t="u"), folder / "u.nc")
    merged = open_grid(folder)
    assert set(merged.data_vars) == {"t", "u"}
    xr.testing.assert_identical(open_grid(folder / "t.nc"), ds)
    with pytest.raises(FileNotFoundError):
        open_grid(tmp_path / "absent.nc")
    (tmp_path / "x.csv").write_text("a")
    with pytest.raises(ValueError, match="unsupported grid format"):
        open_grid(tmp_path / "x.csv")
    with pytest.raises(ValueError, match=".nc or .zarr"):
        write_grid(ds, tmp_path / "x.txt")
    if importlib.util.find_spec("cfgrib") is None:
        (tmp_path / "x.grib").write_bytes(b"GRIB")
        with pytest.raises(ImportError, match="GRIB files need cfgrib"):
            open_grid(tmp_path / "x.grib")


def _fake_wfde5_zip(path, name, units, values_of):
    """A CDS-style zip holding one WFDE5 NetCDF: 0.5-degree cells, longitudes 0..360, latitudes descending."""
    import xarray as xr

    lat = np.arange(64.75, 45.0, -0.5)  # 40 rows, descending as some providers write them
    lon = np.arange(0.25, 360.0, 0.5)  # 720 columns in 0..360
    time = pd.date_range("2017-01-01", periods=3, freq="h")
    data = values_of(time.size, lat, lon)
    ds = xr.Dataset({name: (("time", "lat", "lon"), data, {"units": units})}, {"time": time, "lat": lat, "lon": lon})
    nc = path.with_suffix(".nc")
    ds.to_netcdf(nc)
    with zipfile.ZipFile(path, "w") as z:
        z.write(nc, f"{name}_WFDE5_CRU_201701_v2.1.nc")
    nc.unlink()


def test_wfde5_script_cuts_the_box_from_cds_zips(tmp_path):
    from tsdiff.data.download import DownloadError
    from tsdiff.data.wfde5 import load_wfde5

    wfde5 = _script("wfde5")
    requests = []

    def values_of(n, lat, lon):  # lat + lon/1000 per cell, + the hour: every value says where it came from
        grid = lat[:, None] + ((lon[None, :] + 180) % 360 - 180) / 1000
        return (grid[None] + np.arange(n)[:, None, None]).astype(np.float32)

    class Client:
        def retrieve(self, dataset, request, target):
            requests.append((dataset, request))
            name = next(k for k, v in wfde5.VARIABLES.items() if v[0] == request["variable"][0])
            _fake_wfde5_zip(Path(target), name, wfde5.VARIABLES[name][1], values_of)

    folder = tmp_path / "downloads"
    archives = {n: wfde5.retrieve(n, 2017, 1, folder, client=Client()) for n in wfde5.VARIABLES}
    assert requests[0] == (
        "derived-near-surface-meteorological-variables",
        {"variable": ["near_surface_air_temperature"], "reference_dataset": "cru", "year": ["2017"],
         "month": ["01"], "version": ["2_1"]},
    )  # fmt: skip
    written = wfde5.write(tmp_path / "gb", 2017, 1, wfde5.GB_BOX, archives)
    assert sorted(p.name for p in written) == [  # the names of ../shared/data/wfde5_gb_2017_01's files
        "air_temperature.nc",
        "precipitation_flux.nc",
        "specific_humidity.nc",
        "surface_downwelling_longwave_flux_in_air.nc",
        "surface_downwelling_shortwave_flux_in_air.nc",
        "wind_speed.nc",
    ]
    ds = load_wfde5(tmp_path / "gb")
    assert sorted(ds.data_vars) == sorted(wfde5.OUTPUTS) and dict(ds.sizes) == {"time": 3, "lat": 20, "lon": 28}
    np.testing.assert_allclose(ds.lat.values[[0, -1]], [50.25, 59.75])
    np.testing.assert_allclose(ds.lon.values[[0, -1]], [-10.75, 2.75])
    expected = ds.lat.values[:, None] + ds.lon.values[None, :] / 1000
    np.testing.assert_allclose(ds["Tair"].isel(time=1), expected + 1, rtol=1e-6)  # each cell kept in place
    np.testing.assert_allclose(ds["pr"].isel(time=0), 2 * expected, rtol=1e-6)  # rainfall + snowfall
    assert len(requests) == 7
    wfde5.retrieve("Tair", 2017, 1, folder, client=None)  # a zip already there is reused, no client needed
    assert len(requests) == 7

    class Offline:
        def retrieve(self, *args):
            raise ConnectionError("no route to host")

    with pytest.raises(DownloadError, match="no route to host.*--archives"):
        wfde5.retrieve("Wind", 2017, 2, folder, client=Offline())
    with pytest.raises(DownloadError, match="Wind_201702.zip not found"):
        wfde5.retrieve("Wind", 2017, 2, folder, download=False)
    box, ym = wfde5.GB_BOX, (2017, 1)
    _fake_wfde5_zip(tmp_path / "bad.zip", "Wind", "km h-1", values_of)
    with pytest.raises(DownloadError, match="Wind in 'km h-1', expected 'm s-1'"):
        wfde5.read_box(tmp_path / "bad.zip", "Wind", box, *ym)
    with pytest.raises(
        DownloadError, match=r"runs 2017-01-01 00:00:00 .. 2017-01-01 02:00:00 \(3 steps\), not hourly in 2017-02"
    ):
        wfde5.read_box(archives["Wind"], "Wind", box, 2017, 2)  # a zip of another month given with --archives
    with pytest.raises(DownloadError, match="no variable 'Wind'"):
        wfde5.read_box(archives["Tair"], "Wind", box, *ym)
    (tmp_path / "page.zip").write_text("<html>log in</html>")
    with pytest.raises(DownloadError, match="neither a zip nor a tar archive"):
        wfde5.read_box(tmp_path / "page.zip", "Wind", box, *ym)
    with pytest.raises(ValueError, match="holds no 0.5-degree cell centre"):
        wfde5.read_box(archives["Wind"], "Wind", (10.0, 10.2, 0.0, 1.0), *ym)
    assert not list(folder.glob("*.nc"))  # the global files are extracted to a temporary folder, not kept
