"""Privacy controls: the learning opt-in, exporting learning data, deleting recordings.

- Learning is opt-in and off by default (no ``consent`` row means off).
  ``CONSENT_TEXT`` is what the app's consent dialog and ``tiro data consent on``
  show; its ``CONSENT_TEXT_VERSION`` is recorded with every change of mind.
- ``export_learning_data`` writes a zip of JSON plus the audio snippets: everything
  Tiro would learn from right now (the data contract's examples), with the reasons
  the rest is excluded.
- ``delete_recordings`` removes recordings and everything derived from them. After
  it, none of their text or audio bytes is left anywhere under TIRO_HOME: rows are
  deleted (transcripts, segments, ASR output, edits, review signals, snippets, the
  examples that training runs used), the full-text index is rebuilt, the database
  is VACUUMed and its WAL truncated, snippet files, Tiro-owned media (microphone
  recordings) and cached files of the recording are removed, and log lines quoting
  its text or file name are scrubbed. Model versions trained on the recordings are
  marked ``trained_on_deleted_data``; the pipeline retires them at its next run.
  Damaged database copies that were moved aside are removed too (all of them for
  ``--all``; for one recording, those that contain its text).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.paths import cache_dir, logs_dir, snippets_dir, tiro_home
from retrain.contract import CONTRACT_VERSION, ContractConfig, build_examples
from retrain.errors import PrivacyError
from retrain.snippets import delete_files
from retrain.staging import remove_orphans
from retrain.store.writes import utc_now

if TYPE_CHECKING:
    from retrain.store.store import Store

log = logging.getLogger("tiro.privacy")

CONSENT_TEXT_VERSION = "1"
CONSENT_TEXT = """\
Let Tiro learn from your corrections?

If you turn this on, Tiro keeps, on this computer only:
  - the text of segments you reviewed (corrected, marked verified, or played
    through without changing), next to what the model had written;
  - a short audio clip (16 kHz mono FLAC) of each of those segments, in the
    "snippets" folder under {home}.
A background job uses them to build a personal model (your vocabulary, names and
recurring fixes). It is served only when it measurably does better than the one
you have. Nothing is ever sent anywhere.

You can turn this off at any time (the audio clips are deleted at once), see
everything Tiro would learn from with `tiro data export FILE.zip`, and delete a
recording and everything derived from it with `tiro data delete --recording ID`
(or everything with `--all`).
"""

MIN_SCRUB_LENGTH = 4


def consent_text() -> str:
    return CONSENT_TEXT.format(home=tiro_home())


# --- statistics ------------------------------------------------------------------------


@dataclass(frozen=True)
class DataStats:
    consent_enabled: bool
    consent_text_version: str | None
    consent_changed_at: str | None
    recordings: int
    transcripts: int
    segments: int
    reviewed_segments: int
    examples: int
    corrections: int
    unchanged: int
    rejections: dict[str, int]
    snippets: int
    snippet_bytes: int
    contract_version: int = CONTRACT_VERSION

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def data_stats(store: Store, config: ContractConfig | None = None) -> DataStats:
    stats = store.stats()
    result = build_examples(store, config=config)
    return DataStats(
        consent_enabled=stats.consent.enabled,
        consent_text_version=stats.consent.consent_text_version,
        consent_changed_at=stats.consent.changed_at,
        recordings=stats.recordings,
        transcripts=stats.transcripts,
        segments=stats.segments,
        reviewed_segments=stats.reviewed_segments,
        examples=len(result.examples),
        corrections=len(result.corrections),
        unchanged=len(result.unchanged),
        rejections=dict(sorted(result.rejections.items())),
        snippets=stats.snippets,
        snippet_bytes=stats.snippet_bytes,
    )


# --- export ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExportReport:
    path: Path
    examples: int
    audio_files: int
    bytes: int


def export_learning_data(
    store: Store, destination: str | Path, config: ContractConfig | None = None
) -> ExportReport:
    """Write ``destination`` (a zip): examples.json, rejections, consent, recordings, audio."""
    destination = Path(destination)
    result = build_examples(store, config=config)

    def gather(conn: sqlite3.Connection) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        consent = [
            {"enabled": bool(e), "consent_text_version": v, "at": at}
            for e, v, at in conn.execute(
                "SELECT enabled, consent_text_version, created_at FROM consent ORDER BY id"
            )
        ]
        ids = sorted({e.recording_id for e in result.examples})
        recordings = [
            {"id": rid, "name": name, "path": path, "sha256": sha, "duration": duration}
            for rid, name, path, sha, duration in conn.execute(
                "SELECT id, name, path, sha256, duration FROM recordings "
                f"WHERE id IN ({','.join('?' * len(ids))}) ORDER BY id",
                ids,
            )
        ]
        return consent, recordings

    consent, recordings = store.read(gather)
    examples = []
    for example in result.examples:
        entry = {
            "example_id": example.example_id,
            "contract_version": example.contract_version,
            "recording_id": example.recording_id,
            "transcript_id": example.transcript_id,
            "segment_id": example.segment_id,
            "start": example.audio.start,
            "end": example.audio.end,
            "audio": f"audio/{example.audio.path.name}",
            "audio_sha256": example.audio.sha256,
            "hypothesis": example.hypothesis,
            "reference": example.reference,
            "model_version": example.model_version,
            "review_source": example.review_source,
            "is_correction": example.is_correction,
        }
        examples.append(entry)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=".tiro-export-", suffix=".zip", dir=destination.parent)
    os.close(fd)
    audio_files = 0
    try:
        with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("README.txt", _export_readme(result.consent_enabled))
            archive.writestr(
                "examples.json",
                json.dumps(
                    {"contract_version": CONTRACT_VERSION, "examples": examples},
                    ensure_ascii=False,
                    indent=1,
                ),
            )
            archive.writestr(
                "rejections.json", json.dumps(dict(sorted(result.rejections.items())), indent=1)
            )
            archive.writestr("consent.json", json.dumps(consent, indent=1))
            archive.writestr(
                "recordings.json", json.dumps(recordings, ensure_ascii=False, indent=1)
            )
            for example in result.examples:
                archive.write(example.audio.path, f"audio/{example.audio.path.name}")
                audio_files += 1
        Path(temporary).replace(destination)
    except OSError as exc:
        with contextlib.suppress(OSError):
            Path(temporary).unlink()
        raise PrivacyError(
            f"could not write the export to {destination} ({exc.strerror or exc}); "
            "choose another place."
        ) from exc
    return ExportReport(destination, len(examples), audio_files, destination.stat().st_size)


def _export_readme(consent_enabled: bool) -> str:
    state = "on" if consent_enabled else "off (so nothing is learned and the list is empty)"
    return (
        "Everything Tiro would learn from, exported from this computer.\n\n"
        f"Learning is {state}.\n"
        f"Data contract version {CONTRACT_VERSION} (see retrain/contract.py).\n\n"
        "examples.json    one entry per learning example: what the model wrote (hypothesis),\n"
        "                 what you made of it (reference), and the audio clip it is learned from\n"
        "audio/           16 kHz mono FLAC clips, one per example\n"
        "rejections.json  how many segments were left out, per reason\n"
        "consent.json     every time learning was turned on or off\n"
        "recordings.json  the recordings the examples come from\n"
    )


# --- delete ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DeleteReport:
    recordings: int = 0
    transcripts: int = 0
    segments: int = 0
    snippet_files: int = 0
    media_files: int = 0
    cache_entries: int = 0
    log_lines_scrubbed: int = 0
    corrupt_copies_removed: int = 0
    models_marked: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Doomed:
    recording_ids: list[int]
    transcripts: int
    segments: int
    texts: set[str]
    names: set[str]
    sha256s: set[str]
    owned_media: list[Path]
    snippet_paths: list[str]


def delete_recordings(store: Store, recording_ids: Sequence[int] | None = None) -> DeleteReport:
    """Delete recordings (``None``: all) and everything derived from them. Blocking."""
    doomed = store.read(lambda conn: _collect(conn, recording_ids))
    if recording_ids is not None:
        missing = sorted(set(recording_ids) - set(doomed.recording_ids))
        if missing:
            from retrain.errors import NotFoundError

            raise NotFoundError(
                f"recording {missing[0]} does not exist; see `tiro transcripts list`."
            )
    marked = store.write(lambda conn: _delete_rows(conn, doomed.recording_ids)).result()
    _compact(store)
    snippet_files = delete_files(doomed.snippet_paths)
    for rid in doomed.recording_ids:
        folder = snippets_dir() / str(rid)
        if folder.is_dir():
            snippet_files += sum(1 for p in folder.rglob("*") if p.is_file())
            shutil.rmtree(folder, ignore_errors=True)
    media = 0
    for path in doomed.owned_media:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            media += 1
    cache = _remove_cached(doomed)
    scrubbed = scrub_logs(doomed.texts | doomed.names)
    corrupt = _remove_corrupt_copies(store.path, doomed.texts, every=recording_ids is None)
    log.info(
        "deleted %d recording(s): %d transcripts, %d segments, %d snippet files",
        len(doomed.recording_ids),
        doomed.transcripts,
        doomed.segments,
        snippet_files,
    )
    return DeleteReport(
        recordings=len(doomed.recording_ids),
        transcripts=doomed.transcripts,
        segments=doomed.segments,
        snippet_files=snippet_files,
        media_files=media,
        cache_entries=cache,
        log_lines_scrubbed=scrubbed,
        corrupt_copies_removed=corrupt,
        models_marked=marked,
    )


def _collect(conn: sqlite3.Connection, recording_ids: Sequence[int] | None) -> _Doomed:
    conn.execute("BEGIN")
    try:
        if recording_ids is None:
            rows = conn.execute("SELECT id, path, name, sha256, owned FROM recordings").fetchall()
        else:
            ids = list(recording_ids)
            rows = conn.execute(
                "SELECT id, path, name, sha256, owned FROM recordings "
                f"WHERE id IN ({','.join('?' * len(ids))})",
                ids,
            ).fetchall()
        rids = [r[0] for r in rows]
        marks = ",".join("?" * len(rids))
        texts: set[str] = set()
        transcripts = segments = 0
        snippet_paths: list[str] = []
        if rids:
            transcript_ids = [
                t
                for (t,) in conn.execute(
                    f"SELECT id FROM transcripts WHERE recording_id IN ({marks})", rids
                )
            ]
            transcripts = len(transcript_ids)
            tmarks = ",".join("?" * len(transcript_ids))
            if transcript_ids:
                for text, hyp in conn.execute(
                    f"SELECT text, hyp_text FROM segments WHERE transcript_id IN ({tmarks})",
                    transcript_ids,
                ):
                    segments += 1
                    texts.update(t for t in (text, hyp) if t)
                texts.update(
                    t
                    for (t,) in conn.execute(
                        f"SELECT text FROM asr_segments WHERE transcript_id IN ({tmarks})",
                        transcript_ids,
                    )
                    if t
                )
                for (payload,) in conn.execute(
                    f"SELECT payload_json FROM edits WHERE transcript_id IN ({tmarks})",
                    transcript_ids,
                ):
                    texts.update(_texts_in(json.loads(payload)))
            snippet_paths = [
                p
                for (p,) in conn.execute(
                    f"SELECT path FROM snippets WHERE recording_id IN ({marks})", rids
                )
            ]
    finally:
        conn.execute("COMMIT")
    home = tiro_home().resolve()
    owned = [
        Path(path)
        for _rid, path, _name, _sha, is_owned in rows
        if is_owned and Path(path).resolve().is_relative_to(home)
    ]
    return _Doomed(
        recording_ids=rids,
        transcripts=transcripts,
        segments=segments,
        texts={t.strip() for t in texts if len(t.strip()) >= MIN_SCRUB_LENGTH},
        names={n for r in rows for n in (r[1], r[2]) if n and len(n) >= MIN_SCRUB_LENGTH},
        sha256s={r[3] for r in rows},
        owned_media=owned,
        snippet_paths=snippet_paths,
    )


_TEXT_KEYS = {"text", "hyp_text", "before", "after"}


def _texts_in(payload: Any) -> Iterable[str]:
    """Every text value in an edit payload (current and intermediate versions)."""
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key in _TEXT_KEYS and isinstance(value, str):
                yield value
            else:
                yield from _texts_in(value)
    elif isinstance(payload, list):
        for item in payload:
            yield from _texts_in(item)


def _delete_rows(conn: sqlite3.Connection, recording_ids: list[int]) -> list[str]:
    if not recording_ids:
        return []
    marks = ",".join("?" * len(recording_ids))
    marked = [
        v
        for (v,) in conn.execute(
            f"""
            SELECT version FROM model_versions WHERE trained_on_deleted_data = 0
            AND training_run_id IN (
                SELECT training_run_id FROM training_examples
                WHERE recording_id IN ({marks}) AND role = 'train'
            )
            """,
            recording_ids,
        )
    ]
    if marked:
        conn.execute(
            f"UPDATE model_versions SET trained_on_deleted_data = 1, updated_at = ? "
            f"WHERE version IN ({','.join('?' * len(marked))})",
            (utc_now(), *marked),
        )
    conn.execute(f"DELETE FROM training_examples WHERE recording_id IN ({marks})", recording_ids)
    conn.execute(f"DELETE FROM recordings WHERE id IN ({marks})", recording_ids)
    conn.execute("INSERT INTO segments_fts(segments_fts) VALUES ('rebuild')")
    return marked


def _compact(store: Store) -> None:
    """VACUUM, then checkpoint and truncate the WAL so no old page survives in either file."""

    def vacuum(conn: sqlite3.Connection) -> None:
        conn.execute("VACUUM")
        for _attempt in range(50):
            busy, _log_frames, _checkpointed = conn.execute(
                "PRAGMA wal_checkpoint(TRUNCATE)"
            ).fetchone()
            if not busy:
                return
            time.sleep(0.1)
        log.warning("could not truncate the WAL after a delete; another process keeps it open")

    store.write(vacuum, transaction=False).result()


def _remove_cached(doomed: _Doomed) -> int:
    """Remove ``cache/recordings/<id>/``, any cached file named after the recording's sha256,
    and its entry (path and sha256) in the file-digest cache."""
    removed = 0
    root = cache_dir()
    for rid in doomed.recording_ids:
        folder = root / "recordings" / str(rid)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    # The learning pipeline's decode cache is keyed by a digest of the clip's content, not
    # by the recording: it may hold the deleted recording's text under any name, so all of
    # it goes (it is only a cache; the next learning run decodes again).
    from retrain.pipeline.decode import decode_cache_dir

    decodes = decode_cache_dir()
    if doomed.recording_ids and decodes.is_dir():
        for path in decodes.glob("*.json"):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    # staging folders a killed learning run left: the fine-tuning worker's copy of the
    # audio, candidate weights trained on it (a live run removes its own)
    removed += remove_orphans()
    if doomed.sha256s:
        from engine.digests import forget_digests

        removed += forget_digests(doomed.sha256s)
        for path in list(root.rglob("*")):
            if any(sha in path.name for sha in doomed.sha256s):
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                removed += 1
    return removed


def scrub_logs(needles: set[str]) -> int:
    """Remove every log line under ``logs/`` that contains one of ``needles``. In place."""
    if not needles:
        return 0
    ordered = sorted(needles, key=len, reverse=True)
    removed = 0
    for path in sorted(logs_dir().rglob("*")):
        if not path.is_file():
            continue
        try:
            data = path.read_text(encoding="utf-8", errors="surrogateescape")
        except OSError:
            continue
        lines = data.splitlines(keepends=True)
        kept = [line for line in lines if not any(n in line for n in ordered)]
        if len(kept) == len(lines):
            continue
        removed += len(lines) - len(kept)
        # rewrite in place (same inode), so an open log handler keeps appending to it
        with path.open("r+", encoding="utf-8", errors="surrogateescape") as handle:
            handle.write("".join(kept))
            handle.truncate()
    return removed


def _remove_corrupt_copies(database: Path, texts: set[str], *, every: bool) -> int:
    removed = 0
    encoded = [t.encode("utf-8") for t in texts]
    for path in database.parent.glob(f"{database.name}.corrupt-*"):
        if not every:
            try:
                content = path.read_bytes()
            except OSError:
                continue
            if not any(t in content for t in encoded):
                continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


def rejection_table(rejections: Counter[str] | dict[str, int]) -> list[tuple[str, int]]:
    return sorted(rejections.items(), key=lambda item: (-item[1], item[0]))
