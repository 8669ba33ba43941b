"""Self-describing checkpoints: written atomically, read without executing pickled code.

A checkpoint is a dict of tensors and plain Python values (no classes), so ``torch.load(weights_only=True)`` reads
it. ``save_checkpoint`` adds the format tag and the package version; everything else (model kind and config,
schedule, scaler, variable names, optimizer state) is the caller's payload.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

__all__ = ["CheckpointError", "save_checkpoint", "load_checkpoint", "FORMAT"]

FORMAT = "tsdiff-checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A file that is not a readable tsdiff checkpoint (corrupt, truncated, foreign or from a newer format)."""


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write ``payload`` to ``path`` atomically: a temporary file in the same folder, fsync, then rename, so a
    crash leaves either the old checkpoint or the new one, never a torn file."""
    from . import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, "tsdiff_version": __version__, **payload}
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(data, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | os.PathLike, map_location="cpu", required: tuple[str, ...] = ()) -> dict:
    """Read a checkpoint written by ``save_checkpoint`` (weights only: no code runs); ``required`` names keys that
    must be present. Raises CheckpointError naming the problem."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises several types for truncated, corrupt or unsafe files
        raise CheckpointError(
            f"{path} is not a readable checkpoint (corrupt, truncated or not a torch file): "
            f"{type(err).__name__}: {str(err)[:200]}"
        ) from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        kind = type(data).__name__ if not isinstance(data, dict) else f"dict with keys {sorted(data)[:8]}"
        raise CheckpointError(f"{path} is not a tsdiff checkpoint (found a {kind}, expected format={FORMAT!r})")
    if int(data.get("format_version", 0)) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format {data['format_version']}, newer than this tsdiff "
            f"reads ({FORMAT_VERSION}): upgrade tsdiff"
        )
    missing = [k for k in required if k not in data]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}: it was not written for this use")
    return data
