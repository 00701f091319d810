"""The desktop app (PySide6). ``run_app(argv)`` is what ``tiro`` with no command runs.

Layout (napari-style split): Qt views and widgets live here in ``app/gui``; the
logic they show is Qt-free in ``app/editing`` (document, alignment, find, diff),
``app/audio`` (playback engine, time-stretch, recorder), ``app/transcription``
(job events, worker process) and ``app/services`` (the door to the store and the
engine). Workers bridge blocking work to Qt signals.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

log = logging.getLogger("tiro.gui")

# packaging/budgets.py times start-up to a visible window: with this variable set, the
# app writes STARTUP_PROBE_MARK to stderr once the main window is exposed, then quits.
STARTUP_PROBE_ENV = "TIRO_STARTUP_PROBE"
STARTUP_PROBE_MARK = "tiro-startup-probe: window exposed"


def _report_first_exposure(app, window) -> None:
    from PySide6.QtCore import QTimer

    timer = QTimer(window)
    timer.setInterval(1)

    def check() -> None:
        handle = window.windowHandle()
        if handle is not None and handle.isExposed():
            timer.stop()
            sys.stderr.write(STARTUP_PROBE_MARK + "\n")
            sys.stderr.flush()
            app.quit()

    timer.timeout.connect(check)
    timer.start()


def _install_exception_hook(window) -> None:
    """An unexpected error in a slot becomes one sentence in the window, not a crash."""
    previous = sys.excepthook

    def hook(kind, value, traceback) -> None:
        if issubclass(kind, KeyboardInterrupt):
            previous(kind, value, traceback)
            return
        log.error("unhandled error in the app", exc_info=(kind, value, traceback))
        try:
            window.show_exception(value)
        except Exception:
            previous(kind, value, traceback)

    sys.excepthook = hook


def create_window(argv: Sequence[str] = (), services=None):
    """The QApplication (created if needed) and a main window on the default services."""
    from PySide6.QtWidgets import QApplication

    from app.gui.main_window import MainWindow
    from app.gui.settings import Settings
    from app.gui.theme import apply_theme
    from app.services import Services, TranscriptionSettings

    app = QApplication.instance() or QApplication(["tiro", *argv])
    app.setApplicationName("Tiro")
    app.setOrganizationName("Tiro")
    app.setApplicationDisplayName("Tiro")
    apply_theme(app)
    settings = Settings()
    opened_error = None
    if services is None:
        try:
            services = Services.open(
                lambda: TranscriptionSettings(settings.backend, settings.threads, settings.runner)
            )
        except Exception as exc:  # a damaged or unwritable database must not stop the app
            log.exception("opening the store failed")
            services, opened_error = None, exc
    window = MainWindow(services, settings)
    if opened_error is not None:
        from app.gui.errors import user_message

        window.notify(user_message(opened_error, "opening Tiro's database"), "error")
    _install_exception_hook(window)
    return app, window


def no_display_message() -> str | None:
    """On Linux without a display Qt would abort the process; say so in one sentence instead."""
    if not sys.platform.startswith("linux") or os.environ.get("QT_QPA_PLATFORM"):
        return None
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return (
        "no display found, so the window cannot open; run `tiro --help` for the commands "
        "that work without one (for example `tiro transcribe FILE`)."
    )


def run_app(argv: Sequence[str]) -> int:
    """Open the main window and run until it closes; returns the exit status."""
    import multiprocessing

    multiprocessing.freeze_support()  # the transcription worker process, in frozen builds
    problem = no_display_message()
    if problem is not None:
        sys.stderr.write(f"tiro: error: {problem}\n")
        return 2
    app, window = create_window(argv)
    window.show()
    if os.environ.get(STARTUP_PROBE_ENV):
        _report_first_exposure(app, window)
    window.start_scheduler()  # the monitor and, if opted in, learning, in the background
    status = app.exec()
    window.shutdown()
    return int(status)
