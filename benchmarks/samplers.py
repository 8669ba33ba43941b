"""Sampler benchmark: sample error against denoiser calls, on data whose exact denoiser is known.

    python benchmarks/samplers.py [--n 8192] [--out outputs/bench_samplers] [--quick]

1. An 8-D Gaussian with eigenvalues from 0.1 to 3.9: relative error of the sample mean and covariance.
2. The 2-D six-component mixture of ``tsdiff.examples.mixture2d``: sliced Wasserstein-1 to fresh data.
Both use the exact denoiser, so the error is the sampler's alone (plus the Monte-Carlo floor, printed).
3. Wall time per 1000 samples with a trained MLP denoiser (a real network call per step).
Writes a markdown table and two plots to --out and prints the table.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from tsdiff.core import NFE_PER_STEP, GaussianDenoiser, get_schedule, sample
from tsdiff.examples.mixture2d import SAMPLER_SETTINGS, default_mixture, train_mixture_model
from tsdiff.metrics import moment_errors, sliced_wasserstein
from tsdiff.plotting import error_curves

STEPS = {
    "ddpm": [25, 50, 100, 250, 500, 1000],
    "euler_maruyama": [25, 50, 100, 250, 500, 1000],
    "pc": [25, 50, 100, 250, 500],
    "ddim": [5, 10, 20, 50, 100, 250],
    "dpmpp_2m": [5, 10, 20, 50, 100],
    "heun": [5, 10, 20, 50, 100],
}


def nfe(name: str, steps: int) -> int:
    return steps * NFE_PER_STEP[name] - (1 if name == "heun" else 0)


def gaussian_case(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(8, 8, generator=g, dtype=torch.float64)
    cov = a @ a.T / 8 + 0.1 * torch.eye(8, dtype=torch.float64)
    mean = torch.randn(8, generator=g, dtype=torch.float64)
    return mean, cov


def run(n: int, out: Path, quick: bool) -> str:
    schedule = get_schedule("linear", 1000)
    steps_for = {k: (v[:3] if quick else v) for k, v in STEPS.items()}
    lines = []

    # 1. Gaussian
    mean, cov = gaussian_case(n)
    den = GaussianDenoiser(mean, cov, schedule)
    floor_m, floor_c = moment_errors(den.sample(n, torch.Generator().manual_seed(99)), mean, cov)
    lines += [
        "## 8-D Gaussian (exact denoiser, linear schedule, T = 1000)",
        "",
        f"{n} samples; exact draws give mean error {floor_m:.4f} and covariance error {floor_c:.4f} (the floor).",
        "",
        "| sampler | steps | NFE | mean rel. error | cov rel. error | s / 1000 samples |",
        "|---|---|---|---|---|---|",
    ]
    curves = {}
    for name, steps_list in steps_for.items():
        xs, ys = [], []
        for steps in steps_list:
            start = time.perf_counter()
            x = sample(
                den, (n, 8), schedule, name, steps, generator=torch.Generator().manual_seed(1), dtype=torch.float64
            )
            secs = time.perf_counter() - start
            m_err, c_err = moment_errors(x, mean, cov)
            lines.append(
                f"| {name} | {steps} | {nfe(name, steps)} | {m_err:.4f} | {c_err:.4f} | {secs / n * 1000:.3f} |"
            )
            xs.append(nfe(name, steps))
            ys.append(c_err)
        curves[name] = (xs, ys)
    error_curves(
        curves,
        out / "gaussian_cov_error.png",
        "denoiser calls (NFE)",
        "covariance relative error",
        "8-D Gaussian, exact denoiser",
        floor=floor_c,
    )

    # 2. mixture
    mixture = default_mixture(schedule)
    reference, _ = mixture.sample(n, torch.Generator().manual_seed(1000))
    swd = lambda x: sliced_wasserstein(x, reference, generator=torch.Generator().manual_seed(0))  # noqa: E731
    floor = swd(mixture.sample(n, torch.Generator().manual_seed(2000))[0])
    lines += [
        "",
        "## 2-D Gaussian mixture (exact denoiser)",
        "",
        f"Sliced W1 to fresh data; two fresh data samples: {floor:.4f} (the floor).",
        "",
        "| sampler | steps | NFE | sliced W1 |",
        "|---|---|---|---|",
    ]
    curves = {}
    for name, steps_list in steps_for.items():
        xs, ys = [], []
        for steps in steps_list:
            x = sample(
                mixture, (n, 2), schedule, name, steps, generator=torch.Generator().manual_seed(1), dtype=torch.float64
            )
            d = swd(x)
            lines.append(f"| {name} | {steps} | {nfe(name, steps)} | {d:.4f} |")
            xs.append(nfe(name, steps))
            ys.append(d)
        curves[name] = (xs, ys)
    error_curves(
        curves,
        out / "mixture_swd.png",
        "denoiser calls (NFE)",
        "sliced W1 to data",
        "2-D mixture, exact denoiser",
        floor=floor,
    )

    # 3. wall time with a trained network
    model, *_ = train_mixture_model(steps=300 if quick else 3000, schedule=schedule)
    lines += [
        "",
        f"## Wall time with a trained MLP denoiser (2-D, CPU threads: {torch.get_num_threads()})",
        "",
        "| sampler | steps | NFE | s / 1000 samples |",
        "|---|---|---|---|",
    ]
    for name, (steps, options) in SAMPLER_SETTINGS.items():
        start = time.perf_counter()
        sample(model, (n, 2), schedule, name, steps, generator=torch.Generator().manual_seed(1), **options)
        secs = time.perf_counter() - start
        lines.append(f"| {name} | {steps} | {nfe(name, steps)} | {secs / n * 1000:.3f} |")
    table = "\n".join(lines)
    (out / "samplers.md").write_text(table + "\n")
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8192, help="samples per measurement")
    parser.add_argument("--out", default="outputs/bench_samplers")
    parser.add_argument("--quick", action="store_true", help="fewer step counts and a short training")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    print(run(args.n, out, args.quick))
    print(f"\nwritten: {out / 'samplers.md'}, {out / 'gaussian_cov_error.png'}, {out / 'mixture_swd.png'}")


if __name__ == "__main__":
    main()
