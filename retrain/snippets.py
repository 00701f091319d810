"""Learning snippets: the audio of reviewed segments, kept while the user has opted in.

A snippet is a 16 kHz mono FLAC of exactly one segment's span, written under
``engine.paths.snippets_dir()/<recording id>/<segment id>-<start ms>-<end ms>.flac``
with its sha256 recorded in the ``snippets`` table. With snippets, learning no
longer depends on the original media file staying where it was.

Captured only:
- while consent is on (checked again in the same transaction that records the
  snippet, so an opt-out racing a capture leaves no file behind);
- for segments that pass every text rule of the data contract (reviewed, has a
  hypothesis, duration, timing, no note/rewrite/added text, token budget), so no
  audio is kept that learning would not use;
- from an original file whose sha256 still matches the recording's.

A segment retimed after its capture gets a new snippet at the next capture; the
old file is removed. Opting out deletes every snippet (``retrain.store`` does that).
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.paths import snippets_dir
from retrain.contract import (
    Candidate,
    ContractConfig,
    file_sha256,
    is_reviewed,
    load_candidates,
    text_rejection,
)
from retrain.store.reads import consent as read_consent

if TYPE_CHECKING:
    import sqlite3

    from retrain.store.store import Store

log = logging.getLogger("tiro.snippets")

SNIPPET_RATE = 16_000


@dataclass(frozen=True)
class CaptureReport:
    captured: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    removed_files: int = 0


def snippet_name(candidate: Candidate) -> str:
    return (
        f"{candidate.recording_id}/{candidate.segment_id}-"
        f"{round(candidate.start * 1000)}-{round(candidate.end * 1000)}.flac"
    )


def needs_capture(candidate: Candidate) -> bool:
    if candidate.snippet_path is None:
        return True
    if not (snippets_dir() / candidate.snippet_path).is_file():
        return True
    return (
        abs((candidate.snippet_start or 0.0) - candidate.start) > 1e-3
        or abs((candidate.snippet_end or 0.0) - candidate.end) > 1e-3
    )


def capture_snippets(
    store: Store,
    *,
    transcript_id: int | None = None,
    config: ContractConfig | None = None,
    cancel: Callable[[], bool] | None = None,
    sweep: bool = True,
) -> CaptureReport:
    """Write the snippets that are due. Blocking: run it off the UI thread.

    ``sweep`` also deletes snippet files no row refers to any more (segments deleted
    by an edit); it walks the snippets folder, so frequent callers may skip it.
    """
    config = config or ContractConfig()

    def finish(captured: int) -> CaptureReport:
        return CaptureReport(captured, skipped, sweep_orphans(store) if sweep else 0)

    skipped: Counter[str] = Counter()

    def due(conn: sqlite3.Connection) -> tuple[bool, list[Candidate], dict[int, tuple[str, str]]]:
        conn.execute("BEGIN")
        try:
            enabled = read_consent(conn).enabled
            found = (
                load_candidates(conn, transcript_id=transcript_id, reviewed_only=True)
                if enabled
                else []
            )
            recordings = {
                rid: (path, sha)
                for rid, path, sha in conn.execute("SELECT id, path, sha256 FROM recordings")
            }
        finally:
            conn.execute("COMMIT")
        return enabled, found, recordings

    enabled, candidates, recordings = store.read(due)
    if not enabled:
        skipped["consent_off"] += 1
        return finish(0)
    todo = [
        c
        for c in candidates
        if is_reviewed(c, config) and needs_capture(c) and text_rejection(c, config) is None
    ]
    if not todo:
        return finish(0)
    try:
        from engine.audio import decode_span, encode_flac
    except ImportError:
        log.warning("engine.audio is not available; no snippets captured")
        skipped["audio_unavailable"] += len(todo)
        return CaptureReport(0, skipped, 0)

    captured = 0
    verified: dict[int, bool] = {}
    for candidate in todo:
        if cancel is not None and cancel():
            skipped["cancelled"] += 1
            break
        source, sha = recordings.get(candidate.recording_id, ("", ""))
        if candidate.recording_id not in verified:
            verified[candidate.recording_id] = _source_matches(Path(source), sha, skipped)
        if not verified[candidate.recording_id]:
            skipped["recording_unavailable"] += 1
            continue
        relative = snippet_name(candidate)
        target = snippets_dir() / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        try:
            samples = decode_span(Path(source), candidate.start, candidate.end)
            encode_flac(samples, temporary)
            digest = file_sha256(temporary)
            size = temporary.stat().st_size
            temporary.replace(target)
        except Exception:
            log.warning(
                "could not capture a snippet for segment %s", candidate.segment_id, exc_info=True
            )
            with contextlib.suppress(OSError):
                temporary.unlink()
            skipped["decode_failed"] += 1
            continue
        kept = store.write(
            lambda conn, c=candidate, rel=relative, d=digest, n=size: _record(conn, c, rel, d, n)
        ).result()
        if kept is None:
            with contextlib.suppress(OSError):
                target.unlink()
            skipped["changed_meanwhile"] += 1
            continue
        if kept and kept != relative:
            with contextlib.suppress(OSError):
                (snippets_dir() / kept).unlink()
        captured += 1
    return finish(captured)


def _source_matches(path: Path, sha256: str, skipped: Counter[str]) -> bool:
    if not path.is_file():
        skipped["recording_missing"] += 1
        return False
    try:
        if file_sha256(path) != sha256:
            skipped["recording_changed"] += 1
            return False
    except OSError:
        skipped["recording_missing"] += 1
        return False
    return True


def _record(
    conn: sqlite3.Connection, candidate: Candidate, relative: str, digest: str, size: int
) -> str | None:
    """Record a captured file. Returns the previous file's path ("" if none), or None to drop it."""
    from retrain.store.writes import utc_now

    if not read_consent(conn).enabled:
        return None
    row = conn.execute(
        "SELECT start_sec, end_sec FROM segments WHERE id = ?", (candidate.segment_id,)
    ).fetchone()
    if row is None or abs(row[0] - candidate.start) > 1e-3 or abs(row[1] - candidate.end) > 1e-3:
        return None
    previous = conn.execute(
        "SELECT path FROM snippets WHERE segment_id = ?", (candidate.segment_id,)
    ).fetchone()
    conn.execute("DELETE FROM snippets WHERE segment_id = ?", (candidate.segment_id,))
    conn.execute(
        "INSERT INTO snippets (segment_id, recording_id, path, sha256, start_sec, end_sec, "
        "sample_rate, size_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            candidate.segment_id,
            candidate.recording_id,
            relative,
            digest,
            candidate.start,
            candidate.end,
            SNIPPET_RATE,
            size,
            utc_now(),
        ),
    )
    return previous[0] if previous else ""


def sweep_orphans(store: Store) -> int:
    """Delete snippet files no row refers to (left by deleted segments or recordings)."""
    root = snippets_dir()
    known = set(store.read(lambda conn: [p for (p,) in conn.execute("SELECT path FROM snippets")]))
    removed = 0
    for path in root.rglob("*.flac"):
        if path.name.startswith("."):
            continue
        if path.relative_to(root).as_posix() not in known:
            with contextlib.suppress(OSError):
                path.unlink()
                removed += 1
    return removed


def delete_files(relative_paths: list[str]) -> int:
    removed = 0
    root = snippets_dir()
    for relative in relative_paths:
        with contextlib.suppress(FileNotFoundError):
            (root / relative).unlink()
            removed += 1
    return removed
