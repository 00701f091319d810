"""The Model health panel, the scheduler in the app, "Retrain now" and the rollback notice.

The telemetry is crafted through the store API the editor uses (``tests/monitorkit.py``):
the factory model's reviewed segments, then a promoted personalized model whose first 30
reviewed segments were edited far more. The scheduler the app starts runs the real
monitor on it, which rolls the model back; the app says so in the message bar, and the
panel shows what the monitor computed. "Retrain now" runs the real pipeline process
(here it finds no learning examples: the crafted segments have no audio).
"""

from __future__ import annotations

import os
from pathlib import Path

from gui_support import store_of, wait_idle
from monitorkit import add_reviewed, add_training_run, add_version, set_champion, ten_words
from PySide6.QtCore import Qt

from app.gui.main_window import MainWindow
from retrain.privacy import CONSENT_TEXT_VERSION
from retrain.registry import FACTORY, Registry
from retrain.scheduler import SchedulerConfig

REPO = Path(__file__).resolve().parents[2]
QUICK = SchedulerConfig(first_monitor_seconds=0.5, monitor_minutes=60, grace_seconds=2)


def screenshot_dir() -> Path:
    folder = Path(os.environ.get("TIRO_SCREENSHOTS", REPO / "build" / "screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def craft_harmful_promotion(store) -> None:
    add_reviewed(
        store, "base", [ten_words(1, i) for i in range(15)], at="2026-11-02T10:00:00.000000Z"
    )
    add_reviewed(
        store, "base", [ten_words(1, i) for i in range(15)], at="2026-11-09T10:00:00.000000Z"
    )
    run = add_training_run(
        store,
        started_at="2026-11-10T00:00:00.000000Z",
        finished_at="2026-11-10T01:00:00.000000Z",
        after="p-bad",
        champion_wer=0.21,
        candidate_wer=0.12,
        reasons=("held-out WER improves: 21.0% -> 12.0%",),
    )
    add_version(store, "p-bad", created_at="2026-11-10T01:00:00.000000Z", training_run_id=run)
    set_champion(store, "p-bad", FACTORY)
    add_reviewed(
        store, "p-bad", [ten_words(5, i) for i in range(30)], at="2026-11-16T10:00:00.000000Z"
    )


def test_the_app_runs_the_monitor_tells_about_a_rollback_and_shows_model_health(
    qtbot, window: MainWindow
) -> None:
    store = store_of(window)
    craft_harmful_promotion(store)
    window.start_scheduler(QUICK)
    scheduler = window.services.scheduler
    assert scheduler is not None and scheduler.running

    # the monitor job rolls the harmful model back; the app says so, and why
    qtbot.waitUntil(lambda: window.message_bar.kind == "warning", timeout=120_000)
    notice = window.message_bar.text
    assert "went back to an earlier model" in notice
    assert "Rolled back p-bad to factory" in notice
    assert Registry(store).champion() == FACTORY

    # the panel: headline, edit rate per version over time, last training, flags, jobs
    window.actions["model_health"].trigger()
    assert window.health_dock.isVisible()
    panel = window.health_panel
    qtbot.waitUntil(lambda: panel.health is not None, timeout=30_000)
    assert panel.health.report is not None
    assert "factory" in panel.model_label.text()
    assert panel.headline.text() == panel.health.report.headline != ""
    rates = panel.edit_rate_chart.series
    assert set(rates) == {FACTORY, "p-bad"}  # "base..." versions are the factory model
    assert len(rates[FACTORY][0]) == 2  # two weeks
    assert rates["p-bad"][1] == [50.0]  # 5 of 10 words edited
    assert "promoted p-bad" in panel.training_text.text()
    assert "21.0 % before, 12.0 % after" in panel.training_text.text()
    assert panel.training_chart.heights == (0.21, 0.21, 0.12)
    assert panel.training_reasons.item(0).text().startswith("held-out WER improves")
    flags = [panel.attention.item(i).text() for i in range(panel.attention.count())]
    assert any("Rolled back p-bad" in f for f in flags)
    jobs = {
        (panel.jobs.item(r, 0).text(), panel.jobs.item(r, 3).text())
        for r in range(panel.jobs.rowCount())
    }
    assert {("canary", "rolled back"), ("monitor", "done")} <= jobs
    assert not panel.retrain_button.isEnabled()  # learning is off
    assert panel.grab().save(str(screenshot_dir() / "model-health.png"))

    # "Retrain now" with learning off says what to do; with learning on it runs the real
    # pipeline in its own process, and the job history shows how it ended
    window.retrain_now()
    assert "Learning is off" in window.message_bar.text
    store.set_consent(True, CONSENT_TEXT_VERSION).result()
    window.refresh_health()
    qtbot.waitUntil(lambda: panel.retrain_button.isEnabled(), timeout=10_000)
    qtbot.mouseClick(panel.retrain_button, Qt.MouseButton.LeftButton)

    def pipeline_rows():
        return [
            (panel.jobs.item(r, 3).text(), panel.jobs.item(r, 4).text())
            for r in range(panel.jobs.rowCount())
            if panel.jobs.item(r, 0).text() == "pipeline"
        ]

    def pipeline_ended() -> bool:
        rows = pipeline_rows()
        return bool(rows) and rows[0][0] != "running"

    qtbot.waitUntil(pipeline_ended, timeout=300_000)
    [(outcome, message)] = pipeline_rows()
    assert outcome == "done", message
    assert "insufficient evidence" in message
    assert Registry(store).champion() == FACTORY

    # quitting stops the scheduler
    window.shutdown()
    assert window.services.scheduler is None and not scheduler.running


def test_a_transcription_holds_the_busy_signal(
    qtbot, window: MainWindow, meeting_clip: Path
) -> None:
    services = window.services
    seen: list[bool] = []
    original = services._import

    def watched(request, cancel, emit):
        seen.append(services.busy.busy)
        return original(request, cancel, emit)

    services._import = watched
    (item,) = window.import_files([meeting_clip])
    wait_idle(qtbot, window)
    assert item.status == "done", item.message
    assert seen == [True]  # held while it transcribed
    assert not services.busy.busy  # and released after


def test_a_rollback_while_the_app_was_closed_is_told_once_at_start(
    qtbot, window: MainWindow
) -> None:
    from retrain.scheduler import model_health, run_once

    store = store_of(window)
    craft_harmful_promotion(store)
    headless = run_once(store)  # as `tiro scheduler run-once` would, with the app closed
    assert headless.monitor.rollbacks and Registry(store).champion() == FACTORY
    window.start_scheduler(SchedulerConfig(first_monitor_seconds=3600))
    qtbot.waitUntil(lambda: window.message_bar.kind == "warning", timeout=30_000)
    assert "went back to an earlier model" in window.message_bar.text
    assert "Rolled back p-bad to factory" in window.message_bar.text
    told = window.settings.last_rollback_told
    assert told == model_health(store).rollbacks[0].id
    shown = len(window.message_bar.history)
    window._tell_rollbacks(model_health(store))  # the next start: nothing new to tell
    assert len(window.message_bar.history) == shown
