"""Upgrading keeps the user's data: the previous build's TIRO_HOME works with this code.

The fixtures in ``tests/data/upgrade/`` are data folders made by earlier commits'
code (``tests/upgrade_fixture.py`` says how; ``fixture.json`` inside names the commit):
a database at that schema version with a real transcript, a correction and learning
consent, and a personalized model published as the champion. Installing one into a
fresh TIRO_HOME (a different path from where it was made, as after an upgrade that
moves the data dir) and opening it with this code must run the migrations, keep every
row, and keep serving the personal model. CI runs the same check against the frozen
build (packaging/check_bundle.py).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from engine import paths
from engine.corpus import SELF_TEST_CLIP, reference_set
from retrain.importer import import_file
from retrain.registry import FACTORY, Registry
from retrain.store import SCHEMA_VERSION, Store

FIXTURES = sorted((Path(__file__).parent / "data" / "upgrade").glob("home-*.tar.gz"))


def install(fixture: Path, home: Path) -> dict:
    """Unpack a previous build's data folder into ``home``; returns its description."""
    with tarfile.open(fixture) as tar:
        description = json.load(tar.extractfile("fixture.json"))
        for member in tar.getmembers():
            if member.name.startswith("home/"):
                member.name = member.name.removeprefix("home/")
                tar.extract(member, home, filter="data")
    return description


def test_there_is_a_fixture_from_an_earlier_commit() -> None:
    assert FIXTURES, "tests/data/upgrade/ has no previous build's data folder"


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_the_previous_builds_data_opens_migrated_and_intact(fixture: Path) -> None:
    home = paths.tiro_home()
    before = install(fixture, home)
    assert before["schema_version"] <= SCHEMA_VERSION
    assert before["generated_home"] != str(home)  # it really moved
    with Store.open() as store:
        assert store.schema_version() == SCHEMA_VERSION
        view = store.load_transcript(before["transcript_id"])
        assert [s.text for s in view.segments] == before["segment_texts"]
        assert len(store.edit_log(before["transcript_id"])) == 1
        assert store.consent().enabled


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_the_previous_builds_personal_model_still_serves(fixture: Path) -> None:
    before = install(fixture, paths.tiro_home())
    with Store.open() as store:
        registry = Registry(store)
        assert registry.champion() == before["champion"]
        choice = registry.serving_bundle()
        assert choice.version == before["champion"], choice
        assert choice.bundle is not None
        assert [t.text for t in choice.bundle.lexicon] == before["lexicon"]
        # A new transcription (real model, real clip) is made by the personal model,
        # with no fallback notice.
        clip = next(i for i in reference_set() if i.name == SELF_TEST_CLIP)
        result = import_file(store, clip.path)
    assert result.info.model_version == before["champion"]
    assert not result.info.notices, result.info.notices
    assert result.info.model_version != FACTORY
