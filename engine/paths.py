"""Where Tiro keeps its files.

Everything Tiro writes lives under one directory: ``$TIRO_HOME`` when that
variable is set (tests always set it), otherwise the platform's user data
directory (``platformdirs``). Nothing is ever written next to the program.

Layout::

    TIRO_HOME/
        tiro.sqlite      telemetry store (retrain.store)
        models/          prepared base model and personalized bundles
        snippets/        learning audio, only while the user has opted in
        logs/            log files
        cache/           anything that can be thrown away
        locks/           lock files other Tiro processes look at (e.g. "transcribing")
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "tiro"
ENV_VAR = "TIRO_HOME"


def tiro_home() -> Path:
    """The root of everything Tiro writes, created on first use."""
    override = os.environ.get(ENV_VAR)
    home = (
        Path(override).expanduser()
        if override
        else platformdirs.user_data_path(APP_NAME, appauthor=False)
    )
    home.mkdir(parents=True, exist_ok=True)
    return home


def _subdir(name: str) -> Path:
    path = tiro_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def models_dir() -> Path:
    return _subdir("models")


def snippets_dir() -> Path:
    return _subdir("snippets")


def logs_dir() -> Path:
    return _subdir("logs")


def cache_dir() -> Path:
    return _subdir("cache")


def locks_dir() -> Path:
    return _subdir("locks")


def database_path() -> Path:
    return tiro_home() / "tiro.sqlite"
