"""TIRO_HOME folders built once per session and copied into each test's own home."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def building_home(home: Path, prepared_models_dir: Path) -> Iterator[Path]:
    """Make ``home`` the TIRO_HOME (with the session's prepared model) while it is built."""
    from engine.digests import CACHE_FILE
    from engine.prepare import PREPARED_ENV

    (home / "cache").mkdir(parents=True, exist_ok=True)
    digests = prepared_models_dir.parent / f"{prepared_models_dir.name}.digests.json"
    (home / "cache" / CACHE_FILE).write_bytes(digests.read_bytes())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIRO_HOME", str(home))
        patch.setenv(PREPARED_ENV, str(prepared_models_dir))
        yield home


def copy_home(source: Path, target: Path) -> Path:
    """Copy a built home's contents into ``target`` (a test's TIRO_HOME)."""
    for child in source.iterdir():
        if child.is_dir():
            shutil.copytree(child, target / child.name, dirs_exist_ok=True)
        else:
            shutil.copy2(child, target / child.name)
    return target
