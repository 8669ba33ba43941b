"""MNIST (LeCun, Bottou, Bengio & Haffner 1998) from its IDX files, for the class-conditional DiT example.

``data_scripts/mnist.py`` downloads the four archives; ``load_mnist(root, split)`` reads them, gzipped or not:

    images, labels = load_mnist("data/mnist", "train")     # (60000, 1, 28, 28) in [-1, 1], (60000,) int64

IDX (the format's page on LeCun's site): two zero bytes, a type byte (0x08 = unsigned bytes, the only type MNIST
uses), the number of dimensions, one big-endian uint32 size per dimension, then the values in row-major order.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

__all__ = ["FILES", "read_idx", "write_idx", "load_mnist"]

# split -> (images file, labels file), as the provider names them (without ".gz")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file of unsigned bytes (plain or .gz) as a uint8 array of the shape its header gives."""
    path = Path(path)
    try:
        with (gzip.open if path.suffix == ".gz" else open)(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:  # a truncated or corrupt gzip stream
        raise ValueError(f"{path}: cannot be read as a (gzipped) IDX file: {err}") from err
    if len(raw) < 4 or raw[:2] != b"\x00\x00":
        raise ValueError(f"{path}: not an IDX file (it starts with {raw[:4].hex() or 'nothing'}, expected 0000 08 NN)")
    if raw[2] != 0x08:
        raise ValueError(f"{path}: IDX value type 0x{raw[2]:02x}; only unsigned bytes (0x08) are read")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise ValueError(f"{path}: IDX header for {ndim} dimensions is incomplete")
    shape = struct.unpack(f">{ndim}I", raw[4:header])
    values = np.frombuffer(raw, dtype=np.uint8, offset=header)
    if values.size != int(np.prod(shape)):
        raise ValueError(f"{path}: {values.size} values for the shape {shape} its header gives: truncated or corrupt")
    return values.reshape(shape)


def write_idx(path: str | Path, values: np.ndarray) -> Path:
    """Write unsigned bytes as an IDX file (gzipped when ``path`` ends in .gz): the inverse of ``read_idx``."""
    path = Path(path)
    values = np.asarray(values)
    if values.size and (values.min() < 0 or values.max() > 255 or not np.all(values == np.round(values))):
        raise ValueError(f"{path}: IDX files of this kind hold whole numbers 0..255")
    values = np.ascontiguousarray(values, dtype=np.uint8)
    raw = bytes([0, 0, 8, values.ndim]) + struct.pack(f">{values.ndim}I", *values.shape) + values.tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)
    return path


def _find(root: Path, stem: str) -> Path:
    for name in (f"{stem}.gz", stem):
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"{root / stem}.gz not found (data_scripts/mnist.py downloads it)")


def load_mnist(root: str | Path, split: str = "train") -> tuple[torch.Tensor, torch.Tensor]:
    """(images (N, 1, 28, 28) float32 in [-1, 1], labels (N,) int64) of the "train" (60,000) or "test" (10,000)
    split; pixel values 0..255 map linearly onto [-1, 1]."""
    if split not in FILES:
        raise ValueError(f"MNIST split must be one of {sorted(FILES)}, got {split!r}")
    root = Path(root)
    image_file, label_file = (_find(root, stem) for stem in FILES[split])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(
            f"{image_file.name} must hold (N, rows, columns) images and {label_file.name} (N,) labels; "
            f"got shapes {images.shape} and {labels.shape}"
        )
    if len(images) != len(labels):
        raise ValueError(f"{image_file.name} has {len(images)} images but {label_file.name} {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{label_file.name}: labels must be digits 0..9, found {int(labels.max())}")
    x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0)[:, None]  # (N, 1, H, W)
    return x, torch.from_numpy(labels.astype(np.int64))
