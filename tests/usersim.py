"""A simulated user, through the same store API the editor uses (tests and benchmarks).

Each clip is imported (transcribed by the champion), its segments merged into one, the
reference text typed in as the user's correction, the segment marked verified; then the
user opts in to learning and the snippets are captured.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from engine.corpus import CorpusItem
from retrain.importer import import_file
from retrain.privacy import CONSENT_TEXT_VERSION
from retrain.store import Store
from retrain.store.edits import MergeSegments, TextEdit


def correct_clip(store: Store, item: CorpusItem, text: str | None = None) -> int:
    """Import ``item`` and correct it to ``text`` (default: its reference). Returns the
    recording id."""
    result = import_file(store, item.path)
    segments = list(store.load_transcript(result.transcript_id).segments)
    while len(segments) > 1:
        store.apply_edit(
            result.transcript_id, MergeSegments(segments[0].id, segments[1].id)
        ).result()
        segments = list(store.load_transcript(result.transcript_id).segments)
    if segments:
        segment = segments[0]
        wanted = item.text if text is None else text
        if segment.text != wanted:
            store.apply_edit(
                result.transcript_id, TextEdit(segment.id, segment.text, wanted)
            ).result()
        store.mark_verified(result.transcript_id, [segment.id]).result()
    return result.recording_id


def simulate_user(store: Store, items: Sequence[CorpusItem]) -> list[int]:
    """Correct and verify every clip, opt in, capture snippets; returns recording ids."""
    ids = [correct_clip(store, item) for item in items]
    store.set_consent(True, CONSENT_TEXT_VERSION).result()
    store.capture_snippets().result()
    return ids


@contextmanager
def sharing_decodes(home: Path, shared: Path) -> Iterator[Path]:
    """Give ``home`` the session's pipeline decodes, and give back the ones it makes.

    The pipeline caches each decode under a key of the decoder's weights, the clip's
    content and the prompt (``retrain.pipeline.decode.CachedDecoder``), so a decode is
    valid in any home. The home gets its own folder of hard links to the shared files:
    a privacy delete in one test empties that folder only, never the session's cache.
    When the block ends, the decodes the home made are linked into the shared folder.
    """
    folder = home / "cache" / "decodes"
    link_decodes(shared, folder)
    try:
        yield folder
    finally:
        link_decodes(folder, shared)


def link_decodes(source: Path, target: Path) -> None:
    """Hard-link (or copy) every cached decode in ``source`` that ``target`` lacks."""
    target.mkdir(parents=True, exist_ok=True)
    for path in source.glob("*.json"):
        if not (target / path.name).exists():
            try:
                os.link(path, target / path.name)
            except OSError:
                shutil.copy2(path, target / path.name)
