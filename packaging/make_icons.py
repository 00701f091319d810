#!/usr/bin/env python3
"""Draw Tiro's icon and write it in every format the builds need (standard library only).

    python3 packaging/make_icons.py      rewrites packaging/icons/

The icon is a rounded square in Tiro's ink blue with five white waveform bars. It
is drawn from one shape description into:

- ``tiro.svg``           the scalable icon (Linux desktops, the README);
- ``tiro-256.png``, ``tiro-48.png``   for the ``.desktop`` file and AppImage;
- ``tiro.ico``           Windows (PNG images inside an ICO container);
- ``tiro.icns``          macOS (PNG images inside an ICNS container).

The outputs are committed; rerun this script only when the drawing changes.
"""

from __future__ import annotations

import struct
import sys
import zlib
from pathlib import Path

ICONS = Path(__file__).resolve().parent / "icons"
BACKGROUND = (0x1F, 0x3A, 0x5F)  # ink blue
FOREGROUND = (0xFF, 0xFF, 0xFF)
CORNER = 0.22  # corner radius, as a fraction of the side
# Waveform bars: (centre x, half height), in units of the side.
BARS = ((0.26, 0.12), (0.38, 0.24), (0.50, 0.32), (0.62, 0.20), (0.74, 0.10))
BAR_HALF_WIDTH = 0.045
SUPERSAMPLE = 4


def svg() -> str:
    parts = [
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 256 256" width="256" height="256">',
        f'  <rect width="256" height="256" rx="{CORNER * 256:.1f}" fill="#{_hex(BACKGROUND)}"/>',
    ]
    for cx, half in BARS:
        x, y = (cx - BAR_HALF_WIDTH) * 256, (0.5 - half) * 256
        w, h = 2 * BAR_HALF_WIDTH * 256, 2 * half * 256
        parts.append(
            f'  <rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'rx="{BAR_HALF_WIDTH * 256:.1f}" fill="#{_hex(FOREGROUND)}"/>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _hex(rgb: tuple[int, int, int]) -> str:
    return "".join(f"{c:02x}" for c in rgb)


def _inside_rounded(x: float, y: float, x0: float, y0: float, x1: float, y1: float, r: float):
    if not (x0 <= x <= x1 and y0 <= y <= y1):
        return False
    cx = min(max(x, x0 + r), x1 - r)
    cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r


def _sample(x: float, y: float) -> tuple[int, int, int, int]:
    """Colour (RGBA) at a point of the unit square."""
    if not _inside_rounded(x, y, 0, 0, 1, 1, CORNER):
        return (0, 0, 0, 0)
    for cx, half in BARS:
        x0, x1 = cx - BAR_HALF_WIDTH, cx + BAR_HALF_WIDTH
        if _inside_rounded(x, y, x0, 0.5 - half, x1, 0.5 + half, BAR_HALF_WIDTH):
            return (*FOREGROUND, 255)
    return (*BACKGROUND, 255)


def raster(size: int) -> bytes:
    """RGBA pixels, row by row, antialiased by supersampling."""
    rows = bytearray()
    n = SUPERSAMPLE
    for py in range(size):
        rows.append(0)  # PNG filter type: none
        for px in range(size):
            acc = [0, 0, 0, 0]
            for sy in range(n):
                for sx in range(n):
                    r, g, b, a = _sample((px + (sx + 0.5) / n) / size, (py + (sy + 0.5) / n) / size)
                    acc[0] += r * a
                    acc[1] += g * a
                    acc[2] += b * a
                    acc[3] += a
            alpha = acc[3]
            if alpha:
                rows += bytes((acc[0] // alpha, acc[1] // alpha, acc[2] // alpha, alpha // (n * n)))
            else:
                rows += b"\0\0\0\0"
    return bytes(rows)


def png(size: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raster(size), 9))
        + chunk(b"IEND", b"")
    )


def ico(images: dict[int, bytes]) -> bytes:
    """An ICO file holding PNG images (supported since Windows Vista)."""
    out = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    data = b""
    for size, image in sorted(images.items()):
        side = 0 if size >= 256 else size  # 0 means 256
        out += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(image), offset + len(data))
        data += image
    return out + data


def icns(images: dict[int, bytes]) -> bytes:
    """An ICNS file holding PNG images (macOS 10.7+)."""
    kinds = {32: b"ic11", 64: b"ic12", 128: b"ic07", 256: b"ic08", 512: b"ic09"}
    body = b"".join(
        kinds[size] + struct.pack(">I", 8 + len(image)) + image
        for size, image in sorted(images.items())
        if size in kinds
    )
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main() -> int:
    ICONS.mkdir(exist_ok=True)
    (ICONS / "tiro.svg").write_text(svg())
    images = {size: png(size) for size in (32, 48, 64, 128, 256)}
    (ICONS / "tiro-256.png").write_bytes(images[256])
    (ICONS / "tiro-48.png").write_bytes(images[48])
    (ICONS / "tiro.ico").write_bytes(ico({s: images[s] for s in (32, 48, 64, 128, 256)}))
    (ICONS / "tiro.icns").write_bytes(icns({s: images[s] for s in (32, 64, 128, 256)}))
    for path in sorted(ICONS.iterdir()):
        print(f"{path.relative_to(ICONS.parent.parent)}  {path.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
