"""ECG loaders on WFDB records the tests write, the ECG and Stocks download scripts offline, and (when the shared
data is present) the real MIT-BIH record."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tsdiff.data.download import DownloadError

wfdb = pytest.importorskip("wfdb")
from tsdiff.data.ecg import PHASE_CHANNELS, cardiac_phase, ecg_windows, load_beats  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SHARED_ECG = ROOT.parent / "shared" / "data" / "ecg"


def _script(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "data_scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def beat_record(tmp_path):
    """20 s at 360 Hz, two leads, a Gaussian 'R wave' every 0.8 s; beats labelled N, every fifth A; one V."""
    fs, seconds = 360, 20
    t = np.arange(fs * seconds)
    peaks = np.arange(int(0.5 * fs), len(t) - int(0.3 * fs), int(0.8 * fs))
    signal = np.zeros((len(t), 2))
    for p in peaks:
        signal[:, 0] += np.exp(-0.5 * ((t - p) / 6.0) ** 2)
        signal[:, 1] -= 0.5 * np.exp(-0.5 * ((t - p) / 6.0) ** 2)
    symbols = ["A" if i % 5 == 4 else "N" for i in range(len(peaks))]
    symbols[3] = "V"
    wfdb.wrsamp(
        "rec",
        fs=fs,
        units=["mV", "mV"],
        sig_name=["MLII", "V5"],
        p_signal=signal,
        fmt=["16", "16"],
        write_dir=str(tmp_path),
    )
    wfdb.wrann("rec", "atr", peaks, np.array(symbols), write_dir=str(tmp_path))
    return tmp_path / "rec", peaks, symbols


def test_beats_are_cut_around_the_r_peaks(beat_record):
    record, peaks, symbols = beat_record
    b = load_beats(record, rate=90, before=0.25, after=0.47)
    assert b.beats.shape[1:] == (64, 2) and b.r_index == 22 and b.leads == ["MLII", "V5"]
    # the R peak (maximum of lead 0) sits at r_index in every beat
    assert (np.abs(b.beats[:, :, 0].argmax(1) - b.r_index) <= 1).all()
    assert set(b.labels) == {"N", "A"}  # one V beat: below min_count, dropped
    assert (b.labels == "A").sum() == symbols.count("A")
    np.testing.assert_allclose(b.rr[1:], 0.8, atol=1e-9)
    only_lead = load_beats(record, leads=["V5"], min_count=1)
    assert only_lead.beats.shape[2] == 1 and "V" in set(only_lead.labels)
    normal = load_beats(record, classes=("N",))  # RR counts the A and V beats between the N beats too
    np.testing.assert_allclose(normal.rr[1:], 0.8, atol=1e-9)


def test_beat_loader_errors(beat_record):
    record, _, _ = beat_record
    with pytest.raises(ValueError, match=r"no leads \['II'\]; the record has \['MLII', 'V5'\]"):
        load_beats(record, leads=["II"])
    with pytest.raises(ValueError, match="no beat of the classes"):
        load_beats(record, classes=("L",))
    with pytest.raises(ValueError, match="before and after"):
        load_beats(record, before=-0.3, after=0.2)
    with pytest.raises(ValueError, match="no leads"):
        ecg_windows(record, leads=["II"])
    with pytest.raises(ValueError, match="leads is empty"):
        ecg_windows(record, leads=[])
    with pytest.raises(ValueError, match="seconds must give at least one sample at 100 Hz, got 0"):
        ecg_windows(record, seconds=0)
    for bad_rate in (0, -50.0):
        with pytest.raises(ValueError, match=f"rate must be a positive number of samples per second, got {bad_rate}"):
            ecg_windows(record, rate=bad_rate)
        with pytest.raises(ValueError, match="rate must be a positive"):
            load_beats(record, rate=bad_rate)


def test_multilead_windows(beat_record):
    record, _, _ = beat_record
    windows, names = ecg_windows(record, seconds=2.0, rate=100)
    assert windows.shape == (10, 200, 2) and names == ["MLII", "V5"]
    with pytest.raises(ValueError, match="shorter than one"):
        ecg_windows(record, seconds=30.0)


def test_windows_with_the_cardiac_phase(beat_record, tmp_path):
    record, _, _ = beat_record  # R peaks at 0.5 s + 0.8 s k: samples 25 + 40 k at 50 Hz
    plain, _ = ecg_windows(record, seconds=2.0, rate=50)
    windows, names = ecg_windows(record, seconds=2.0, rate=50, phase=True)
    assert windows.shape == (10, 100, 4) and names == ["MLII", "V5", *PHASE_CHANNELS]
    np.testing.assert_array_equal(windows[..., :2], plain)  # the leads unchanged
    sin, cos = windows[0, :, 2], windows[0, :, 3]
    np.testing.assert_allclose(cos[[25, 65]], 1.0, atol=1e-9)  # at the R peaks
    np.testing.assert_allclose(cos[[45, 85]], -1.0, atol=1e-9)  # half way to the next
    np.testing.assert_allclose(sin[35], 1.0, atol=1e-9)  # a quarter of the way
    np.testing.assert_allclose(cos[5], -1.0, atol=1e-9)  # before the first beat: extrapolated
    np.testing.assert_allclose(sin**2 + cos**2, 1.0)
    assert np.abs(np.diff(windows[..., 3], axis=1)).max() < 0.2  # smooth: 40 samples a cycle
    with pytest.raises(ValueError, match="two increasing"):
        cardiac_phase(np.array([10.0]), 50)
    with pytest.raises(ValueError, match="two increasing"):
        cardiac_phase(np.array([10.0, 30.0, 20.0]), 50)
    with pytest.raises(ValueError, match="phase must be False, True, 'annotations' or 'detected', got 'atr'"):
        ecg_windows(record, seconds=2.0, rate=50, phase="atr")


def test_cardiac_phase_from_detected_r_peaks(beat_record, tmp_path):
    pytest.importorskip("neurokit2")
    record, _, _ = beat_record
    annotated, _ = ecg_windows(record, seconds=2.0, rate=50, phase="annotations")
    detected, names = ecg_windows(record, seconds=2.0, rate=50, phase="detected")
    assert names == ["MLII", "V5", *PHASE_CHANNELS]
    np.testing.assert_allclose(detected, annotated, atol=0.02)  # the same R peaks, within a sample at 360 Hz
    signal = wfdb.rdrecord(str(record)).p_signal
    wfdb.wrsamp(
        "bare",
        fs=360,
        units=["mV"] * 2,
        sig_name=["MLII", "V5"],
        p_signal=signal,
        fmt=["16"] * 2,
        write_dir=str(tmp_path),
    )
    bare = tmp_path / "bare"  # the same record without its .atr
    np.testing.assert_allclose(ecg_windows(bare, seconds=2.0, rate=50, phase=True)[0], annotated, atol=0.02)
    with pytest.raises(ValueError, match="needs the record's beat annotations"):
        ecg_windows(bare, seconds=2.0, rate=50, phase="annotations")
    flat = np.zeros((3600, 1))
    flat[1800] = 1.0  # one spike: one R peak
    wfdb.wrsamp("flat", fs=360, units=["mV"], sig_name=["MLII"], p_signal=flat, fmt=["16"], write_dir=str(tmp_path))
    ecg_windows(tmp_path / "flat", seconds=2.0, rate=50)  # fine without the phase ...
    with pytest.raises(ValueError, match=r"at least two R peaks, found 1 \(detected\)"):
        ecg_windows(tmp_path / "flat", seconds=2.0, rate=50, phase=True)  # ... not with it


@pytest.mark.skipif(not (SHARED_ECG / "100.hea").exists(), reason="../shared/data/ecg not present")
def test_mitdb_record_100():
    b = load_beats(SHARED_ECG / "100")
    counts = {c: int((b.labels == c).sum()) for c in set(b.labels)}
    assert counts["N"] > 2200 and counts["A"] == 33 and "V" not in counts  # the single V beat is dropped
    assert 0.5 < np.nanmedian(b.rr) < 1.0  # about 75 beats per minute


@pytest.mark.skipif(not (SHARED_ECG / "100.hea").exists(), reason="../shared/data/ecg not present")
def test_detected_r_peaks_match_the_annotations_of_record_100():
    pytest.importorskip("neurokit2")
    from tsdiff.data.ecg import detect_r_peaks

    rec, ann = wfdb.rdrecord(str(SHARED_ECG / "100")), wfdb.rdann(str(SHARED_ECG / "100"), "atr")
    beats = ann.sample[np.isin(ann.symbol, list("NAV"))]
    peaks = detect_r_peaks(rec.p_signal[:, 0], rec.fs)
    assert abs(len(peaks) - len(beats)) <= 5
    off = np.abs(peaks[:, None] - beats[None, :]).min(1)  # samples to the nearest annotated beat
    assert (off <= 0.01 * rec.fs).mean() > 0.99 and off.max() <= 0.1 * rec.fs


def test_ecg_script_downloads_through_wfdb_and_verifies(tmp_path):
    ecg = _script("ecg")
    calls = []

    def fake_dl(db, dest, records, keep_subdirs):
        calls.append((db, records))
        (Path(dest) / "100.hea").write_text("not the real header\n")

    with pytest.raises(DownloadError, match="does not match"):
        ecg.download(tmp_path, dl_database=fake_dl)
    assert calls[0] == ("mitdb", ["100"])
    calls.clear()
    (tmp_path / "100.hea").unlink()
    assert ecg.download(tmp_path, "mitdb", ["101"], dl_database=lambda *a, **k: calls.append(a)) == []
    assert calls == [("mitdb", str(tmp_path))]


def test_stocks_script_verifies_the_file(tmp_path, monkeypatch):
    stocks = _script("stocks")

    def fake_fetch(url, dest):
        assert url.endswith("stock_data.csv")
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        Path(dest).write_text("Open,High\n1,2\n")
        return Path(dest)

    monkeypatch.setattr(stocks, "fetch", fake_fetch)
    with pytest.raises(DownloadError, match="does not match"):
        stocks.download(tmp_path)


def test_ecgsyn_simulation_and_its_timeout():
    pytest.importorskip("neurokit2")
    from tsdiff.data.ecg import simulate_ecg

    ecg = simulate_ecg(duration=3, rate=100, heart_rate=60, seed=1, timeout=60)
    assert ecg.shape == (300,) and np.isfinite(ecg).all()
    with pytest.raises(RuntimeError, match="did not finish"):
        simulate_ecg(duration=3, rate=100, timeout=0.001, retries=1)  # every draw is stopped at once


def test_cli_synthesizes_labelled_beats(tmp_path, beat_record):
    import pandas as pd
    import yaml

    from tsdiff.cli import main

    record, _, _ = beat_record
    tiny = dict(width=32, depth=1, heads=2, max_steps=20, batch_size=8, n_diffusion_steps=50, sample_steps=5)
    config = {"task": "windows", "data": {"dataset": "ecg_beats", "path": str(record)}, "model": {**tiny}}
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "b.yaml").write_text(yaml.safe_dump(config))
    args = ["synthesize", "--config", str(tmp_path / "configs" / "b.yaml"), "--n", "6"]
    assert main([*args, "--out", str(tmp_path / "beats.npy")]) == 0
    assert np.load(tmp_path / "beats.npy").shape == (6, 64, 2)
    assert set(np.load(tmp_path / "beats_labels.npy")) <= {"N", "A"}
    assert main([*args, "--out", str(tmp_path / "beats.csv")]) == 0
    table = pd.read_csv(tmp_path / "beats.csv")
    assert list(table.columns) == ["sample", "step", "MLII", "V5", "label"] and len(table) == 6 * 64


def test_cli_synthesizes_rhythm_strips_with_time_patches(tmp_path, beat_record, capsys):
    import yaml

    from tsdiff.cli import main

    record, _, _ = beat_record
    tiny = dict(width=32, depth=1, heads=2, max_steps=20, batch_size=8, n_diffusion_steps=50, sample_steps=5)
    data = {"dataset": "ecg_strips", "path": str(record), "seconds": 3.0, "rate": 50, "stride": 1.0, "phase": True}
    config = {"task": "windows", "data": data, "model": {**tiny, "time_patch": 4}}  # 150 steps: 38 tokens, padded
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(config))
    args = ["synthesize", "--config", str(path), "--n", "3"]
    assert main([*args, "--out", str(tmp_path / "strips.npy"), "--save", str(tmp_path / "m.pt")]) == 0
    assert np.load(tmp_path / "strips.npy").shape == (3, 150, 2)  # the phase learnt beside the leads, then dropped
    assert main([*args, "--out", str(tmp_path / "strips.csv"), "--model", str(tmp_path / "m.pt")]) == 0
    assert list(pd.read_csv(tmp_path / "strips.csv").columns) == ["sample", "step", "MLII", "V5"]
    path.write_text(yaml.safe_dump({**config, "data": {**data, "phase": False}}))
    assert main([*args, "--out", str(tmp_path / "s0.npy"), "--model", str(tmp_path / "m.pt")]) == 1
    assert "fitted on 4 features" in capsys.readouterr().err
    path.write_text(yaml.safe_dump({**config, "data": {**data, "seconds": 2.0}}))
    assert main([*args, "--out", str(tmp_path / "s2.npy"), "--model", str(tmp_path / "m.pt")]) == 1
    assert "windows of 150 steps; the config's ECG windows have 100" in capsys.readouterr().err


def test_overlapping_windows_and_their_heart_rate(beat_record):
    pytest.importorskip("neurokit2")
    from tsdiff.metrics.synthesis import heart_rates

    record, _, _ = beat_record  # an R wave every 0.8 s: 75 beats per minute
    windows, _ = ecg_windows(record, seconds=3.0, rate=50, stride=1.0)
    assert windows.shape == (18, 150, 2)  # starts 0, 1, ..., 17 s in a 20 s record
    consecutive, _ = ecg_windows(record, seconds=3.0, rate=50)
    np.testing.assert_allclose(windows[3], consecutive[1])  # the window at 3 s is the second consecutive one
    hr = heart_rates(windows, rate=50)
    np.testing.assert_allclose(hr, 75.0, atol=1.5)
    scaled = (windows - windows.min()) / np.ptp(windows)  # the metrics' [0, 1] scale: the same rates
    np.testing.assert_allclose(heart_rates(scaled, rate=50), hr)
    one_beat = windows[:, :40]  # 0.8 s: at most one R peak, no interval
    assert np.isnan(heart_rates(one_beat, rate=50)).sum() >= len(windows) // 2
    with pytest.raises(ValueError, match="lead"):
        heart_rates(windows, rate=50, lead=2)
    with pytest.raises(ValueError, match="NaN"):
        heart_rates(np.where(windows > 0.5, np.nan, windows), rate=50)
    with pytest.raises(ValueError, match="stride"):
        ecg_windows(record, seconds=3.0, rate=50, stride=0.001)
