from __future__ import annotations

import dataclasses

import pytest

from app.kit.money import Money, minor_exponent, one_unit


@pytest.mark.parametrize(
    ("currency", "exponent", "unit"),
    [
        ("USD", 2, 100),
        ("EUR", 2, 100),
        ("JPY", 0, 1),
        ("KRW", 0, 1),
        ("CLP", 0, 1),
        ("KWD", 3, 1000),
        ("BHD", 3, 1000),
        ("TND", 3, 1000),
        ("XYZ", 2, 100),  # unknown codes default to two decimals
    ],
)
def test_minor_units_follow_iso_4217(currency: str, exponent: int, unit: int) -> None:
    # when
    found = (minor_exponent(currency), one_unit(currency))

    # then
    assert found == (exponent, unit)


def test_money_is_a_frozen_value() -> None:
    # given
    price = Money(1999, "USD")

    # when
    with pytest.raises(dataclasses.FrozenInstanceError):
        price.amount = 1  # type: ignore[misc]

    # then
    assert price == Money(1999, "USD")
    assert price != Money(1999, "EUR")
