"""Child processes for the store's reliability tests (run as scripts, never imported by pytest).

python tests/storechild.py edits DB TRANSCRIPT SEGMENT
    Apply text edits to one segment as fast as possible; after each edit is
    acknowledged (its future resolved, i.e. committed) print "<edit id> <n>".
    Runs until killed.

python tests/storechild.py zygote DB TRANSCRIPT SEGMENT
    For each "go" line on stdin, fork a process that runs ``edits`` (see ``zygote``).

python tests/storechild.py diskfull DB TRANSCRIPT SEGMENT EXTRA_BYTES
    Limit this process's file size (RLIMIT_FSIZE) to the database's current size
    plus EXTRA_BYTES, with SIGXFSZ ignored so writes fail with EFBIG instead of
    killing the process; then edit until the writes fail. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrain.store import Store, TextEdit


def edits(db: str, transcript_id: int, segment_id: int) -> None:
    store = Store.open(db, auto_snippets=False)
    text = store.segment(segment_id).text
    n = int(text.split()[-1]) if text.startswith("edit ") else 0
    out = sys.stdout
    while True:
        n += 1
        new = f"edit {n}"
        result = store.apply_edit(transcript_id, TextEdit(segment_id, text, new)).result()
        text = new
        out.write(f"{result.edit_id} {n}\n")
        out.flush()


def zygote(db: str, transcript_id: int, segment_id: int) -> None:
    """Fork one ``edits`` writer per "go" line on stdin (the test SIGKILLs it).

    Forking from this pre-loaded process makes each trial a new process in a few
    milliseconds. Protocol on stdout: "pid <pid>", then the child's "ack <edit id>
    <n>" lines (each one atomic write), then "exited <pid> <status>".
    """
    for line in sys.stdin:
        if line.strip() == "quit":
            return
        release_r, release_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(release_w)
            os.read(release_r, 1)  # wait until the parent announced our pid
            os.close(release_r)
            try:
                edits_to_fd(db, transcript_id, segment_id, 1)
            finally:
                os._exit(1)
        os.close(release_r)
        os.write(1, f"pid {pid}\n".encode())
        os.close(release_w)
        _, status = os.waitpid(pid, 0)
        os.write(1, f"exited {pid} {status}\n".encode())


def edits_to_fd(db: str, transcript_id: int, segment_id: int, fd: int) -> None:
    store = Store.open(db, auto_snippets=False)
    text = store.segment(segment_id).text
    n = int(text.split()[-1]) if text.startswith("edit ") else 0
    while True:
        n += 1
        new = f"edit {n}"
        result = store.apply_edit(transcript_id, TextEdit(segment_id, text, new)).result()
        text = new
        os.write(fd, f"ack {result.edit_id} {n}\n".encode())  # one write: never torn


def diskfull(db: str, transcript_id: int, segment_id: int, extra: int) -> None:
    import resource
    import signal

    store = Store.open(db, auto_snippets=False)
    text = store.segment(segment_id).text
    used = sum(
        Path(f"{db}{suffix}").stat().st_size
        for suffix in ("", "-wal")
        if Path(f"{db}{suffix}").exists()
    )
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (used + extra, resource.RLIM_INFINITY))
    acknowledged: list[int] = []
    errors: list[str] = []
    messages: set[str] = set()
    for n in range(100_000):
        new = f"edit {n} " + "x" * 2000
        try:
            result = store.apply_edit(transcript_id, TextEdit(segment_id, text, new)).result()
        except Exception as exc:
            errors.append(type(exc).__name__)
            messages.add(str(exc))
            if len(errors) >= 5:
                break
            continue
        text = new
        acknowledged.append(result.edit_id)
    # reads still work and show the last acknowledged state
    current = store.segment(segment_id).text
    integrity = store.read(lambda c: c.execute("PRAGMA integrity_check").fetchone()[0])
    # with room again, writing works again
    resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    after = store.apply_edit(
        transcript_id, TextEdit(segment_id, current, "after the disk had room")
    )
    recovered = after.result().edit_id
    store.close()
    print(
        json.dumps(
            {
                "acknowledged": acknowledged,
                "errors": errors,
                "messages": sorted(messages),
                "current_is_last_acknowledged": current == text,
                "integrity": integrity,
                "recovered_edit": recovered,
            }
        ),
        flush=True,
    )
    os._exit(0)


if __name__ == "__main__":
    mode, db, transcript, seg = sys.argv[1:5]
    if mode == "edits":
        edits(db, int(transcript), int(seg))
    elif mode == "zygote":
        zygote(db, int(transcript), int(seg))
    elif mode == "diskfull":
        diskfull(db, int(transcript), int(seg), int(sys.argv[5]))
    else:
        raise SystemExit(f"unknown mode {mode}")
