"""The rewards' rules: what a member may take now, voucher codes, and the checks of the admin's
input. Pure: no session, no clock."""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from app.errors import InvalidInput
from app.program.rules import ProgramRules
from app.rewards.models import REWARD_KINDS

MAX_POINTS_COST = 100_000_000  # far inside the API's 32-bit Int
MAX_STOCK = 100_000_000
MAX_VALUE = 10**9  # minor units, as a purchase's total
MAX_DONATION = 100_000_000
DEFAULT_VOUCHER_DAYS = 30
MAX_VOUCHER_DAYS = 3650

# Voucher codes: 12 characters of 32 (60 bits from `secrets`), without 0/O and 1/I so that a
# cashier can type one from a phone screen; shown in groups of four ("K7QM-3XWD-P9RT").
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
CODE_LENGTH = 12
_CODE_NOISE = str.maketrans("", "", " -\t")


class Unavailable:
    """Why a reward cannot be taken now (None: it can)."""

    INACTIVE = "INACTIVE"
    NOT_STARTED = "NOT_STARTED"
    ENDED = "ENDED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    TIER = "TIER"


@dataclass(frozen=True, slots=True)
class Offering:
    """What availability depends on, from a reward row."""

    active: bool
    stock: int | None
    tier_codes: Sequence[str]
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None


def unavailable(offering: Offering, *, tier_code: str | None, now: dt.datetime) -> str | None:
    """Why the reward cannot be taken by a member of `tier_code` now, or None if it can.
    `tier_code=None` (an operator's view) ignores the tier restriction."""
    if not offering.active:
        return Unavailable.INACTIVE
    if offering.starts_at is not None and now < offering.starts_at:
        return Unavailable.NOT_STARTED
    if offering.ends_at is not None and now >= offering.ends_at:
        return Unavailable.ENDED
    if tier_code is not None and offering.tier_codes and tier_code not in offering.tier_codes:
        return Unavailable.TIER
    if offering.stock is not None and offering.stock <= 0:
        return Unavailable.OUT_OF_STOCK
    return None


# -- voucher codes -------------------------------------------------------------------------------


def new_voucher_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def format_voucher_code(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalize_voucher_code(raw: str) -> str | None:
    """The canonical code of what the cashier typed or scanned (any case, with or without the
    dashes and spaces), or None when it cannot be a voucher code."""
    if len(raw) > 40:
        return None
    code = raw.translate(_CODE_NOISE).upper()
    if len(code) != CODE_LENGTH or any(char not in CODE_ALPHABET for char in code):
        return None
    return code


# -- the admin's input ---------------------------------------------------------------------------


def check_text(value: str | None, *, field: str, limit: int, required: bool) -> str | None:
    cleaned = " ".join(value.split()) if value is not None else ""
    if not cleaned:
        if required:
            raise InvalidInput("This field cannot be empty.", field=field)
        return None
    if len(cleaned) > limit or not cleaned.isprintable():
        raise InvalidInput(f"Use at most {limit} printable characters.", field=field)
    return cleaned


def check_description(value: str | None, *, limit: int = 1000) -> str | None:
    """Free text of several lines: trimmed, control characters other than newlines refused."""
    if value is None or not value.strip():
        return None
    cleaned = value.strip()
    if len(cleaned) > limit or not all(c.isprintable() or c in "\n\t" for c in cleaned):
        raise InvalidInput(f"Use at most {limit} printable characters.", field="description")
    return cleaned


def check_kind(kind: str) -> str:
    if kind not in REWARD_KINDS:
        raise InvalidInput(f"A reward is one of {', '.join(REWARD_KINDS)}.", field="kind")
    return kind


def check_points_cost(points: int) -> int:
    if not 1 <= points <= MAX_POINTS_COST:
        raise InvalidInput(f"A reward costs 1 to {MAX_POINTS_COST} points.", field="pointsCost")
    return points


def check_stock(stock: int | None) -> int | None:
    if stock is not None and not 0 <= stock <= MAX_STOCK:
        raise InvalidInput(
            f"Stock is 0 to {MAX_STOCK} units, or none for unlimited.", field="stock"
        )
    return stock


def check_value(amount: int | None) -> int | None:
    if amount is not None and not 0 <= amount <= MAX_VALUE:
        raise InvalidInput(
            "A reward's value is zero or more, at most 10 000 000.00.", field="value"
        )
    return amount


def check_tier_codes(rules: ProgramRules, codes: Sequence[str] | None) -> list[str]:
    """Known tier codes, each once, in the program's tier order."""
    wanted = {code.strip().upper() for code in codes or ()}
    unknown = sorted(wanted - {tier.code for tier in rules.tiers})
    if unknown:
        raise InvalidInput(f"No tier has the code {', '.join(unknown)}.", field="tierCodes")
    return [tier.code for tier in rules.tiers if tier.code in wanted]


def check_window(
    starts_at: dt.datetime | None, ends_at: dt.datetime | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    for moment, field in ((starts_at, "startsAt"), (ends_at, "endsAt")):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput("Give the time with its offset.", field=field)
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise InvalidInput("The end comes after the start.", field="endsAt")
    return starts_at, ends_at


def check_voucher_days(days: int | None) -> int:
    if days is None:
        return DEFAULT_VOUCHER_DAYS
    if not 1 <= days <= MAX_VOUCHER_DAYS:
        raise InvalidInput(
            f"A voucher is valid for 1 to {MAX_VOUCHER_DAYS} days.", field="voucherValidDays"
        )
    return days


def check_donation(points: int) -> int:
    if points <= 0:
        raise InvalidInput("Donate at least 1 point.", field="points")
    if points > MAX_DONATION:
        raise InvalidInput(f"Donate at most {MAX_DONATION} points at a time.", field="points")
    return points
