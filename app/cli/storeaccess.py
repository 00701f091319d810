"""Opening the telemetry store from a CLI command (notices go to stderr)."""

from __future__ import annotations

import sys

from retrain.store import Store


def open_store() -> Store:
    """The store at the default path; tells the user about anything recovered on the way."""
    store = Store.open(auto_snippets=False)
    for notice in store.notices:
        sys.stderr.write(f"tiro: notice: {notice.message}\n")
    return store
