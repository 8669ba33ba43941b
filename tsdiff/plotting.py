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


def save_figure(fig, path: str | Path) -> Path:
    """Lay out, write (creating the folder) and close a figure."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
