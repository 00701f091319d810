"""Typed errors raised by the learning side (store, contract, privacy, pipeline).

Every error's ``str()`` is one sentence for the user: what happened and what to
do. ``app/cli/errors.py`` prints it as ``tiro: error: <message>``; the app shows
it in a dialog or a status line. Details (SQL, paths, tracebacks) go to the log,
never into these messages, and transcript text never goes into either.
"""

from __future__ import annotations


class RetrainError(Exception):
    """Base class for every error the learning side raises on purpose."""

    default_message = "the learning side of Tiro failed; details are in the log file."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)


# --- the store -------------------------------------------------------------------------


class StoreError(RetrainError):
    """Base class for failures of the telemetry database."""

    default_message = "Tiro's database failed; details are in the log file under TIRO_HOME/logs."


class StoreFullError(StoreError):
    """The disk (or a file-size limit) is full; the write was rolled back."""

    default_message = (
        "the disk is full, so Tiro could not save to its database; "
        "free some space and try again (everything saved before is intact)."
    )


class StoreReadOnlyError(StoreError):
    """The database file or its folder cannot be written."""

    default_message = (
        "Tiro's database is read-only, so nothing new can be saved; "
        "check the permissions of the TIRO_HOME folder (everything saved before is intact)."
    )


class StoreBusyError(StoreError):
    """Another process held the database's write lock for too long."""

    default_message = (
        "Tiro's database stayed busy in another Tiro process for too long; "
        "close other Tiro windows or commands and try again."
    )


class StoreIOError(StoreError):
    """The operating system reported an I/O error on the database file."""

    default_message = (
        "the disk reported an error while Tiro wrote its database; "
        "check the disk and try again (everything saved before is intact)."
    )


class StoreCorruptError(StoreError):
    """The database file is damaged (found while running, not at startup)."""

    default_message = (
        "Tiro's database file is damaged; restart Tiro, which moves the damaged file "
        "aside and starts a fresh one."
    )


class StoreTooNewError(StoreError):
    """The database was written by a newer Tiro with a schema this one does not know."""

    default_message = (
        "Tiro's database was created by a newer version of Tiro; update Tiro to open it."
    )


class StoreClosedError(StoreError):
    """A write was submitted after the store was closed."""

    default_message = "Tiro's database is already closed; reopen it and try again."


class NotFoundError(StoreError):
    """A recording, transcript or segment id that does not exist (any more)."""

    default_message = "that item does not exist any more; refresh the list and try again."


# --- edits -----------------------------------------------------------------------------


class EditError(RetrainError):
    """Base class for an edit that could not be applied; nothing was changed."""

    default_message = "the edit could not be applied; nothing was changed."


class EditConflictError(EditError):
    """The edit was made against a state of the transcript that is no longer current."""

    default_message = (
        "the transcript changed since this edit was made, so it was not applied; "
        "reopen the transcript and make the edit again."
    )


class InvalidEditError(EditError):
    """The edit makes no sense for the segment (e.g. a split outside it, end before start)."""


class NothingToUndoError(EditError):
    """Undo (or redo) was asked for with an empty stack."""

    default_message = "there is nothing to undo."


# --- privacy and learning data ---------------------------------------------------------


class PrivacyError(RetrainError):
    """A privacy operation (export, delete) could not be completed."""


class SnippetError(RetrainError):
    """A learning snippet could not be captured (the original file moved or changed)."""
