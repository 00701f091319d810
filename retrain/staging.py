"""Folders a learning run stages its work in, and their removal once that run is gone.

A run stages the fine-tuning worker's request (``cache/finetune-jobs/``: the user's
audio, and encoder outputs computed from it) and its candidate bundles
(``cache/finetune-candidates/``: weights trained on the user's data). It removes them
in every case it survives. A run killed outright (SIGKILL, power loss) cannot, and
what it left must not stay: a privacy delete has to reach it too.

Each folder is named after the process that made it, ``<pid>-<random>``.
``remove_orphans`` removes the folders whose process no longer exists. Where there are
no POSIX signals to ask with, it removes those untouched for a day. It never removes a
live run's folders. The pipeline calls it at the start of every run; a privacy delete
calls it too.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

from engine.paths import cache_dir

STAGING_PARENTS = ("finetune-jobs", "finetune-candidates")
STALE_SECONDS = 24 * 3600  # without POSIX signals: older than this counts as orphaned


def staging_folder(kind: str) -> Path:
    """A new folder name under ``cache/<kind>/`` owned by this process (not created)."""
    if kind not in STAGING_PARENTS:
        raise ValueError(f"unknown staging kind {kind!r}")
    return cache_dir() / kind / f"{os.getpid()}-{uuid.uuid4().hex[:12]}"


def _owner_alive(folder: Path) -> bool:
    owner = folder.name.split("-", 1)[0]
    if not owner.isdigit():
        return False  # not named by staging_folder (an older version's): nobody owns it
    pid = int(owner)
    if pid == os.getpid():
        return True
    if os.name != "posix":
        try:
            return time.time() - folder.stat().st_mtime < STALE_SECONDS
        except FileNotFoundError:
            return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def remove_orphans() -> int:
    """Remove staging folders whose run is gone; returns how many were removed."""
    removed = 0
    for kind in STAGING_PARENTS:
        parent = cache_dir() / kind
        if not parent.is_dir():
            continue
        for entry in parent.iterdir():
            if _owner_alive(entry):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed += 1
    return removed
