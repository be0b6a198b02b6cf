"""Fetch a dataset archive into a cache folder, verify its SHA-256, then unpack it.

Nothing is unpacked before the checksum matches; a mismatch deletes the download and raises
``ChecksumError``. The expected checksum is, in order: the one given by the caller, the
published one in ``ARCHIVES``, or the one recorded in ``CACHE/checksums.json`` at the first
download of that archive (trust on first use, recorded so that later downloads are checked).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

log = logging.getLogger(__name__)

_FSDD_COMMIT = "26eb9aaf76e81b692f806f9140c2d2777410d7a1"


@dataclasses.dataclass(frozen=True)
class Archive:
    url: str
    source: str  # the ``prepare`` source type of the unpacked data
    subdir: str  # folder inside the archive that holds the data ("" = top level)
    sha256: str | None  # published checksum, when one exists


ARCHIVES = {
    "fsdd": Archive(
        url=f"https://github.com/Jakobovski/free-spoken-digit-dataset/archive/{_FSDD_COMMIT}.tar.gz",
        source="fsdd", subdir=f"free-spoken-digit-dataset-{_FSDD_COMMIT}/recordings", sha256=None),
    # Checksum as recorded by tensorflow-datasets for this URL.
    "speech_commands": Archive(
        url="http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz",
        source="speech_commands", subdir="",
        sha256="af14739ee7dc311471de98f5f9d2c9191b18aedfe957f4a6ff791c709868ff58"),
}


class ChecksumError(RuntimeError):
    pass


def _fetch(url_or_path: str, dest: Path) -> str:
    """Copy a URL or local file to ``dest``; return its SHA-256."""
    h = hashlib.sha256()
    src = Path(url_or_path).expanduser()
    opener = open(src, "rb") if src.exists() else urllib.request.urlopen(url_or_path, timeout=60)
    with opener as r, open(dest, "wb") as f:
        while block := r.read(1 << 20):
            h.update(block)
            f.write(block)
    return h.hexdigest()


def _unpack(archive: Path, dest: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as z:
            z.extractall(dest)
    else:
        with tarfile.open(archive) as t:
            t.extractall(dest, filter="data")


def download(name: str, cache_dir: str | Path, *, archive: str | None = None,
             sha256: str | None = None) -> tuple[str, Path]:
    """Download (or copy, from a local ``archive``) dataset ``name`` and unpack it once.

    Returns ``(source, data_root)`` for ``data.prepare``. ``archive`` overrides the URL with
    another URL or a local path.
    """
    if name not in ARCHIVES:
        raise ValueError(f"unknown download {name!r}; known: {', '.join(ARCHIVES)}")
    spec = ARCHIVES[name]
    cache = Path(cache_dir).expanduser()
    cache.mkdir(parents=True, exist_ok=True)
    unpacked = cache / name
    root = unpacked / spec.subdir if spec.subdir else unpacked
    if (unpacked / ".complete").exists():
        log.info("%s already downloaded and unpacked in %s", name, unpacked)
        return spec.source, root
    record_file = cache / "checksums.json"
    records = json.loads(record_file.read_text()) if record_file.exists() else {}
    expected = sha256 or spec.sha256 or records.get(name)
    where = archive or spec.url
    with tempfile.TemporaryDirectory(dir=cache, prefix=f".{name}.") as tmp:
        tmp = Path(tmp)
        log.info("fetching %s", where)
        got = _fetch(where, tmp / "archive")
        if expected and got != expected:
            raise ChecksumError(f"SHA-256 mismatch for {where}: expected {expected}, got {got}. "
                                f"The download was deleted and nothing was unpacked.")
        if not expected:
            records[name] = got
            tmp_rec = cache / f".checksums.json.tmp-{os.getpid()}"
            tmp_rec.write_text(json.dumps(records, indent=1))
            os.replace(tmp_rec, record_file)
            log.info("recorded SHA-256 %s for %s in %s", got, name, record_file)
        _unpack(tmp / "archive", tmp / "unpacked")
        (tmp / "unpacked" / ".complete").write_text(got)
        if unpacked.exists():
            shutil.rmtree(unpacked)
        os.replace(tmp / "unpacked", unpacked)
    return spec.source, root
