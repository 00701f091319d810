"""Crash, disk-full, read-only and corrupt databases: typed errors, nothing committed lost."""

from __future__ import annotations

import contextlib
import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from storekit import add_transcript

from retrain.errors import StoreBusyError, StoreFullError, StoreReadOnlyError
from retrain.store import Store, TextEdit
from retrain.store import connection as store_connection
from retrain.store import writer as store_writer

CHILD = Path(__file__).resolve().parent / "storechild.py"
CRASH_TRIALS = 50


def integrity(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def prepared(tiro_home: Path) -> tuple[Path, int, int]:
    path = tiro_home / "tiro.sqlite"
    with Store.open(path, auto_snippets=False) as store:
        _, tid, ids = add_transcript(store, ["the original text"])
    return path, tid, ids[0]


def test_sigkill_while_writing_loses_no_acknowledged_edit(tiro_home: Path):
    """A writer process commits edits as fast as it can, reporting each acknowledged edit id
    over a pipe, and is SIGKILLed at a random moment; 50 trials, each a new process (forked
    from a pre-loaded helper process so that a trial takes milliseconds, not an import)."""
    path, tid, sid = prepared(tiro_home)
    rng = random.Random(20240501)
    zygote = subprocess.Popen(
        [sys.executable, str(CHILD), "zygote", str(path), str(tid), str(sid)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    lines = _Lines(zygote)
    acknowledged: dict[int, int] = {}
    try:
        for trial in range(CRASH_TRIALS):
            zygote.stdin.write(b"go\n")
            zygote.stdin.flush()
            kind, pid = lines.next().split()
            assert kind == "pid", kind
            trial_acks = _acks_until_killed(int(pid), lines, kill_after=rng.uniform(0.0, 0.15))
            assert trial_acks, f"trial {trial}: the writer acknowledged nothing before the kill"
            acknowledged.update(trial_acks)
            assert integrity(path) == "ok", f"trial {trial}"
            conn = sqlite3.connect(path)
            logged = {e for (e,) in conn.execute("SELECT id FROM edits")}
            (text,) = conn.execute("SELECT text FROM segments WHERE id = ?", (sid,)).fetchone()
            conn.close()
            missing = set(acknowledged) - logged
            assert not missing, f"trial {trial}: acknowledged edits lost: {sorted(missing)[:5]}"
            last = max(trial_acks.values())
            # the segment holds the last acknowledged edit, or the one after it if that
            # committed just before the kill but was not yet reported
            assert text in (f"edit {last}", f"edit {last + 1}"), (trial, text, last)
    finally:
        with contextlib.suppress(OSError):
            zygote.stdin.write(b"quit\n")
            zygote.stdin.close()
        zygote.wait(30)
    assert len(acknowledged) > CRASH_TRIALS


class _Lines:
    """Complete lines from a child's stdout, with a timeout."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.buffer = b""

    def next(self, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            assert remaining > 0, "no output from the writer: " + self.stderr()
            ready, _, _ = select.select([self.process.stdout], [], [], remaining)
            if ready:
                chunk = os.read(self.process.stdout.fileno(), 65536)
                assert chunk, "the helper process died: " + self.stderr()
                self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()

    def ready(self) -> bool:
        if b"\n" in self.buffer:
            return True
        return bool(select.select([self.process.stdout], [], [], 0)[0])

    def stderr(self) -> str:
        if self.process.poll() is None:
            return ""
        return self.process.stderr.read().decode()[-3000:]


def _acks_until_killed(pid: int, lines: _Lines, kill_after: float) -> dict[int, int]:
    """Collect acknowledgements; SIGKILL ``pid`` ``kill_after`` s after the first one."""
    acks: dict[int, int] = {}

    def take(line: str) -> None:
        kind, edit_id, n = line.split()
        assert kind == "ack", line
        acks[int(edit_id)] = int(n)

    take(lines.next())
    deadline = time.monotonic() + kill_after
    while time.monotonic() < deadline:
        if lines.ready():
            take(lines.next())
    os.kill(pid, signal.SIGKILL)
    while True:
        line = lines.next()
        if line.startswith("exited"):
            _, exited, status = line.split()
            assert int(exited) == pid
            assert os.WIFSIGNALED(int(status)) and os.WTERMSIG(int(status)) == signal.SIGKILL
            return acks
        take(line)


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX-only")
def test_disk_full_is_a_typed_error_and_committed_data_is_intact(tiro_home: Path):
    """Disk-full is simulated with a file-size limit (RLIMIT_FSIZE) on the writing process:

    the kernel refuses to grow the database or its WAL past the limit (EFBIG, with
    SIGXFSZ ignored), exactly as a full disk refuses with ENOSPC. SQLite reports it as
    SQLITE_FULL or SQLITE_IOERR_WRITE; the store must say "disk full" either way.
    """
    path, tid, sid = prepared(tiro_home)
    result = subprocess.run(
        [sys.executable, str(CHILD), "diskfull", str(path), str(tid), str(sid), "300000"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["acknowledged"], "no edit fitted before the limit; raise EXTRA_BYTES"
    assert report["errors"] and set(report["errors"]) == {StoreFullError.__name__}
    assert all("disk is full" in m for m in report["messages"])
    assert report["current_is_last_acknowledged"] and report["integrity"] == "ok"
    assert integrity(path) == "ok"
    conn = sqlite3.connect(path)
    logged = {e for (e,) in conn.execute("SELECT id FROM edits")}
    (text,) = conn.execute("SELECT text FROM segments WHERE id = ?", (sid,)).fetchone()
    conn.close()
    assert set(report["acknowledged"]) <= logged
    assert report["recovered_edit"] in logged and text == "after the disk had room"


@contextlib.contextmanager
def read_only(path: Path):
    """Make ``path`` unwritable for real: chmod, or the immutable flag when running as root
    (root ignores permission bits, but not ``chattr +i``)."""
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(path)], check=True)
        try:
            yield
        finally:
            subprocess.run(["chattr", "-i", str(path)], check=True)
    else:
        mode = path.stat().st_mode
        path.chmod(0o400)
        try:
            yield
        finally:
            path.chmod(mode)


def test_a_read_only_database_reads_and_refuses_writes_with_a_typed_error(tiro_home: Path):
    path, tid, sid = prepared(tiro_home)
    before = path.read_bytes()
    with read_only(path), Store.open(path) as store:
        assert store.read_only
        assert store.segment(sid).text == "the original text"
        assert store.library("original")
        future = store.apply_edit(tid, TextEdit(sid, "the original text", "changed"))
        with pytest.raises(StoreReadOnlyError) as caught:
            future.result()
        assert "read-only" in str(caught.value)
        with pytest.raises(StoreReadOnlyError):
            store.add_recording("/x.wav", sha256="f" * 64).result()
        assert store.segment(sid).text == "the original text"
    assert path.read_bytes() == before
    assert integrity(path) == "ok"


def test_garbage_in_place_of_the_database_is_moved_aside(tiro_home: Path):
    path = tiro_home / "tiro.sqlite"
    garbage = b"this is not a database, it is a shopping list\n" * 200
    path.write_bytes(garbage)
    with Store.open(path, auto_snippets=False) as store:
        (notice,) = store.notices
        assert notice.moved_to is not None and notice.moved_to.read_bytes() == garbage
        assert notice.moved_to.name.startswith("tiro.sqlite.corrupt-")
        assert str(notice.moved_to) in notice.message
        _, _tid, ids = add_transcript(store, ["a fresh start"])
        assert store.segment(ids[0]).text == "a fresh start"
    assert integrity(path) == "ok"


def test_a_damaged_page_is_detected_at_startup(tiro_home: Path):
    path, _tid, _sid = prepared(tiro_home)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'segments'").fetchone()
    conn.close()
    data = bytearray(path.read_bytes())
    start = (root - 1) * page_size
    data[start : start + page_size] = bytes([0xA5]) * page_size
    path.write_bytes(bytes(data))
    with Store.open(path, auto_snippets=False) as store:
        (notice,) = store.notices
        assert "damaged" in notice.message and notice.moved_to.exists()
        assert store.library() == []
        assert store.stats().segments == 0
    moved = list(tiro_home.glob("tiro.sqlite.corrupt-*"))
    assert notice.moved_to in moved


def test_a_write_lock_held_by_another_process_is_waited_for(tiro_home: Path, monkeypatch):
    path, tid, sid = prepared(tiro_home)
    monkeypatch.setattr(store_connection, "BUSY_TIMEOUT_MS", 300)
    monkeypatch.setattr(store_writer, "BUSY_RETRIES", 1)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True)\n"
            "time.sleep(float(sys.argv[1])); c.execute('COMMIT')",
            "0.4",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with Store.open(path, auto_snippets=False) as store:
        store.apply_edit(tid, TextEdit(sid, "the original text", "waited")).result()
        assert store.segment(sid).text == "waited"
    holder.wait(10)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys, time\n"
            f"c = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
            "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True)\n"
            "time.sleep(float(sys.argv[1])); c.execute('COMMIT')",
            "5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    with Store.open(path, auto_snippets=False) as store:
        with pytest.raises(StoreBusyError):
            store.apply_edit(tid, TextEdit(sid, "waited", "too late")).result()
        assert store.segment(sid).text == "waited"
    holder.kill()
    holder.wait(10)
