"""Speed, FLOPs and memory of tsdiff's models and samplers, beside PyPOTS's CSDI, on a CPU or a GPU.

    python benchmarks/perf.py                       # this machine's CPU (about 10 minutes on 2 cores)
    python benchmarks/perf.py --device cuda         # a GPU: adds bf16 / compile variants, MFU, the ensemble row
    python benchmarks/perf.py --only csdi,pypots    # of: matmul, attention, dropout, csdi, impute,
                                                    #     equal_crps, pypots, samplers, dit, ensemble, epoch

Rows (each timed after warm-up, median of repeats, device synchronised):
- matmul: a plain n x n fp32 (and on a GPU, or on a CPU with ``--bf16``, bf16) matrix product: the machine's
  attainable GFLOP/s;
- attention (CPU): one time and one feature attention of the reference CSDI at the sampling batch, SDPA against
  tsdiff's fused small-head kernel (``tsdiff.models.cpu_attention``), and the kernel on 10 x those inputs (sharp
  softmax, most weights underflowing: as fast, since it flushes them to 0 rather than computing in subnormals);
- dropout (CPU): dropout p = 0.1 of one time attention's weights in a reference training step (10.3 M fp32
  entries): torch's (``F.dropout``; a uniform draw, compare and masked copy, tsdiff's earlier path) against
  tsdiff's counter-based kernel (``tsdiff.models.cpu_dropout``), with a plain copy of the tensor as the floor;
- csdi train: one training step (forward + backward + AdamW) of the CSDI denoiser at the reference configuration,
  PhysioNet shape (batch 16, K 35, L 48), and of the `small` preset with the interpolated input (the one-hour
  recipe's model; no dropout, so on a CPU its attention is tsdiff's kernel with its backward); FLOPs counted by
  ``torch.utils.flop_counter``; achieved GFLOP/s and its fraction of the fp32 matmul's (CPU) or of the device's
  peak (MFU, GPU);
- csdi impute: 100 samples per item, 50 DDPM steps (the reference's sampling), tsdiff's denoiser calls of
  ``accel.rows_per_call`` rows as ``DiffusionImputer`` makes them; on a CPU also fp32 eager without the fused
  elementwise kernels (``tsdiff.models.cpu_fused``), the path before them, and with ``--bf16`` under bf16 autocast
  (the fused kernels with bf16 matrix products; "of matmul" stays the fraction of the fp32 matmul's rate);
- pypots csdi train / impute: PyPOTS's CSDI (``pip install pypots``) at the same configuration and shapes;
- equal_crps: DDIM with 10 steps and 50 samples per item, the cheapest setting measured to match the CRPS of 50 DDPM
  steps x 100 samples on PhysioNet 2012 (0.238 vs 0.239, ``benchmarks/imputation.py --sweep``): end-to-end speed at
  equal CRPS against PyPOTS's 50 x 100;
- samplers: seconds per sampler for the same imputation at 20 denoiser steps;
- dit S/2, B/2 train: a DiT training step on a 64 x 32 grid of 10 variables (40 conditioning channels);
- ensemble: ``EnsembleForecaster.predict`` of 50 members on a 64 x 32 grid of 10 variables, 20 sampler steps;
- epoch: ``DiffusionImputer.fit`` for one epoch on PhysioNet 2012's training-split shape (2,798 windows, 48 x 35,
  the real missing rate of 80%); values are random, the cost does not depend on them.
GFLOP per run: one training step, or one whole imputation (calls x FLOPs per call).
Peak memory: ``torch.cuda.max_memory_allocated`` on a GPU; on a CPU the peak resident set of a child process
that runs only that row (it includes the Python and PyTorch runtime, about 300 MB).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import queue as queue_module
import statistics
import sys
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from peak_memory import peak_rss_mib  # benchmarks/peak_memory.py
from torch.utils.flop_counter import (
    FlopCounterMode,
    register_flop_formula,
    sdpa_backward_flop_count,
    sdpa_flop_count,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tsdiff.accel import autocast, compile_model, native_bf16, rows_per_call, use_tf32  # noqa: E402
from tsdiff.baselines.peers import PEERS
from tsdiff.core import Condition, denoising_loss, get_schedule, sample  # noqa: E402
from tsdiff.models import cpu_attention, cpu_dropout, cpu_fused, cpu_kernels  # noqa: E402
from tsdiff.models.csdi import CSDIDenoiser  # noqa: E402
from tsdiff.models.dit import PRESETS as DIT_PRESETS
from tsdiff.models.dit import DiTConfig, DiTDenoiser  # noqa: E402

B, K, L = 16, 35, 48  # PhysioNet 2012 batch of the reference
PEAK_TFLOPS = {"H100": {"bf16": 989.0, "tf32": 494.0}, "H200": {"bf16": 989.0, "tf32": 494.0}}  # dense, SXM


# --- timing helpers -----------------------------------------------------------------------------------------
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device, repeats: int, warmup: int = 2) -> float:
    """Median seconds of ``fn()`` over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


# torch's FLOP counter knows the CUDA attention kernels but not the CPU flash kernel: count it the same way, so that
# every row (SDPA or tsdiff's fused CPU kernel, which registers its own formula) includes the attention FLOPs
@register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu)
def _cpu_sdpa_flops(query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    return sdpa_flop_count(query_shape, key_shape, value_shape)


@register_flop_formula(torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward)
def _cpu_sdpa_backward_flops(grad_out_shape, query_shape, key_shape, value_shape, *args, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out_shape, query_shape, key_shape, value_shape)


# nor oneDNN's linear, which the fused CPU path runs its fp32 products with (``cpu_fused.linear``)
if hasattr(torch.ops.mkldnn, "_linear_pointwise"):

    @register_flop_formula(torch.ops.mkldnn._linear_pointwise)
    def _onednn_linear_flops(x_shape, *args, out_shape=None, **kwargs) -> int:
        return 2 * math.prod(out_shape) * x_shape[-1]  # (..., in) x (in, out) -> (..., out)


def flops_of(fn) -> int:
    cpu_kernels.available()  # built and the attention FLOP formula registered before counting
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def peak_tflops(device, precision: str) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, peaks in PEAK_TFLOPS.items():
        if key in name:
            return peaks[precision]
    return None


# --- rows ---------------------------------------------------------------------------------------------------
def rate_row(name, seconds, flops, device, amp: bool, matmul_gflops=None, extra=None) -> dict:
    """Achieved GFLOP/s, with its fraction of the fp32 matmul's (CPU) or of the device's peak (MFU, GPU)."""
    row = {"row": name, "seconds": seconds, "gflop_per_run": flops / 1e9, "gflops": flops / seconds / 1e9}
    peak = peak_tflops(device, "bf16" if amp else "tf32")
    if peak:
        row["mfu"] = flops / seconds / (peak * 1e12)
    if matmul_gflops:
        row["of_matmul"] = row["gflops"] / matmul_gflops
    row.update(extra or {})
    return row


def matmul(device, args, matmul_gflops=None) -> list[dict]:
    n = 2048 if device.type == "cpu" else 8192
    rows = []
    cpu_bf16 = device.type == "cpu" and args.bf16  # the bf16 rate the products reach under CPU autocast (AMX)
    for dtype in [torch.float32] if device.type == "cpu" and not cpu_bf16 else [torch.float32, torch.bfloat16]:
        g = torch.Generator(device=device).manual_seed(0)
        a, b = (torch.randn(n, n, device=device, generator=g).to(dtype) for _ in range(2))
        use_tf32(device, False)  # plain fp32 on a GPU too
        sec = timed(partial(torch.matmul, a, b), device, args.repeats * 3)
        use_tf32(device, True)
        rows.append({"row": f"matmul {n}^3 {str(dtype)[6:]}", "seconds": sec, "gflops": 2 * n**3 / sec / 1e9})
    return rows


def csdi_batch(device, b=B):
    """A PhysioNet-shaped batch: values (b, K, L) and a Condition with about 80% missing, 10% of the rest hidden."""
    g = torch.Generator().manual_seed(0)
    x0 = torch.randn(b, K, L, generator=g)
    observed = torch.rand(b, K, L, generator=g) < 0.2
    cond_mask = observed & (torch.rand(b, K, L, generator=g) > 0.1)
    cond = Condition(observed=x0 * cond_mask, obs_mask=cond_mask, target_mask=observed & ~cond_mask)
    return x0.to(device), cond.to(device)


def time_training(model, loss_with, device, amp: bool, mode: str | None, repeats: int) -> tuple[float, int]:
    """(median seconds per AdamW step of ``loss_with(module)``, FLOPs of forward + backward on the eager module)."""
    net = compile_model(model, mode)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step():
        with autocast(device, amp):
            loss = loss_with(net)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    sec = timed(step, device, repeats, warmup=3 if mode else 2)
    return sec, flops_of(lambda: loss_with(model).backward())


def training_variants(device, args) -> list[tuple[str, bool | str, str | None]]:
    """(label, bf16 autocast, torch.compile mode) of each variant timed, filtered by ``--variants``."""
    if device.type == "cuda":
        variants = [("fp32", False, None), ("bf16", True, None), ("bf16+compile", True, "default")]
    else:
        variants = [("fp32", False, None)] + ([("fp32+compile", False, "default")] if args.compile else [])
        if args.bf16:  # CPU bf16 autocast (pays with AMX: tsdiff.accel.autocast)
            variants += [("bf16", "bf16", None)] + ([("bf16+compile", "bf16", "default")] if args.compile else [])
    wanted = args.variants.split(",") if args.variants else None
    return [v for v in variants if wanted is None or v[0] in wanted]


def _loss(module, x0, schedule, cond, generator):
    return denoising_loss(module, x0, schedule, cond, generator=generator)


def n_params(model) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def csdi_train(device, args, matmul_gflops=None) -> list[dict]:
    schedule = get_schedule("quadratic", 50, beta_start=1e-4, beta_end=0.5)
    x0, cond = csdi_batch(device)
    g = torch.Generator(device=device)
    rows = []
    # the reference configuration (against PyPOTS's), and the one-hour recipe's model (no dropout)
    for name, preset, options in [("csdi", "reference", {}), ("csdi-small", "small", {"interpolated_input": True})]:
        for label, amp, mode in training_variants(device, args):
            torch.manual_seed(0)
            model = CSDIDenoiser.preset(preset, K, **options).to(device).train()
            g.manual_seed(0)
            loss_with = partial(_loss, x0=x0, schedule=schedule, cond=cond, generator=g)
            sec, flops = time_training(model, loss_with, device, amp, mode, args.repeats)
            extra = {"steps_per_s": 1 / sec, "params_M": n_params(model)}
            rows.append(rate_row(f"tsdiff {name} train {label}", sec, flops, device, amp, matmul_gflops, extra))
    return rows


def csdi_impute(device, args, matmul_gflops=None, steps=50, samplers=("ddpm",), n_samples=None) -> list[dict]:
    n_samples = n_samples or args.samples
    torch.manual_seed(0)
    model = CSDIDenoiser.preset("reference", K).to(device).eval()
    schedule = get_schedule("quadratic", 50, beta_start=1e-4, beta_end=0.5)
    items, n = args.items, args.items * n_samples
    x0, cond = csdi_batch(device, b=items)
    with torch.no_grad():
        x_t, t = torch.randn(n, K, L, device=device), torch.full((n,), 10.0, device=device)
        call_flops = flops_of(partial(model, x_t, t, cond.repeat_interleave(n_samples)))
    rows = []
    variants = training_variants(device, args)
    if device.type == "cpu" and ("fp32", False, None) in variants:
        variants.insert(1, ("fp32 without fused elementwise kernels", False, "unfused"))
    for sampler in samplers:
        for label, amp, mode in variants:
            g = torch.Generator(device=device).manual_seed(0)
            net = compile_model(model, None if mode == "unfused" else mode)
            run = partial(_impute, net, schedule, sampler, steps, cond, g, n_samples, device, amp)
            with mock.patch.object(cpu_fused, "applies", lambda x: False) if mode == "unfused" else nullcontext():
                sec = timed(run, device, max(1, args.repeats // 2), warmup=1)
            extra = {"items": items, "samples": n_samples, "samples_per_s": n / sec}
            count = "" if n_samples == 100 else f" {n_samples} samples"
            name = f"tsdiff csdi impute {sampler} {steps} steps{count} {label}"
            calls = 2 * steps - 1 if sampler == "heun" else steps  # Heun: two calls per step but the last
            rows.append(rate_row(name, sec, call_flops * calls, device, amp, matmul_gflops, extra))
    return rows


@torch.no_grad()
def _impute(model, schedule, sampler, steps, cond, generator, n_samples, device, amp):
    """Every item's ``n_samples`` draws, in calls of ``accel.rows_per_call`` rows as ``DiffusionImputer`` makes."""
    rows = rows_per_call(device)
    per_call = min(n_samples, rows)
    items = max(1, rows // per_call)
    with autocast(device, amp):
        for i in range(0, cond.batch_size, items):
            part = cond.index(slice(i, i + items))
            for j in range(0, n_samples, per_call):
                shape = (part.batch_size, K, L)
                s = min(per_call, n_samples - j)
                sample(model, shape, schedule, sampler, steps, condition=part, generator=generator, n_samples=s)


def attention(device, args, matmul_gflops=None) -> list[dict]:
    """One attention of the reference CSDI at the CPU sampling batch (8 rows): SDPA on the (N, H, S, D) views that
    the model used before, and the fused small-head kernel on the qkv projection as the model now passes it."""
    if device.type != "cpu" or not cpu_kernels.available():
        return []
    rows, heads, c = rows_per_call(device), 8, 64
    shapes = {"time (S = L = 48)": (rows * K, L, 1), "features (S = K = 35)": (rows, K, L)}
    out = []
    for what, (a, s, b) in shapes.items():
        qkv = torch.randn(a, s, b, 3 * c, generator=torch.Generator().manual_seed(0))
        q, k, v = qkv.view(a, s, b, 3, heads, c // heads).permute(3, 0, 2, 4, 1, 5).reshape(3, a * b, heads, s, -1)
        flops = 4 * a * b * s * s * c
        with torch.no_grad():
            sdpa = timed(partial(torch.nn.functional.scaled_dot_product_attention, q, k, v), device, args.repeats * 10)
            fused = timed(partial(cpu_attention.small_head_attention, qkv, heads), device, args.repeats * 10)
            # scores 100 x larger: most softmax weights underflow (subnormal arithmetic, if any, shows here)
            sharp = timed(partial(cpu_attention.small_head_attention, 10 * qkv, heads), device, args.repeats * 10)
        for name, sec in (("sdpa", sdpa), ("fused kernel", fused), ("fused kernel, sharp scores (qkv x 10)", sharp)):
            out.append(rate_row(f"attention over {what}, {a * b} sequences, {name}", sec, flops, device, False))
    return out


def dropout(device, args, matmul_gflops=None) -> list[dict]:
    """Dropout of a reference training step's time-attention weights (B K, H, L, L) = (560, 8, 48, 48), p = 0.1."""
    if device.type != "cpu" or not cpu_kernels.available():
        return []
    x = torch.rand(B * K, 8, L, L, generator=torch.Generator().manual_seed(0))
    p = 0.1
    ways = {
        "torch F.dropout": partial(torch.nn.functional.dropout, x, p, True),
        "torch uniform, compare, masked copy": lambda: torch.where(torch.rand_like(x) >= p, x, 0.0).mul_(1 / (1 - p)),
        "tsdiff counter-based kernel": partial(cpu_dropout.dropout, x, p),
        "copy (floor)": x.clone,
    }
    n = x.numel()
    return [
        {"row": f"dropout {n / 1e6:.1f} M fp32, {name}", "seconds": timed(fn, device, args.repeats * 2)}
        for name, fn in ways.items()
    ]


def profile(device, args, matmul_gflops=None) -> list[dict]:
    """Print the costliest operators of one CSDI denoiser call at the imputation batch (items x samples), bf16."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    torch.manual_seed(0)
    model = CSDIDenoiser.preset("reference", K).to(device).eval()
    n = args.items * args.samples
    _, cond = csdi_batch(device, b=args.items)
    call = partial(model, torch.randn(n, K, L, device=device), torch.full((n,), 10.0, device=device),
                   cond.repeat_interleave(args.samples))  # fmt: skip
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with torch.no_grad(), autocast(device, True):
        call()
        sync(device)
        with torch_profile(activities=activities) as prof:
            call()
            sync(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    print(prof.key_averages().table(sort_by=key, row_limit=18, max_name_column_width=60), file=sys.stderr)
    return []


def pypots(device, args, matmul_gflops=None) -> list[dict]:
    try:
        from pypots.imputation.csdi.core import _CSDI
    except ImportError as e:
        print(f"pypots is not importable ({e}): its rows are skipped (pip install pypots)", file=sys.stderr)
        return []
    torch.manual_seed(0)
    # the reference configuration, as tsdiff's "reference" preset and the benchmark's CSDI peer
    model = _CSDI(n_features=K, is_unconditional=False, **PEERS["csdi"]).to(device)
    x0, cond = csdi_batch(device)
    tp = torch.arange(L, device=device, dtype=torch.float32)
    inputs = {"X_ori": x0, "indicating_mask": cond.target_mask.float(), "cond_mask": cond.obs_mask.float(),
              "observed_tp": tp.expand(B, L)}  # fmt: skip
    model.train()
    sec, flops = time_training(model, partial(_pypots_loss, inputs=inputs), device, False, None, args.repeats)
    rows = [rate_row("pypots csdi train fp32", sec, flops, device, False, matmul_gflops, {"steps_per_s": 1 / sec})]
    model.eval()
    x_i, cond_i = csdi_batch(device, b=args.items)
    imp = {"X": x_i * cond_i.obs_mask, "cond_mask": cond_i.obs_mask.float(), "observed_tp": tp.expand(args.items, L)}
    run = partial(_pypots_impute, model, imp, args.samples)
    sec = timed(run, device, 1, warmup=1 if device.type == "cuda" else 0)
    n = args.items * args.samples
    rows.append({"row": "pypots csdi impute ddpm 50 steps fp32", "seconds": sec, "samples_per_s": n / sec})
    return rows


def _pypots_loss(module, inputs):
    return module(inputs, calc_criterion=True)["loss"]


@torch.no_grad()
def _pypots_impute(model, inputs, n_samples):
    return model(inputs, n_sampling_times=n_samples)["imputation"]


def dit_train(device, args, matmul_gflops=None) -> list[dict]:
    batch = args.dit_batch or (4 if device.type == "cpu" else 64)
    g = torch.Generator(device=device).manual_seed(0)
    x0 = torch.randn(batch, 10, 32, 64, device=device, generator=g)  # 10 variables on a 32 x 64 grid
    cond = Condition(side=torch.randn(batch, 40, 32, 64, device=device, generator=g),
                     scalars=torch.rand(batch, 4, device=device, generator=g))  # fmt: skip
    schedule = get_schedule("edm", 1000)
    rows = []
    sizes = args.dit_sizes.split(",") if args.dit_sizes else ["S/2"] if device.type == "cpu" else ["S/2", "B/2"]
    for name in sizes:
        size, _, patch = name.partition("/")
        for label, amp, mode in training_variants(device, args):
            torch.manual_seed(0)
            config = DiTConfig(in_channels=10, cond_channels=40, patch=int(patch), n_scalars=4, periodic_lon=True,
                               **DIT_PRESETS[size])  # fmt: skip
            model = DiTDenoiser(config).to(device).train()
            g.manual_seed(0)
            loss_with = partial(_loss, x0=x0, schedule=schedule, cond=cond, generator=g)
            sec, flops = time_training(model, loss_with, device, amp, mode, args.repeats)
            extra = {"steps_per_s": 1 / sec, "samples_per_s": batch / sec, "params_M": n_params(model)}
            row = f"dit {name} train {label} (batch {batch})"
            rows.append(rate_row(row, sec, flops, device, amp, matmul_gflops, extra))
    return rows


def ensemble(device, args, matmul_gflops=None) -> list[dict]:
    import pandas as pd
    import xarray as xr

    from tsdiff import EnsembleForecaster

    times = pd.date_range("2020-01-01", periods=96, freq="1h")
    rng = np.random.default_rng(0)
    lat, lon = np.linspace(-87.2, 87.2, 32), np.arange(64) * 5.625
    base = np.sin(np.arange(96) / 24 * 2 * np.pi)[:, None, None] + rng.normal(size=(96, 32, 64)) * 0.1
    ds = xr.Dataset(
        {f"v{i}": (("time", "latitude", "longitude"), (base * (i + 1) + i).astype(np.float32)) for i in range(10)},
        coords={"time": times, "latitude": lat, "longitude": lon},
    )
    rows = []
    for label, amp, mode in [("fp32", False, None), ("bf16", True, None), ("bf16+compile", True, "default")]:
        if device.type == "cpu" and (amp or mode):
            continue
        f = EnsembleForecaster(
            epochs=0.05, sample_steps=20, progress=False, device=str(device), amp=amp, compile=mode
        ).fit(ds)
        run = partial(f.predict, ds, init_times=[times[-1]], lead_times=["1h"], members=50)
        sec = timed(run, device, args.repeats, warmup=2)
        rows.append(
            {"row": f"ensemble 50 members 64x32x10 heun 20 steps {label}", "seconds": sec, "members_per_s": 50 / sec}
        )
    return rows


def epoch(device, args, matmul_gflops=None) -> list[dict]:
    from tsdiff import DiffusionImputer

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2798, L, K)).astype(np.float32)
    x[rng.random(x.shape) < 0.8] = np.nan
    rows = []
    for label, mode in [("eager", None), ("compile", "default")]:
        if device.type == "cpu" and mode:
            continue
        start = time.perf_counter()
        imputer = DiffusionImputer(epochs=1, progress=False, device=str(device), compile=mode).fit(x)
        total = time.perf_counter() - start
        rows.append(
            {
                "row": f"physionet epoch (2,798 windows, batch 16) bf16 {label}",
                "seconds": total,
                "train_loop_s": imputer.train_result_.seconds,
                "steps": imputer.train_result_.steps,
            }
        )
    return rows


ROWS = {
    "matmul": matmul,
    "csdi": csdi_train,
    "impute": csdi_impute,
    "pypots": pypots,
    "samplers": None,
    "equal_crps": None,
    "dit": dit_train,
    "profile": profile,
    "attention": attention,
    "dropout": dropout,
    "ensemble": ensemble,
    "epoch": epoch,
}


def run_row(name: str, device_name: str, args) -> tuple[list[dict], float]:
    """One row group; returns its rows and the peak memory in MiB."""
    device = torch.device(device_name)
    use_tf32(device, True)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    if name == "samplers":
        rows = []
        for sampler in ("ddpm", "ddim", "dpmpp_2m", "heun", "euler_maruyama"):
            rows += csdi_impute(device, args, args.matmul_gflops, steps=20, samplers=(sampler,))
    elif name == "equal_crps":  # the cheapest setting that matched 50 DDPM steps x 100 samples' CRPS (README)
        rows = csdi_impute(device, args, args.matmul_gflops, steps=10, samplers=("ddim",), n_samples=50)
    else:
        rows = ROWS[name](device, args, args.matmul_gflops)
    if device.type == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak = peak_rss_mib()
    return rows, peak


def _child(name, device_name, args, queue):
    queue.put(run_row(name, device_name, args))


def isolated(name, device_name, args):
    """Run a row group in a fresh process, so that its peak resident memory is its own (CPU)."""
    if device_name != "cpu":
        return run_row(name, device_name, args)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, device_name, args, queue))
    proc.start()
    while True:
        try:
            result = queue.get(timeout=5)
            break
        except queue_module.Empty:
            if not proc.is_alive():
                raise RuntimeError(f"perf row {name!r} failed in its process (exit code {proc.exitcode})") from None
    proc.join()
    return result


def fmt(v, digits=3):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    groups = "matmul,attention,dropout,csdi,impute,equal_crps,pypots,samplers,dit,ensemble,epoch"
    p.add_argument("--only", default=groups)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--items", type=int, default=None, help="items imputed (default 1 on CPU, 16 on GPU)")
    p.add_argument("--samples", type=int, default=100)
    p.add_argument("--dit-batch", type=int, default=None)
    p.add_argument("--compile", action="store_true", help="also time torch.compile on a CPU")
    p.add_argument("--bf16", action="store_true", help='also time bf16 autocast on a CPU (amp="bf16")')
    p.add_argument("--dit-sizes", default=None, help="DiT presets timed (default S/2 on a CPU, S/2,B/2 on a GPU)")
    p.add_argument("--variants", default=None, help="only these variants, e.g. bf16+compile")
    p.add_argument("--out", default=None, help="markdown file (default benchmarks/results/perf_<device>.md)")
    args = p.parse_args()
    device = torch.device(args.device)
    args.items = args.items or (1 if device.type == "cpu" else 16)
    wanted = [w for w in args.only.split(",") if w]
    unknown = sorted(set(wanted) - set(ROWS))
    if unknown:
        p.error(f"unknown rows {unknown}; choose from {sorted(ROWS)}")
    if device.type == "cpu" and "ensemble" in wanted:
        wanted.remove("ensemble")  # a 50-member 64 x 32 DiT ensemble is a GPU row
    if device.type == "cpu" and "epoch" in wanted:
        wanted.remove("epoch")  # about 500 s per epoch on 2 cores: see benchmarks/imputation.py
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:  # whether amp="bf16" can pay here (accel.native_bf16: AVX512-BF16 or AMX)
        bf16 = "bf16 products in hardware" if native_bf16(device) else "bf16 products emulated"
        name = f"CPU, {torch.get_num_threads()} threads, {bf16}"
    print(f"# tsdiff performance on {name} (torch {torch.__version__})\n", flush=True)

    args.matmul_gflops = None
    results = []
    if "matmul" in wanted:
        rows, peak = isolated("matmul", args.device, args)
        fp32 = [r for r in rows if r["row"].endswith("float32")]
        args.matmul_gflops = fp32[0]["gflops"] if fp32 else None
        results += [(r, peak) for r in rows]
    for group in wanted:
        if group == "matmul":
            continue
        start = time.perf_counter()
        rows, peak = isolated(group, args.device, args)
        results += [(r, peak) for r in rows]
        print(f"{group}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
        for r in rows:  # as they come, in case the run is cut short
            print("  " + ", ".join(f"{k} {fmt(v)}" for k, v in r.items()), file=sys.stderr, flush=True)

    cols = [
        "seconds",
        "steps_per_s",
        "samples_per_s",
        "members_per_s",
        "gflop_per_run",
        "gflops",
        "of_matmul",
        "mfu",
        "params_M",
        "train_loop_s",
    ]
    used = [c for c in cols if any(c in r for r, _ in results)]
    lines = [
        f"tsdiff performance on {name}, torch {torch.__version__}; `python benchmarks/perf.py "
        f"{' '.join(sys.argv[1:])}`",
        "",
        "| row | " + " | ".join(used) + " | peak MiB |",
        "|---" * (len(used) + 2) + "|",
    ]
    for r, peak in results:
        lines.append(f"| {r['row']} | " + " | ".join(fmt(r.get(c)) for c in used) + f" | {peak:,.0f} |")
    ratios = speedups(results, args.samples)
    lines += [""] + ratios
    table = "\n".join(lines)
    print(table)
    out = Path(args.out or Path(__file__).parent / "results" / f"perf_{device.type}.md")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(table + "\n")
    print(f"\nwritten to {out}")


def speedups(results, samples: int = 100) -> list[str]:
    """Speed-up lines against PyPOTS; only at the reference's 100 samples, which the row names assume."""
    if samples != 100:
        return []
    by = {r["row"]: r for r, _ in results}
    lines = []
    for ours, theirs, what in [
        ("tsdiff csdi train fp32", "pypots csdi train fp32", "CSDI training step, fp32"),
        ("tsdiff csdi train bf16", "pypots csdi train fp32", "CSDI training step, tsdiff bf16 vs PyPOTS fp32"),
        (
            "tsdiff csdi impute ddpm 50 steps fp32",
            "pypots csdi impute ddpm 50 steps fp32",
            "imputation, 100 samples, 50 DDPM steps, fp32",
        ),
        (
            "tsdiff csdi impute ddpm 50 steps bf16",
            "pypots csdi impute ddpm 50 steps fp32",
            "imputation, 100 samples, 50 DDPM steps, tsdiff bf16 vs PyPOTS fp32",
        ),
        (
            "tsdiff csdi impute ddpm 50 steps fp32+compile",
            "pypots csdi impute ddpm 50 steps fp32",
            "imputation, 100 samples, 50 DDPM steps, tsdiff fp32+compile vs PyPOTS fp32",
        ),
        (
            "tsdiff csdi impute ddpm 50 steps bf16+compile",
            "pypots csdi impute ddpm 50 steps fp32",
            "imputation, 100 samples, 50 DDPM steps, tsdiff bf16+compile vs PyPOTS fp32",
        ),
        (
            "tsdiff csdi impute ddim 10 steps 50 samples fp32",
            "pypots csdi impute ddpm 50 steps fp32",
            "imputation at equal PhysioNet CRPS (tsdiff DDIM 10 steps x 50 samples, PyPOTS DDPM 50 x 100), fp32",
        ),
        (
            "tsdiff csdi impute ddim 10 steps 50 samples bf16+compile",
            "pypots csdi impute ddpm 50 steps fp32",
            "imputation at equal PhysioNet CRPS, tsdiff bf16+compile vs PyPOTS fp32",
        ),
    ]:
        if ours in by and theirs in by:
            lines.append(f"- {what}: tsdiff {by[theirs]['seconds'] / by[ours]['seconds']:.1f}x faster than PyPOTS")
    return lines


if __name__ == "__main__":
    main()
