"""The registry: atomic publish, champion alias, rollback, use-base, retention, deleted
data, fallback. Real store, real files, real engine loading; no model decoding here."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from engine.bundle import CorrectionRule, DecodingDefaults, LexiconTerm, ModelBundle
from engine.errors import ModelError
from retrain.registry import FACTORY, Registry, personal_dir
from retrain.store import Store


def draft(tag: str) -> ModelBundle:
    return ModelBundle(
        version="",
        kind="personal",
        directory=None,
        lexicon=(LexiconTerm(f"Term{tag}", 3),),
        rules=(CorrectionRule(("cube", "control"), "kubectl", 3, 1.0),),
        decoding=DecodingDefaults(prompt=f"We use Term{tag} daily."),
        lineage={"examples_hash": f"hash-{tag}"},
    )


@pytest.fixture
def store(tiro_home: Path):
    with Store.open(auto_snippets=False) as s:
        yield s


def test_a_fresh_registry_serves_the_factory_model(store: Store) -> None:
    registry = Registry(store)
    assert registry.champion() == FACTORY
    assert registry.serving_bundle().bundle is None
    assert registry.champion_path() is None
    assert registry.versions() == []


def test_publish_writes_a_verified_bundle_and_moves_the_champion(store: Store) -> None:
    registry = Registry(store)
    first = registry.publish(draft("a"), version="v1")
    assert registry.champion() == "v1" and first.status == "champion"
    assert first.parent_version == FACTORY
    bundle = registry.serving_bundle().bundle
    assert bundle is not None and bundle.lexicon == (LexiconTerm("Terma", 3),)
    assert bundle.decoding.prompt == "We use Terma daily."
    second = registry.publish(draft("b"), version="v2")
    assert registry.champion() == "v2" and second.parent_version == "v1"
    assert registry.version("v1").status == "previous"
    assert not any(p.name.startswith(".tmp-") for p in personal_dir().iterdir())


def test_rollback_and_use_base(store: Store) -> None:
    registry = Registry(store)
    registry.publish(draft("a"), version="v1")
    registry.publish(draft("b"), version="v2")
    assert registry.rollback() == "v1"
    assert registry.champion() == "v1"
    assert registry.version("v2").status == "rolled_back"
    assert registry.rollback() == FACTORY
    registry.publish(draft("c"), version="v3")
    registry.use_base()
    assert registry.champion() == FACTORY
    assert registry.serving_bundle().bundle is None


def test_only_the_last_versions_keep_their_files(store: Store) -> None:
    registry = Registry(store, keep=5)
    for i in range(8):
        registry.publish(draft(str(i)), version=f"v{i}")
    on_disk = sorted(p.name for p in personal_dir().iterdir())
    assert on_disk == ["v3", "v4", "v5", "v6", "v7"]
    assert registry.version("v0").status == "removed"
    assert registry.champion() == "v7"


def test_a_damaged_champion_falls_back_to_the_factory_model_with_a_message(store: Store) -> None:
    registry = Registry(store)
    registry.publish(draft("a"), version="v1")
    manifest = personal_dir() / "v1" / "bundle.json"
    manifest.write_text(manifest.read_text().replace("Terma", "Termz"))
    choice = registry.serving_bundle()
    assert choice.bundle is None and choice.version == FACTORY
    assert "v1" in (choice.notice or "") and "factory model" in (choice.notice or "")
    with pytest.raises(ModelError):
        registry.bundle_of("v1")


def test_a_version_is_read_only_from_this_data_folder(store: Store, tmp_path: Path) -> None:
    """A row names the absolute path its version was written to; if that is another data
    folder (a copied database, a restored backup), the files there are never served."""
    registry = Registry(store)
    registry.publish(draft("a"), version="v1")
    elsewhere = tmp_path / "another-home" / "v1"
    shutil.move(personal_dir() / "v1", elsewhere)
    store.write(
        lambda c: c.execute(
            "UPDATE model_versions SET path = ? WHERE version = 'v1'", (str(elsewhere),)
        )
    ).result()
    assert registry.version("v1").path == str(personal_dir() / "v1")
    choice = registry.serving_bundle()
    assert choice.bundle is None and choice.version == FACTORY
    assert "v1" in (choice.notice or "") and "factory model" in (choice.notice or "")
    shutil.move(elsewhere, personal_dir() / "v1")  # the data folder has it again: served
    assert registry.serving_bundle().bundle is not None


def test_versions_trained_on_deleted_data_are_retired(store: Store) -> None:
    registry = Registry(store)
    registry.publish(draft("a"), version="v1")
    registry.publish(draft("b"), version="v2")
    registry.publish(draft("c"), version="v3")
    store.write(
        lambda c: c.execute(
            "UPDATE model_versions SET trained_on_deleted_data = 1 WHERE version IN ('v2', 'v3')"
        )
    ).result()
    assert registry.retire_deleted() == ["v2", "v3"]
    assert registry.champion() == "v1"  # the newest version not trained on deleted data
    assert not (personal_dir() / "v3").exists() and not (personal_dir() / "v2").exists()
    store.write(
        lambda c: c.execute("UPDATE model_versions SET trained_on_deleted_data = 1")
    ).result()
    assert registry.retire_deleted() == ["v1"]
    assert registry.champion() == FACTORY
    assert registry.retire_deleted() == []


def test_sweep_removes_half_written_and_unregistered_directories(store: Store) -> None:
    registry = Registry(store)
    registry.publish(draft("a"), version="v1")
    (personal_dir() / ".tmp-v9-123").mkdir()
    registry.write_version(draft("orphan"), "v-orphan")  # written, never registered
    assert sorted(registry.sweep()) == [".tmp-v9-123", "v-orphan"]
    assert [p.name for p in personal_dir().iterdir()] == ["v1"]


def test_registry_rows_are_consistent_with_aliases(store: Store) -> None:
    registry = Registry(store)
    registry.publish(draft("a"), version="v1")
    conn = sqlite3.connect(store.path)
    try:
        alias = conn.execute("SELECT version FROM model_aliases WHERE alias='champion'").fetchone()
        row = conn.execute("SELECT status FROM model_versions WHERE version='v1'").fetchone()
    finally:
        conn.close()
    assert alias == ("v1",) and row == ("champion",)
