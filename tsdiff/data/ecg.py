"""ECG for synthesis: beats from MIT-BIH records, multi-lead windows from PTB records (both WFDB, read with the
optional ``wfdb`` package: ``pip install wfdb``), and ECGSYN simulations through neurokit2.

Beats: the record is resampled to ``rate`` Hz (polyphase, scipy) and a window of ``before`` + ``after`` seconds is
cut around every annotated beat of the wanted classes (MIT-BIH symbols: N normal, A atrial premature, V premature
ventricular). Beats whose window leaves the record are skipped. Record 100 holds 2239 N, 33 A and 1 V beats: the
classes are very unequal, and ``min_count`` drops a class with too few beats to learn or test anything from.
"""

from __future__ import annotations

import multiprocessing as mp
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Beats", "PHASE_CHANNELS", "cardiac_phase", "detect_r_peaks", "load_beats", "ecg_windows", "simulate_ecg"]

BEAT_CLASSES = ("N", "A", "V")
# every beat annotation code of the MIT-BIH databases (PhysioBank's annotation table); the others ("+", "~", "|",
# "x" ...) mark rhythm changes, noise and artefacts, not beats
BEAT_SYMBOLS = tuple("NLRBAaJSVrFejnE/fQ?")
PHASE_CHANNELS = ("phase_sin", "phase_cos")  # the channels ecg_windows(..., phase=True) appends


def _wfdb():
    try:
        import wfdb
    except ImportError as err:
        raise ImportError("reading WFDB records needs the `wfdb` package: pip install wfdb") from err
    return wfdb


def _resample(signal: np.ndarray, fs: float, rate: float) -> np.ndarray:
    from fractions import Fraction

    from scipy.signal import resample_poly

    ratio = Fraction(rate / fs).limit_denominator(1000)
    return signal if ratio == 1 else resample_poly(signal, ratio.numerator, ratio.denominator, axis=0)


def _check_rate(rate: float) -> None:
    if not (np.isfinite(rate) and rate > 0):
        raise ValueError(f"rate must be a positive number of samples per second, got {rate}")


def _annotated_beats(wfdb, record: str) -> tuple[np.ndarray, np.ndarray]:
    """The record's beat annotations (``.atr``, beat codes only): (symbols, samples at the record's rate)."""
    ann = wfdb.rdann(record, "atr")
    symbols = np.asarray(ann.symbol)
    is_beat = np.isin(symbols, BEAT_SYMBOLS)
    return symbols[is_beat], ann.sample[is_beat]


def _lead_indices(names: list, leads, record) -> list[int]:
    if leads is None:
        return list(range(len(names)))
    leads = [leads] if isinstance(leads, str) else list(leads)
    if not leads:
        raise ValueError(f"{record}: leads is empty; name at least one of {names}")
    absent = [lead for lead in leads if lead not in names]
    if absent:
        raise ValueError(f"{record}: no leads {absent}; the record has {names}")
    return [names.index(lead) for lead in leads]


@dataclass
class Beats:
    beats: np.ndarray  # (N, L, K) in the record's units (mV)
    labels: np.ndarray  # (N,) beat symbols
    rr: np.ndarray  # (N,) seconds since the previous annotated beat (NaN for the first)
    rate: float  # samples per second of the beats
    leads: list  # lead names
    r_index: int  # position of the R peak in each window


def load_beats(
    record: str | Path,
    rate: float = 90.0,
    before: float = 0.25,
    after: float = 0.47,
    classes=BEAT_CLASSES,
    leads=None,
    min_count: int = 2,
) -> Beats:
    """Beat windows of a WFDB record with beat annotations (``record`` without extension, e.g. ``.../100``)."""
    _check_rate(rate)
    wfdb = _wfdb()
    record = str(record)
    rec = wfdb.rdrecord(record)
    symbols, samples = _annotated_beats(wfdb, record)
    names = list(rec.sig_name)
    use = _lead_indices(names, leads, record)
    b, a = int(round(before * rate)), int(round(after * rate))
    if b < 0 or a < 0 or b + a < 1:
        raise ValueError(f"before and after must be >= 0 s with at least one sample between; got {before}, {after}")
    signal = _resample(rec.p_signal[:, use], rec.fs, rate)
    if not np.isfinite(signal).all():
        raise ValueError(f"{record}: the signal has NaN (lead off) samples")
    rr_all = np.diff(samples, prepend=np.nan) / rec.fs  # since the previous beat of any class
    is_wanted = np.isin(symbols, list(classes))
    peaks = np.round(samples[is_wanted] * rate / rec.fs).astype(int)
    labels, rr = symbols[is_wanted], rr_all[is_wanted]
    inside = (peaks - b >= 0) & (peaks + a <= len(signal))
    counts = {c: int((labels[inside] == c).sum()) for c in classes}
    kept = [c for c in classes if counts[c] >= min_count]
    keep = inside & np.isin(labels, kept)
    if not keep.any():
        raise ValueError(f"{record}: no beat of the classes {list(classes)} with at least {min_count} beats ({counts})")
    beats = np.stack([signal[p - b : p + a] for p in peaks[keep]])
    return Beats(beats, labels[keep], rr[keep], rate, [names[i] for i in use], b)


def detect_r_peaks(signal, rate: float) -> np.ndarray:
    """R-peak positions (samples, increasing) that neurokit2's ``ecg_peaks`` finds in one lead sampled at ``rate``
    Hz. On MIT-BIH record 100 it finds 2,271 R peaks for 2,273 annotated beats, all but one within 8 ms
    of an annotation (the last 58 ms away)."""
    try:
        import neurokit2 as nk
    except ImportError as err:
        raise ImportError("R-peak detection needs neurokit2: pip install neurokit2") from err
    _, info = nk.ecg_peaks(np.asarray(signal, dtype=np.float64), sampling_rate=rate)
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


def _phase_peaks(wfdb, record: str, lead: np.ndarray, fs: float, source) -> np.ndarray:
    """R-peak positions (samples at the record's rate ``fs``) that the cardiac phase is drawn from: the record's beat
    annotations (``source="annotations"``), the peaks neurokit2 detects in ``lead`` (``"detected"``), or ``True``:
    the annotations where the record has them, else the detected peaks."""
    if source is True:
        source = "annotations" if Path(f"{record}.atr").exists() else "detected"
    if source == "annotations":
        try:
            _, samples = _annotated_beats(wfdb, record)
        except FileNotFoundError as err:
            raise ValueError(
                f"{record}: phase='annotations' needs the record's beat annotations ({record}.atr)"
            ) from err
    elif source == "detected":
        samples = detect_r_peaks(lead, fs)
    else:
        raise ValueError(f"phase must be False, True, 'annotations' or 'detected', got {source!r}")
    samples = np.unique(samples)
    if len(samples) < 2:
        raise ValueError(f"{record}: the cardiac phase needs at least two R peaks, found {len(samples)} ({source})")
    return samples


def cardiac_phase(r_peaks: np.ndarray, n: int) -> np.ndarray:
    """The phase of the cardiac cycle at samples 0..n-1 from R-peak positions (in samples, increasing, at least two):
    0 at an R peak, rising linearly to 1 at the next (before the first and after the last peak, extrapolated with
    the nearest RR interval) -> (n, 2): its sine and cosine, smooth channels that carry the beat timing."""
    r_peaks = np.asarray(r_peaks, dtype=np.float64)
    if r_peaks.ndim != 1 or len(r_peaks) < 2 or not (np.diff(r_peaks) > 0).all():
        raise ValueError(f"cardiac_phase needs at least two increasing R-peak positions, got {r_peaks[:5]}")
    t = np.arange(n, dtype=np.float64)
    i = np.clip(np.searchsorted(r_peaks, t, side="right") - 1, 0, len(r_peaks) - 2)  # the beat before t
    phase = (t - r_peaks[i]) / (r_peaks[i + 1] - r_peaks[i])
    return np.stack([np.sin(2 * np.pi * phase), np.cos(2 * np.pi * phase)], axis=1)


def ecg_windows(
    record: str | Path,
    seconds: float = 2.0,
    rate: float = 100.0,
    leads=None,
    stride: float | None = None,
    phase: bool | str = False,
) -> tuple[np.ndarray, list]:
    """Windows (N, seconds * rate, K) of a multi-lead WFDB record (e.g. PTB's ``s0010_re``: 12 standard leads, or
    MIT-BIH's ``100``), resampled to ``rate`` Hz, one every ``stride`` seconds (default ``seconds``: consecutive,
    non-overlapping); returns (windows, lead names).

    ``phase`` appends two channels, ``PHASE_CHANNELS``: the sine and cosine of the cardiac phase (``cardiac_phase``)
    from R peaks: ``"annotations"``, the record's beat annotations (``.atr``); ``"detected"``, the R peaks neurokit2
    finds in the first of ``leads`` (``detect_r_peaks``, at the record's own rate); ``True``, the annotations where
    the record has them, else the detected peaks. A generator trained on them beside the leads holds the rhythm
    better (benchmarks/NOTES.md, "ECG rhythm strips"); drop them from what it generates."""
    _check_rate(rate)
    length = int(round(seconds * rate))
    if length < 1:
        raise ValueError(f"seconds must give at least one sample at {rate:g} Hz, got {seconds}")
    wfdb = _wfdb()
    rec = wfdb.rdrecord(str(record))
    names = list(rec.sig_name)
    use = _lead_indices(names, leads, record)
    signal = _resample(rec.p_signal[:, use], rec.fs, rate)
    if not np.isfinite(signal).all():
        raise ValueError(f"{record}: the signal has NaN (lead off) samples")
    names = [names[i] for i in use]
    if phase is not False:
        r_peaks = _phase_peaks(wfdb, str(record), rec.p_signal[:, use[0]], rec.fs, phase) * (rate / rec.fs)
        signal = np.concatenate([signal, cardiac_phase(r_peaks, len(signal))], axis=1)
        names += list(PHASE_CHANNELS)
    hop = length if stride is None else int(round(stride * rate))
    if hop < 1:
        raise ValueError(f"stride must be at least one sample (1 / rate = {1 / rate:g} s), got {stride}")
    if len(signal) < length:
        raise ValueError(f"{record}: {len(signal) / rate:.1f} s of signal, shorter than one {seconds} s window")
    starts = np.arange(0, len(signal) - length + 1, hop)
    return np.stack([signal[s : s + length] for s in starts]), names


def _simulate(queue, kwargs):
    import neurokit2 as nk

    queue.put(np.asarray(nk.ecg_simulate(**kwargs), dtype=np.float64))


def simulate_ecg(
    duration: float = 10.0,
    rate: float = 100.0,
    heart_rate: float = 70.0,
    seed: int = 0,
    timeout: float = 30.0,
    retries: int = 3,
) -> np.ndarray:
    """One ECGSYN lead (duration * rate,) from neurokit2 (McSharry et al. 2003). About 1% of ECGSYN draws hang
    (a known neurokit2 issue): each draw runs in a child process, is stopped after ``timeout`` seconds and retried
    with the next seed, ``retries`` times."""
    try:
        import neurokit2  # noqa: F401
    except ImportError as err:
        raise ImportError("ECG simulation needs `neurokit2`: pip install neurokit2") from err
    ctx = mp.get_context("spawn")
    for attempt in range(retries + 1):
        kwargs = dict(
            duration=duration,
            sampling_rate=rate,
            heart_rate=heart_rate,
            method="ecgsyn",
            random_state=seed + attempt,
        )
        queue = ctx.Queue()
        proc = ctx.Process(target=_simulate, args=(queue, kwargs), daemon=True)
        proc.start()
        try:
            return queue.get(timeout=timeout)
        except Exception:  # queue.Empty: the draw hung or failed
            continue
        finally:
            proc.join(1)
            if proc.is_alive():
                proc.kill()
    raise RuntimeError(f"ECGSYN did not finish in {timeout} s for {retries + 1} seeds from {seed}")
