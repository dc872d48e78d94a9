from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from app.errors import CodeExpired, CodeInvalid, CodeMalformed, DomainError
from app.kit import qr
from app.members import codes

SECRET = b"unit-test-member-code-secret-0123456789"
CARD = "4539578763621486"
OTHER_CARD = "4111111111111111"  # also passes Luhn
STEP = 29_600_000  # the minute starting at 2026-04-12T13:20:00Z
NOW = STEP * 60 + 30  # half-way through STEP
QR_ALPHANUMERIC = re.compile(r"[0-9A-Z $%*+\-./:]+")
DIGITS = "0123456789"


def _arabic_indic(text: str) -> str:
    """`text` with its ASCII digits written as Arabic-Indic digits (U+0660..U+0669)."""
    return "".join(chr(0x660 + int(c)) if c in DIGITS else c for c in text)


def _full_width(text: str) -> str:
    """`text` with its ASCII digits written as full-width digits (U+FF10..U+FF19)."""
    return "".join(chr(0xFF10 + int(c)) if c in DIGITS else c for c in text)


def _refusal(raw: str, *, secret: bytes = SECRET, now: float = NOW) -> DomainError:
    with pytest.raises(DomainError) as raised:
        codes.parse(secret, raw, unix_seconds=now)
    return raised.value


def test_step_is_the_minute_since_the_epoch() -> None:
    # when
    steps = [codes.step_at(0), codes.step_at(59.999), codes.step_at(60), codes.step_at(NOW)]

    # then
    assert steps == [0, 0, 1, STEP]


def test_rotating_code_has_its_documented_shape() -> None:
    # when
    code = codes.rotating_code(SECRET, CARD, STEP)

    # then
    prefix, card, step, mac = code.split(".")
    assert (prefix, card, step) == ("L1", CARD, "29600000")
    assert re.fullmatch(r"[A-Z2-7]{16}", mac)


def test_accepts_a_rotating_code_of_the_current_step() -> None:
    # given
    code = codes.rotating_code(SECRET, CARD, STEP)

    # when
    scanned = codes.parse(SECRET, code, unix_seconds=NOW)

    # then
    assert scanned == codes.ScannedCode(CARD, "rotating")


def test_accepts_a_rotating_code_of_the_previous_step() -> None:
    # given
    code = codes.rotating_code(SECRET, CARD, STEP - 1)

    # when
    scanned = codes.parse(SECRET, code, unix_seconds=STEP * 60 + 59)

    # then
    assert scanned == codes.ScannedCode(CARD, "rotating")


def test_refuses_a_rotating_code_one_step_ahead_as_invalid() -> None:
    # given: only the current and the previous step are accepted (DESIGN.md)
    code = codes.rotating_code(SECRET, CARD, STEP + 1)

    # when
    error = _refusal(code, now=STEP * 60 + 59)

    # then
    assert isinstance(error, CodeInvalid)
    assert (error.code, error.field) == ("CODE_INVALID", "code")


def test_refuses_a_rotating_code_two_steps_old_as_expired() -> None:
    # given
    code = codes.rotating_code(SECRET, CARD, STEP - 2)

    # when
    error = _refusal(code, now=STEP * 60)

    # then
    assert isinstance(error, CodeExpired)
    assert (error.code, error.field) == ("CODE_EXPIRED", "code")


def test_refuses_a_rotating_code_from_further_in_the_future_as_invalid() -> None:
    # given
    code = codes.rotating_code(SECRET, CARD, STEP + 2)

    # when
    error = _refusal(code, now=STEP * 60 + 59)

    # then
    assert isinstance(error, CodeInvalid)
    assert (error.code, error.field) == ("CODE_INVALID", "code")


def test_refuses_a_tampered_mac() -> None:
    # given
    code = codes.rotating_code(SECRET, CARD, STEP)
    last = code[-1]
    tampered = code[:-1] + ("A" if last != "A" else "B")

    # when
    error = _refusal(tampered)

    # then
    assert (error.code, error.field) == ("CODE_INVALID", "code")


def test_refuses_a_code_made_with_another_secret() -> None:
    # given
    code = codes.rotating_code(b"another-secret-another-secret-0000", CARD, STEP)

    # when
    error = _refusal(code)

    # then
    assert (error.code, error.field) == ("CODE_INVALID", "code")


def test_refuses_a_code_whose_card_number_was_changed() -> None:
    # given
    code = codes.rotating_code(SECRET, CARD, STEP)
    changed = code.replace(CARD, OTHER_CARD)

    # when
    error = _refusal(changed)

    # then
    assert (error.code, error.field) == ("CODE_INVALID", "code")


def test_refuses_a_code_whose_step_was_changed() -> None:
    # given
    code = codes.rotating_code(SECRET, CARD, STEP - 5)
    changed = code.replace(f".{STEP - 5}.", f".{STEP}.")

    # when
    error = _refusal(changed)

    # then
    assert (error.code, error.field) == ("CODE_INVALID", "code")


def test_refuses_a_rotating_mac_presented_as_a_static_code() -> None:
    # given
    code = codes.rotating_code(SECRET, CARD, 1)
    as_static = "W1" + code[2:]

    # when
    error = _refusal(as_static)

    # then
    assert (error.code, error.field) == ("CODE_INVALID", "code")


def test_refuses_a_card_number_failing_luhn_inside_a_code_as_malformed() -> None:
    # given
    bad_card = CARD[:-1] + "7"
    code = codes.rotating_code(SECRET, bad_card, STEP)

    # when
    error = _refusal(code)

    # then
    assert (error.code, error.field) == ("CODE_MALFORMED", "code")


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "garbage",
        "L1",
        "L1...",
        "L2.4539578763621486.29600000.AAAAAAAAAAAAAAAA",
        "L1.4539578763621486.29600000.AAAAAAAAAAAAAAA",  # MAC one character short
        "L1.4539578763621486.29600000.AAAAAAAAAAAAAAAAA",  # one character long
        "L1.4539578763621486.29600000.AAAAAAAAAAAAAAA1",  # 1 is not base32
        "L1.45395787636214860.29600000.AAAAAAAAAAAAAAAA",  # 17 digits
        "L1.4539578763621486.1234567890123.AAAAAAAAAAAAAAAA",  # 13-digit step
        "L1.4539578763621486.-1.AAAAAAAAAAAAAAAA",
        "L1.4539578763621486.29600000.AAAAAAAAAAAAAAAA.",
        f"L1.{CARD}.{_arabic_indic(str(STEP))}.AAAAAAAAAAAAAAAA",
        f"L1.{_arabic_indic(CARD)}.{STEP}.AAAAAAAAAAAAAAAA",
        _arabic_indic(CARD),
        _full_width(CARD),
        _full_width("4539 5787 6362 1486"),
        "L1.4539578763621486.29600000.AAAAAAAAAAAAAAAA\x00",
        "🙂" * 20,
        "4539578763621486" * 3,  # 48 digits
        "453957876362148",  # 15 digits
        "45395787636214861",  # 17 digits
        "4539_5787_6362_1486",
        "4539578763621487",  # fails Luhn
        "4539-5787-6362-1487",
    ],
)
def test_refuses_what_is_not_a_code_or_a_card_number_as_malformed(raw: str) -> None:
    # when
    error = _refusal(raw)

    # then
    assert isinstance(error, CodeMalformed)
    assert (error.code, error.field) == ("CODE_MALFORMED", "code")


def test_static_code_returns_its_version_at_any_time() -> None:
    # given
    code = codes.static_code(SECRET, CARD, 3)

    # when
    now = codes.parse(SECRET, code, unix_seconds=NOW)
    years_later = codes.parse(SECRET, code, unix_seconds=NOW + 5 * 365 * 86400)

    # then
    assert now == codes.ScannedCode(CARD, "static", static_version=3)
    assert years_later == now


def test_refuses_a_static_code_whose_version_was_changed() -> None:
    # given
    code = codes.static_code(SECRET, CARD, 3)
    changed = code.replace(f"{CARD}.3.", f"{CARD}.4.")

    # when
    error = _refusal(changed)

    # then
    assert (error.code, error.field) == ("CODE_INVALID", "code")


@pytest.mark.parametrize(
    "typed",
    [
        "4539578763621486",
        "4539 5787 6362 1486",
        "4539-5787-6362-1486",
        " 4539 5787-6362 1486 ",
        "4 5 3 9 5 7 8 7 6 3 6 2 1 4 8 6",
    ],
)
def test_accepts_a_typed_card_number(typed: str) -> None:
    # when
    scanned = codes.parse(SECRET, typed, unix_seconds=NOW)

    # then
    assert scanned == codes.ScannedCode(CARD, "typed")


def test_accepts_codes_in_lower_case_and_with_surrounding_whitespace() -> None:
    # given
    rotating = codes.rotating_code(SECRET, CARD, STEP)
    static = codes.static_code(SECRET, CARD, 2)

    # when
    scanned = [
        codes.parse(SECRET, rotating.lower(), unix_seconds=NOW),
        codes.parse(SECRET, f"  {static.lower()}\n", unix_seconds=NOW),
    ]

    # then
    assert scanned == [
        codes.ScannedCode(CARD, "rotating"),
        codes.ScannedCode(CARD, "static", static_version=2),
    ]


@pytest.mark.parametrize(
    ("code", "expected_version"),
    [
        (codes.rotating_code(SECRET, CARD, STEP), 3),
        (codes.rotating_code(SECRET, "9999999999999995", 999_999_999_999), 3),
        (codes.static_code(SECRET, CARD, 1), 2),
        (codes.static_code(SECRET, "9999999999999995", 999_999_999_999), 3),
    ],
)
def test_code_is_qr_alphanumeric_and_fits_a_small_symbol(code: str, expected_version: int) -> None:
    # when
    version = qr.version(code)

    # then
    assert QR_ALPHANUMERIC.fullmatch(code)
    assert version == expected_version
    assert version <= 4


def test_svg_is_an_svg_document_of_the_code() -> None:
    # given
    code = codes.rotating_code(SECRET, CARD, STEP)

    # when
    document = qr.svg(code)

    # then
    root = ET.fromstring(document)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.attrib["viewBox"] == "0 0 37 37"  # version 3: 29 modules and a border of 4
    assert [child.tag for child in root] == ["{http://www.w3.org/2000/svg}path"]


def test_svg_differs_between_codes() -> None:
    # given
    first = codes.rotating_code(SECRET, CARD, STEP)
    second = codes.rotating_code(SECRET, CARD, STEP + 1)

    # when
    documents = {qr.svg(first), qr.svg(second)}

    # then
    assert len(documents) == 2
