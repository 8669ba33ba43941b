"""CSDI denoiser speed on this machine: one denoiser call and one training step per preset and attention.

    python benchmarks/perf_csdi.py [--batch 16] [--features 35] [--length 48] [--repeats 3]

Prints a markdown table (seconds, median of repeats after warm-up). The reference CSDI on a 2-core CPU of the
kind CI uses: 0.80 s per denoiser call and 2.8-3.4 s per training step at batch 16, PhysioNet shape
(../shared/REFERENCE.md).
"""

from __future__ import annotations

import argparse

import torch
from perf import timed  # benchmarks/perf.py: median after warm-up

import tsdiff.models.csdi as csdi
from tsdiff.core import Condition


def measure(preset: str, attention: str, b: int, k: int, l: int, repeats: int) -> tuple[float, float]:
    torch.manual_seed(0)
    model = csdi.CSDIDenoiser.preset(preset, k, attention=attention)
    x = torch.randn(b, k, l)
    cond = Condition(observed=torch.randn(b, k, l), obs_mask=torch.rand(b, k, l) < 0.2)
    t = torch.full((b,), 10.0)
    model.eval()
    with torch.no_grad():
        infer = timed(lambda: model(x, t, cond), x.device, repeats)
    model.train()
    opt = torch.optim.AdamW(model.parameters())

    def step():
        loss = model(x, t, cond).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    return infer, timed(step, x.device, repeats)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--features", type=int, default=35)
    p.add_argument("--length", type=int, default=48)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    print(f"batch {args.batch} x K {args.features} x L {args.length}, {torch.get_num_threads()} threads\n")
    print("| preset | attention | denoiser call s | training step s |\n|---|---|---|---|")
    for preset in ("reference", "small"):
        for attention in ("softmax", "linear"):
            infer, train = measure(preset, attention, args.batch, args.features, args.length, args.repeats)
            print(f"| {preset} | {attention} | {infer:.3f} | {train:.3f} |")


if __name__ == "__main__":
    main()
