"""Money in integer minor units. No floats anywhere."""

from __future__ import annotations

from dataclasses import dataclass

# ISO 4217 minor-unit exponents that differ from 2 (the default for every other code).
_EXPONENTS = {
    "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "ISK": 0, "JPY": 0, "KMF": 0, "KRW": 0, "PYG": 0,
    "RWF": 0, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
    "BHD": 3, "IQD": 3, "JOD": 3, "KWD": 3, "LYD": 3, "OMR": 3, "TND": 3,
}  # fmt: skip


def minor_exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def one_unit(currency: str) -> int:
    """How many minor units make 1.00 of the currency (100 cents, 1 yen, 1000 fils)."""
    return 10 ** minor_exponent(currency)


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str
