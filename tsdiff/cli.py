"""The ``tsdiff`` command line: ``demo``, ``impute``, ``forecast``, ``forecast-grid``."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# defaults sized for a 2-core CPU: a table of ~5,000 rows x 10 columns trains and imputes in a few minutes
IMPUTE_DEFAULTS = dict(
    seq_len=48,
    preset="small",
    epochs=120,
    batch_size=16,
    lr=2e-3,
    lr_decay="cosine",
    warmup_steps=50,
    n_samples=20,
    sampler="ddim",
    sample_steps=10,
    model_options={"interpolated_input": True},  # linear interpolation as an input channel: faster to train
)


def _impute_table(df, args):
    """Fit (or load) an imputer on the table; return (median-filled, q05, q95, imputer, draws)."""
    from .tasks.impute import DiffusionImputer

    overrides = {
        k: v
        for k, v in (("n_samples", args.samples), ("sampler", args.sampler), ("sample_steps", args.steps))
        if v is not None
    }
    if _reused_model(args):
        imputer = DiffusionImputer.load(args.model, **overrides)
        if imputer.mask_strategy == "forecast":
            raise ValueError(f"--model {args.model} is a forecaster (it fills the last steps): use `tsdiff forecast`")
    else:
        params = {**IMPUTE_DEFAULTS, **overrides, "seed": args.seed, "calibration_fraction": args.calibrate}
        if args.epochs is not None:
            params["epochs"] = args.epochs
        imputer = DiffusionImputer(**params).fit(df)
        if imputer.spread_scale_ is not None:
            c = imputer.calibration_
            print(
                f"90% intervals calibrated on {c['targets']} held-out values: coverage there "
                f"{c['coverage_before']:.2f} -> {c['coverage_after']:.2f} (spread x {imputer.spread_scale_.min():.2f}"
                f"-{imputer.spread_scale_.max():.2f})"
            )
        if args.model:
            imputer.save(args.model)
            print(f"model saved to {args.model}")
    draws = _sample_in_bf16(imputer, args).sample(df)  # (S, T, K), reused for the bands and the scores
    bands = imputer.predict_quantiles(df, q=(0.05, 0.5, 0.95), draws=draws)
    return bands[0.5], bands[0.05], bands[0.95], imputer, draws


def _read_input(args):
    """The input table, and the part of it to model (``--columns``, default: all of it)."""
    from .io import read_table

    table = read_table(args.input, args.columns)
    return table, (table if args.columns is None else table[args.columns])


def _impute(args) -> int:
    import pandas as pd

    from .io import table_format, write_table

    table_format(Path(args.out))  # an output format it cannot write: said before training, not after
    _not_the_input(args.out, args.input)
    if args.plot:
        from .plotting import figure_path

        figure_path(args.plot)
    table, df = _read_input(args)
    start = time.perf_counter()
    filled, lo, hi, _, _ = _impute_table(df, args)
    out = table.copy()  # columns not modelled come through unchanged, in place
    out[list(df.columns)] = filled
    out = pd.concat([out, lo.add_suffix("_q05"), hi.add_suffix("_q95")], axis=1)
    path = write_table(out, args.out)
    n_gaps = int(df.isna().sum().sum())
    print(
        f"filled {n_gaps} gaps in {df.shape[0]} rows x {df.shape[1]} columns in {time.perf_counter() - start:.0f} s"
        f" -> {path}"
    )
    if args.plot:
        from .plotting import imputation_panels

        print(f"plot: {imputation_panels(df, filled, lo, hi, args.plot)}")
    return 0


def _forecast(args) -> int:
    from .io import netcdf_times
    from .tasks.forecast_series import fit_forecaster, forecast
    from .tasks.impute import DiffusionImputer

    out = Path(args.out)
    if out.suffix.lower() not in (".nc", ".csv"):  # said before training, not after
        raise ValueError(f"{out}: write forecasts to .nc (NetCDF) or .csv")
    if args.epochs is not None and args.train_steps is not None:
        raise ValueError("give the training budget as --train-steps or as --epochs, not both")
    _not_the_input(out, args.input)
    _, df = _read_input(args)
    start = time.perf_counter()
    overrides = {k: v for k, v in (("sampler", args.sampler), ("sample_steps", args.steps)) if v is not None}
    if _reused_model(args):
        model = DiffusionImputer.load(args.model, **overrides)
        if model.mask_strategy != "forecast":
            raise ValueError(
                f"--model {args.model} was trained to impute gaps (mask_strategy {model.mask_strategy!r}), not to "
                "forecast: train one with `tsdiff forecast --model NEW.pt`"
            )
    else:
        params = {**overrides, "seed": args.seed}  # over fit_forecaster's DEFAULTS
        if args.epochs is not None:
            params["epochs"] = args.epochs
        if args.train_steps is not None:
            params["max_steps"] = args.train_steps
        model = fit_forecaster(df, args.horizon, **params)
        if args.model:
            model.save(args.model)
    ds = forecast(_sample_in_bf16(model, args), df, args.horizon, args.members)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".nc":
        netcdf_times(ds).to_netcdf(out)
    elif out.suffix.lower() == ".csv":
        ds[[str(c) for c in df.columns]].to_dataframe().to_csv(out)
        quantiles = ds[[f"{c}_quantiles" for c in df.columns]].to_dataframe()
        quantiles.to_csv(out.with_name(out.stem + "_quantiles.csv"))
    print(
        f"{args.members} members x {args.horizon} steps for {df.shape[1]} variables in "
        f"{time.perf_counter() - start:.0f} s -> {out}"
    )
    return 0


def _forecast_grid(args) -> int:
    import pandas as pd

    from .data.grid import check_grid, grid_step, verifying_truth
    from .io import grid_format, open_grid, write_grid
    from .tasks.forecast import EnsembleForecaster, parse_lead_times

    grid_format(Path(args.out))  # checked before training, with the flags below
    _not_the_input(args.out, args.data)
    every = _flag(pd.Timedelta, "--every", args.every)
    if every <= pd.Timedelta(0):
        raise ValueError(f"--every must be a positive duration, got {args.every!r}")
    inits = None  # --init-times, read now; else every --every after training, once the data's times are known
    if args.init_times:
        inits = _flag(lambda text: pd.to_datetime(text.split(",")), "--init-times", args.init_times)
    ds = open_grid(args.data)
    data, _ = check_grid(ds, args.variables)
    step = grid_step(data)
    leads = parse_lead_times(args.lead_times, step)
    times = pd.DatetimeIndex(data["time"].values)
    train_until = _flag(pd.Timestamp, "--train-until", args.train_until)
    if not times[0] < train_until < times[-1]:
        raise ValueError(f"--train-until {train_until} must fall inside the data ({times[0]} .. {times[-1]})")
    start = time.perf_counter()
    options = {k: v for k, v in (("sampler", args.sampler), ("sample_steps", args.steps)) if v is not None}
    if _reused_model(args):
        model = EnsembleForecaster.load(args.model, **options)
    else:
        params = {**options, "seed": args.seed, "variables": args.variables}
        if args.epochs is not None:
            params["epochs"] = args.epochs
        model = EnsembleForecaster(**params).fit(data.sel(time=slice(None, train_until)))
        if args.model:
            model.save(args.model)
            print(f"model saved to {args.model}")
    if inits is None:  # every --every after the training period, as long as there is data to start from
        inits = times[(times > train_until) & ((times - times[0]) % every == pd.Timedelta(0))]
        if len(inits) == 0:
            raise ValueError(f"no init time after --train-until {train_until} on a {args.every} grid")
    ens = model.predict(data, inits, leads, members=args.members, seed=args.seed)
    path = write_grid(ens, args.out)
    print(
        f"{ens.sizes['member']} members x {len(inits)} inits x leads {args.lead_times} for "
        f"{len(ens.data_vars)} variables in {time.perf_counter() - start:.0f} s -> {path}"
    )
    truth = verifying_truth(ens, data)
    if truth.to_array().notnull().any():  # valid times inside the data: score and plot
        from .metrics import grid

        table = grid.score_table(ens, truth, method="tsdiff")
        print(table.drop(columns="method").to_string(index=False, float_format=lambda v: f"{v:.4g}"))  # pr ~ 1e-5
        if args.plots:
            from .plotting import grid_forecast_plots

            print(f"plots in {grid_forecast_plots({'tsdiff': (ens, truth)}, table, args.plots, list(ens.data_vars))}")
    return 0


def _read_config(path) -> dict:
    """The mapping of a YAML config, or an error that names the file (and, for bad YAML, the line)."""
    import yaml

    try:
        config = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(config, dict):
        raise ValueError(f"{path}: a config is a mapping of `key: value` lines, got {type(config).__name__}")
    return config


def _section(config: dict, key: str, where: str) -> dict:
    """A copy of ``config[key]`` (empty when absent), which must be a mapping."""
    value = config.get(key) or {}
    if not isinstance(value, dict):
        raise ValueError(f"{where}: `{key}` must be a mapping of `name: value` lines, got {value!r}")
    return dict(value)


def _config_root(config_path) -> Path:
    """Paths in configs are relative to the repository root: the parent of the configs/ folder."""
    return Path(config_path).resolve().parent.parent


def _required(mapping: dict, key: str, where: str):
    """mapping.pop(key), or an error that names the missing key."""
    if key not in mapping:
        raise ValueError(f"{where}: the key {key!r} is required (given: {sorted(mapping)})")
    return mapping.pop(key)


def _data_path(config_path, data: dict) -> Path:
    """The config's ``data: path:`` (popped), relative to the repository root."""
    path = _required(data, "path", f"{config_path}: data")
    if not isinstance(path, str):
        raise ValueError(f"{config_path}: data: path must be a file or folder name, got {path!r}")
    return (_config_root(config_path) / path).resolve()


def _flag(parse, flag: str, text: str):
    """``parse(text)``, or an error that names the flag and its value."""
    try:
        return parse(text)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{flag} {text!r} cannot be read: {err}") from err


def _reused_model(args) -> bool:
    """Whether ``--model`` names an existing file to reuse; ``--epochs`` (a training setting) with it is an error,
    since nothing would be trained."""
    reuse = bool(args.model) and Path(args.model).exists()
    if reuse and args.epochs is not None:
        raise ValueError(f"--epochs trains a new model, but --model {args.model} exists and is reused: drop one")
    return reuse


def _not_the_input(out, given) -> None:
    if Path(out).resolve() == Path(given).resolve():
        raise ValueError(f"--out {out} is the input file: write the result to another path")


def _train(args) -> int:
    """Fit the model a config describes on its dataset's training split and save it (scores: benchmarks/)."""
    config = _read_config(args.config)
    known = {"task", "data", "model", "out"}
    if not {"task", "data"} <= set(config) or set(config) - known:
        raise ValueError(f"{args.config}: a training config is a mapping with keys task, data[, model, out]")
    task, data, params = config["task"], _section(config, "data", args.config), _section(config, "model", args.config)
    out = Path(args.out or config.get("out") or f"outputs/{Path(args.config).stem}.pt")
    path = _data_path(args.config, data)
    start = time.perf_counter()
    if task == "imputation":
        from .tasks.impute import DiffusionImputer

        dataset = _required(data, "dataset", f"{args.config}: data")
        fit = {}
        if dataset == "physionet2012":
            from .data.physionet import load_physionet2012

            splits = load_physionet2012(path, **data)
            train = splits.values[splits.train]
        elif dataset == "aqi36":
            from .data.aqi36 import load_aqi36

            d = load_aqi36(path, **data)
            train, fit["mask_patterns"] = d.train, d.hist_patterns
        else:
            raise ValueError(f"{args.config}: unknown imputation dataset {dataset!r} (physionet2012, aqi36)")
        model = DiffusionImputer(**params).fit(train, **fit)
    elif task == "grid_forecast":
        import pandas as pd

        from .io import open_grid
        from .tasks.forecast import EnsembleForecaster

        ds = open_grid(path)
        until = pd.Timestamp(_required(data, "train_until", f"{args.config}: data"))
        if data:
            raise ValueError(f"{args.config}: unknown data keys {sorted(data)} for grid_forecast")
        model = EnsembleForecaster(**params).fit(ds.sel(time=slice(None, until)))
    else:
        raise ValueError(f"{args.config}: unknown task {task!r}; expected imputation or grid_forecast")
    model.save(out)
    print(f"trained {task} in {time.perf_counter() - start:.0f} s -> {out}")
    return 0


def _synthesize(args) -> int:
    config = _read_config(args.config)
    if "task" not in config:
        raise ValueError(f"{args.config}: a synthesis config is a mapping with a `task` key")
    task = config.pop("task")
    if task == "digits":
        return _synthesize_digits(config, args)
    if task == "windows":
        return _synthesize_windows(config, args)
    raise ValueError(f"{args.config}: unknown synthesis task {task!r}; expected 'windows' or 'digits'")


def _synthesize_windows(config: dict, args) -> int:
    """Fit a Synthesizer on the windows of a table, on ECG beats or on ECG rhythm strips (or load one) and write
    ``n`` synthetic windows (with their class labels for beats) and plots."""
    import numpy as np
    import pandas as pd

    from .data.adapters import windows_of
    from .metrics.synthesis import correlational_score, marginal_distances
    from .plotting import synthesis_plots
    from .tasks.synthesize import Synthesizer

    if Path(args.out).suffix != ".npy":  # an output format it cannot write: said before training, not after
        from .io import table_format

        table_format(Path(args.out))
    unknown = set(config) - {"data", "model", "n"}
    if unknown or "data" not in config:
        raise ValueError(f"{args.config}: a windows config has keys data, model[, n]; unknown: {sorted(unknown)}")
    data = _section(config, "data", args.config)
    path = _data_path(args.config, data)
    dataset, labels, params = data.pop("dataset", "table"), None, {}
    n_config = config.get("n")
    if n_config is not None and (not isinstance(n_config, int) or n_config < 1):
        raise ValueError(f"{args.config}: n must be a positive integer, got {n_config!r}")
    if dataset == "ecg_beats":
        from .data.ecg import load_beats

        beats = load_beats(path, **data)
        fit_input, labels, names = beats.beats, beats.labels, beats.leads
        params["seq_len"] = beats.beats.shape[1]
    elif dataset == "ecg_strips":
        from .data.ecg import ecg_windows

        fit_input, names = ecg_windows(path, **data)  # (N, seconds * rate, K) rhythm strips
        params["seq_len"] = fit_input.shape[1]
    elif dataset in ("stocks", "table"):
        if dataset == "stocks":
            from .data.stocks import load_stocks

            table = load_stocks(path, **data)
        else:
            from .io import read_table

            table = read_table(path)
            columns = data.pop("columns", None)
            if data:
                raise ValueError(f"{args.config}: unknown data keys {sorted(data)} for a table (path, columns)")
            if columns is not None and not isinstance(columns, list):
                raise ValueError(f"{args.config}: data: columns must be a list of names, got {columns!r}")
            if columns:
                absent = [c for c in columns if c not in table.columns]
                if absent:
                    raise ValueError(f"{args.config}: columns {absent} not in {path.name} ({list(table.columns)})")
                table = table[list(columns)]
        fit_input, names = table, [str(c) for c in table.columns]
    else:
        raise ValueError(f"{args.config}: unknown dataset {dataset!r}; expected stocks, ecg_beats, ecg_strips or table")
    if args.model:
        synth = Synthesizer.load(args.model)
        fitted = [str(c) for c in synth.columns_] if synth.columns_ else None
        if synth.n_features_in_ != len(names) or (fitted is not None and fitted != names):
            raise ValueError(
                f"{args.model} was fitted on {synth.n_features_in_} features {fitted or ''}; "
                f"the config's data has {len(names)}: {names}"
            )
        if dataset.startswith("ecg_") and synth.seq_len_ != params["seq_len"]:
            raise ValueError(
                f"{args.model} makes windows of {synth.seq_len_} steps; the config's ECG windows have "
                f"{params['seq_len']}"
            )
    else:
        params.update(_section(config, "model", args.config))
        if args.seed is not None:
            params["seed"] = args.seed
        synth = Synthesizer(**params)
        start = time.perf_counter()
        synth.fit(fit_input, labels=labels)
        what = "rows of a table" if isinstance(fit_input, pd.DataFrame) else "windows"
        print(f"trained on {len(fit_input)} {what} in {time.perf_counter() - start:.0f} s")
        if args.save:
            print(f"model -> {synth.save(args.save)}")
    is_table = isinstance(fit_input, pd.DataFrame)
    real = windows_of(fit_input.to_numpy(np.float64), synth.seq_len_, synth.stride) if is_table else fit_input
    n = args.n or n_config or len(real)
    wanted = None
    if synth.classes_ is not None:  # classes in the training proportions
        source = labels if labels is not None else np.asarray(synth.classes_)
        wanted = np.random.default_rng(args.seed).choice(source, size=n)
    fake = synth.sample(n, labels=wanted, seed=args.seed)
    values = np.asarray(fake, dtype=np.float64).reshape(n, synth.seq_len_, -1)  # (n, L, K)
    if dataset == "ecg_strips" and data.get("phase"):  # the cardiac phase was learnt beside the leads: drop it
        from .data.ecg import PHASE_CHANNELS

        leads = [i for i, name in enumerate(names) if name not in PHASE_CHANNELS]
        values, real, names = values[..., leads], real[..., leads], [names[i] for i in leads]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        np.save(out, values)
        if wanted is not None:
            np.save(out.with_name(f"{out.stem}_labels.npy"), wanted)
    else:
        from .io import write_table

        index = pd.MultiIndex.from_product([range(n), range(values.shape[1])], names=["sample", "step"])
        frame = pd.DataFrame(values.reshape(-1, values.shape[2]), index=index, columns=names)
        if wanted is not None:
            frame["label"] = np.repeat(wanted, values.shape[1])
        write_table(frame, out)
    complete = real[~np.isnan(real).any(axis=(1, 2))]  # plots and quick scores compare gap-free real windows
    print(f"{n} windows of {values.shape[1]} x {values.shape[2]} -> {out}")
    if len(complete) < 2:
        print("fewer than two real windows without gaps: no plots or scores against the real data")
        return 0
    plots = synthesis_plots(complete, values, args.plots or out.parent / f"{out.stem}_plots", names)
    low, span = complete.min((0, 1)), np.ptp(complete, axis=(0, 1))
    scaled = [(x - low) / np.where(span > 0, span, 1.0) for x in (complete, values)]  # quick scores on [0, 1]
    w1 = marginal_distances(*scaled)["wasserstein"].mean()
    print(f"plots -> {plots}")
    print(
        f"correlational score {correlational_score(*scaled):.4f}, mean marginal W1 {w1:.4f} "
        f"against the {len(complete)} real windows without gaps (full suite: benchmarks/synthesis.py)"
    )
    return 0


def _synthesize_digits(config: dict, args) -> int:
    import torch

    from .examples.digits import (
        DigitsConfig,
        digit_classifier,
        guided_accuracy,
        load_images,
        sample_digits,
        train_digits,
    )
    from .plotting import image_grid

    cfg = DigitsConfig.from_dict(config)
    if cfg.data is not None:
        cfg.data = str(_config_root(args.config) / cfg.data)  # an absolute path stays as it is
    if args.seed is not None:
        cfg.seed = args.seed
    out = Path(args.out)
    size = tuple(load_images(cfg.dataset, "test", cfg.seed, cfg.data)[0].shape[-2:])  # (H, W); checks the data first
    start = time.perf_counter()
    model, schedule, _ = train_digits(cfg, progress=True)
    print(f"trained in {time.perf_counter() - start:.0f} s")
    clf, real_accuracy = digit_classifier(cfg.seed, cfg.dataset, cfg.data)
    print(f"classifier accuracy on held-out real digits: {real_accuracy:.3f}")
    n = args.n or cfg.per_class
    labels = torch.arange(10).repeat_interleave(n)
    for scale in sorted({*cfg.scales, cfg.default_scale}):
        images = sample_digits(model, schedule, labels, scale, cfg.sampler, cfg.sample_steps, cfg.seed, size)
        accuracy = guided_accuracy(clf, images, labels)
        grid = images.reshape(10, n, *size)[:, :: max(1, n // 8)]  # (classes, columns, H, W), class-major
        path = image_grid(grid, out / f"{cfg.dataset}_scale{scale:g}.png")
        default = " (default)" if scale == cfg.default_scale else ""
        print(f"guidance scale {scale:g}{default}: classifier labels {accuracy:.1%} as the class asked for -> {path}")
        torch.save(images, out / f"{cfg.dataset}_scale{scale:g}.pt")
    return 0


def _demo(args) -> int:
    if args.example == "samplers":
        return _demo_samplers(args)
    return _demo_imputation(args)


def _demo_imputation(args) -> int:
    """Simulated sensor network (no download): hide 10% of the observed readings, impute, score against
    linear interpolation and the mean, plot one sensor with its 90% band."""
    import numpy as np
    import torch

    from .baselines import linear_impute, mean_impute
    from .data.simulate import sensor_network
    from .metrics import crps_quantile, interval_coverage, mae
    from .plotting import imputation_panels

    truth, observed = sensor_network(n_hours=5000, n_sensors=10, seed=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    targets = observed.notna().to_numpy() & (rng.random(observed.shape) < 0.1)
    given = observed.mask(targets)
    print(
        f"tsdiff demo: imputing a simulated sensor network, {given.shape[0]} hours x {given.shape[1]} sensors, "
        f"{given.isna().to_numpy().mean():.0%} missing; scored on {int(targets.sum())} hidden readings"
    )
    start = time.perf_counter()
    filled, lo, hi, imputer, draws = _impute_table(given, args)
    seconds = time.perf_counter() - start
    y = torch.from_numpy(truth.to_numpy(copy=True))  # a writable copy (pandas may hand out a read-only view)
    m = torch.from_numpy(targets)
    train = given.to_numpy()[None]
    rows = [
        (
            "tsdiff (median of draws)",
            mae(torch.from_numpy(filled.to_numpy(copy=True)), y, m),
            crps_quantile(torch.from_numpy(draws), y, m),
            interval_coverage(torch.from_numpy(draws), y, m, 0.9),
        ),
        ("linear interpolation", mae(torch.from_numpy(linear_impute(train, train)[0]), y, m), None, None),
        ("feature mean", mae(torch.from_numpy(mean_impute(train, train)[0]), y, m), None, None),
    ]
    print(f"\ntrained and imputed in {seconds:.0f} s\n")
    print("| method | MAE | CRPS | 90% interval coverage |\n|---|---|---|---|")
    for name, a, c, cov in rows:
        print(f"| {name} | {a:.3f} | {'' if c is None else f'{c:.3f}'} | {'' if cov is None else f'{cov:.2f}'} |")
    path = imputation_panels(given, filled, lo, hi, Path(args.out) / "demo_imputation.png", truth=truth, hours=240)
    print(f"\nplot: {path}")
    return 0


def _demo_samplers(args) -> int:
    """Train the MLP denoiser on the 2-D mixture, sample with every sampler, print the table, save a plot."""
    import torch

    from .examples.mixture2d import compare_samplers, train_mixture_model
    from .plotting import scatter_panels

    torch.manual_seed(args.seed)
    print(f"tsdiff demo samplers: an MLP denoiser on a 2-D Gaussian mixture ({args.train_steps} steps)")
    start = time.perf_counter()
    model, mixture, schedule, result = train_mixture_model(steps=args.train_steps, seed=args.seed, progress=True)
    print(f"trained in {time.perf_counter() - start:.0f} s; final loss {sum(result.losses[-100:]) / 100:.3f}")
    rows = compare_samplers(model, mixture, schedule, n=args.n, seed=args.seed + 1)
    print(
        f"\nsliced Wasserstein-1 to fresh data (lower is better; two fresh data samples: {rows[0]['data_floor']:.4f})"
    )
    print("| sampler | steps | trained model | exact denoiser | model s / 1000 samples |\n|---|---|---|---|---|")
    for r in rows:
        per_k = r["model_seconds"] / args.n * 1000
        print(f"| {r['sampler']} | {r['steps']} | {r['model_swd']:.4f} | {r['exact_swd']:.4f} | {per_k:.3f} |")
    data, _ = mixture.sample(args.n, torch.Generator().manual_seed(args.seed))
    panels = {"data": data, **{r["sampler"]: r["model_samples"] for r in rows}}
    path = scatter_panels(panels, Path(args.out) / "demo_mixture.png", "trained MLP denoiser, each sampler", 4.5)
    print(f"\nplot: {path}")
    return 0


def _positive_int(text: str) -> int:
    """argparse type of the counts (samples, steps, members, horizon): a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _add_sampling_options(p, samples: bool = True, epochs: str = "training epochs (default 120)"):
    """Sampling and training flags; ``samples=False`` where the draws are counted otherwise (forecast: --members)."""
    if samples:
        p.add_argument("--samples", type=_positive_int, help="draws per gap (default 20)")
    p.add_argument("--sampler", choices=["ddpm", "ddim", "dpmpp_2m", "euler_maruyama", "heun", "pc"])
    p.add_argument("--steps", type=_positive_int, help="sampler steps (default 10)")
    p.add_argument("--epochs", type=float, help=epochs)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--bf16",
        action="store_true",
        help="sample with bf16 matrix products (amp='bf16'): faster on GPUs and on CPUs with AMX or AVX512-BF16 "
        "(Intel Sapphire Rapids, AMD Zen 4 and later), slower elsewhere (it warns); training stays as it was",
    )


def _sample_in_bf16(model, args):
    """``--bf16``: the model samples under bf16 autocast from here on (its training is done)."""
    if getattr(args, "bf16", False):
        model.set_params(amp="bf16")
    return model


def _add_calibration_option(p):
    p.add_argument(
        "--calibrate",
        type=float,
        default=0.05,
        help="share of the observed values held out of training to calibrate the 90%% intervals (conformal, "
        "DiffusionImputer.calibrate; default 0.05, 0: off)",
    )


def _add_columns_option(parser, what: str) -> None:
    parser.add_argument(
        "--columns",
        type=lambda text: [c.strip() for c in text.split(",") if c.strip()],
        help=f"comma-separated names of the columns to {what}",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tsdiff", description="Diffusion models for time series and grids.")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the main job on embedded data: impute a simulated sensor network")
    demo.add_argument("example", nargs="?", default="imputation", choices=["imputation", "samplers"])
    demo.add_argument("--out", default="outputs", help="folder for the plot")
    demo.add_argument("--model", help="save the trained imputer here (or reuse it if the file exists)")
    demo.add_argument("--train-steps", type=_positive_int, default=3000, help="samplers example: training steps")
    demo.add_argument("--n", type=_positive_int, default=4000, help="samplers example: samples per sampler")
    _add_sampling_options(demo)
    _add_calibration_option(demo)
    demo.set_defaults(run=_demo)

    imp = sub.add_parser("impute", help="fill the gaps of a table (CSV, Parquet or NetCDF) with a diffusion model")
    imp.add_argument("input", help="table with a time index and one column per variable; empty = missing")
    imp.add_argument("--out", required=True, help="output table (same format): filled columns + _q05 / _q95")
    imp.add_argument("--model", help="trained imputer to reuse; if the file does not exist, train and save there")
    imp.add_argument("--plot", help="write a PNG of the first columns with their 90%% bands")
    _add_columns_option(imp, "impute (default: all); the others are copied to the output unchanged")
    _add_sampling_options(imp)
    _add_calibration_option(imp)
    imp.set_defaults(run=_impute)

    fc = sub.add_parser("forecast", help="ensemble forecast of the steps after a table's last row")
    fc.add_argument("input", help="table with a regular time index and one column per variable")
    fc.add_argument("--horizon", type=_positive_int, required=True, help="steps to forecast")
    fc.add_argument("--members", type=_positive_int, default=50, help="ensemble members")
    fc.add_argument("--out", required=True, help=".nc (members + quantiles) or .csv (+ _quantiles.csv)")
    fc.add_argument("--model", help="trained forecaster to reuse; if the file does not exist, train and save there")
    _add_columns_option(fc, "model and forecast (default: all)")
    fc.add_argument("--train-steps", type=_positive_int, help="training steps (default 3000)")
    _add_sampling_options(  # the ensemble's draws are its --members
        fc, samples=False, epochs="training epochs over windows at every row, instead of --train-steps"
    )
    fc.set_defaults(run=_forecast)

    grid = sub.add_parser("forecast-grid", help="ensemble forecasts of gridded fields (NetCDF / zarr) with a DiT")
    grid.add_argument("data", help="a NetCDF file, a folder of NetCDF files or a .zarr store (time, lat, lon)")
    grid.add_argument("--train-until", required=True, help="last time stamp used for training")
    grid.add_argument("--lead-times", default="1h,3h,6h", help="comma-separated multiples of the time step")
    grid.add_argument("--members", type=_positive_int, default=50)
    grid.add_argument("--out", required=True, help="ensemble file: .nc or .zarr")
    grid.add_argument("--init-times", help="comma-separated init times (default: every --every after training)")
    grid.add_argument("--every", default="6h", help="spacing of the default init times")
    grid.add_argument("--variables", nargs="+", help="variables to model (default: all)")
    grid.add_argument("--model", help="trained forecaster to reuse; if the file does not exist, train and save there")
    grid.add_argument("--plots", help="folder for maps, rank histograms, CRPS and spread-skill against lead time")
    grid.add_argument("--sampler", choices=["ddpm", "ddim", "dpmpp_2m", "euler_maruyama", "heun", "pc"])
    grid.add_argument("--steps", type=_positive_int, help="sampler steps per forecast step")
    grid.add_argument("--epochs", type=float, help="training epochs")
    grid.add_argument("--seed", type=int, default=0)
    grid.set_defaults(run=_forecast_grid)

    tr = sub.add_parser("train", help="train the model of a config (configs/*.yaml) and save it")
    tr.add_argument("--config", required=True, help="configs/<name>.yaml with task, data, model[, out]")
    tr.add_argument("--out", help="checkpoint path (default: the config's `out`, else outputs/<name>.pt)")
    tr.set_defaults(run=_train)

    syn = sub.add_parser("synthesize", help="train a generator from a config and write samples and plots")
    syn.add_argument("--config", required=True, help="configs/<name>.yaml (task: windows or digits)")
    syn.add_argument(
        "--out", default="outputs/synthesize", help="windows: .npy, .csv, .parquet or .nc file; digits: a folder"
    )
    syn.add_argument(
        "--n", type=_positive_int, help="windows to generate (default: as many as the data has); digits: per class"
    )
    syn.add_argument("--model", help="windows: a saved Synthesizer to sample from instead of training")
    syn.add_argument("--save", help="windows: save the trained Synthesizer here")
    syn.add_argument("--plots", help="windows: folder for the plots (default: next to --out)")
    syn.add_argument("--seed", type=int)
    syn.set_defaults(run=_synthesize)

    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (ValueError, TypeError, OSError, ImportError, RuntimeError) as err:  # OSError: files, folders, rights
        print(f"tsdiff {args.command}: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
