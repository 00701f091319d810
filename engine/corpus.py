"""Reading speech corpora in the shared manifest format.

A corpus is a folder with ``manifest.tsv`` (tab-separated, UTF-8, one header
line: ``split, file, seconds, sample_rate, channels, text, terms``) and the
audio files it names. ``terms`` is a comma-separated list of rare terms that
occur in ``text``. The reference set that ships with Tiro uses the same format.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

REFERENCE_SET_DIR = Path(__file__).resolve().parent / "data" / "reference"
SELF_TEST_CLIP = "jfk_inaugural_44k_stereo.flac"
REPLAY = "replay"  # reference clips fine-tuning replays
GATE = "gate"  # reference clips nothing is trained on


@dataclass(frozen=True, slots=True)
class CorpusItem:
    split: str
    path: Path
    seconds: float
    sample_rate: int
    channels: int
    text: str
    terms: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.path.name


def read_manifest(corpus_dir: str | Path) -> list[CorpusItem]:
    """Every item of a corpus, in manifest order."""
    root = Path(corpus_dir)
    manifest = root / "manifest.tsv"
    items: list[CorpusItem] = []
    with manifest.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE):
            terms = tuple(t.strip() for t in (row.get("terms") or "").split(",") if t.strip())
            items.append(
                CorpusItem(
                    split=row["split"],
                    path=root / row["file"],
                    seconds=float(row["seconds"]),
                    sample_rate=int(row["sample_rate"]),
                    channels=int(row["channels"]),
                    text=row["text"],
                    terms=terms,
                )
            )
    return items


def reference_set(split: str | None = None) -> list[CorpusItem]:
    """The few clips of real speech that ship with Tiro (see data/reference/README.md):
    all of them, or those of one ``split``: ``REPLAY`` (fine-tuning replays them) or
    ``GATE`` (never trained on)."""
    items = read_manifest(REFERENCE_SET_DIR)
    return items if split is None else [i for i in items if i.split == split]
