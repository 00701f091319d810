"""Times as people read and type them."""

from __future__ import annotations

import re

_CLOCK = re.compile(r"^\s*(?:(\d+):)?(?:(\d+):)?(\d+(?:[.,]\d*)?)\s*$")


def format_time(seconds: float, *, tenths: bool = True, hours: bool | None = None) -> str:
    """``1:02.3``, ``12:02.3`` or ``1:02:03.4`` (hours when needed or asked for)."""
    seconds = max(0.0, seconds)
    if tenths:
        total_tenths = round(seconds * 10)
        whole, tenth = divmod(total_tenths, 10)
    else:
        whole, tenth = int(seconds), 0
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    show_hours = h > 0 if hours is None else hours
    text = f"{h}:{m:02d}:{s:02d}" if show_hours else f"{m}:{s:02d}"
    return f"{text}.{tenth}" if tenths else text


def format_precise(seconds: float) -> str:
    """``0:01:02.345`` for fields where milliseconds matter (start/end editing)."""
    seconds = max(0.0, seconds)
    millis = round(seconds * 1000)
    whole, ms = divmod(millis, 1000)
    h, rest = divmod(whole, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}"


def parse_time(text: str) -> float:
    """Parse ``83.5``, ``1:23.5`` or ``0:01:23.500`` into seconds; ValueError otherwise."""
    match = _CLOCK.match(text)
    if not match:
        raise ValueError(f"not a time: {text!r}")
    first, second, secs = match.groups()
    if second is not None:
        hours, minutes = int(first), int(second)
    else:
        hours, minutes = 0, int(first or 0)
    value = hours * 3600 + minutes * 60 + float(secs.replace(",", "."))
    if minutes >= 60 and hours:
        raise ValueError(f"not a time: {text!r}")
    return value
