"""Download helpers for ``data_scripts/``: fetch from the original provider, verify SHA-256, unpack.

Nothing else in tsdiff touches the network. Offline, a fetch fails with a message naming the URL and how to
place the files by hand.
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

__all__ = ["DownloadError", "fetch", "sha256", "verify", "extract_members", "run_script"]


class DownloadError(RuntimeError):
    pass


def sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: str | Path, expected: str) -> None:
    got = sha256(path)
    if got != expected.strip().lower():
        raise DownloadError(
            f"{path}: SHA-256 {got} does not match the expected {expected}; the file is corrupt or "
            "was changed by the provider. Delete it and download again."
        )


def fetch(url: str, dest: str | Path, timeout: float = 60.0) -> Path:
    """Download ``url`` to ``dest`` (written to a temporary name first); an existing file is kept."""
    dest = Path(dest)
    if dest.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError, ValueError) as err:  # ValueError: not a URL
        tmp.unlink(missing_ok=True)
        raise DownloadError(
            f"could not download {url} ({err}). If this machine is offline, download it elsewhere "
            f"and place it at {dest}."
        ) from err
    tmp.replace(dest)
    return dest


def extract_members(archive: str | Path, names: dict[str, str], dest: str | Path) -> list[Path]:
    """Copy the archive members whose path ends with a key of ``names`` to dest / names[key] (zip or tar)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    if not Path(archive).is_file():
        raise DownloadError(f"{archive} does not exist")
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            members = [(m, lambda m=m: z.open(m)) for m in z.namelist()]
            written = _copy(members, names, dest, archive)
    else:
        try:
            t = tarfile.open(archive)
        except tarfile.TarError as err:
            raise DownloadError(f"{archive} is neither a zip nor a tar archive ({err}): download it again") from err
        with t:
            members = [(m.name, lambda m=m: t.extractfile(m)) for m in t.getmembers() if m.isfile()]
            written = _copy(members, names, dest, archive)
    missing = set(names.values()) - {p.name for p in written}
    if missing:
        raise DownloadError(f"{archive} lacks the expected members {sorted(missing)}")
    return written


def _copy(members, names, dest, archive):
    written = []
    for member, opener in members:
        for suffix, target in names.items():
            if member.replace("\\", "/").endswith(suffix):
                if dest / target in written:  # two members would write one file: which one is meant is unknown
                    raise DownloadError(f"{archive} holds more than one member ending in {suffix!r}")
                with opener() as src, open(dest / target, "wb") as out:
                    shutil.copyfileobj(src, out)
                written.append(dest / target)
    return written


def run_script(main) -> None:
    """Run a data script's ``main``: a failed download, a checksum mismatch, a foreign archive or a missing
    optional package is one line on stderr and exit status 1, not a traceback."""
    try:
        main()
    except (DownloadError, OSError, ImportError) as err:
        sys.exit(f"error: {err}")
