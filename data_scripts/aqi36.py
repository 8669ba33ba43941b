"""Download AQI-36 (Beijing PM2.5, 36 stations, hourly, May 2014 - April 2015) from Microsoft's ST-MVL release.

    python data_scripts/aqi36.py --dest data/aqi36

Writes pm25_ground.txt, pm25_missing.txt and pm25_latlng.txt, verified against the SHA-256 of the files as the
release distributes them. No licence is stated by the release: research use, cite Yi et al., ST-MVL, IJCAI 2016,
and do not redistribute.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tsdiff.data.download import extract_members, fetch, run_script, verify

URL = "https://www.microsoft.com/en-us/research/uploads/prod/2016/06/STMVL-Release.zip"
FILES = {
    "pm25_ground.txt": "8f77b738ae4c50621705a308e606e6229564ad7ad20358986bd6031355f0ab5f",
    "pm25_missing.txt": "3f991eab5bbc5e644e61360e6b71ce45179c86cf650b3bb9a53771d8f9953fe3",
    "pm25_latlng.txt": "a7423dafe4ecdec5ba04b4b6b047a53df1b9c04aed0a2957f1c698761715d7c1",
}


def download(dest: Path, archive: Path | None = None) -> list[Path]:
    archive = archive or fetch(URL, dest / "STMVL-Release.zip")
    written = extract_members(archive, {f"SampleData/{name}": name for name in FILES}, dest)
    for path in written:
        verify(path, FILES[path.name])
    return written


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dest", default="data/aqi36")
    p.add_argument("--archive", help="a local copy of STMVL-Release.zip (skips the download)")
    args = p.parse_args()
    for path in download(Path(args.dest), Path(args.archive) if args.archive else None):
        print(f"verified {path}")


if __name__ == "__main__":
    run_script(main)
