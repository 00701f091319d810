"""The reference set that ships with Tiro (engine/data/reference): the same audio and the
same words as the public clips it was copied from (the shared corpus holds them too)."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from engine.corpus import GATE, REFERENCE_SET_DIR, REPLAY, read_manifest, reference_set
from engine.scoring import normalize


def _sources() -> dict[str, dict[str, str]]:
    with (REFERENCE_SET_DIR / "SOURCES.tsv").open(encoding="utf-8") as handle:
        return {row["file"]: row for row in csv.DictReader(handle, delimiter="\t")}


def test_every_clip_is_its_source_byte_for_byte_with_its_licence_noted() -> None:
    sources = _sources()
    items = reference_set()
    assert {i.path.name for i in items} == set(sources)
    assert {i.split for i in items} == {REPLAY, GATE}
    for item in items:
        assert (
            hashlib.sha256(item.path.read_bytes()).hexdigest() == sources[item.path.name]["sha256"]
        )
        assert sources[item.path.name]["license_of_repo"]


def test_the_texts_have_their_sources_words() -> None:
    """Replay texts are cased and punctuated as Tiro writes (fine-tuning learns them), but
    every clip's words, normalized as in scoring, are its source's exactly."""
    sources = _sources()
    for item in reference_set():
        assert normalize(item.text) == normalize(sources[item.path.name]["source_text"]), (
            item.path.name
        )


def test_clips_from_the_shared_corpus_are_its_clips(general_corpus: Path) -> None:
    """The clips the shared general corpus also holds are its files, with its texts."""
    corpus = {i.path.name: i for i in read_manifest(general_corpus)}
    sources = _sources()
    shared = [item for item in reference_set() if item.path.name in corpus]
    assert len(shared) == 9
    for item in shared:
        source = corpus[item.path.name]
        assert item.path.read_bytes() == source.path.read_bytes()
        assert sources[item.path.name]["source_text"] == source.text


def test_the_gate_part_is_large_enough_to_see_half_a_point() -> None:
    """The gate's no-harm bound is 0.5 WER points; a fine-tuned candidate is scored on the
    gate clips only, so they must hold at least 200 words for one word to weigh <= 0.5."""
    words = sum(len(normalize(item.text).split()) for item in reference_set(GATE))
    assert words >= 200
