"""Download PhysioNet/CinC Challenge 2012 (sets a, b, c and outcomes) from PhysioNet and verify checksums.

    python data_scripts/physionet2012.py --dest data/physionet2012 [--sets a b c]

Checksums come from PhysioNet's own SHA256SUMS.txt for the release. Licence: Open Data Commons Attribution 1.0;
cite Silva et al., Computing in Cardiology 2012; Goldberger et al., Circulation 2000.
The result has the layout tsdiff.data.physionet.load_physionet2012 reads: <dest>/set-a/<RecordID>.txt.
"""

from __future__ import annotations

import argparse
import tarfile
from pathlib import Path

from tsdiff.data.download import DownloadError, fetch, run_script, verify

BASE = "https://physionet.org/files/challenge-2012/1.0.0/"


def parse_sums(text: str) -> dict[str, str]:
    """PhysioNet's SHA256SUMS.txt: '<hash>  <path>' per line (sha256sum's format; '*' marks binary mode) ->
    {path: hash}."""
    sums = {}
    for line in text.splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) == 2:
            sums[parts[1].strip().removeprefix("*").removeprefix("./")] = parts[0]
    return sums


def download(dest: Path, sets=("a", "b", "c")) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    sums = parse_sums(fetch(BASE + "SHA256SUMS.txt", dest / "SHA256SUMS.txt").read_text())
    for s in sets:
        for name in (f"set-{s}.tar.gz", f"Outcomes-{s}.txt"):
            path = fetch(BASE + name + "?download", dest / name)
            if name not in sums:
                raise DownloadError(f"{name} is not listed in PhysioNet's SHA256SUMS.txt; cannot verify it")
            verify(path, sums[name])
        with tarfile.open(dest / f"set-{s}.tar.gz") as t:
            t.extractall(dest, filter="data")
        print(f"set-{s}: {len(list((dest / f'set-{s}').glob('*.txt')))} stays in {dest / f'set-{s}'}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dest", default="data/physionet2012")
    p.add_argument("--sets", nargs="+", default=["a", "b", "c"], choices=["a", "b", "c"])
    args = p.parse_args()
    download(Path(args.dest), args.sets)


if __name__ == "__main__":
    run_script(main)
