"""Log file setup: details go to TIRO_HOME/logs/tiro.log, never to the user's terminal."""

from __future__ import annotations

import logging
import logging.handlers

from engine.paths import logs_dir

_configured = False


def configure_logging(verbose: bool = False) -> None:
    global _configured
    if _configured:
        return
    _configured = True
    root = logging.getLogger()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            logs_dir() / "tiro.log", maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError:  # an unwritable home must not stop the program; errors still reach stderr
        handler = logging.NullHandler()
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s")
    )
    root.addHandler(handler)
