"""Member codes: what the till scans. Pure functions: the secret and the time are passed in.

- Rotating code (the app's QR): ``L1.<card number>.<time step>.<mac>``; a step is 60 s, and the
  current and the previous step are accepted.
- Static code (wallet passes, printed cards): ``W1.<card number>.<version>.<mac>``; revoked by
  bumping the member's version.
- A typed card number: 16 digits with a Luhn check digit (spaces and dashes allowed).

The MAC is HMAC-SHA256 over the code's fields, truncated to 80 bits and written in base32, so the
whole code is in QR's alphanumeric alphabet (capitals, digits, '.') and fits a version-3 symbol.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

from app.errors import CodeExpired, CodeInvalid, CodeMalformed
from app.kit import luhn

STEP_SECONDS = 60
ROTATING_PREFIX = "L1"
STATIC_PREFIX = "W1"
# re.ASCII: `\d` would otherwise match any Unicode digit (Arabic-Indic, full-width ...).
_CODE = re.compile(r"(L1|W1)\.(\d{16})\.(\d{1,12})\.([A-Z2-7]{16})", re.ASCII)
_TYPED = re.compile(r"[\d \-]{16,40}", re.ASCII)


@dataclass(frozen=True, slots=True)
class ScannedCode:
    card_number: str
    kind: str  # rotating | static | typed
    static_version: int | None = None  # for static codes: the member's version to compare


def _mac(secret: bytes, *fields: str) -> str:
    digest = hmac.new(secret, ".".join(fields).encode("ascii"), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode("ascii")


def step_at(unix_seconds: float) -> int:
    return int(unix_seconds // STEP_SECONDS)


def rotating_code(secret: bytes, card_number: str, step: int) -> str:
    return ".".join(
        (
            ROTATING_PREFIX,
            card_number,
            str(step),
            _mac(secret, ROTATING_PREFIX, card_number, str(step)),
        )
    )


def static_code(secret: bytes, card_number: str, version: int) -> str:
    return ".".join(
        (
            STATIC_PREFIX,
            card_number,
            str(version),
            _mac(secret, STATIC_PREFIX, card_number, str(version)),
        )
    )


def parse(secret: bytes, raw: str, *, unix_seconds: float) -> ScannedCode:
    """What a scanned or typed code names. Raises CodeMalformed, CodeInvalid or CodeExpired.

    A static code's version is returned for the caller to compare with the member's (revocation
    lives in the database).
    """
    code = raw.strip().upper()
    match = _CODE.fullmatch(code)
    if match:
        prefix, card, number, mac = match.groups()
        if not luhn.is_valid(card):
            raise CodeMalformed(field="code")
        if not hmac.compare_digest(mac, _mac(secret, prefix, card, number)):
            raise CodeInvalid(field="code")
        if prefix == STATIC_PREFIX:
            return ScannedCode(card, "static", static_version=int(number))
        step, now_step = int(number), step_at(unix_seconds)
        if step > now_step:  # DESIGN.md: the current and the previous step only
            raise CodeInvalid(field="code")
        if step < now_step - 1:
            raise CodeExpired(field="code")
        return ScannedCode(card, "rotating")
    if _TYPED.fullmatch(code):
        digits = code.replace(" ", "").replace("-", "")
        if len(digits) == 16 and luhn.is_valid(digits):
            return ScannedCode(digits, "typed")
    raise CodeMalformed(field="code")
