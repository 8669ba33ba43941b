"""The ``tsdiff`` command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def _demo(args) -> int:
    """Train the MLP denoiser on the 2-D mixture, sample with every sampler, print the table, save a plot."""
    import torch

    from .examples.mixture2d import compare_samplers, train_mixture_model
    from .plotting import scatter_panels

    torch.manual_seed(args.seed)
    print(f"tsdiff demo: training an MLP denoiser on a 2-D Gaussian mixture ({args.steps} steps, CPU is fine)")
    start = time.perf_counter()
    model, mixture, schedule, result = train_mixture_model(steps=args.steps, seed=args.seed, progress=True)
    print(f"trained in {time.perf_counter() - start:.0f} s; final loss {sum(result.losses[-100:]) / 100:.3f}")
    rows = compare_samplers(model, mixture, schedule, n=args.samples, seed=args.seed + 1)
    floor = rows[0]["data_floor"]
    print(f"\nsliced Wasserstein-1 to fresh data (lower is better; two fresh data samples: {floor:.4f})")
    print("| sampler | steps | trained model | exact denoiser | model s / 1000 samples |")
    print("|---|---|---|---|---|")
    for r in rows:
        per_k = r["model_seconds"] / args.samples * 1000
        print(f"| {r['sampler']} | {r['steps']} | {r['model_swd']:.4f} | {r['exact_swd']:.4f} | {per_k:.3f} |")
    data, _ = mixture.sample(args.samples, torch.Generator().manual_seed(args.seed))
    panels = {"data": data, **{r["sampler"]: r["model_samples"] for r in rows}}
    path = scatter_panels(panels, Path(args.out) / "demo_mixture.png", "trained MLP denoiser, each sampler", 4.5)
    print(f"\nplot: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tsdiff", description="Diffusion models for time series and grids.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train and sample the end-to-end example (no download; about a minute)")
    demo.add_argument("--steps", type=int, default=3000, help="training steps")
    demo.add_argument("--samples", type=int, default=4000, help="samples per sampler")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default="outputs", help="folder for the plot")
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
