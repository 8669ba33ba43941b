"""Imputation benchmark: tsdiff's DiffusionImputer against the baselines, on CSDI's protocols.

    python benchmarks/imputation.py --missing 0.1 --budget 20 --preset small        # PhysioNet, a CPU budget
    python benchmarks/imputation.py --missing 0.1 0.5 0.9 --epochs 200 --preset reference --eval-stays 0 \\
        --samples 100 --sampler ddpm --steps 50                                     # the paper's budget (GPU)
    python benchmarks/imputation.py --dataset aqi36 --epochs 10 --preset small      # AQI-36 ("mix" masks)
    python benchmarks/imputation.py --epochs 2 --peers csdi saits:30 brits:10        # PyPOTS's models beside
    python benchmarks/imputation.py --model M.pt --calibrate 200                    # + conformal spread factors

Metrics are those of the CSDI reference on the held-out targets: MAE and RMSE of the median of the draws, the
19-quantile normalised CRPS, and the coverage of the 90% interval; PhysioNet in z-units of the training split,
AQI-36 in ug/m3. tsdiff is scored on the first ``--eval-stays`` test windows (0 = all; all 799 PhysioNet stays are
too slow on a CPU for the reference size); the baselines on the same windows. A learning curve (CRPS on up to 48
validation windows against training wall time, the evaluation time excluded) is written as a plot; its points
during training score the weights being trained (not their EMA), the last point the weights ``fit`` returns. Published
numbers are rows marked "paper". ``--calibrate N`` adds, for each sampler setting, a row drawn after
``DiffusionImputer.calibrate`` on N validation windows whose targets are hidden the way the test targets are
(PhysioNet: the same random share of observed values; AQI-36: the missing patterns of other months).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from peak_memory import peak_rss_mib  # benchmarks/peak_memory.py

from tsdiff import DiffusionImputer
from tsdiff.baselines import IMPUTATION_BASELINES
from tsdiff.baselines.peers import PEERS, pypots_impute
from tsdiff.checkpoint import load_checkpoint
from tsdiff.data.aqi36 import load_aqi36
from tsdiff.data.physionet import load_physionet2012
from tsdiff.data.scaling import FeatureScaler
from tsdiff.metrics import crps_quantile, interval_coverage, mae, pit_values, rmse
from tsdiff.plotting import error_curves, pit_histogram

PAPER = {  # CSDI paper, Tables 2-4 (../shared/REFERENCE.md); None = not reported
    "physionet 10%": [("CSDI (paper)", 0.217, 0.498, 0.238), ("BRITS (paper)", 0.284, None, None)],
    "physionet 50%": [("CSDI (paper)", 0.301, None, 0.330), ("BRITS (paper)", 0.368, None, None)],
    "physionet 90%": [("CSDI (paper)", 0.481, None, 0.522), ("BRITS (paper)", 0.517, None, None)],
    "aqi36": [("CSDI (paper)", 9.60, None, 0.108), ("BRITS (paper)", 14.11, None, None)],
}


def scores(draws: np.ndarray, truth: np.ndarray, mask: np.ndarray, scaler: FeatureScaler | None) -> dict:
    """draws (N, S, L, K) in data units -> metrics on the masked entries, in z-units when a scaler is given."""
    unit = scaler.transform if scaler is not None else (lambda v: v)
    z_draws = torch.from_numpy(unit(draws)).permute(1, 0, 2, 3)  # (S, N, L, K)
    z_truth = torch.from_numpy(unit(np.nan_to_num(truth)))
    m = torch.from_numpy(mask)
    median = z_draws.median(0).values if z_draws.shape[0] > 1 else z_draws[0]
    out = {"mae": mae(median, z_truth, m), "rmse": rmse(median, z_truth, m)}
    if z_draws.shape[0] > 1:
        out["crps"] = crps_quantile(z_draws, z_truth, m)
        out["coverage90"] = interval_coverage(z_draws, z_truth, m, 0.9)
    return out


def physionet_case(args, ratio: float) -> dict:
    splits = load_physionet2012(args.data, missing_ratio=ratio, seed=1, fold=0)
    train = splits.values[splits.train]
    eval_idx = splits.test if args.eval_stays == 0 else splits.test[: args.eval_stays]
    val_idx = splits.valid[:48]
    return {
        "name": f"physionet {int(ratio * 100)}%",
        "train": train,
        "scaler": FeatureScaler.fit(train),
        "inputs": splits.inputs(eval_idx),
        "truth": splits.values[eval_idx],
        "mask": splits.eval_mask[eval_idx],
        "val": (splits.inputs(val_idx), splits.values[val_idx], splits.eval_mask[val_idx]),
        "calib": (splits.values[splits.valid], splits.eval_mask[splits.valid]),
        "fit": {},
        "strategy": "random",
        "unit": "z-units of the training split",
    }


def aqi36_case(args) -> dict:
    d = load_aqi36(args.aqi_data)
    n = len(d.test) if args.eval_stays == 0 else min(args.eval_stays, len(d.test))
    # learning curve: the validation month (1) cut and masked as the test months are, so it tracks the test score
    rng = np.random.default_rng(0)
    return {
        "name": "aqi36",
        "train": d.train,
        "scaler": None,
        "inputs": d.test_inputs[:n],
        "truth": d.test[:n],
        "mask": d.test_targets[:n],
        "val": (d.valid_inputs, d.valid_eval, d.valid_targets),
        "calib": (d.valid[::18], _historical_targets(d.valid[::18], d.hist_patterns, rng)),
        "fit": {"mask_patterns": d.hist_patterns},
        "strategy": "mix",
        "unit": "ug/m3",
    }


def _historical_targets(windows: np.ndarray, patterns: np.ndarray, rng) -> np.ndarray:
    """(N, L, K) bool: the observed values of each window that a random missing pattern of another month hides."""
    return ~np.isnan(windows) & ~patterns[rng.integers(len(patterns), size=len(windows))]


def run_case(args, case: dict, out: Path) -> list[str]:
    train, scaler = case["train"], case["scaler"]
    inputs, truth, mask = case["inputs"], case["truth"], case["mask"]
    rows = []
    for name in args.baselines:
        start = time.perf_counter()
        filled = IMPUTATION_BASELINES[name](inputs, train)
        secs = time.perf_counter() - start
        rows.append(
            {
                "method": name,
                **scores(filled[:, None], truth, mask, scaler),
                "train_s": 0.0,
                "impute_s": secs,
                "peak_mb": peak_rss_mib(),
            }
        )
        print(f"  {name}: {rows[-1]}", flush=True)

    val_in, val_truth, val_mask = case["val"]
    imp = DiffusionImputer(
        preset=args.preset,
        model_options=args.model_options,
        epochs=args.epochs,
        time_budget=args.time_budget,
        batch_size=args.batch_size,
        lr=args.lr,
        lr_decay=args.lr_decay,
        ema_decay=args.ema,
        n_samples=args.samples,
        sampler=args.sampler,
        sample_steps=args.steps,
        seed=args.seed,
        progress=args.progress,
        max_rows=args.max_rows,
        mask_strategy=case["strategy"],
        amp=args.amp,
        compile=args.compile,
    )
    total = int(args.epochs * max(1, len(train) // args.batch_size))
    points = max(args.curve_points, 1)
    checkpoints = set(np.linspace(total / points, total, args.curve_points).astype(int).tolist())
    # with a time budget, points by training time, the last one scored after fit (the loop knows when it ends)
    due = list(np.linspace(args.time_budget / points, args.time_budget, points))[:-1] if args.time_budget else []
    tag = case["name"].replace(" ", "_").replace("%", "")
    resumable = out / f"train_{tag}_{args.preset}.pt"  # the training checkpoint of --checkpoint-every / --resume
    curve_file = out / f"curve_{tag}.json"
    before = 0.0  # training seconds of the run resumed
    curve = []
    if args.resume and resumable.exists() and not args.model:
        saved = load_checkpoint(resumable, required=("step",))
        before = float(saved.get("train_seconds", 0.0))
        curve = json.loads(curve_file.read_text()) if curve_file.exists() else []
        curve = [tuple(c) for c in curve if c[2] <= saved["step"]]  # points past the checkpoint come again
        due = [d for d in due if d > before]
        print(f"  resuming from {resumable} ({before:.0f} s of training, {len(curve)} curve points)", flush=True)
    clock = {"eval": 0.0, "start": time.perf_counter() - before}

    def curve_point(step, loss, wall):
        t0 = time.perf_counter()
        imp.model_.eval()
        draws = imp.sample(val_in, min(args.samples, 16))
        imp.model_.train()
        crps = scores(draws, val_truth, val_mask, scaler)["crps"]
        clock["eval"] += time.perf_counter() - t0
        curve.append((wall, crps, step, loss))
        curve_file.write_text(json.dumps(curve))  # kept for a resumed run
        print(f"  step {step}/{total} ({wall:.0f} s training): loss {loss:.3f}, validation CRPS {crps:.3f}", flush=True)

    def on_step(step, loss):
        wall = time.perf_counter() - clock["start"] - clock["eval"]
        if args.time_budget:
            if not due or wall < due[0]:
                return
            while due and wall >= due[0]:
                due.pop(0)
        elif step not in checkpoints:
            return
        curve_point(step, loss, wall)

    if args.model:  # score a trained model (e.g. the GPU run's) without training
        imp = DiffusionImputer.load(
            args.model, max_rows=args.max_rows, amp=args.amp, compile=args.compile, progress=args.progress
        )
        train_s = 0.0
    else:
        start = time.perf_counter()
        x_val = case["calib"][0] if args.validate else None  # the validation split's windows
        imp.fit(
            train,
            X_val=x_val,
            callback=on_step if checkpoints else None,  # a callback syncs
            checkpoint=resumable if args.checkpoint_every or args.resume else None,
            resume=args.resume,
            checkpoint_every=args.checkpoint_every,
            **case["fit"],
        )
        train_s = before + time.perf_counter() - start - clock["eval"]
        if args.time_budget and args.curve_points:
            result_ = imp.train_result_  # the last point at the training clock's end, as the stop saw it
            curve_point(result_.steps, result_.losses[-1], result_.train_seconds)
            imp.model_.eval()
        imp.save(out / f"{tag}_{args.preset}.pt")
    label = f"tsdiff CSDI-{imp.preset}"
    result = getattr(imp, "train_result_", None)
    if args.validate and result is not None and result.best_step is not None:
        label += f", weights of step {result.best_step}/{result.steps} (lowest validation loss)"
    label += (", bf16 autocast" if args.amp == "bf16" else "") + (f", compile {args.compile}" if args.compile else "")
    settings = args.sweep or [(args.sampler, args.steps, args.samples)]
    calib_values, calib_targets = case["calib"]
    calib_values, calib_targets = calib_values[: args.calibrate], calib_targets[: args.calibrate]
    for sampler, steps, n_samples in settings:
        for calibrated in (False, True) if args.calibrate else (False,):
            imp.set_params(sampler=sampler, sample_steps=steps, n_samples=n_samples)
            imp.spread_scale_ = None
            method = f"{label} ({sampler}, {steps or 'all'} steps, {n_samples} samples)"
            if calibrated:
                start = time.perf_counter()
                imp.calibrate(calib_values, target_mask=calib_targets)
                c = imp.calibration_
                method += (
                    f" + calibrated on {len(calib_values)} validation windows ({time.perf_counter() - start:.0f} s; "
                    f"coverage there {c['coverage_before']:.2f} -> {c['coverage_after']:.2f}; factors "
                    f"{np.min(imp.spread_scale_):.2f}-{np.max(imp.spread_scale_):.2f})"
                )
            start = time.perf_counter()
            draws = imp.sample(inputs, n_samples)
            impute_s = time.perf_counter() - start
            rows.append(
                {
                    "method": method,
                    **scores(draws, truth, mask, scaler),
                    "train_s": train_s,
                    "impute_s": impute_s,
                    "peak_mb": peak_rss_mib(),
                }
            )
            print(f"  tsdiff: {rows[-1]}", flush=True)
    for name, epochs in args.peers:  # PyPOTS's models, trained here on the same windows (pip install -e ".[peers]")
        epochs = epochs or max(1, round(args.epochs))
        peer_draws, secs = pypots_impute(name, inputs, train, epochs=epochs, n_samples=args.samples, seed=0)
        sampling = f", DDPM 50 steps, {args.samples} samples" if name == "csdi" else ""
        rows.append(
            {
                "method": f"PyPOTS {name.upper()} ({epochs} epochs{sampling})",
                **scores(peer_draws, truth, mask, scaler),
                **secs,
                "peak_mb": peak_rss_mib(),
            }
        )
        print(f"  PyPOTS {name}: {rows[-1]}", flush=True)
    pit = pit_values(
        torch.from_numpy(draws).permute(1, 0, 2, 3), torch.from_numpy(np.nan_to_num(truth)), torch.from_numpy(mask)
    )
    last = f"{sampler}, {steps or 'all'} steps, {n_samples} samples"  # the PIT of the last setting scored
    pit_histogram({label: pit.numpy()}, out / f"pit_{tag}.png", title=f"{case['name']}: PIT ({last})")
    if curve:
        curve_file.write_text(json.dumps(curve))
        error_curves(
            {label: ([c[0] for c in curve], [c[1] for c in curve])},
            out / f"learning_curve_{tag}.png",
            "training wall time (s)",
            "validation CRPS",
            case["name"],
        )

    lines = [
        f"### {case['name']} (metrics in {case['unit']})",
        "",
        f"Scored on {len(inputs)} test windows ({int(mask.sum())} targets); tsdiff: "
        + (f"loaded from {args.model}" if args.model else trained(args, result))
        + "; sampler, steps and samples in each row. Peak RSS is this process's high-water mark so far (rows in "
        "run order: baselines, tsdiff, PyPOTS peers).",
        "",
        "| method | MAE | RMSE | CRPS | 90% coverage | train s | impute s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fmt = lambda v: "" if v is None else f"{v:.3f}"  # noqa: E731
    for r in rows:
        lines.append(
            f"| {r['method']} | {fmt(r['mae'])} | {fmt(r['rmse'])} | {fmt(r.get('crps'))} | "
            f"{fmt(r.get('coverage90'))} | {r['train_s']:.0f} | {r['impute_s']:.1f} | {r['peak_mb']:.0f} |"
        )
    for name, m, r_, c in PAPER.get(case["name"], []):
        lines.append(f"| {name} | {fmt(m)} | {fmt(r_)} | {fmt(c)} | | | | |")
    if curve:
        lines += [
            "",
            f"Learning curve (validation CRPS, {len(case['val'][0])} windows, 16 samples): "
            + ", ".join(f"{w:.0f} s: {c:.3f}" for w, c, *_ in curve),
        ]
    if args.validate and result is not None and result.validation:
        lines += [
            "",
            "Validation loss (denoising loss on the validation split, fixed masks, steps and noise) by step: "
            + ", ".join(f"{step}: {value:.4f}" for step, value in result.validation),
        ]
    return lines


def peer(text: str) -> tuple[str, int | None]:
    """'saits' or 'saits:100' -> ("saits", None) or ("saits", 100)."""
    name, _, epochs = text.partition(":")
    if name not in PEERS:
        raise argparse.ArgumentTypeError(f"unknown peer {name!r}; choose from {sorted(PEERS)}")
    if epochs and (not epochs.isdigit() or int(epochs) < 1):
        raise argparse.ArgumentTypeError(f"peer epochs must be a whole number >= 1, got {epochs!r}")
    return name, int(epochs) if epochs else None


def setting(text: str) -> tuple[str, int | None, int]:
    """'ddim:10:50' -> ("ddim", 10, 50); 'ddpm:all:100' -> ("ddpm", None, 100) (all of the sampler's steps)."""
    parts = text.split(":")
    if len(parts) != 3 or not parts[2].isdigit() or not (parts[1].isdigit() or parts[1] in ("", "all")):
        raise argparse.ArgumentTypeError(f"a sweep setting is SAMPLER:STEPS:SAMPLES (e.g. ddim:10:50), got {text!r}")
    return parts[0], int(parts[1]) if parts[1].isdigit() else None, int(parts[2])


def trained(args, result) -> str:
    """How long tsdiff trained, for the table's caption."""
    if result is None or not args.time_budget:
        return f"{args.epochs:g} epochs"
    return (
        f"a training budget of {args.time_budget:.0f} s (at most {args.epochs:g} epochs): {result.steps} steps in "
        f"{result.train_seconds:.0f} s of training"
    )


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    p.add_argument("--dataset", choices=["physionet", "aqi36"], default="physionet")
    p.add_argument("--data", default=str(shared / "physionet2012"))
    p.add_argument("--aqi-data", default=str(shared / "aqi36"))
    p.add_argument("--missing", type=float, nargs="+", default=[0.1])
    p.add_argument("--preset", default="small")
    p.add_argument(
        "--epochs",
        "--budget",
        type=float,
        default=None,
        help="training epochs (default: the paper's 200 on a GPU, 20 on a CPU)",
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="seconds of training (validation and curve points left out): stop when spent or after --epochs, the lr"
        " decay over the same budget",
    )
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-decay", default="step")
    p.add_argument("--ema", type=float, default=None)
    p.add_argument(
        "--model-options",
        type=json.loads,
        default=None,
        help="CSDI options as JSON, e.g. '{\"interpolated_input\": true}'",
    )
    p.add_argument(
        "--validate",
        action="store_true",
        help="score the validation split's denoising loss every epoch and keep the best weights (fit's X_val)",
    )
    p.add_argument("--samples", type=int, default=20)
    p.add_argument("--sampler", default="ddim")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--eval-stays", type=int, default=200, help="test stays scored (0 = all)")
    p.add_argument("--curve-points", type=int, default=6, help="learning-curve points (0: none; no per-step sync)")
    p.add_argument(
        "--max-rows", type=int, default=None, help="rows per denoiser call (default: the imputer's, 8 on a CPU)"
    )
    p.add_argument("--compile", default=None, help='torch.compile mode for training and sampling ("default" ...)')
    p.add_argument(
        "--amp",
        type=lambda v: {"true": True, "false": False}.get(v.lower(), v),
        default=True,
        help="bf16 autocast: true (on CUDA only, the default), false, or bf16 (on a CPU too: tsdiff.accel.autocast)",
    )
    p.add_argument("--model", default=None, help="score this saved DiffusionImputer instead of training one")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=0,
        help="write the training state to --out every N optimizer steps (0: only at the end with --resume)",
    )
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the training checkpoint in --out where a stopped run of the same command left it",
    )
    p.add_argument(
        "--sweep",
        type=setting,
        nargs="*",
        help="sampler:steps:samples configurations scored in turn (default: --sampler, --steps, --samples)",
    )
    p.add_argument("--seed", type=int, default=0, help="the imputer's seed (weights, training masks, draws)")
    p.add_argument("--progress", action="store_true", help="training and imputation progress bars on stderr")
    p.add_argument("--baselines", nargs="*", default=list(IMPUTATION_BASELINES))
    p.add_argument(
        "--peers",
        nargs="*",
        default=[],
        type=peer,
        help=f"PyPOTS models trained beside, NAME[:EPOCHS] with NAME in {sorted(PEERS)} (default epochs: --epochs)",
    )
    p.add_argument(
        "--calibrate",
        type=int,
        default=0,
        help="also score each setting after DiffusionImputer.calibrate on this many validation windows (0: off)",
    )
    p.add_argument("--out", default="outputs/bench_imputation")
    args = p.parse_args(argv)
    if args.epochs is None:
        args.epochs = 200 if torch.cuda.is_available() else 20
    return args


def main():
    args = parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    where = torch.cuda.get_device_name() if torch.cuda.is_available() else f"{torch.get_num_threads()} CPU threads"
    command = shlex.join(["python", "benchmarks/imputation.py", *sys.argv[1:]])
    lines = [f"## Imputation benchmark ({where}, torch {torch.__version__})", "", f"`{command}`", ""]
    cases = [aqi36_case(args)] if args.dataset == "aqi36" else [physionet_case(args, r) for r in args.missing]
    for case in cases:
        lines += run_case(args, case, out) + [""]
    text = "\n".join(lines)
    (out / "imputation.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
