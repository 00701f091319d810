"""The single background writer: futures, order, failures, readers beside it, closing."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from storekit import add_transcript

from retrain.errors import EditConflictError, StoreClosedError
from retrain.store import Batch, Store, TextEdit


@pytest.fixture
def store(tiro_home):
    with Store.open(auto_snippets=False) as opened:
        yield opened


def test_submitting_never_waits_for_the_disk(store):
    """While the writer is busy, a submit returns a pending future at once."""
    _, tid, ids = add_transcript(store, ["one"])
    release = threading.Event()
    started = threading.Event()

    def slow(conn: sqlite3.Connection) -> str:
        started.set()
        release.wait(10)
        return "slow done"

    blocker = store.write(slow)
    assert started.wait(10)
    future = store.apply_edit(tid, TextEdit(ids[0], "one", "two"))
    assert not future.done()  # queued behind the blocker, and we did not wait for it
    release.set()
    assert blocker.result(10) == "slow done"
    assert future.result(10).changed[0].text == "two"


def test_jobs_run_in_submission_order_on_one_thread(store):
    seen: list[tuple[int, str]] = []
    futures = [
        store.write(lambda conn, i=i: seen.append((i, threading.current_thread().name)))
        for i in range(50)
    ]
    for future in futures:
        future.result(10)
    assert [i for i, _ in seen] == list(range(50))
    assert {name for _, name in seen} == {"tiro-store-writer"}


def test_an_acknowledged_write_is_visible_to_readers_on_other_threads(store):
    _, tid, ids = add_transcript(store, ["one"])
    store.apply_edit(tid, TextEdit(ids[0], "one", "two")).result()
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.append(store.segment(ids[0]).text))
    reader.start()
    reader.join(10)
    assert seen == ["two"]


def test_a_failing_job_is_rolled_back_and_the_writer_carries_on(store):
    def half_then_fail(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO recordings (path, name, sha256, created_at) VALUES ('p', 'n', 's', 'now')"
        )
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        store.write(half_then_fail).result(10)
    assert store.stats().recordings == 0
    _, tid, ids = add_transcript(store, ["one"])
    with pytest.raises(EditConflictError):
        store.apply_edit(tid, TextEdit(ids[0], "stale", "x")).result(10)
    assert store.apply_edit(tid, TextEdit(ids[0], "one", "ok")).result(10).edit_id


def test_done_callbacks_run_on_the_writer_thread(store):
    names: list[str] = []
    done = threading.Event()
    release = threading.Event()
    future = store.write(lambda conn: release.wait(10))
    future.add_done_callback(lambda f: (names.append(threading.current_thread().name), done.set()))
    release.set()
    assert done.wait(10)
    assert names == ["tiro-store-writer"]


def test_readers_see_consistent_snapshots_while_edits_commit(store):
    """A reader polling during a stream of edits never sees a half-applied edit."""
    _, tid, ids = add_transcript(store, ["a", "b"])
    stop = threading.Event()
    problems: list[str] = []

    def poll() -> None:
        while not stop.is_set():
            view = store.load_transcript(tid)
            texts = [s.text for s in view.segments]
            if len({t.split("-")[-1] for t in texts if "-" in t}) > 1:
                problems.append(repr(texts))

    reader = threading.Thread(target=poll)
    reader.start()
    before = ["a", "b"]
    for n in range(200):
        after = [f"a-{n}", f"b-{n}"]
        batch = Batch(tuple(TextEdit(i, b, a) for i, b, a in zip(ids, before, after, strict=True)))
        store.apply_edit(tid, batch)
        before = after
    store.write(lambda conn: None).result(30)
    stop.set()
    reader.join(30)
    assert problems == []
    assert [s.text for s in store.load_transcript(tid).segments] == ["a-199", "b-199"]


def test_close_finishes_queued_writes_then_refuses_more(tiro_home):
    store = Store.open(auto_snippets=False)
    _, tid, ids = add_transcript(store, ["t0"])
    futures = [store.apply_edit(tid, TextEdit(ids[0], f"t{i}", f"t{i + 1}")) for i in range(100)]
    store.close()
    assert all(f.done() and f.exception() is None for f in futures)
    with pytest.raises(StoreClosedError):
        store.apply_edit(tid, TextEdit(ids[0], "t100", "x")).result()
    with pytest.raises(StoreClosedError):
        store.library()
    with Store.open(auto_snippets=False) as again:
        assert again.segment(ids[0]).text == "t100"
