"""The word-level difference between the model's text and the current text ("Show changes")."""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Literal

from app.editing.words import normalized

Kind = Literal["same", "added", "removed"]


@dataclass(frozen=True, slots=True)
class DiffPiece:
    kind: Kind
    text: str


@lru_cache(maxsize=4096)
def word_diff(original: str, current: str) -> tuple[DiffPiece, ...]:
    """Pieces that read as the current text with the model's removed words in between.

    Words compare after lower-casing and stripping edge punctuation, but a word whose
    spelling or punctuation changed still shows as removed + added.
    """
    before = original.split()
    after = current.split()
    matcher = SequenceMatcher(
        a=[normalized(w) or w for w in before],
        b=[normalized(w) or w for w in after],
        autojunk=False,
    )
    pieces: list[DiffPiece] = []

    def add(kind: Kind, words: list[str]) -> None:
        if not words:
            return
        text = " ".join(words)
        if pieces and pieces[-1].kind == kind:
            pieces[-1] = DiffPiece(kind, pieces[-1].text + " " + text)
        else:
            pieces.append(DiffPiece(kind, text))

    for tag, a0, a1, b0, b1 in matcher.get_opcodes():
        if tag == "equal":
            for old, new in zip(before[a0:a1], after[b0:b1], strict=True):
                if old == new:
                    add("same", [new])
                else:
                    add("removed", [old])
                    add("added", [new])
        else:
            add("removed", before[a0:a1])
            add("added", after[b0:b1])
    return tuple(pieces)


def changed_word_count(original: str, current: str) -> int:
    return sum(len(p.text.split()) for p in word_diff(original, current) if p.kind != "same")
