"""Figures shared by the CLI and the benchmarks (matplotlib, written to files; no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
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
    curves: dict, path: str | Path, xlabel: str, ylabel: str, title: str = "", floor: float | None = None
) -> Path:
    """Log-log lines, one per name: curves[name] = (xs, ys)."""
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for name, (xs, ys) in curves.items():
        ax.plot(xs, ys, marker="o", ms=3, label=name)
    if floor is not None:
        ax.axhline(floor, color="gray", ls="--", lw=1, label="sampling noise floor")
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
    axes[0, 0].legend(fontsize=7, ncol=4, loc="upper right")
    return save_figure(fig, path)


def save_figure(fig, path: str | Path) -> Path:
    """Lay out, write (creating the folder) and close a figure."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
