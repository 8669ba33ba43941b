"""Self-describing checkpoints: written atomically, read without executing pickled code.

A checkpoint is a dict of tensors and plain Python values (no classes), so ``torch.load(weights_only=True)`` reads
it. ``save_checkpoint`` adds the format tag and the package version; everything else (model kind and config,
schedule, scaler, variable names, optimizer state) is the caller's payload.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "CheckpointError",
    "check_shapes",
    "save_checkpoint",
    "load_checkpoint",
    "sampling_weights",
    "load_model",
    "restore_params",
    "FORMAT",
]

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


def check_shapes(path, **entries) -> None:
    """``name=(value, shape the model needs)`` for each array a task reads from a checkpoint: a CheckpointError
    naming the first one of another shape (a file edited by hand or pieced together from two models)."""
    for name, (value, shape) in entries.items():
        got = tuple(np.shape(value))
        if got != tuple(shape):
            raise CheckpointError(
                f"{path}: {name!r} has shape {got} where this model needs {tuple(shape)} (the file was edited or "
                "pieced together from different models)"
            )


def load_checkpoint(
    path: str | os.PathLike, map_location="cpu", required: tuple[str, ...] = (), task: tuple[str, str] | None = None
) -> dict:
    """Read a checkpoint written by ``save_checkpoint`` (weights only: no code runs); ``task`` = (its "task" entry,
    what to call such a model) checks that it holds that kind of model, then ``required`` names keys that must be
    present. Raises CheckpointError naming the problem."""
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
    if task is not None and data.get("task") != task[0]:
        raise CheckpointError(f"{path} holds a {data.get('task')!r} model, not {task[1]}")
    missing = [k for k in required if k not in data]
    if missing:
        raise CheckpointError(f"{path} lacks {missing}: it was not written for this use")
    return data


def sampling_weights(state: dict) -> dict:
    """The weights to sample with from a task checkpoint: in a training checkpoint (``fit(checkpoint=...)``) the
    best validated ones, else the EMA's, else the last, as ``TrainResult.copy_to`` chooses after training; a file
    written by a task's ``save`` holds only those already."""
    if state.get("best_state") is not None:
        return state["best_state"]
    if state.get("ema") is not None:
        return {**state["model"], **state["ema"]["params"]}  # the EMA keeps parameters, not buffers
    return state["model"]


def load_model(state: dict, path: str | os.PathLike) -> torch.nn.Module:
    """The network a task checkpoint describes (``model_kind``) with its sampling weights, in eval mode; a
    description and weights that do not fit together raise CheckpointError."""
    from .models import build_model

    try:
        model = build_model(state["model_kind"])
        model.load_state_dict(sampling_weights(state))
    except (TypeError, ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"{path}: its model description and weights do not fit together: {err}") from err
    return model.eval()


def restore_params(cls, state: dict, overrides: dict, path: str | os.PathLike):
    """``cls(**params)`` from a task checkpoint, with ``overrides`` on top; parameters ``cls`` does not take raise
    CheckpointError (stored) or TypeError (overrides), naming them."""
    import inspect

    known = set(inspect.signature(cls).parameters)
    stored = state["params"] if isinstance(state["params"], dict) else {}
    unknown = sorted(set(stored) - known)
    if unknown or not isinstance(state["params"], dict):
        raise CheckpointError(f"{path}: stored parameters {unknown or state['params']!r} are not {cls.__name__}'s")
    bad = sorted(set(overrides) - known)
    if bad:
        raise TypeError(f"{cls.__name__}.load: unknown parameters {bad}")
    return cls(**{**stored, **overrides})
