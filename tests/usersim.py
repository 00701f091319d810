"""A simulated user, through the same store API the editor uses (tests and benchmarks).

Each clip is imported (transcribed by the champion), its segments merged into one, the
reference text typed in as the user's correction, the segment marked verified; then the
user opts in to learning and the snippets are captured.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
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


def share_decodes(home: Path, decodes: Path) -> None:
    target = home / "cache" / "decodes"
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(decodes, target_is_directory=True)
