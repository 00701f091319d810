"""Job runs in the store (table ``job_runs``): every scheduler job, its start, end,
outcome and one-sentence message; what the app's job history shows.

Outcomes: ``running`` (not finished yet), ``ok``, ``failed``, ``timed_out``,
``cancelled``; the monitor adds ``rolled_back`` rows (job ``canary`` or ``monitor``).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

from retrain.store import Store
from retrain.store.writes import finish_job_run, start_job_run

MONITOR_JOB = "monitor"
PIPELINE_JOB = "pipeline"
OUTCOMES = ("running", "ok", "failed", "timed_out", "cancelled", "rolled_back")


@dataclass(frozen=True)
class JobRun:
    id: int
    job: str
    started_at: str
    finished_at: str | None
    outcome: str
    message: str | None
    pid: int | None

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "job": self.job,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": self.outcome,
            "message": self.message,
            "pid": self.pid,
        }


def start(store: Store, job: str, pid: int | None = None) -> int:
    return store.write(lambda conn: start_job_run(conn, job, pid)).result()


def set_pid(store: Store, run_id: int, pid: int) -> None:
    store.write(
        lambda conn: conn.execute("UPDATE job_runs SET pid = ? WHERE id = ?", (pid, run_id))
    ).result()


def finish(store: Store, run_id: int, outcome: str, message: str | None) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown job outcome {outcome!r}")
    store.write(lambda conn: finish_job_run(conn, run_id, outcome, message)).result()


def _row(r: tuple) -> JobRun:
    return JobRun(*r)


def job_history(store: Store, limit: int = 50, job: str | None = None) -> list[JobRun]:
    """The newest ``limit`` job runs, newest first (optionally of one job)."""

    def query(conn: sqlite3.Connection) -> list[JobRun]:
        sql = "SELECT id, job, started_at, finished_at, outcome, message, pid FROM job_runs"
        args: tuple = ()
        if job is not None:
            sql += " WHERE job = ?"
            args = (job,)
        rows = conn.execute(sql + " ORDER BY started_at DESC, id DESC LIMIT ?", (*args, limit))
        return [_row(r) for r in rows]

    return store.read(query)


def last_run(store: Store, job: str) -> JobRun | None:
    runs = job_history(store, 1, job)
    return runs[0] if runs else None


def close_abandoned(store: Store, message: str) -> int:
    """Runs left ``running`` by an app that ended without finishing them (a crash, a kill)
    become ``failed``; returns how many. Call once when the scheduler starts."""

    def job(conn: sqlite3.Connection) -> int:
        cur = conn.execute(
            "UPDATE job_runs SET outcome = 'failed', finished_at = ?, message = ? "
            "WHERE outcome = 'running' AND finished_at IS NULL",
            (utc_text(), message),
        )
        return cur.rowcount

    return store.write(job).result()


def utc_text(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
