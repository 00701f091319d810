"""The editor's value for one segment: what the store holds, flattened for display."""

from __future__ import annotations

from dataclasses import dataclass, replace

from engine.types import Word


@dataclass(frozen=True, slots=True)
class SegmentState:
    """One row of the editor.

    ``text``/``start``/``end``/``speaker``/``reviewed`` are the current, editable
    state; ``original_text`` and ``words`` are the model's immutable output
    (``words`` carry probabilities and times). ``pending`` marks a local change
    whose write has not been acknowledged by the store yet.
    """

    id: int
    start: float
    end: float
    text: str
    speaker: str = ""
    reviewed: bool = False
    original_text: str = ""
    words: tuple[Word, ...] = ()
    pending: bool = False
    review_source: str | None = None  # verified, played or edited (why it counts as reviewed)
    position: str = ""  # the store's ordering key
    inserted: bool = False  # typed in by the user: no model output behind it

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    @property
    def changed(self) -> bool:
        """True when the text differs from the model's, ignoring spacing at the edges."""
        return self.text.strip() != self.original_text.strip()

    def with_(self, **changes: object) -> SegmentState:
        return replace(self, **changes)  # type: ignore[arg-type]
