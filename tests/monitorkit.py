"""Crafted telemetry for the monitor's tests, written through the store API the editor uses.

Times (when a transcript was made, when a segment was reviewed) are then set directly in
the database, so that tests can lay telemetry out over weeks.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import sqlite3

from engine.types import Segment, Word
from retrain.registry import utc_now
from retrain.store import Store
from retrain.store.edits import TextEdit

_counter = itertools.count()


def words_for(text: str, start: float, end: float, probability: float) -> tuple[Word, ...]:
    tokens = text.split()
    step = (end - start) / max(1, len(tokens))
    return tuple(
        Word(f" {t}", start + i * step, start + (i + 1) * step, probability)
        for i, t in enumerate(tokens)
    )


def add_reviewed(
    store: Store,
    version: str,
    pairs: list[tuple[str, str]],
    *,
    at: str | None = None,
    probability: float = 0.9,
    seconds: float = 3.0,
    avg_logprob: float = -0.3,
    no_speech_prob: float = 0.02,
    compression_ratio: float = 1.4,
    sample_rate: int = 16000,
    loudness: float | None = -20.0,
    reviewed: bool = True,
) -> tuple[int, list[int]]:
    """One recording transcribed by ``version``: each (hypothesis, final) pair is a segment,
    corrected to ``final`` and marked verified. Returns (transcript id, segment ids)."""
    n = next(_counter)
    sha = hashlib.sha256(f"clip-{n}-{version}".encode()).hexdigest()
    recording = store.add_recording(f"/media/clip{n}.wav", sha256=sha).result()
    store.write(
        lambda c: c.execute(
            "UPDATE recordings SET sample_rate = ?, loudness_dbfs = ? WHERE id = ?",
            (sample_rate, loudness, recording),
        )
    ).result()
    transcript = store.create_transcript(recording, version, "ctranslate2").result()
    segments = []
    t = 0.0
    for hyp, _ in pairs:
        segments.append(
            Segment(
                t,
                t + seconds,
                hyp,
                words_for(hyp, t, t + seconds, probability),
                avg_logprob,
                no_speech_prob,
                compression_ratio,
            )
        )
        t += seconds + 0.5
    ids = store.append_segments(transcript, segments, model_version=version).result()
    store.set_transcript_status(transcript, "done").result()
    if reviewed:
        for sid, (_hyp, final) in zip(ids, pairs, strict=True):
            current = store.segment(sid).text
            if final != current:
                store.apply_edit(transcript, TextEdit(sid, current, final)).result()
        store.mark_verified(transcript, ids).result()
    if at is not None:
        set_times(store, transcript, at)
    return transcript, ids


def set_times(store: Store, transcript_id: int, at: str) -> None:
    def job(conn: sqlite3.Connection) -> None:
        conn.execute("UPDATE transcripts SET created_at = ? WHERE id = ?", (at, transcript_id))
        conn.execute(
            "UPDATE segments SET reviewed_at = ? WHERE transcript_id = ? AND reviewed = 1",
            (at, transcript_id),
        )

    store.write(job).result()


def add_version(
    store: Store,
    version: str,
    *,
    parent: str = "factory",
    created_at: str | None = None,
    training_run_id: int | None = None,
    lineage: dict | None = None,
) -> None:
    """A personal version row (no files: for telemetry that only names it)."""
    now = created_at or utc_now()
    store.write(
        lambda c: c.execute(
            "INSERT INTO model_versions (version, kind, path, parent_version, training_run_id, "
            "lineage_json, status, created_at, updated_at) "
            "VALUES (?, 'personal', NULL, ?, ?, ?, 'previous', ?, ?)",
            (version, parent, training_run_id, json.dumps(lineage or {}), now, now),
        )
    ).result()


def add_training_run(
    store: Store,
    *,
    started_at: str,
    finished_at: str,
    status: str = "promoted",
    before: str = "factory",
    after: str = "factory",
    champion_wer: float = 0.2,
    candidate_wer: float = 0.1,
    reasons: tuple[str, ...] = ("held-out WER improves",),
    cost: dict | None = None,
    other_candidates: dict | None = None,
) -> int:
    """A training run row; ``cost`` adds top-level report fields (seconds, peak memory),
    ``other_candidates`` more entries of the report's ``candidates`` (e.g. ``finetuned``)."""
    report = {
        **(cost or {}),
        "gate": {"decision": status, "reasons": list(reasons)},
        "promoted_candidate": "rules" if status == "promoted" else None,
        "candidates": {
            **(other_candidates or {}),
            "rules": {
                "gate": {"decision": status, "reasons": list(reasons)},
                "figures": {
                    "heldout": {
                        "words": 400,
                        "candidate_wer": candidate_wer,
                        "champion_wer": champion_wer,
                        "factory_wer": champion_wer,
                    }
                },
            },
        },
    }

    def job(conn: sqlite3.Connection) -> int:
        cur = conn.execute(
            "INSERT INTO training_runs (started_at, finished_at, status, champion_before, "
            "champion_after, reasons_json, report_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                started_at,
                finished_at,
                status,
                before,
                after,
                json.dumps(list(reasons)),
                json.dumps(report),
            ),
        )
        return int(cur.lastrowid)

    return store.write(job).result()


def ten_words(errors: int, seed: int = 0) -> tuple[str, str]:
    """A 10-word (hypothesis, final) pair where ``errors`` words were corrected."""
    final = [f"ward{_letters(seed * 10 + i)}" for i in range(10)]
    hyp = [f"zork{_letters(i)}" if i < errors else w for i, w in enumerate(final)]
    return " ".join(hyp), " ".join(final)


def set_champion(store: Store, version: str, previous: str = "factory") -> None:
    now = utc_now()

    def job(conn: sqlite3.Connection) -> None:
        for alias, target in (("champion", version), ("previous", previous)):
            conn.execute(
                "INSERT INTO model_aliases (alias, version, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(alias) DO UPDATE SET version = excluded.version",
                (alias, target, now),
            )
        conn.execute("UPDATE model_versions SET status = 'champion' WHERE version = ?", (version,))

    store.write(job).result()


def _letters(n: int) -> str:
    return "".join("abcdefghij"[int(d)] for d in str(n))
