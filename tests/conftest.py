"""Shared fixtures. Every test runs with its own temporary TIRO_HOME."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from homes import building_home, copy_home
from usersim import sharing_decodes, simulate_user

from engine.corpus import read_manifest
from retrain.store import Store

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


# ---------------------------------------------------------------- the prepared base model
#
# Converting the bundled model takes a few seconds, so it happens once per session:
# ``prepared_models_dir`` is made with ``engine.prepare.prepare_to`` (as a packaged build
# does) and every test sees it as the shipped read-only folder ($TIRO_PREPARED_MODELS),
# with the file-digest cache pre-warmed in its TIRO_HOME. ``ensure_base_model()`` then
# returns it in about a millisecond. Never modify files under it: copy it first.
# Tests of preparation itself unset TIRO_PREPARED_MODELS.


@pytest.fixture(scope="session")
def prepared_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from engine.digests import CACHE_FILE
    from engine.prepare import PREPARED_ENV, ensure_base_model, prepare_to

    root = tmp_path_factory.mktemp("prepared-models")
    home = tmp_path_factory.mktemp("prepare_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TIRO_HOME", str(home))
        prepare_to(root)
        patch.setenv(PREPARED_ENV, str(root))
        ensure_base_model()  # hashes each file once and caches the digests
    _warm_digests(root).write_bytes((home / "cache" / CACHE_FILE).read_bytes())
    return root


def _warm_digests(prepared: Path) -> Path:
    return prepared.parent / f"{prepared.name}.digests.json"


@pytest.fixture(autouse=True)
def shipped_base_model(
    prepared_models_dir: Path, tiro_home: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    from engine.digests import CACHE_FILE
    from engine.prepare import PREPARED_ENV

    monkeypatch.setenv(PREPARED_ENV, str(prepared_models_dir))
    cache = tiro_home / "cache"
    cache.mkdir(exist_ok=True)
    (cache / CACHE_FILE).write_bytes(_warm_digests(prepared_models_dir).read_bytes())
    return prepared_models_dir


@pytest.fixture
def base_model(shipped_base_model: Path):
    """The base model bundle (prepared once per session)."""
    from engine.prepare import ensure_base_model

    return ensure_base_model()


# ------------------------------------------------------ a simulated user's corrected store
# (the pipeline, scheduler and monitor tests share it: simulating the 40 corrected clips once)
@pytest.fixture(scope="session")
def corrected_home(tmp_path_factory, user_sim_corpus: Path, prepared_models_dir: Path) -> Path:
    items = [i for i in read_manifest(user_sim_corpus) if i.split == "train"]
    home = tmp_path_factory.mktemp("usersim-home")
    with building_home(home, prepared_models_dir), Store.open(auto_snippets=False) as store:
        simulate_user(store, items)
    return home


@pytest.fixture(scope="session")
def shared_decodes(tmp_path_factory) -> Path:
    """One pipeline decode cache for the session's tests (``usersim.sharing_decodes``):
    it spares every test re-decoding the same 40 clips."""
    return tmp_path_factory.mktemp("shared-decodes")


@pytest.fixture
def user_home(corrected_home: Path, tiro_home: Path, shared_decodes: Path) -> Iterator[Path]:
    copy_home(corrected_home, tiro_home)
    with sharing_decodes(tiro_home, shared_decodes):
        yield tiro_home
