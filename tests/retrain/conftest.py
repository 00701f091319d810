"""Shared fixtures of the pipeline tests: a simulated user's corrected store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from usersim import simulate_user

from engine.corpus import read_manifest
from retrain.store import Store


@pytest.fixture(scope="session")
def corrected_home(tmp_path_factory, user_sim_corpus: Path, prepared_models_dir: Path) -> Path:
    from engine.digests import CACHE_FILE
    from engine.prepare import PREPARED_ENV

    home = tmp_path_factory.mktemp("usersim-home")
    (home / "cache").mkdir()
    digests = prepared_models_dir.parent / f"{prepared_models_dir.name}.digests.json"
    (home / "cache" / CACHE_FILE).write_bytes(digests.read_bytes())
    items = [i for i in read_manifest(user_sim_corpus) if i.split == "train"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIRO_HOME", str(home))
        patch.setenv(PREPARED_ENV, str(prepared_models_dir))
        with Store.open(auto_snippets=False) as store:
            simulate_user(store, items)
    return home


@pytest.fixture
def user_home(corrected_home: Path, tiro_home: Path) -> Path:
    for child in corrected_home.iterdir():
        target = tiro_home / child.name
        if child.is_dir():
            shutil.copytree(child, target, dirs_exist_ok=True)
        else:
            shutil.copy2(child, target)
    return tiro_home
