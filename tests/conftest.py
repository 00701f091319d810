"""Shared fixtures. Every test runs with its own temporary TIRO_HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
CORPUS = Path(os.environ.get("TIRO_CORPUS", SHARED / "corpus"))

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def tiro_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty TIRO_HOME for every test."""
    home = tmp_path_factory.mktemp("tiro_home")
    monkeypatch.setenv("TIRO_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def corpus_root() -> Path:
    if not (CORPUS / "general" / "manifest.tsv").exists():
        pytest.fail(f"the shared speech corpus is missing at {CORPUS}; set TIRO_CORPUS")
    return CORPUS


@pytest.fixture(scope="session")
def general_corpus(corpus_root: Path) -> Path:
    return corpus_root / "general"


@pytest.fixture(scope="session")
def user_sim_corpus(corpus_root: Path) -> Path:
    return corpus_root / "user-sim"
