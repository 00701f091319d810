"""``tiro monitor`` from the command line: text, JSON, the self-contained HTML report."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from monitorkit import add_reviewed, add_training_run, add_version, set_champion, ten_words

from app.cli import main
from retrain.monitor import MonitorReport
from retrain.store import Store


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def seed(weeks: int = 3) -> None:
    with Store.open(auto_snippets=False) as store:
        for w in range(weeks):
            add_reviewed(
                store,
                "base",
                [ten_words(2, i) for i in range(4)],
                at=f"2026-11-{2 + 7 * w:02d}T10:00:00.000000Z",
            )
        run_id = add_training_run(
            store,
            started_at="2026-11-20T00:00:00.000000Z",
            finished_at="2026-11-20T01:00:00.000000Z",
            after="p1",
        )
        add_version(store, "p1", created_at="2026-11-20T01:00:00.000000Z", training_run_id=run_id)
        set_champion(store, "p1")
        add_reviewed(
            store, "p1", [ten_words(1, i) for i in range(4)], at="2026-11-23T10:00:00.000000Z"
        )


def test_text_and_json(tiro_home: Path, capsys) -> None:
    seed()
    status, out, _ = run(capsys, "monitor")
    assert status == 0
    assert "Champion: p1 (personal)" in out
    # 40 words from p1: too few to judge it yet
    assert "Not enough reviewed text from the model in use (p1)" in out
    assert re.search(r"factory\s+20\.0%\s+24 edits / 120 words", out)
    assert "Canary of p1: pending" in out
    assert "held-out WER 20.0% -> 10.0%" in out
    assert "Retraining: not due — 0 new validated examples" in out
    status, out, _ = run(capsys, "monitor", "--json")
    data = json.loads(out)
    report = MonitorReport.from_dict(data)
    assert report.champion_version == "p1" and report.report_id == 2
    assert {p.week for p in report.edit_rates} == {
        "2026-11-02",
        "2026-11-09",
        "2026-11-16",
        "2026-11-23",
    }
    status, out, _ = run(capsys, "monitor", "--latest", "--json")
    assert json.loads(out)["report_id"] == 2  # shown, not run again


def test_html_report_is_self_contained(tiro_home: Path, capsys, tmp_path: Path) -> None:
    seed()
    target = tmp_path / "health.html"
    status, out, _ = run(capsys, "monitor", "--html", str(target))
    assert status == 0 and f"HTML report written to {target}" in out
    html = target.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    # plots: edit rate per version, calibration, Model 4 (age, vocabulary), Model 2
    assert html.count("<svg") >= 5
    for title in (
        "Field edit rate per model version",
        "Edit rate against champion age",
        "Edit rate against new vocabulary",
        "Predicted held-out WER gain",
    ):
        assert f"<title>{title}" in html
    assert "<polyline" in html  # the weekly edit-rate line has points
    # nothing to fetch: no scripts, links, external sources or CSS urls
    for forbidden in ("<script", "<link", "src=", "href=", "url(", "@import"):
        assert forbidden not in html
    assert re.findall(r"https?://[^\s\"']+", html) == ["http://www.w3.org/2000/svg"] * len(
        re.findall("<svg", html)
    )  # only the SVG namespace name, which is never fetched


def test_bad_html_path_is_one_line_error(tiro_home: Path, capsys, tmp_path: Path) -> None:
    status, _, err = run(capsys, "monitor", "--html", str(tmp_path / "missing" / "r.html"))
    assert status == 2 and err.startswith("tiro: error: the folder") and err.count("\n") == 1
    status, _, err = run(capsys, "monitor", "--html", str(tmp_path))
    assert status == 2 and "is a folder" in err
    status, _, err = run(capsys, "monitor", "--latest")
    assert status == 2 and "has not run yet" in err


def test_headless_monitor_never_imports_qt(tiro_home: Path) -> None:
    code = (
        "import sys; from app.cli import main; rc = main(['monitor', '--json']); "
        "assert not any(m.startswith(('PySide6', 'pyqtgraph')) for m in sys.modules), 'Qt'; "
        "sys.exit(rc)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["champion_version"] == "factory"
