"""Order keys for segments: strings of decimal digits, compared as text.

A key ``d1d2d3...`` stands for the fraction ``0.d1d2d3...``. Segments appended by
the transcriber get fixed-width integer keys (``0000000001``, ``0000000002``, ...);
a segment split off or inserted between two others gets a key strictly between
theirs (``between``), so no other row ever has to be renumbered. That matters for
undo and redo: an edit's logged rows carry their keys, and re-applying them later
puts every segment back in the same place.

Keys never end in ``0`` (except the fixed-width ones, which are never the result of
``between``), so text order and numeric order agree.
"""

from __future__ import annotations

WIDTH = 10


def first() -> str:
    return after(None)


def after(last: str | None) -> str:
    """The key for a segment appended after ``last`` (``None``: the first segment)."""
    index = 0 if last is None else int(last[:WIDTH])
    return f"{index + 1:0{WIDTH}d}"


def between(low: str | None, high: str | None) -> str:
    """A key strictly between ``low`` and ``high`` (``None``: no bound on that side)."""
    if high is None:
        return after(low)
    low = low or ""
    if not low < high:
        raise ValueError(f"position keys out of order: {low!r} >= {high!r}")
    digits: list[str] = []
    bounded = True
    i = 0
    while True:
        d_low = int(low[i]) if i < len(low) else 0
        d_high = (int(high[i]) if i < len(high) else 0) if bounded else 10
        if d_high - d_low >= 2:
            digits.append(str((d_low + d_high) // 2))
            return "".join(digits)
        digits.append(str(d_low))
        if d_high - d_low == 1:
            bounded = False
        i += 1
