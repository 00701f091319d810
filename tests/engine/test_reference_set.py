"""The reference set that ships with Tiro (engine/data/reference): the same audio and the
same words as the public clips it was copied from (the shared corpus holds them too)."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

from engine.corpus import GATE, REFERENCE_SET_DIR, REPLAY, read_manifest, reference_set
from engine.scoring import normalize


def test_every_clip_is_its_source_byte_for_byte_with_its_licence_noted() -> None:
    with (REFERENCE_SET_DIR / "SOURCES.tsv").open(encoding="utf-8") as handle:
        sources = {row["file"]: row for row in csv.DictReader(handle, delimiter="\t")}
    items = reference_set()
    assert {i.path.name for i in items} == set(sources)
    assert {i.split for i in items} == {REPLAY, GATE}
    for item in items:
        assert (
            hashlib.sha256(item.path.read_bytes()).hexdigest() == sources[item.path.name]["sha256"]
        )
        assert sources[item.path.name]["license_of_repo"]


def test_the_texts_have_their_sources_words(general_corpus: Path) -> None:
    """Replay texts are cased and punctuated as Tiro writes (fine-tuning learns them), but
    their words, normalized as in scoring, are the corpus's exactly."""
    corpus = {i.path.name: i for i in read_manifest(general_corpus)}
    for item in reference_set():
        source = corpus[item.path.name]
        assert item.path.read_bytes() == source.path.read_bytes()
        assert normalize(item.text) == normalize(source.text), item.path.name
