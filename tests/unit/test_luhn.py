from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.kit import luhn

DIGITS = "0123456789"


def _arabic_indic(text: str) -> str:
    """`text` with its ASCII digits written as Arabic-Indic digits (U+0660..U+0669)."""
    return "".join(chr(0x660 + int(c)) if c in DIGITS else c for c in text)


def _full_width(text: str) -> str:
    """`text` with its ASCII digits written as full-width digits (U+FF10..U+FF19)."""
    return "".join(chr(0xFF10 + int(c)) if c in DIGITS else c for c in text)


@pytest.mark.parametrize(
    "number",
    ["79927398713", "4539578763621486", "4111111111111111", "5500005555555559", "00", "18"],
)
def test_accepts_known_valid_numbers(number: str) -> None:
    # when
    valid = luhn.is_valid(number)

    # then
    assert valid is True


@pytest.mark.parametrize(
    "number",
    ["79927398710", "79927398714", "4539578763621487", "4111111111111112", "01"],
)
def test_rejects_a_wrong_check_digit(number: str) -> None:
    # when
    valid = luhn.is_valid(number)

    # then
    assert valid is False


@pytest.mark.parametrize(
    ("payload", "digit"),
    [("7992739871", "3"), ("453957876362148", "6"), ("411111111111111", "1"), ("0", "0")],
)
def test_computes_the_check_digit(payload: str, digit: str) -> None:
    # when
    computed = luhn.check_digit(payload)

    # then
    assert computed == digit


@pytest.mark.parametrize(
    "number",
    [
        "",
        "0",
        "7",
        "7992739871a",
        "7992 7398 713",
        "79927398713 ",
        "-79927398713",
        "+79927398713",
        "7992739871.3",
        _arabic_indic("79927398713"),
        _full_width("79927398713"),
        "79927398713²",
    ],
)
def test_rejects_what_is_not_ascii_digits_or_too_short(number: str) -> None:
    # when
    valid = luhn.is_valid(number)

    # then
    assert valid is False


@pytest.mark.parametrize("payload", ["", _arabic_indic("7992739871"), "799273987a", "7992 73987"])
def test_check_digit_refuses_a_payload_that_is_not_ascii_digits(payload: str) -> None:
    # when
    with pytest.raises(ValueError) as raised:
        luhn.check_digit(payload)

    # then
    assert str(raised.value) == "a Luhn payload is ASCII digits only"


@given(st.text(alphabet=DIGITS, min_size=1, max_size=30))
def test_a_payload_with_its_check_digit_validates(payload: str) -> None:
    # when
    number = payload + luhn.check_digit(payload)

    # then
    assert luhn.is_valid(number) is True


@given(st.text(alphabet=DIGITS, min_size=15, max_size=15), st.data())
def test_changing_any_single_digit_breaks_the_number(payload: str, data: st.DataObject) -> None:
    # given
    number = payload + luhn.check_digit(payload)
    position = data.draw(st.integers(min_value=0, max_value=len(number) - 1))
    replacement = data.draw(st.sampled_from(DIGITS).filter(lambda d: d != number[position]))
    changed = number[:position] + replacement + number[position + 1 :]

    # when
    valid = luhn.is_valid(changed)

    # then
    assert valid is False
