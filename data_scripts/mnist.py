"""Download MNIST (the four IDX archives) from Yann LeCun's site, or a mirror when it does not answer.

    python data_scripts/mnist.py --dest data/mnist

Writes train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and
t10k-labels-idx1-ubyte.gz, each verified against its SHA-256 (the same bytes on every mirror). Read them with
``tsdiff.data.mnist.load_mnist``; `tsdiff synthesize --config configs/mnist_dit.yaml` trains the class-conditional
DiT on them. Licence: CC BY-SA 3.0; cite LeCun, Bottou, Bengio & Haffner 1998.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tsdiff.data.download import DownloadError, fetch, verify

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


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dest", default="data/mnist")
    for path in download(Path(p.parse_args().dest)):
        print(f"verified {path}")


if __name__ == "__main__":
    main()
