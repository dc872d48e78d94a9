"""Draw the pass images once: `python app/wallet/assets/generate.py` (a development tool; the PNGs
it writes beside it are committed and shipped as package data, so nothing draws at run time).

Written with zlib by hand (no imaging library): each image is a function of the pixel position,
supersampled 4x4 for smooth edges. Sizes are Apple's for a store card: icon 29x29 (and 58x58 for
@2x), logo at most 160x50, strip 375x123.
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
BRAND = (18, 74, 94)  # the pass's background colour, rgb(18, 74, 94)
ACCENT = (242, 183, 5)
WHITE = (255, 255, 255)
SAMPLES = 4

Colour = tuple[int, int, int, int]
Shader = Callable[[float, float], Colour]


def png(width: int, height: int, pixels: list[list[Colour]]) -> bytes:
    """An 8-bit RGBA PNG (colour type 6), unfiltered scanlines."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(channel for px in row for channel in px) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def render(width: int, height: int, shade: Shader) -> bytes:
    """Average SAMPLES x SAMPLES shader samples per pixel; coordinates run 0..1 on the short side."""
    scale = min(width, height)
    rows = []
    for y in range(height):
        row = []
        for x in range(width):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(SAMPLES):
                for sx in range(SAMPLES):
                    r, g, b, a = shade(
                        (x + (sx + 0.5) / SAMPLES) / scale, (y + (sy + 0.5) / SAMPLES) / scale
                    )
                    acc[0] += r * a
                    acc[1] += g * a
                    acc[2] += b * a
                    acc[3] += a
            n = SAMPLES * SAMPLES
            alpha = acc[3] / n
            if alpha == 0:
                row.append((0, 0, 0, 0))
            else:
                row.append(
                    (
                        round(acc[0] / acc[3]),
                        round(acc[1] / acc[3]),
                        round(acc[2] / acc[3]),
                        round(alpha),
                    )
                )
        rows.append(row)
    return png(width, height, rows)


def _mark(x: float, y: float, cx: float, cy: float, r: float) -> Colour | None:
    """The program's mark: a ring with a star-like point in the middle."""
    d = math.hypot(x - cx, y - cy)
    if r * 0.72 <= d <= r:
        return (*WHITE, 255)
    angle = math.atan2(y - cy, x - cx)
    star = r * (0.28 + 0.18 * math.cos(5 * angle)) if d else 0
    if d <= star:
        return (*ACCENT, 255)
    return None


def icon(x: float, y: float) -> Colour:
    # a rounded square in the brand colour with the mark
    inset, radius = 0.04, 0.22
    qx = max(abs(x - 0.5) - (0.5 - inset - radius), 0)
    qy = max(abs(y - 0.5) - (0.5 - inset - radius), 0)
    if math.hypot(qx, qy) > radius:
        return (0, 0, 0, 0)
    return _mark(x, y, 0.5, 0.5, 0.36) or (*BRAND, 255)


def logo(x: float, y: float) -> Colour:
    # the mark on the left, three bars (a stylised word) beside it; transparent elsewhere
    mark = _mark(x, y, 0.5, 0.5, 0.42)
    if mark:
        return mark
    for index, length in enumerate((1.6, 1.15, 1.35)):
        top = 0.22 + index * 0.22
        if 1.12 <= x <= 1.12 + length and top <= y <= top + 0.12:
            return (*WHITE, 255)
    return (0, 0, 0, 0)


def strip(x: float, y: float) -> Colour:
    # a diagonal gradient from the brand colour to a lighter teal with soft accent arcs
    t = min(max((x * 0.35 + y) / 1.6, 0.0), 1.0)
    base = tuple(round(c + (light - c) * t) for c, light in zip(BRAND, (38, 128, 150), strict=True))
    for cx, cy, r in ((2.6, 1.4, 0.9), (2.9, 1.5, 1.25)):
        if abs(math.hypot(x - cx, y - cy) - r) < 0.02:
            return (*ACCENT, 255)
    return (base[0], base[1], base[2], 255)


IMAGES: dict[str, tuple[int, int, Shader]] = {
    "icon.png": (29, 29, icon),
    "icon@2x.png": (58, 58, icon),
    "logo.png": (160, 50, logo),
    "strip.png": (375, 123, strip),
}


def main() -> None:
    for name, (width, height, shade) in IMAGES.items():
        (HERE / name).write_bytes(render(width, height, shade))
        print(f"wrote {name} ({width}x{height})")


if __name__ == "__main__":
    main()
