"""Monitor reports in the store (table ``monitor_reports``).

The scheduler runs the monitor every few minutes, so only the newest ``KEEP_REPORTS``
reports are kept; what must outlive them (rollbacks and why) is also in ``job_runs`` and
in the demoted version's ``status_reason``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace

from retrain.monitor.report import MonitorReport
from retrain.store import Store

KEEP_REPORTS = 500


def save_report(store: Store, report: MonitorReport, keep: int = KEEP_REPORTS) -> MonitorReport:
    """Insert ``report`` (dropping reports older than the newest ``keep``); returns it with
    its ``report_id``."""

    def job(conn: sqlite3.Connection) -> int:
        cur = conn.execute(
            "INSERT INTO monitor_reports (created_at, champion_version, report_json, flags_json) "
            "VALUES (?, ?, '{}', ?)",
            (report.created_at, report.champion_version, json.dumps(list(report.flags))),
        )
        report_id = int(cur.lastrowid)
        body = replace(report, report_id=report_id).to_dict()
        conn.execute(
            "UPDATE monitor_reports SET report_json = ? WHERE id = ?",
            (json.dumps(body, sort_keys=True), report_id),
        )
        conn.execute(
            "DELETE FROM monitor_reports WHERE id <= ("
            "SELECT id FROM monitor_reports ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (keep,),
        )
        return report_id

    return replace(report, report_id=store.write(job).result())


def report_history(store: Store, limit: int = 50) -> list[MonitorReport]:
    """The newest ``limit`` reports, newest first."""
    rows = store.read(
        lambda c: c.execute(
            "SELECT id, report_json FROM monitor_reports ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
    )
    out = []
    for report_id, body in rows:
        try:
            data = json.loads(body)
        except json.JSONDecodeError:
            continue
        if not isinstance(data, dict) or "created_at" not in data:
            continue
        out.append(replace(MonitorReport.from_dict(data), report_id=report_id))
    return out


def latest_report(store: Store) -> MonitorReport | None:
    """The newest report, or ``None`` if the monitor never ran."""
    history = report_history(store, 1)
    return history[0] if history else None
