"""Scheduler fixtures: a store in the test's TIRO_HOME, and the pipeline process able to
import the stand-in targets of the isolation tests (``tests/`` on its PYTHONPATH)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from retrain.privacy import CONSENT_TEXT_VERSION
from retrain.store import Store

TESTS = Path(__file__).resolve().parent.parent


@pytest.fixture
def child_path(monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [str(TESTS.parent), str(TESTS)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))


@pytest.fixture
def store(tiro_home: Path, child_path: None):
    with Store.open(auto_snippets=False) as opened:
        yield opened


@pytest.fixture
def opted_in(store: Store) -> Store:
    store.set_consent(True, CONSENT_TEXT_VERSION).result()
    return store
