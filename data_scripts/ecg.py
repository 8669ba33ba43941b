"""Download ECG records from PhysioNet through the `wfdb` package (pip install wfdb).

    python data_scripts/ecg.py --dest data/ecg                       # MIT-BIH record 100 + PTB s0010_re
    python data_scripts/ecg.py --dest data/mitdb --database mitdb --records all
    python data_scripts/ecg.py --dest data/ptb-xl --database ptb-xl  # PTB-XL (about 3 GB)

The default pair is what the benchmark reads (MIT-BIH Arrhythmia record 100 with beat annotations, PTB
Diagnostic record patient001/s0010_re); their files are verified against SHA-256 checksums. Other databases and
records are downloaded as PhysioNet serves them (wfdb checks sizes). Licence: Open Data Commons Attribution 1.0;
cite Moody & Mark 2001 (mitdb), Bousseljot et al. 1995 (ptbdb), Wagner et al. 2020 (PTB-XL), Goldberger et al. 2000.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tsdiff.data.download import run_script, verify

DEFAULT = {"mitdb": ["100"], "ptbdb": ["patient001/s0010_re"]}
CHECKSUMS = {
    "100.atr": "8d8a5349fb16638ebbf649f1779d12e96d91b736b2aafe59db43719ae583d471",
    "100.dat": "b2ea3c250e56e48f4b7b90697832b8ecd1afa1e0bb31f2dcfea4ed6e1075a639",
    "100.hea": "95fbdda0454fffae1a2dab1a5ac53e924ae97691c028cdd3ee82f2446b73c066",
    "s0010_re.dat": "4e26a62c96e50eebd0eca7a11a4ad62ac8d7654e4de47acf2e0ce64be9565f20",
    "s0010_re.hea": "30d2d5db5b7b735f7dc39e5cf3e60a433a868b53d24587c9820cf51aa1729b87",
    "s0010_re.xyz": "0caffd208e17c5c597fb39c8416f85ce55726f3e8e9d5486a6331c9ec4451265",
}


def download(dest: Path, database: str | None = None, records=None, dl_database=None) -> list[Path]:
    """Download ``records`` of ``database`` (default: the benchmark's two records) into ``dest`` (flat) and verify
    the files that have known checksums. ``dl_database`` replaces ``wfdb.dl_database`` (tests)."""
    if dl_database is None:
        try:
            import wfdb
        except ImportError as err:
            raise ImportError("downloading ECG records needs `wfdb`: pip install wfdb") from err
        dl_database = wfdb.dl_database
    dest.mkdir(parents=True, exist_ok=True)
    jobs = DEFAULT if database is None else {database: records}
    for db, recs in jobs.items():
        try:
            dl_database(db, str(dest), records="all" if recs in (None, ["all"]) else recs, keep_subdirs=False)
        except OSError as err:
            raise OSError(
                f"could not download {db} from physionet.org ({err}); offline, copy the files into {dest}"
            ) from err
    checked = []
    for name, digest in CHECKSUMS.items():
        if (dest / name).exists():
            verify(dest / name, digest)
            checked.append(dest / name)
    return checked


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dest", default="data/ecg")
    p.add_argument("--database", help="a PhysioNet database (mitdb, ptbdb, ptb-xl, ...); default: the benchmark pair")
    p.add_argument("--records", nargs="+", help="record names, or 'all' (default: all records of --database)")
    args = p.parse_args()
    for path in download(Path(args.dest), args.database, args.records):
        print(f"verified {path}")


if __name__ == "__main__":
    run_script(main)
