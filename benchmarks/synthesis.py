"""Synthesis benchmark: tsdiff's Synthesizer against baselines and the published rows, with the real-data floor.

    python benchmarks/synthesis.py                      # Stocks (TimeGAN / Diffusion-TS protocol), 5 runs
    python benchmarks/synthesis.py --dataset sp500      # other daily prices, same defaults (the `prices` extra)
    python benchmarks/synthesis.py --dataset ecg        # MIT-BIH record 100 beats (needs the `ecg` extra)
    python benchmarks/synthesis.py --dataset ecg-rhythm --time-patch 5 --log-snr-shift 2.773 --phase  # 3 s strips
                                                        # of record 100 (configs/ecg_rhythm.yaml), heart rates
    python benchmarks/synthesis.py --dataset ptb        # 12-lead 2.5 s windows of the PTB record s0010_re
    python benchmarks/synthesis.py --model synth.pt     # score a saved Synthesizer instead of training one

Stocks: the whole file MinMax-scaled, windows of 24 with stride 1 (3,662); each generator makes as many windows
as there are real ones; every score is computed on the [0, 1] scale with ``tsdiff.metrics.synthesis``, as the
mean and the 95% interval over ``--runs`` seeds (discriminative and predictive networks, the TS2Vec encoder, the
correlational score's random fifth of the windows, as Diffusion-TS draws them; "corr. all" is the same score on
every window, free of that sampling noise; the report gives what a perfect generator and each generator score on
the fifths on average over 1,000 draws, the column's expectation without its noise).
``--dataset sp500`` / ``nasdaq`` run the same protocol and the same Synthesizer defaults on other daily prices with
the six columns: the S&P 500 and NASDAQ Composite index files (Yahoo, 1999-2018, 5,031 days) that the ``arch``
package ships. Rows:
    real (other half)  half of the real windows against the other half: what a perfect generator would score
                       (the predictive row trains on all real windows, as Diffusion-TS's "real data" row)
    tsdiff             the Synthesizer with its defaults
    bootstrap, gaussian, var   the baselines of ``tsdiff.baselines.synthesis``
    paper rows         Diffusion-TS (ICLR 2024) Table 1, TimeGAN, TimeVAE, Diffwave as reported there
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tsdiff.baselines.synthesis import SYNTHESIS_BASELINES  # noqa: E402
from tsdiff.core.samplers import SAMPLERS  # noqa: E402
from tsdiff.metrics import synthesis as M  # noqa: E402

PAPER_STOCKS = {  # context-FID, correlational, discriminative, predictive (Diffusion-TS, Table 1)
    "Diffusion-TS (paper)": (0.147, 0.004, 0.067, 0.036),
    "TimeGAN (paper)": (0.103, 0.063, 0.102, 0.038),
    "TimeVAE (paper)": (0.215, 0.095, 0.145, 0.039),
    "Diffwave (paper)": (0.232, 0.030, 0.232, 0.047),
}
COLUMNS = ["context-FID", "correlational", "discriminative", "predictive", "marginal W1", "ACF error", "corr. all"]


def score_all(real: np.ndarray, generated: dict, runs: int, seed: int = 0, log=print) -> dict:
    """{name: {column: (mean, half-width)}} for each generated set (N, L, K), plus the real-versus-real floor."""
    rng = np.random.default_rng(seed)
    half = rng.permutation(len(real))
    a, b = real[half[: len(real) // 2]], real[half[len(real) // 2 :]]
    sets = {"real (other half)": (a, b), **{name: (real, x) for name, x in generated.items()}}
    raw = {name: {c: [] for c in COLUMNS} for name in sets}
    for r in range(runs):
        start = time.perf_counter()
        encoder = M.train_ts2vec(real, seed=seed + r)
        fifth = max(5, len(real) // 5)
        seeds = [seed + r] * len(sets)  # the GRUs of every generator trained side by side, each as alone
        discriminative = M.discriminative_scores(sets.values(), seeds=seeds)
        train_on = [real if name.startswith("real") else x for name, (_, x) in sets.items()]  # floor: train on real
        predictive = M.predictive_scores([(real, x) for x in train_on], seeds=seeds)
        for i, (name, (ref, x)) in enumerate(sets.items()):
            out = raw[name]
            out["discriminative"].append(discriminative[i])
            out["predictive"].append(predictive[i])
            out["context-FID"].append(M.context_fid(ref, x, encoder=encoder))
            pick = np.random.default_rng(seed + r)
            out["correlational"].append(M.correlational_score(_fifth(ref, fifth, pick), _fifth(x, fifth, pick)))
            out["corr. all"].append(M.correlational_score(ref, x))  # every window: the bias without the fifths' noise
            out["marginal W1"].append(float(M.marginal_distances(ref, x)["wasserstein"].mean()))
            out["ACF error"].append(M.autocorrelation_error(ref, x))
        log(f"run {r + 1}/{runs} scored in {time.perf_counter() - start:.0f} s")
    return {name: {c: M.mean_interval(v) for c, v in cols.items()} for name, cols in raw.items()}


def _fifth(windows: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """``size`` windows drawn without replacement (all of them if fewer), as the correlational protocol draws them."""
    return windows[rng.choice(len(windows), min(size, len(windows)), replace=False)]


def expected_correlational(
    ref: np.ndarray, x: np.ndarray, runs: int, draws: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """The correlational protocol without its sampling noise: a random fifth of ``ref`` against an independent random
    fifth of ``x``, ``draws`` times -> (mean, 2.5% and 97.5% quantiles of a ``runs``-run mean). With ``x = ref`` (two
    independent real fifths) it is what a perfect generator scores."""
    rng = np.random.default_rng(seed)
    fifth = max(5, len(ref) // 5)
    s = np.array([M.correlational_score(_fifth(ref, fifth, rng), _fifth(x, fifth, rng)) for _ in range(draws)])
    lo, hi = np.percentile(s[: draws // runs * runs].reshape(-1, runs).mean(1), [2.5, 97.5])
    return float(s.mean()), float(lo), float(hi)


def markdown(scores: dict, paper: dict, notes: dict, title: str) -> str:
    lines = [f"### {title}", "", "| generator | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, cols in scores.items():
        cells = [f"{m:.3f} ± {h:.3f}" for m, h in (cols[c] for c in COLUMNS)]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, (fid, corr, disc, pred) in paper.items():
        lines.append(f"| {name} | {fid:.3f} | {corr:.3f} | {disc:.3f} | {pred:.3f} |" + " |" * (len(COLUMNS) - 4))
    lines.append("")
    for k, v in notes.items():
        lines.append(f"- {k}: {v}")
    return "\n".join(lines) + "\n"


def generate(args, real: np.ndarray, notes: dict, labels=None, what: str = "windows", extra=None, **defaults) -> dict:
    """{name: (N, L, K)}: tsdiff's windows (from ``--model``, or a Synthesizer trained on ``real`` with ``defaults``
    and ``--max-steps``, timed into ``notes``) and each baseline's, as many as there are real ones (per class when
    ``labels`` are given to tsdiff). ``extra`` (N, L, E): channels tsdiff learns beside ``real``'s and drops from
    what it generates (the cardiac phase of ECG strips)."""
    from tsdiff.tasks.synthesize import Synthesizer

    sampling = {k: v for k, v in {"sampler": args.sampler, "sample_steps": args.sample_steps}.items() if v}
    if args.model:
        synth = Synthesizer.load(args.model, progress=False, **sampling)
    else:
        chosen = {
            "max_steps": args.max_steps,
            "scaling": args.scaling,
            "time_patch": args.time_patch,
            "log_snr_shift": args.log_snr_shift,
        }
        options = {k: v for k, v in chosen.items() if v}
        synth = Synthesizer(seed=args.seed, **defaults, **options, **sampling)
        start = time.perf_counter()
        synth.fit(real if extra is None else np.concatenate([real, extra], axis=2), labels=labels)
        how = f", {synth.time_patch} steps per token" if synth.time_patch > 1 else ""
        how += f", log-SNR shift {synth.log_snr_shift:+g}" if synth.log_snr_shift else ""
        how += f", {extra.shape[2]} extra channels learnt and dropped" if extra is not None else ""
        notes["tsdiff training"] = f"{time.perf_counter() - start:.0f} s ({synth.max_steps} steps{how}, 2-core CPU)"
        if args.save:
            synth.save(args.save)
    start = time.perf_counter()
    generated = {"tsdiff": synth.sample(len(real), labels=labels, seed=args.seed)[..., : real.shape[2]]}
    notes["tsdiff sampling"] = (
        f"{time.perf_counter() - start:.0f} s for {len(real)} {what} ({synth.sampler}, {synth.sample_steps} steps)"
    )
    for name, fn in SYNTHESIS_BASELINES.items():
        generated[name] = fn(real, len(real), seed=args.seed)
    return generated


ARCH_PRICES = ("sp500", "nasdaq")  # daily index prices shipped with the `arch` package (arch.data.<name>.load())


def price_table(args):
    """The Stocks file (a path) or one of arch's price tables (a DataFrame), with the paper rows that apply."""
    if args.dataset == "stocks":
        return args.data or ROOT.parent / "shared" / "data" / "stock", PAPER_STOCKS
    import importlib

    try:
        return importlib.import_module(f"arch.data.{args.dataset}").load(), {}
    except ImportError as err:
        raise SystemExit(
            f"--dataset {args.dataset} reads the price file of the `arch` package: pip install arch"
        ) from err


def stocks(args) -> tuple[np.ndarray, dict, dict, dict]:
    from tsdiff.data.stocks import STOCK_COLUMNS, stock_windows

    source, paper = price_table(args)
    real, _ = stock_windows(source)
    print(f"{args.dataset}: {real.shape[0]} windows of {real.shape[1]} x {real.shape[2]}")
    notes = {}
    generated = generate(args, real, notes)
    return real, generated, notes, {"names": STOCK_COLUMNS, "paper": paper}


def tstr_auc(train_x, train_y, test_x, test_y, positive: str) -> float:
    """ROC AUC of ``positive`` against the rest on real test beats, of a class-weighted logistic regression on the
    standardised flattened beats trained on ``train_x`` (real or synthetic): train on synthetic, test on real."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000))
    clf.fit(train_x.reshape(len(train_x), -1), np.asarray(train_y) == positive)
    return float(roc_auc_score(np.asarray(test_y) == positive, clf.decision_function(test_x.reshape(len(test_x), -1))))


def ecg(args) -> tuple[np.ndarray, dict, dict, dict]:
    """MIT-BIH record 100: beats (64 samples at 90 Hz, both leads) with labels N / A; the Synthesizer is trained
    class-conditionally (square-root class balancing) on a stratified 80% of the beats and draws as many beats
    per class as the training split has; scores compare them with the training beats; the beat classifier is
    tested on the held-out 20%."""
    from sklearn.model_selection import train_test_split

    from tsdiff.data.ecg import load_beats

    b = load_beats(Path(args.data or ROOT.parent / "shared" / "data" / "ecg") / "100")
    idx = np.arange(len(b.labels))
    tr, te = train_test_split(idx, test_size=0.2, stratify=b.labels, random_state=args.seed)
    low, high = b.beats[tr].min((0, 1)), b.beats[tr].max((0, 1))
    beats = (b.beats - low) / (high - low)  # the [0, 1] scale of the metrics, fitted on the training beats
    real, labels = beats[tr], b.labels[tr]
    counts = {c: int((labels == c).sum()) for c in np.unique(labels)}
    print(f"ECG: {len(real)} training beats {counts}, {len(te)} test beats, {real.shape[1]} x {real.shape[2]}")
    notes = {}
    generated = generate(args, real, notes, labels=labels, what="beats", seq_len=real.shape[1], balance_classes=True)
    fake = generated["tsdiff"]
    for c in counts:  # A's share decides the classifier; print it per class
        notes[f"beats of class {c}"] = f"{counts[c]} real, {int((labels == c).sum())} generated"
    auc_real = tstr_auc(real, labels, beats[te], b.labels[te], "A")
    auc_fake = tstr_auc(fake, labels, beats[te], b.labels[te], "A")
    notes["beat classifier (A vs N), ROC AUC on the real test beats"] = (
        f"trained on real {auc_real:.3f}, trained on tsdiff's beats {auc_fake:.3f} "
        f"({100 * (auc_fake - auc_real):+.1f} points)"
    )
    r_ok = np.abs(fake[:, :, 0].argmax(1) - b.r_index) <= 2
    r_real = np.abs(real[:, :, 0].argmax(1) - b.r_index) <= 2
    notes["R peak (lead MLII maximum) within 2 samples of the annotated position"] = (
        f"{r_ok.mean():.1%} of generated beats, {r_real.mean():.1%} of real beats"
    )
    return real, generated, notes, {"names": b.leads, "paper": {}}


PTB_LEADS = ["i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6"]  # not the Frank vx, vy, vz
STRIPS = {  # record, leads, seconds, rate (Hz), stride (s): windows of the whole record, MinMax-scaled per lead
    "ecg-rhythm": ("100", None, 3.0, 50.0, 1.5),  # 30 min, MLII and V5: 1,202 half-overlapping strips, 3-5 beats
    "ptb": ("s0010_re", PTB_LEADS, 2.5, 50.0, 0.25),  # 38.4 s, the 12 standard leads: 150 overlapping windows
}


def ecg_strips(args) -> tuple[np.ndarray, dict, dict, dict]:
    """Multi-beat ECG windows (rhythm strips) of a WFDB record, unconditional synthesis; besides the suite, the heart
    rate of every real and generated strip (neurokit2's R peaks in the first lead): plausible generated strips have
    rates inside the range of the real ones. ``--phase``: tsdiff also learns the cardiac phase (two channels from
    the beat annotations, or from the R peaks neurokit2 detects where the record has none: ``ecg_windows(phase=True)``),
    dropped before scoring."""
    from tsdiff.data.ecg import PHASE_CHANNELS, ecg_windows

    record, leads, seconds, rate, stride = STRIPS[args.dataset]
    folder = Path(args.data or ROOT.parent / "shared" / "data" / "ecg")
    x, names = ecg_windows(folder / record, seconds=seconds, rate=rate, leads=leads, stride=stride, phase=args.phase)
    low, high = x.min((0, 1)), x.max((0, 1))
    scaled = (x - low) / (high - low)  # per channel
    k = len(names) - len(PHASE_CHANNELS) if args.phase else len(names)
    real, names = scaled[..., :k], names[:k]
    print(f"{args.dataset}: {len(real)} windows of {real.shape[1]} x {k} ({seconds} s at {rate:g} Hz)")
    notes = {}
    generated = generate(args, real, notes, extra=scaled[..., k:] if args.phase else None, seq_len=real.shape[1])
    hr_real = M.heart_rates(real, rate)
    low_hr, high_hr = np.nanmin(hr_real), np.nanmax(hr_real)
    notes[f"heart rate (beats per minute, R peaks of lead {names[0]}), real"] = (
        f"{np.nanmean(hr_real):.1f} ± {np.nanstd(hr_real):.1f}, range {low_hr:.1f}-{high_hr:.1f}, "
        f"no rate (fewer than 2 R peaks) in {np.isnan(hr_real).mean():.1%}"
    )
    for name, windows in generated.items():
        hr = M.heart_rates(windows, rate)
        inside = (hr >= low_hr) & (hr <= high_hr)
        notes[f"heart rate, {name}"] = (
            f"{np.nanmean(hr):.1f} ± {np.nanstd(hr):.1f}, inside the real range {inside.mean():.1%}, "
            f"no rate in {np.isnan(hr).mean():.1%}"
        )
    return real, generated, notes, {"names": names, "paper": {}}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", choices=["stocks", *ARCH_PRICES, "ecg", *STRIPS], default="stocks")
    p.add_argument("--data", help="dataset folder (default ../shared/data/<dataset>)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--max-steps", type=int, help="training steps of the Synthesizer (default: its default)")
    p.add_argument("--sampler", choices=sorted(SAMPLERS), help="tsdiff's sampler (default: the Synthesizer's)")
    p.add_argument("--sample-steps", type=int, help="tsdiff's sampler steps (default: the Synthesizer's)")
    p.add_argument("--scaling", choices=["minmax", "quantile"], help="the Synthesizer's scaling (default: its own)")
    p.add_argument("--time-patch", type=int, help="the Synthesizer's time steps per token (default: its own)")
    p.add_argument("--log-snr-shift", type=float, help="the Synthesizer's schedule shift (default: its own)")
    p.add_argument(
        "--phase", action="store_true", help="ECG strips: tsdiff also learns the cardiac phase (dropped when scored)"
    )
    p.add_argument("--model", help="a saved Synthesizer to score instead of training one")
    p.add_argument("--save", help="save the trained Synthesizer here")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    task = ecg if args.dataset == "ecg" else ecg_strips if args.dataset in STRIPS else stocks
    real, generated, notes, info = task(args)
    scores = score_all(real, generated, args.runs, args.seed)
    mean, lo, hi = expected_correlational(real, real, args.runs, seed=args.seed)
    notes["correlational score of a perfect generator (two independent real fifths, 1,000 draws)"] = (
        f"{mean:.4f} on average; its {args.runs}-run mean falls in {lo:.4f}-{hi:.4f} (95%)"
    )
    expected = {name: expected_correlational(real, x, args.runs, seed=args.seed) for name, x in generated.items()}
    notes[
        f"each generator's expected correlational score, 1,000 draws of fifths (95% range of a {args.runs}-run mean)"
    ] = ", ".join(f"{name} {m:.4f} ({lo:.4f}-{hi:.4f})" for name, (m, lo, hi) in expected.items())
    table = markdown(scores, info["paper"], notes, f"{args.dataset}: mean ± 95% interval over {args.runs} runs")
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"synthesis_{args.dataset}.md").write_text(table)
    from tsdiff.plotting import synthesis_plots

    synthesis_plots(real, generated["tsdiff"], out / "plots", info["names"], prefix=f"synthesis_{args.dataset}_")
    print(f"table and plots -> {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
