"""Download the Stocks benchmark file (Google daily prices, as used by TimeGAN and Diffusion-TS).

    python data_scripts/stocks.py --dest data/stock

Writes stock_data.csv (columns Open, High, Low, Close, Adj_Close, Volume; rows oldest first), verified against
the SHA-256 of the file as TimeGAN's repository distributes it. Read it with ``tsdiff.data.stocks.stock_windows``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tsdiff.data.download import fetch, run_script, verify

URL = "https://raw.githubusercontent.com/jsyoon0823/TimeGAN/master/data/stock_data.csv"
SHA256 = "134b8a00eb4eefa3242dd7ae85144082da80dedf75a1a656d5d08f97cd95277a"


def download(dest: Path) -> Path:
    path = fetch(URL, dest / "stock_data.csv")
    verify(path, SHA256)
    return path


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dest", default="data/stock")
    print(f"verified {download(Path(p.parse_args().dest))}")


if __name__ == "__main__":
    run_script(main)
