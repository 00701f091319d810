"""Writing transcripts as TXT, SRT, WebVTT or JSON.

``render(fmt, segments, info)`` returns the text; ``export(fmt, segments, info,
path)`` writes it atomically (a temporary file renamed into place), so a failed
or cancelled job never leaves half a file. Problems with the destination raise
``ExportError`` with one sentence for the user.

JSON layout (``FORMAT_VERSION`` 1)::

    {"format": "tiro-transcript", "version": 1,
     "info": {duration, backend, model_version, model_sha256, language, notices,
              options: {...}, media: {...} | null},
     "segments": [{start, end, text, avg_logprob, no_speech_prob, compression_ratio,
                   words: [{text, start, end, probability}]}]}

Values that are not numbers (``nan``: unknown) are written as ``null``.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from engine.errors import ExportError
from engine.fsutil import atomic_write_text
from engine.types import Segment, TranscriptionInfo

FORMATS: tuple[str, ...] = ("txt", "srt", "vtt", "json")
FORMAT_VERSION = 1


def _clock(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _cue_text(text: str) -> str:
    # a blank line would end a cue early; "-->" would be read as a timing line
    lines = [line.strip() for line in text.replace("-->", "->").splitlines() if line.strip()]
    return "\n".join(lines) or "…"


def to_txt(segments: Sequence[Segment]) -> str:
    return "".join(f"{s.text.strip()}\n" for s in segments if s.text.strip())


def srt_cue(index: int, s: Segment) -> str:
    """One SRT cue (with its trailing blank line)."""
    end = max(s.end, s.start + 0.001)
    return f"{index}\n{_clock(s.start, ',')} --> {_clock(end, ',')}\n{_cue_text(s.text)}\n\n"


def to_srt(segments: Sequence[Segment]) -> str:
    return "".join(srt_cue(i, s) for i, s in enumerate(segments, start=1))


VTT_HEADER = "WEBVTT\n\n"


def _vtt_text(text: str) -> str:
    return _cue_text(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def vtt_cue(s: Segment) -> str:
    """One WebVTT cue (with its trailing blank line)."""
    end = max(s.end, s.start + 0.001)
    return f"{_clock(s.start, '.')} --> {_clock(end, '.')}\n{_vtt_text(s.text)}\n\n"


def to_vtt(segments: Sequence[Segment]) -> str:
    return VTT_HEADER + "".join(vtt_cue(s) for s in segments)


def _number(value: float) -> float | None:
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return _number(value)
    return value


def segment_to_dict(s: Segment) -> dict[str, Any]:
    return {
        "start": s.start,
        "end": s.end,
        "text": s.text,
        "avg_logprob": _number(s.avg_logprob),
        "no_speech_prob": _number(s.no_speech_prob),
        "compression_ratio": _number(s.compression_ratio),
        "words": [
            {"text": w.text, "start": w.start, "end": w.end, "probability": _number(w.probability)}
            for w in s.words
        ],
    }


def to_json(segments: Sequence[Segment], info: TranscriptionInfo | None) -> str:
    document = {
        "format": "tiro-transcript",
        "version": FORMAT_VERSION,
        "info": _plain(info) if info is not None else None,
        "segments": [segment_to_dict(s) for s in segments],
    }
    return json.dumps(document, ensure_ascii=False, indent=2, allow_nan=False) + "\n"


def render(fmt: str, segments: Iterable[Segment], info: TranscriptionInfo | None = None) -> str:
    """The transcript as text in ``fmt`` (one of ``FORMATS``)."""
    items = list(segments)
    if fmt == "txt":
        return to_txt(items)
    if fmt == "srt":
        return to_srt(items)
    if fmt == "vtt":
        return to_vtt(items)
    if fmt == "json":
        return to_json(items, info)
    raise ExportError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}.")


def check_writable(path: str | Path) -> Path:
    """Fail early, before any transcription, if ``path`` cannot be written.

    Creates and removes a scratch file next to ``path``: permission bits alone
    do not say whether a place is writable (read-only mounts, special file
    systems, privileged users).
    """
    target = Path(path)
    if target.is_dir():
        raise ExportError(f"{target} is a folder; give a file name for the transcript.")
    parent = target.parent
    if not parent.is_dir():
        raise ExportError(f"the folder {parent} does not exist; create it or choose another place.")
    if target.exists() and not os.access(target, os.W_OK):
        raise ExportError(f"cannot write to {target} (permission denied); choose another place.")
    try:
        handle, scratch = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".probe", dir=parent)
    except OSError as exc:
        raise ExportError(
            f"cannot write to {target} ({exc.strerror or 'not writable'}); choose another place."
        ) from exc
    os.close(handle)
    Path(scratch).unlink(missing_ok=True)
    return target


def export(
    fmt: str, segments: Iterable[Segment], info: TranscriptionInfo | None, path: str | Path
) -> Path:
    """Write the transcript to ``path`` atomically; returns the path."""
    target = check_writable(path)
    text = render(fmt, segments, info)
    try:
        atomic_write_text(target, text)
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise ExportError(f"the disk is full; could not write {target}.") from exc
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise ExportError(
                f"cannot write to {target} (permission denied); choose another place."
            ) from exc
        raise ExportError(
            f"could not write {target} ({exc.strerror}); choose another place."
        ) from exc
    return target
