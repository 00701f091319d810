"""sha256 of large files, remembered by (size, mtime, inode) so they are not re-hashed.

Hashing the prepared base model in full (about 200 MB) takes a few tenths of a
second on a warm disk cache and more on a cold one; checking ``stat()`` against
this cache takes about a millisecond. The cache lives in ``TIRO_HOME/cache``
(throw-away: deleting it only costs one full hash per file). Recordings use it too:
snippet capture checks the original file's sha256 after every review, and a
meeting's video may be gigabytes. Deleting a recording drops its entry
(``forget_digests``).

A file whose content is rewritten gets a new mtime, so it is hashed again and
tampering shows up as a checksum mismatch. The cache cannot see a change that
also restores the old size, mtime and inode; ``file_digest(..., trust_cache=False)``
always hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Collection
from pathlib import Path

from engine.paths import cache_dir
from engine.weights.atomic import atomic_write_bytes

CACHE_FILE = "file-digests.json"
_lock = threading.Lock()


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _cache_path() -> Path:
    return cache_dir() / CACHE_FILE


def _load() -> dict[str, list]:
    try:
        data = json.loads(_cache_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _stamp(stat: os.stat_result) -> list[int]:
    return [stat.st_size, stat.st_mtime_ns, stat.st_ino]


def file_digest(path: str | Path, *, trust_cache: bool = True) -> str:
    """The sha256 (hex) of ``path``; from the cache when size, mtime and inode are unchanged."""
    resolved = Path(path).resolve()
    key = str(resolved)
    stamp = _stamp(resolved.stat())
    with _lock:
        if trust_cache:
            entry = _load().get(key)
            if isinstance(entry, list) and len(entry) == 2 and entry[0] == stamp:
                return str(entry[1])
        digest = sha256_file(resolved)
        if _stamp(resolved.stat()) == stamp:  # unchanged while it was read
            _store({key: [stamp, digest]})
        return digest


def remember_digests(digests: dict[Path, str]) -> None:
    """Record digests the caller just computed for files it wrote (saves hashing them again)."""
    entries = {}
    for path, digest in digests.items():
        resolved = Path(path).resolve()
        entries[str(resolved)] = [_stamp(resolved.stat()), digest]
    with _lock:
        _store(entries)


def _holds(entry: object, digests: set[str]) -> bool:
    return isinstance(entry, list) and len(entry) == 2 and entry[1] in digests


def forget_digests(digests: Collection[str]) -> int:
    """Drop every entry whose sha256 is in ``digests`` (a deleted recording's path and
    hash must not outlive it); returns how many went."""
    wanted = set(digests)
    if not wanted:
        return 0
    with _lock:
        data = _load()
        kept = {k: v for k, v in data.items() if not _holds(v, wanted)}
        if len(kept) != len(data):
            with contextlib.suppress(OSError):
                atomic_write_bytes(_cache_path(), json.dumps(kept, sort_keys=True).encode())
        return len(data) - len(kept)


def _store(entries: dict[str, list]) -> None:
    data = {k: v for k, v in _load().items() if Path(k).exists()}
    data.update(entries)
    with contextlib.suppress(OSError):  # the cache is an optimisation only
        atomic_write_bytes(_cache_path(), json.dumps(data, sort_keys=True).encode())
