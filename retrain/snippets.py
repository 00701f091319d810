"""Learning snippets: the audio of reviewed segments, kept while the user has opted in.

A snippet is a 16 kHz mono FLAC of one segment's span plus the uncovered audio
around it (``context_span``), written under ``engine.paths.snippets_dir()/<recording
id>/<segment id>-<start ms>-<end ms>-c<from ms>-<to ms>.flac`` with its sha256 and the
segment's span recorded in the ``snippets`` table. With snippets, learning no longer
depends on the original media file staying where it was.

Why the context: Whisper's segment end times are often early, and words the model
dropped at the end of a segment (which the user then typed in) lie after its span.
Measured on the 40 user-sim training clips: the last segment ended 0.03-0.4 s before
the speech did, and in one clip 1.2 s early, cutting off "Kästner's pull request";
a snippet of exactly the span taught fine-tuning text the audio does not hold. The
context reaches at most ``CONTEXT_MARGIN`` seconds each side and never into audio
another segment of the transcript covers, so it never holds a neighbour's words, nor
into speech the user deleted (``removed_speech``).

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
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from engine.digests import file_digest
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
#: At most this much uncovered audio before and after a segment goes into its snippet.
CONTEXT_MARGIN = 2.0


@dataclass(frozen=True, slots=True)
class SnippetSpan:
    """The part of the recording a snippet file holds (seconds)."""

    start: float
    end: float


def context_span(
    start: float,
    end: float,
    previous_end: float | None,
    next_start: float | None,
    duration: float | None,
    margin: float = CONTEXT_MARGIN,
) -> SnippetSpan:
    """The segment ``start..end`` widened by up to ``margin`` into audio no other segment
    covers: not before the previous segment's end (or 0), not after the next segment's
    start (or the recording's ``duration``, when known)."""
    lower = max(0.0, start - margin, previous_end if previous_end is not None else 0.0)
    upper = end + margin
    if next_start is not None:
        upper = min(upper, next_start)
    if duration is not None:
        upper = min(upper, duration)
    return SnippetSpan(min(start, lower), max(end, upper))


def _by_start(segments: list[tuple[int, float, float]]) -> tuple[list[float], list[float]]:
    """The ``(id, start, end)`` spans' starts in order, and for each position the
    latest end among the spans up to it (so ``bisect`` finds what comes before a time)."""
    ordered = sorted((start, end) for _, start, end in segments)
    latest_end: list[float] = []
    for _, end in ordered:
        latest_end.append(max(end, latest_end[-1]) if latest_end else end)
    return [start for start, _ in ordered], latest_end


def neighbour_bounds(
    segments: list[tuple[int, float, float]],
) -> dict[int, tuple[float | None, float | None]]:
    """For each ``(segment id, start, end)`` of one transcript: the latest end among the
    segments that start before it, and the earliest start among those that start after
    it (``None`` when there is none). Segments that start together get no context."""
    starts, latest_end = _by_start(segments)
    out: dict[int, tuple[float | None, float | None]] = {}
    for sid, start, _end in segments:
        first, past = bisect_left(starts, start), bisect_right(starts, start)
        if past - first > 1:
            out[sid] = (start, start)
            continue
        out[sid] = (
            latest_end[first - 1] if first else None,
            starts[past] if past < len(starts) else None,
        )
    return out


def removed_speech(
    segments: list[tuple[int, float, float]], model_segments: list[tuple[int, float, float]]
) -> list[tuple[int, float, float]]:
    """The ``model_segments`` (the transcript's ASR output, ``(id, start, end)``) that no
    current segment overlaps, as ``(-id, start, end)``: speech the user deleted (or
    retimed away from). They bound the context like any segment, so a neighbour's
    snippet never holds words the user removed: its text would not have them, and
    learning would be taught to leave speech out."""
    starts, latest_end = _by_start(segments)
    removed = []
    for asr_id, start, end in model_segments:
        before = bisect_left(starts, end)  # current segments that start before it ends
        if before == 0 or latest_end[before - 1] <= start:
            removed.append((-asr_id, start, end))
    return removed


@dataclass(frozen=True)
class CaptureReport:
    captured: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    removed_files: int = 0


def snippet_name(candidate: Candidate, span: SnippetSpan) -> str:
    return (
        f"{candidate.recording_id}/{candidate.segment_id}-"
        f"{round(candidate.start * 1000)}-{round(candidate.end * 1000)}-"
        f"c{round(span.start * 1000)}-{round(span.end * 1000)}.flac"
    )


def needs_capture(candidate: Candidate, name: str) -> bool:
    """Whether the segment's snippet is missing or stale: retimed, or its context
    changed (a neighbour moved), or captured before snippets held context."""
    # the name holds the segment's span and the context, so a retimed segment or a moved
    # neighbour gives another name
    return candidate.snippet_path != name or not (snippets_dir() / name).is_file()


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

    def due(conn: sqlite3.Connection):
        conn.execute("BEGIN")
        try:
            enabled = read_consent(conn).enabled
            found = (
                load_candidates(conn, transcript_id=transcript_id, reviewed_only=True)
                if enabled
                else []
            )
            recordings = {
                rid: (path, sha, duration)
                for rid, path, sha, duration in conn.execute(
                    "SELECT id, path, sha256, duration FROM recordings"
                )
            }
            bounds: dict[int, tuple[float | None, float | None]] = {}
            for tid in sorted({c.transcript_id for c in found}):
                rows = conn.execute(
                    "SELECT id, start_sec, end_sec FROM segments WHERE transcript_id = ?", (tid,)
                ).fetchall()
                model_rows = conn.execute(
                    "SELECT id, start_sec, end_sec FROM asr_segments WHERE transcript_id = ?",
                    (tid,),
                ).fetchall()
                bounds.update(neighbour_bounds(rows + removed_speech(rows, model_rows)))
        finally:
            conn.execute("COMMIT")
        return enabled, found, recordings, bounds

    enabled, candidates, recordings, bounds = store.read(due)
    if not enabled:
        skipped["consent_off"] += 1
        return finish(0)

    def span_of(c: Candidate) -> SnippetSpan:
        previous_end, next_start = bounds.get(c.segment_id, (None, None))
        duration = recordings.get(c.recording_id, ("", "", None))[2]
        return context_span(c.start, c.end, previous_end, next_start, duration)

    spans = {c.segment_id: span_of(c) for c in candidates}
    todo = [
        c
        for c in candidates
        if is_reviewed(c, config)
        and needs_capture(c, snippet_name(c, spans[c.segment_id]))
        and text_rejection(c, config) is None
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
        source, sha, _duration = recordings.get(candidate.recording_id, ("", "", None))
        if candidate.recording_id not in verified:
            verified[candidate.recording_id] = _source_matches(Path(source), sha, skipped)
        if not verified[candidate.recording_id]:
            skipped["recording_unavailable"] += 1
            continue
        span = spans[candidate.segment_id]
        relative = snippet_name(candidate, span)
        target = snippets_dir() / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        try:
            samples = decode_span(Path(source), span.start, span.end)
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
        if file_digest(path) != sha256:  # cached by size, mtime and inode
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
