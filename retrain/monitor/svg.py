"""Tiny inline-SVG charts for the self-contained HTML report (no network, no libraries)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b")
WIDTH, HEIGHT = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 56, 130, 32, 44

Point = tuple[float, float]
Scale = Callable[[float], float]


def _scale(
    values: Sequence[float], lo_px: float, hi_px: float, pad: float = 0.0
) -> tuple[float, float, Scale]:
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    margin = (hi - lo) * pad
    lo, hi = lo - margin, hi + margin
    return lo, hi, lambda v: lo_px + (v - lo) / (hi - lo) * (hi_px - lo_px)


def _frame(
    title: str,
    x_label: str,
    y_label: str,
    xs: Sequence[float],
    ys: Sequence[float],
    x_pad: float = 0.0,
) -> tuple[list[str], Scale, Scale, tuple[float, float, float, float]]:
    x_lo, x_hi, fx = _scale(xs, LEFT, WIDTH - RIGHT, x_pad)
    y_lo, y_hi, fy = _scale([0.0, *ys, max(ys, default=0.0) * 1.08], HEIGHT - BOTTOM, TOP)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>',
        f'<text x="{LEFT}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" '
        'stroke="#444"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#444"/>',
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 8}" text-anchor="middle" '
        f'font-size="12">{escape(x_label)}</text>',
        f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2})">{escape(y_label)}</text>',
    ]
    for v in nice_ticks(y_lo, y_hi):
        y = fy(v)
        parts.append(
            f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
            'stroke="#eee"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="10">'
            f"{_fmt(v)}</text>"
        )
    return parts, fx, fy, (x_lo, x_hi, y_lo, y_hi)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 x 10^k steps) inside ``[lo, hi]``."""
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / max(1, count - 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    v = first
    while v <= hi + 1e-9 * step:
        ticks.append(0.0 if abs(v) < step * 1e-9 else v)
        v += step
    return ticks


def _fmt(v: float, percent: bool = True) -> str:
    if percent and -1.5 <= v <= 1.5:
        return f"{v:.0%}" if abs(v * 100 - round(v * 100)) < 0.05 else f"{v:.1%}"
    return f"{v:.3g}"


def _legend(parts: list[str], names: Sequence[str]) -> None:
    for i, name in enumerate(names):
        color = PALETTE[i % len(PALETTE)]
        y = TOP + 4 + 14 * i
        parts.append(
            f'<rect x="{WIDTH - RIGHT + 12}" y="{y}" width="10" height="10" fill="{color}"/>'
            f'<text x="{WIDTH - RIGHT + 26}" y="{y + 9}" font-size="10">{escape(name[:18])}'
            "</text>"
        )


def empty_chart(title: str, message: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="60" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
        f'<text x="10" y="35" font-size="12" fill="#666">{escape(message)}</text></svg>'
    )


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    y_label: str,
) -> str:
    """One line per series over categorical x positions (e.g. weeks); gaps for ``None``."""
    ys = [v for values in series.values() for v in values if v is not None]
    if not x_labels or not ys:
        return empty_chart(title, "not enough data yet")
    xs = [float(i) for i in range(len(x_labels))]
    parts, fx, fy, _ = _frame(title, "week", y_label, xs if len(xs) > 1 else [0, 1], ys, x_pad=0.04)
    step = max(1, math.ceil(len(x_labels) / 6))
    for i, label in enumerate(x_labels):
        if i % step == 0:
            parts.append(
                f'<text x="{fx(i):.1f}" y="{HEIGHT - BOTTOM + 14}" '
                f'text-anchor="middle" font-size="10">{escape(label)}</text>'
            )
    for k, values in enumerate(series.values()):
        color = PALETTE[k % len(PALETTE)]
        points = [(fx(i), fy(v)) for i, v in enumerate(values) if v is not None]
        if len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>'
            )
        for x, y in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"/>')
    _legend(parts, list(series))
    parts.append("</svg>")
    return "".join(parts)


def scatter_chart(
    title: str,
    x_label: str,
    y_label: str,
    series: Mapping[str, Sequence[Point]],
    x_percent: bool = False,
) -> str:
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    if not xs:
        return empty_chart(title, "not enough data yet")
    parts, fx, fy, (x_lo, x_hi, _, _) = _frame(title, x_label, y_label, xs, ys, x_pad=0.05)
    for v in nice_ticks(x_lo, x_hi):
        parts.append(
            f'<text x="{fx(v):.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
            f'font-size="10">{_fmt(v, x_percent)}</text>'
        )
    for k, (_name, pts) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        for x, y in pts:
            parts.append(
                f'<circle cx="{fx(x):.1f}" cy="{fy(y):.1f}" r="4" fill="{color}" '
                'fill-opacity="0.8"/>'
            )
    _legend(parts, list(series))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    title: str, labels: Sequence[str], values: Sequence[float | None], y_label: str
) -> str:
    present = [v for v in values if v is not None]
    if not present:
        return empty_chart(title, "not enough data yet")
    parts, _fx, fy, _ = _frame(title, "word probability", y_label, [0.0, 1.0], present)
    slot = (WIDTH - LEFT - RIGHT) / max(1, len(labels))
    for i, (label, v) in enumerate(zip(labels, values, strict=True)):
        x = LEFT + i * slot + slot * 0.15
        if v is not None:
            top = fy(v)
            parts.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{slot * 0.7:.1f}" '
                f'height="{HEIGHT - BOTTOM - top:.1f}" fill="{PALETTE[0]}"/>'
            )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle" '
            f'font-size="10">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
