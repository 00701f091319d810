"""The unit every learning algorithm consumes: what the model wrote, and what the user kept."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TextPair:
    """One reviewed segment: ``hypothesis`` is the model's text, ``reference`` the user's.

    ``example_id`` and ``recording_id`` come from the data contract; the recording is the
    unit of splitting (two segments of one recording never sit on both sides of a split).
    """

    example_id: str
    recording_id: str
    hypothesis: str
    reference: str
