"""Figures shared by the CLI and the benchmarks (matplotlib, written to files; no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402


def scatter_panels(panels: dict, path: str | Path, title: str = "", limit: float | None = None) -> Path:
    """One scatter plot per named (N, 2) sample in a row of panels."""
    n = len(panels)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.8), squeeze=False)
    for ax, (name, pts) in zip(axes[0], panels.items()):
        pts = pts.detach().cpu().float().numpy()
        ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.4)
        ax.set_title(name, fontsize=9)
        ax.set_aspect("equal")
        if limit:
            ax.set_xlim(-limit, limit)
            ax.set_ylim(-limit, limit)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def error_curves(
    curves: dict,
    path: str | Path,
    xlabel: str,
    ylabel: str,
    title: str = "",
    floor: float | None = None,
    log: bool = True,
    floor_label: str = "sampling noise floor",
) -> Path:
    """Lines, one per name: curves[name] = (xs, ys); log-log unless ``log`` is False."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name, (xs, ys) in curves.items():
        ax.plot(xs, ys, marker="o", ms=3, label=name)
    if floor is not None:
        ax.axhline(floor, color="gray", ls="--", lw=1, label=floor_label)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def imputation_panels(
    given, filled, lo, hi, path: str | Path, truth=None, hours: int | None = None, max_columns: int = 4
) -> Path:
    """One panel per column (the first ``max_columns``): observed points, the median imputation, its 5-95% band
    and, when given, the true values of the gaps. DataFrames share an index; ``hours`` keeps the first rows."""
    cols = list(given.columns)[:max_columns]
    for name, frame in (("filled", filled), ("lo", lo), ("hi", hi), ("truth", truth)):
        absent = [] if frame is None else [c for c in cols if c not in frame.columns]
        if absent:
            raise ValueError(f"imputation_panels: {name} lacks the columns {absent} of the given table")
    rows = slice(0, hours)
    fig, axes = plt.subplots(len(cols), 1, figsize=(9, 1.9 * len(cols)), sharex=True, squeeze=False)
    for ax, col in zip(axes[:, 0], cols):
        x = given.index[rows]
        ax.fill_between(
            x, lo[col].iloc[rows], hi[col].iloc[rows], color="tab:orange", alpha=0.3, lw=0, label="90% band"
        )
        ax.plot(x, filled[col].iloc[rows], color="tab:orange", lw=1, label="imputed (median)")
        if truth is not None:
            gaps = given[col].iloc[rows].isna()
            ax.plot(x[gaps], truth[col].iloc[rows][gaps], "k.", ms=2, label="true value of a gap")
        ax.plot(x, given[col].iloc[rows], ".", color="tab:blue", ms=2, label="observed")
        ax.set_ylabel(str(col), fontsize=8)
    if isinstance(x, pd.DatetimeIndex):  # concise dates: long labels overlapped
        locator = mdates.AutoDateLocator()
        axes[-1, 0].xaxis.set_major_locator(locator)
        axes[-1, 0].xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper right")
    return save_figure(fig, path)


def forecast_maps(forecast, truth, variable: str, path: str | Path, lead=None, init: int = 0, members: int = 3) -> Path:
    """Maps of one init and lead: truth, ensemble mean, ensemble spread and a few members (shared colour scale)."""
    lead = forecast["lead_time"].values[-1] if lead is None else lead
    fc = forecast[variable].isel(time=init).sel(lead_time=lead)  # (member, lat, lon)
    y = truth[variable].isel(time=init).sel(lead_time=lead)
    lat, lon = fc.dims[-2], fc.dims[-1]
    panels = {"truth": y, "ensemble mean": fc.mean("member")}
    panels.update({f"member {m}": fc.isel(member=m) for m in range(min(members, fc.sizes["member"]))})
    lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
    n = len(panels) + 1
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.6), squeeze=False)
    extent = [float(fc[lon].min()), float(fc[lon].max()), float(fc[lat].min()), float(fc[lat].max())]
    for ax, (name, field) in zip(axes[0], panels.items()):
        image = ax.imshow(_north_up(field, lat), vmin=lo, vmax=hi, cmap="viridis", extent=extent, aspect="auto")
        ax.set_title(name, fontsize=9)
    fig.colorbar(image, ax=axes[0, n - 2], fraction=0.046)
    spread = ax_spread = axes[0, -1]
    image = ax_spread.imshow(_north_up(fc.std("member"), lat), cmap="magma", extent=extent, aspect="auto")
    ax_spread.set_title("ensemble spread", fontsize=9)
    fig.colorbar(image, ax=spread, fraction=0.046)
    init_time = str(forecast["time"].values[init])[:16]
    fig.suptitle(f"{variable}, init {init_time}, lead {np.timedelta64(lead, 'h')}", fontsize=10)
    return save_figure(fig, path)


def _north_up(field, lat: str) -> np.ndarray:
    values = field.transpose(lat, ...).values
    return values[::-1] if field[lat].values[0] < field[lat].values[-1] else values


def rank_histograms(histograms: dict, path: str | Path, title: str = "") -> Path:
    """Bar charts of rank histograms, one panel per name: histograms[name] = counts (M + 1,)."""
    n = len(histograms)
    fig, axes = plt.subplots(1, n, figsize=(2.8 * n, 2.6), squeeze=False)
    for ax, (name, counts) in zip(axes[0], histograms.items()):
        counts = np.asarray(counts, dtype=float)
        ax.bar(np.arange(len(counts)), counts / counts.sum() * len(counts), width=1.0, color="tab:blue")
        ax.axhline(1.0, color="k", lw=1, ls="--")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("rank of the truth")
    axes[0, 0].set_ylabel("frequency x (M + 1)")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def image_grid(images, path: str | Path, title: str = "") -> Path:
    """A grid of grey images: images (rows, columns, H, W) with values in [-1, 1]; one row per class."""
    images = np.asarray(images)
    rows, cols = images.shape[:2]
    fig, axes = plt.subplots(rows, cols, figsize=(0.6 * cols, 0.6 * rows), squeeze=False)
    for i in range(rows):
        for j in range(cols):
            axes[i, j].imshow(images[i, j], cmap="gray_r", vmin=-1, vmax=1)
            axes[i, j].axis("off")
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def grid_forecast_plots(forecasts: dict, table, folder: str | Path, variables, prefix: str = "") -> Path:
    """The figures of a gridded forecast evaluation, per variable: maps (truth, mean, members, spread) of the first
    ensemble, rank histograms of every ensemble at each lead, and CRPS and spread-skill against lead time for every
    method. ``forecasts[name] = (forecast, truth)``; ``table`` is ``metrics.grid.score_table`` rows of all methods."""
    from .metrics.grid import rank_histogram

    folder = Path(folder)
    ensembles = {k: v for k, v in forecasts.items() if v[0].sizes["member"] > 1}
    for var in variables:
        rows = table[table.variable == var]
        for metric, label in (("crps", "CRPS"), ("spread_skill", "spread-skill ratio")):
            curves = {}
            for method, sub in rows.groupby("method", sort=False):
                if sub[metric].notna().all():
                    curves[method] = ([lead / np.timedelta64(1, "h") for lead in sub.lead_time], sub[metric].tolist())
            if curves:
                error_curves(
                    curves,
                    folder / f"{prefix}{metric}_{var}.png",
                    "lead time (h)",
                    label,
                    f"{var}: {label} against lead time",
                    floor=1.0 if metric == "spread_skill" else None,
                    log=False,
                    floor_label="calibrated",
                )
        hists = {}
        for name, (fc, truth) in ensembles.items():
            h = rank_histogram(fc[[var]], truth[[var]])[var]
            for i, lead in enumerate(fc["lead_time"].values):
                hists[f"{name} {lead / np.timedelta64(1, 'h'):g}h"] = h.isel(lead_time=i).values
        if hists:
            rank_histograms(hists, folder / f"{prefix}rank_{var}.png", f"{var}: rank histograms")
            fc, truth = next(iter(ensembles.values()))
            forecast_maps(fc, truth, var, folder / f"{prefix}maps_{var}.png")
    return folder


def pit_histogram(pit: dict, path: str | Path, bins: int = 10, title: str = "") -> Path:
    """Calibration plot: histograms of PIT values (``metrics.pit_values``), one panel per name; flat = calibrated."""
    n = len(pit)
    fig, axes = plt.subplots(1, n, figsize=(3.0 * n, 2.6), squeeze=False)
    for ax, (name, values) in zip(axes[0], pit.items()):
        values = np.asarray(values, dtype=float)
        ax.hist(values, bins=bins, range=(0, 1), density=True, color="tab:blue")
        ax.axhline(1.0, color="k", lw=1, ls="--")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("PIT")
    axes[0, 0].set_ylabel("density")
    fig.suptitle(title, fontsize=10)
    return save_figure(fig, path)


def synthesis_plots(real: np.ndarray, synth: np.ndarray, folder: str | Path, names=None, prefix: str = "") -> Path:
    """Real against synthetic windows (N, L, K): a few windows per feature (``samples.png``), a 2-D PCA and t-SNE
    embedding of whole windows (``embedding.png``) and the marginal density of each feature (``marginals.png``)."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    folder = Path(folder)
    real, synth = np.asarray(real, dtype=np.float64), np.asarray(synth, dtype=np.float64)
    if real.ndim != 3 or synth.ndim != 3 or real.shape[1:] != synth.shape[1:] or min(len(real), len(synth)) < 2:
        raise ValueError(f"synthesis_plots: need windows (N >= 2, L, K) of one shape, got {real.shape}, {synth.shape}")
    if not (np.isfinite(real).all() and np.isfinite(synth).all()):
        raise ValueError("synthesis_plots: the windows hold NaN or inf (plot the complete ones)")
    k = real.shape[2]
    names = list(names) if names is not None else [f"feature {i}" for i in range(k)]
    if len(names) != k:
        raise ValueError(f"synthesis_plots: {len(names)} names for {k} features")
    rng = np.random.default_rng(0)
    shown = min(k, 6)
    fig, axes = plt.subplots(2, shown, figsize=(2.6 * shown, 4.2), squeeze=False, sharey="col")
    for row, (label, data) in enumerate((("real", real), ("synthetic", synth))):
        pick = rng.choice(len(data), size=min(8, len(data)), replace=False)
        for j in range(shown):
            axes[row, j].plot(data[pick, :, j].T, lw=0.8)
            axes[row, j].set_title(f"{label}: {names[j]}", fontsize=8)
    save_figure(fig, folder / f"{prefix}samples.png")

    m = min(1000, len(real), len(synth))
    a = real[rng.choice(len(real), m, replace=False)].reshape(m, -1)
    b = synth[rng.choice(len(synth), m, replace=False)].reshape(m, -1)
    both = np.concatenate([a, b])
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
    embeddings = {
        "PCA": PCA(2).fit(a).transform(both),
        "t-SNE": TSNE(2, init="pca", random_state=0, perplexity=min(30.0, (2 * m - 1) / 3)).fit_transform(both),
    }
    for ax, (title, emb) in zip(axes, embeddings.items()):
        ax.scatter(*emb[:m].T, s=2, alpha=0.4, label="real")
        ax.scatter(*emb[m:].T, s=2, alpha=0.4, label="synthetic")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7, markerscale=4)
    save_figure(fig, folder / f"{prefix}embedding.png")

    fig, axes = plt.subplots(1, shown, figsize=(2.6 * shown, 2.4), squeeze=False)
    for j in range(shown):
        ax = axes[0, j]
        ax.hist(real[..., j].ravel(), bins=50, density=True, histtype="step", label="real")
        ax.hist(synth[..., j].ravel(), bins=50, density=True, histtype="step", label="synthetic")
        ax.set_title(names[j], fontsize=8)
    axes[0, 0].legend(fontsize=7)
    save_figure(fig, folder / f"{prefix}marginals.png")
    return folder


FIGURE_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


def figure_path(path: str | Path) -> Path:
    """The file a figure is written to: ``path``, with ``.png`` when it has no suffix; another suffix than
    ``FIGURE_SUFFIXES`` is an error (checked before the work whose figure it is)."""
    path = Path(path)
    if not path.suffix:
        return path.with_suffix(".png")
    if path.suffix.lower() not in FIGURE_SUFFIXES:
        raise ValueError(f"{path}: write figures to one of {FIGURE_SUFFIXES}")
    return path


def save_figure(fig, path: str | Path) -> Path:
    """Lay out, write (creating the folder) and close a figure; returns the file written (``figure_path``)."""
    fig.tight_layout()
    path = figure_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
