"""Peak memory of imputing PhysioNet 2012's whole test split with 100 samples per stay on a CPU.

    python benchmarks/impute_memory.py --preset small                    # a barely trained imputer
    python benchmarks/impute_memory.py --model outputs/physionet_10_reference.pt   # a trained one

``DiffusionImputer.predict_quantiles`` (5%, 50%, 95%) of all 799 test stays x 100 samples, the CLI's output. The
denoiser sees chunks of ``max_rows`` rows, so its memory does not grow with the number of samples; what grows is
the array of draws kept for the quantiles (N x S x L x K float64: 1.0 GiB here). Memory does not depend on the
sampler's step count or on the weights, so the default times one DDIM step with a barely trained model (7 minutes
on 2 cores with the small preset; about 1.5 h with the reference one, whose activations at 8 rows per call add a
few MB). Peak resident memory is Linux's VmHWM of this process.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from peak_memory import peak_rss_mib  # benchmarks/peak_memory.py

from tsdiff import DiffusionImputer
from tsdiff.data.physionet import load_physionet2012


def main():
    shared = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(shared / "physionet2012"))
    p.add_argument("--model", default=None, help="a saved DiffusionImputer (default: fit one for a few steps)")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--steps", type=int, default=1, help="DDIM steps (memory does not depend on them)")
    p.add_argument("--stays", type=int, default=0, help="test stays imputed (0 = all 799)")
    p.add_argument("--preset", default="reference", help="model size when no --model is given")
    args = p.parse_args()

    splits = load_physionet2012(args.data, missing_ratio=0.1, seed=1, fold=0)
    test = splits.test if args.stays == 0 else splits.test[: args.stays]
    inputs = splits.inputs(test)
    if args.model:
        imp = DiffusionImputer.load(args.model)
    else:
        imp = DiffusionImputer(preset=args.preset, epochs=0.01, progress=False).fit(splits.values[splits.train])
    imp.set_params(n_samples=args.samples, sampler="ddim", sample_steps=args.steps, progress=True)
    before = peak_rss_mib()
    start = time.perf_counter()
    bands = imp.predict_quantiles(inputs, q=(0.05, 0.5, 0.95))
    seconds = time.perf_counter() - start
    draws_gib = inputs.size * args.samples * 8 / 2**30
    print(
        f"| stays | samples | draws array GiB | peak RSS before imputing MiB | peak RSS MiB | seconds |\n"
        f"|---|---|---|---|---|---|\n"
        f"| {len(inputs)} | {args.samples} | {draws_gib:.2f} | {before:,.0f} | {peak_rss_mib():,.0f} | {seconds:.0f} |"
    )
    assert all(b.shape == inputs.shape for b in bands.values())


if __name__ == "__main__":
    main()
