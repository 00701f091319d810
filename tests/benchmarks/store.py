"""Telemetry store benchmark (issue 3, section 6).

    python tests/benchmarks/store.py [--seconds 60] [--rate 20] [--corpus PATH]

Prints three tables:

1. Loading a 3-hour transcript (3,000 segments, 30,000 words) with
   ``Store.load_transcript``, against a peer measured in the same run: the bare SQL
   fetch of the same rows (no decoding). Target: median <= 200 ms.
2. Edit latency, from ``apply_edit`` (submit) to its commit (the future resolving),
   at ``--rate`` edits/s for ``--seconds`` s, while a reader thread polls (undo state,
   the edited segment and a library search every 50 ms, the whole transcript every
   2 s); the same with ``durability="full"`` (an fsync per commit) for up to 20 s;
   then a burst at full speed with the same reader and another *process* writing
   through its own Store. Peer: a bare SQLite transaction (UPDATE + INSERT,
   synchronous=FULL) on its own file at the same rate. Targets: p99 <= 50 ms, and
   no "database is locked" error reaching a caller at any rate.
3. Database size per hour of transcribed audio: without snippets (text, words,
   hypothesis, 10 % of segments edited, every segment verified), and the snippets'
   size (16 kHz mono FLAC written by the real capture path from speech in
   ``--corpus``), scaled to one hour.

All files go to a temporary TIRO_HOME.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

HOURS = 3
SEGMENTS_PER_HOUR = 1000
WORDS_PER_SEGMENT = 10
VOCABULARY = (
    *("the", "project", "meeting", "budget", "review", "quarter", "numbers", "team"),
    *("design", "model", "data", "customer", "release", "schedule", "feature", "testing"),
    *("deploy", "server", "cluster", "kubernetes", "migration", "database", "latency"),
    *("report", "decision", "action", "item", "follow", "up"),
)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def table(title: str, header: tuple[str, ...], rows: list[tuple]) -> None:
    print(f"\n{title}")
    cells = [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def synthetic_segments(hours: float):
    from engine.types import Segment, Word

    vocabulary = VOCABULARY
    count = int(hours * SEGMENTS_PER_HOUR)
    span = 3600 / SEGMENTS_PER_HOUR
    segments = []
    for i in range(count):
        start = i * span
        words = []
        for j in range(WORDS_PER_SEGMENT):
            w_start = start + j * (span * 0.9 / WORDS_PER_SEGMENT)
            text = vocabulary[(i * 7 + j * 3) % len(vocabulary)]
            words.append(
                Word(f" {text}", round(w_start, 3), round(w_start + 0.3, 3), 0.5 + (j % 5) / 10)
            )
        segments.append(
            Segment(
                start=start,
                end=start + span * 0.9,
                text="".join(w.text for w in words),
                words=tuple(words),
                avg_logprob=-0.3,
                no_speech_prob=0.02,
                compression_ratio=1.5,
            )
        )
    return segments


def make_transcript(store, hours: float, name: str) -> tuple[int, list[int]]:
    import hashlib

    rid = store.add_recording(
        f"/media/{name}", sha256=hashlib.sha256(name.encode()).hexdigest()
    ).result()
    tid = store.create_transcript(rid, "factory", "ctranslate2").result()
    ids: list[int] = []
    segments = synthetic_segments(hours)
    for start in range(0, len(segments), 50):  # as the transcriber appends them, in batches
        ids += store.append_segments(tid, segments[start : start + 50]).result()
    store.set_transcript_status(tid, "done").result()
    return tid, ids


# --- 1. load -------------------------------------------------------------------------


def bench_load(store, tid: int, repeats: int = 15) -> None:
    from retrain.store import reads

    def bare(conn: sqlite3.Connection) -> int:
        return len(
            conn.execute(
                reads.SEGMENT_SELECT + " WHERE s.transcript_id = ? ORDER BY s.position, s.id",
                (tid,),
            ).fetchall()
        )

    store.load_transcript(tid)  # first read opens the reader connection
    loads, full, fetches = [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        view = store.load_transcript(tid)
        loads.append(time.perf_counter() - t)
        t = time.perf_counter()
        view = store.load_transcript(tid)
        words = sum(len(s.words) for s in view.segments)
        full.append(time.perf_counter() - t)
        t = time.perf_counter()
        store.read(bare)
        fetches.append(time.perf_counter() - t)
    fetch_ms = statistics.median(fetches) * 1000

    def row(name: str, times: list[float], target: bool) -> tuple:
        ms = statistics.median(times) * 1000
        verdict = ("<= 200 ms " + ("OK" if ms <= 200 else "MISSED")) if target else ""
        return (
            name,
            f"{ms:.1f}",
            f"{percentile(times, 90) * 1000:.1f}",
            f"{ms / fetch_ms:.2f}x",
            verdict,
        )

    table(
        f"1. Load a {HOURS}-hour transcript ({len(view.segments)} segments, {words} words), "
        f"{repeats} runs",
        ("what", "median ms", "p90 ms", "ratio to peer", "target"),
        [
            row("Store.load_transcript (words decoded on use)", loads, False),
            row("... and every word decoded (Word objects)", full, True),
            row("peer: bare SQL fetch of the same rows", fetches, False),
        ],
    )


# --- 2. edit latency -----------------------------------------------------------------


class Reader(threading.Thread):
    def __init__(self, store, tid: int, segment_id: int) -> None:
        super().__init__(name="bench-reader", daemon=True)
        self.store, self.tid, self.segment_id = store, tid, segment_id
        self.stop = threading.Event()
        self.reads = 0
        self.errors: list[str] = []

    def run(self) -> None:
        last_full = 0.0
        while not self.stop.is_set():
            try:
                self.store.history(self.tid)
                self.store.segment(self.segment_id)
                self.store.library("budget")
                if time.monotonic() - last_full > 2.0:
                    self.store.load_transcript(self.tid)
                    last_full = time.monotonic()
                self.reads += 1
            except Exception as exc:  # counted, never hidden
                self.errors.append(f"{type(exc).__name__}: {exc}")
            self.stop.wait(0.05)


def run_edits(store, tid: int, ids: list[int], *, rate: float | None, count: int):
    """Submit ``count`` text edits (round robin over segments) at ``rate``/s (None: at once)."""
    from retrain.store import TextEdit

    texts = {sid: store.segment(sid).text for sid in ids[:200]}
    order = list(texts)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    done = threading.Event()
    remaining = [count]

    def finished(future, started: float) -> None:
        elapsed = time.perf_counter() - started
        with lock:
            if future.exception() is not None:
                errors.append(f"{type(future.exception()).__name__}: {future.exception()}")
            else:
                latencies.append(elapsed)
            remaining[0] -= 1
            if remaining[0] == 0:
                done.set()

    begin = time.perf_counter()
    for i in range(count):
        if rate is not None:
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
        sid = order[i % len(order)]
        new = f"{texts[sid]} x" if len(texts[sid]) < 200 else texts[sid][:60]
        started = time.perf_counter()
        future = store.apply_edit(tid, TextEdit(sid, texts[sid], new))
        texts[sid] = new
        future.add_done_callback(lambda f, s=started: finished(f, s))
    done.wait(600)
    return latencies, errors, time.perf_counter() - begin


def bare_peer(directory: Path, rate: float, count: int) -> list[float]:
    path = directory / "peer.sqlite"
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("CREATE TABLE seg (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, payload TEXT)")
    conn.executemany("INSERT INTO seg (id, text) VALUES (?, ?)", [(i, "x") for i in range(200)])
    latencies = []
    begin = time.perf_counter()
    for i in range(count):
        delay = begin + i / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("UPDATE seg SET text = ? WHERE id = ?", (f"text {i}", i % 200))
        conn.execute("INSERT INTO log (payload) VALUES (?)", ('{"before": "a", "after": "b"}',))
        conn.execute("COMMIT")
        latencies.append(time.perf_counter() - started)
    conn.close()
    return latencies


OTHER_PROCESS = """
import sys, time
sys.path.insert(0, sys.argv[3])
from retrain.store import Store

def job(conn):
    conn.execute("INSERT INTO job_runs (job, started_at, outcome) VALUES ('bench', 'now', 'ok')")

store = Store.open(sys.argv[1], auto_snippets=False)
end = time.monotonic() + float(sys.argv[2])
n = failed = 0
while time.monotonic() < end:
    try:
        store.write(job).result()
        n += 1
    except Exception as exc:
        failed += 1
        print(type(exc).__name__, exc, file=sys.stderr)
    time.sleep(0.005)
store.close()
print(n, failed)
"""


def full_durability_run(path: Path, tid: int, ids: list[int], rate: float, seconds: float):
    """The same edits with ``durability="full"`` (an fsync per commit), for comparison."""
    from retrain.store import Store

    with Store.open(path, auto_snippets=False, durability="full") as store:
        reader = Reader(store, tid, ids[0])
        reader.start()
        latencies, errors, _ = run_edits(store, tid, ids, rate=rate, count=int(rate * seconds))
        reader.stop.set()
        reader.join(10)
    return latencies, errors + reader.errors


def bench_latency(store, tid: int, ids: list[int], seconds: float, rate: float, tmp: Path):
    reader = Reader(store, tid, ids[0])
    reader.start()
    count = int(seconds * rate)
    latencies, errors, _ = run_edits(store, tid, ids, rate=rate, count=count)
    peer = bare_peer(tmp, rate, min(count, int(rate * 20)))

    burst_count = 3000
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_PROCESS, str(store.path), "15", str(REPO)],
        stdout=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.3)
    burst, burst_errors, burst_wall = run_edits(store, tid, ids, rate=None, count=burst_count)
    other_commits, other_failed = (int(x) for x in other.communicate(timeout=90)[0].split())
    reader.stop.set()
    reader.join(10)
    full_seconds = min(seconds, 20.0)
    full, full_errors = full_durability_run(store.path, tid, ids, rate, full_seconds)
    errors += full_errors

    locked = [e for e in errors + burst_errors + reader.errors if "locked" in e or "Busy" in e]
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    peer_p50, peer_p99 = percentile(peer, 50) * 1000, percentile(peer, 99) * 1000
    table(
        f"2. Edit submit-to-commit latency, {rate:g} edits/s for {seconds:g} s, reader polling "
        f"({reader.reads} polls)",
        ("run", "edits", "p50 ms", "p99 ms", "max ms", "p99 / peer p99", "errors", "target"),
        [
            (
                f'Store.apply_edit at {rate:g}/s (durability="normal")',
                len(latencies),
                f"{p50:.2f}",
                f"{p99:.2f}",
                f"{max(latencies) * 1000:.1f}",
                f"{p99 / peer_p99:.2f}x",
                len(errors),
                "p99 <= 50 ms " + ("OK" if p99 <= 50 else "MISSED"),
            ),
            (
                f'durability="full" at {rate:g}/s ({full_seconds:g} s)',
                len(full),
                f"{percentile(full, 50) * 1000:.2f}",
                f"{percentile(full, 99) * 1000:.2f}",
                f"{max(full) * 1000:.1f}",
                f"{percentile(full, 99) / peer_p99 * 1000:.2f}x",
                len(full_errors),
                "(an fsync per commit)",
            ),
            (
                f"peer: bare transaction, fsync per commit, at {rate:g}/s",
                len(peer),
                f"{peer_p50:.2f}",
                f"{peer_p99:.2f}",
                f"{max(peer) * 1000:.1f}",
                "1.00x",
                0,
                "",
            ),
            (
                f"burst: {burst_count} at once + 2nd process writing",
                len(burst),
                f"{percentile(burst, 50) * 1000:.1f}",
                f"{percentile(burst, 99) * 1000:.1f}",
                f"{max(burst) * 1000:.1f}",
                f"{burst_count / burst_wall:.0f} edits/s",
                len(burst_errors),
                "(queueing; no target)",
            ),
        ],
    )
    print(
        f"\n'database is locked' errors surfaced: {len(locked)} "
        f"(reader errors: {len(reader.errors)}; the other process, writing through its own Store: "
        f"{other_commits} commits, {other_failed} failed) "
        f"-> {'OK' if not locked and not other_failed else 'MISSED'}"
    )


# --- 3. size -------------------------------------------------------------------------


def database_bytes(path: Path) -> int:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.stat().st_size


def bench_size(corpus: Path | None) -> None:
    from retrain.store import Store, TextEdit

    with tempfile.TemporaryDirectory() as home:
        os.environ["TIRO_HOME"] = home
        path = Path(home) / "tiro.sqlite"
        with Store.open(path, auto_snippets=False) as store:
            empty = database_bytes(path)
            tid, ids = make_transcript(store, 1.0, "one-hour.wav")
            plain = database_bytes(path)
            for sid in ids[::10]:
                text = store.segment(sid).text
                store.apply_edit(tid, TextEdit(sid, text, text.replace("the", "a"))).result()
            store.mark_verified(tid).result()
            edited = database_bytes(path)
        rows = [
            ("empty database", f"{empty / 1e6:.2f}", ""),
            ("1 h transcribed (1000 segments, 10000 words)", f"{(plain - empty) / 1e6:.2f}", ""),
            (
                "... + 10 % edited, all verified",
                f"{(edited - empty) / 1e6:.2f}",
                "without snippets",
            ),
        ]
        rows.append(snippet_row(corpus, edited - empty))
    table(
        "3. Database size per hour of transcribed audio",
        ("what", "MB per hour", "note"),
        rows,
    )


def snippet_row(corpus: Path | None, base_bytes: int) -> tuple[str, str, str]:
    try:
        import engine.audio  # noqa: F401
    except ImportError:
        return ("... + snippets", "n/a", "engine.audio is not merged yet")
    if corpus is None:
        return ("... + snippets", "n/a", "no --corpus given")
    import hashlib

    from engine.corpus import read_manifest
    from engine.types import Segment
    from retrain.contract import file_sha256
    from retrain.snippets import capture_snippets
    from retrain.store import Store

    items, total = [], 0.0
    for item in read_manifest(corpus):  # up to 5 minutes of speech from the corpus
        if item.seconds >= 2 and total < 300:
            items.append(item)
            total += item.seconds
    with tempfile.TemporaryDirectory() as home:
        os.environ["TIRO_HOME"] = home
        audio_seconds = 0.0
        with Store.open(Path(home) / "tiro.sqlite", auto_snippets=False) as store:
            store.set_consent(True, "1").result()
            for item in items:
                rid = store.add_recording(item.path, sha256=file_sha256(item.path)).result()
                tid = store.create_transcript(rid, "factory", "bench").result()
                spans = [(t, min(t + 3.0, item.seconds)) for t in range(0, int(item.seconds), 3)]
                spans = [(s, e) for s, e in spans if e - s >= 0.5]
                words = ["speech"] * 6
                segs = [Segment(s, e, " " + " ".join(words)) for s, e in spans]
                store.append_segments(tid, segs).result()
                store.mark_verified(tid).result()
                audio_seconds += sum(e - s for s, e in spans)
            report = capture_snippets(store)
            snippet_bytes = store.stats().snippet_bytes
        del hashlib
    per_hour = snippet_bytes / audio_seconds * 3600 if audio_seconds else float("nan")
    return (
        "... + snippets of every segment (16 kHz mono FLAC)",
        f"{(base_bytes + per_hour) / 1e6:.1f}",
        f"snippets alone {per_hour / 1e6:.1f} MB/h, from {audio_seconds:.0f} s of real speech "
        f"({report.captured} clips)",
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument(
        "--corpus",
        type=Path,
        default=REPO.parent / "shared" / "corpus" / "general",
        help="a corpus folder (manifest.tsv) with speech for the snippet size",
    )
    args = parser.parse_args()
    corpus = args.corpus if (args.corpus / "manifest.tsv").exists() else None

    with tempfile.TemporaryDirectory() as home:
        os.environ["TIRO_HOME"] = home
        from retrain.store import Store

        python = sys.version.split()[0]
        print(f"SQLite {sqlite3.sqlite_version}, Python {python}, {os.cpu_count()} CPUs")
        with Store.open(Path(home) / "tiro.sqlite", auto_snippets=False) as store:
            t = time.perf_counter()
            tid, ids = make_transcript(store, HOURS, "three-hours.wav")
            print(f"built the {HOURS}-hour transcript in {time.perf_counter() - t:.1f} s")
            bench_load(store, tid)
            bench_latency(store, tid, ids, args.seconds, args.rate, Path(home))
    bench_size(corpus)
    return 0


if __name__ == "__main__":
    sys.exit(main())
