"""Find and replace over a transcript's segments.

``find_matches`` returns every hit in reading order; ``plan_replace_all`` returns
the new text of every segment that changes, which the editor records as one
batch of text edits (one undo step).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from app.editing.segments import SegmentState


@dataclass(frozen=True, slots=True)
class FindQuery:
    text: str
    match_case: bool = False
    whole_words: bool = False
    regex: bool = False

    def pattern(self) -> re.Pattern[str] | None:
        """The compiled pattern; None for an empty query. Raises re.error for a bad regex."""
        if not self.text:
            return None
        body = self.text if self.regex else re.escape(self.text)
        if self.whole_words:
            body = rf"(?<!\w)(?:{body})(?!\w)"
        return re.compile(body, 0 if self.match_case else re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Match:
    segment_id: int
    row: int
    first: int
    last: int


def find_matches(segments: Iterable[SegmentState], query: FindQuery) -> list[Match]:
    pattern = query.pattern()
    if pattern is None:
        return []
    matches = []
    for row, segment in enumerate(segments):
        for m in pattern.finditer(segment.text):
            if m.end() > m.start():
                matches.append(Match(segment.id, row, m.start(), m.end()))
    return matches


def replace_in(text: str, query: FindQuery, replacement: str) -> str:
    pattern = query.pattern()
    if pattern is None:
        return text
    if query.regex:
        return pattern.sub(replacement, text)
    return pattern.sub(lambda _m: replacement, text)


def plan_replace_all(
    segments: Iterable[SegmentState], query: FindQuery, replacement: str
) -> list[tuple[int, str]]:
    """``(segment_id, new_text)`` for every segment the replacement changes."""
    plan = []
    for segment in segments:
        new_text = replace_in(segment.text, query, replacement)
        if new_text == segment.text:
            continue
        new_text = " ".join(new_text.split())  # replacing with "" leaves double spaces
        if new_text != segment.text:
            plan.append((segment.id, new_text))
    return plan
