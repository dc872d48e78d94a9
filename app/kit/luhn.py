"""The Luhn check digit of card numbers (ISO/IEC 7812-1)."""

from __future__ import annotations


def check_digit(payload: str) -> str:
    """The digit that, appended to `payload`, makes a valid Luhn number."""
    if not payload.isascii() or not payload.isdigit():
        raise ValueError("a Luhn payload is ASCII digits only")
    total = 0
    for index, char in enumerate(reversed(payload)):
        digit = int(char)
        if index % 2 == 0:  # doubled: these sit at odd positions once the check digit is added
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def is_valid(number: str) -> bool:
    if not number.isascii() or not number.isdigit() or len(number) < 2:
        return False
    return check_digit(number[:-1]) == number[-1]
