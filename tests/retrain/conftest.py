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


@pytest.fixture(scope="session")
def shared_decodes(tmp_path_factory) -> Path:
    """One pipeline decode cache for the session's tests.

    The pipeline caches each decode under a key of the decoder's weights, the clip's content
    and the prompt (``retrain.pipeline.decode.CachedDecoder``), so a decode is valid in any
    home; sharing it spares every test re-decoding the same 40 clips.
    """
    return tmp_path_factory.mktemp("shared-decodes")


def share_decodes(home: Path, decodes: Path) -> None:
    target = home / "cache" / "decodes"
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(decodes, target_is_directory=True)


@pytest.fixture
def user_home(corrected_home: Path, tiro_home: Path, shared_decodes: Path) -> Path:
    for child in corrected_home.iterdir():
        target = tiro_home / child.name
        if child.is_dir():
            shutil.copytree(child, target, dirs_exist_ok=True)
        else:
            shutil.copy2(child, target)
    share_decodes(tiro_home, shared_decodes)
    return tiro_home
