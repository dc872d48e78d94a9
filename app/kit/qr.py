"""QR images of member codes, rendered with `qrcode`."""

from __future__ import annotations

from functools import lru_cache

import qrcode
import qrcode.constants
from qrcode.image.svg import SvgPathImage


def _make(payload: str, box_size: int) -> qrcode.QRCode:
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=box_size, border=4
    )
    code.add_data(payload.upper(), optimize=0)
    code.make(fit=True)
    return code


@lru_cache(maxsize=8192)
def svg(payload: str) -> str:
    """An SVG document (a single path) of the code; cached, as codes repeat within a minute."""
    image = _make(payload, 10).make_image(image_factory=SvgPathImage)
    return image.to_string(encoding="unicode")  # type: ignore[no-any-return]


def version(payload: str) -> int:
    """The QR version (size) the payload needs."""
    return int(_make(payload, 1).version or 0)
