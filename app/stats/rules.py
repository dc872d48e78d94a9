"""The operator's numbers and member search, as pure functions: no session, no clock."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from app.errors import InvalidInput
from app.kit import luhn
from app.ledger.models import EntryKind

# Which total a ledger entry's points count in. Everything that gives points (purchases, offers,
# bonuses, adjustments either way, and a refund's take-back as a negative) is "issued"; what
# members spend points on (the till, rewards, causes, and a refund's give-back as a negative)
# is "redeemed"; lots past their date are "expired". So issued - redeemed - expired is the sum
# of every entry: the points the members hold (net of debts).
REDEEMED_KINDS = frozenset({EntryKind.REDEEM, EntryKind.RESTORE, "REWARD", "DONATION"})
EXPIRED_KINDS = frozenset({EntryKind.EXPIRE})

RATE_PLACES = Decimal("0.0001")


def column_of(kind: str) -> str:
    """The `DailyTotal` column an entry of this kind counts in."""
    if kind in EXPIRED_KINDS:
        return "expired"
    if kind in REDEEMED_KINDS:
        return "redeemed"
    return "issued"


def ratio(numerator: int, denominator: int) -> Decimal:
    """numerator / denominator to 4 places, half up; 0 when there is nothing to divide by."""
    if denominator <= 0:
        return Decimal("0.0000")
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATE_PLACES, ROUND_HALF_UP)


def liability(points: int, *, point_value_points: int, point_value_amount: int) -> int:
    """What `points` pay at the till, in minor units, rounded up: a liability is never
    understated."""
    return -((-points * point_value_amount) // point_value_points)


def average(total: int, count: int) -> int:
    """total / count in minor units, rounded half up; 0 for no count."""
    if count <= 0:
        return 0
    return (2 * total + count) // (2 * count)


# -- member search ---------------------------------------------------------------------------------

MIN_SEARCH = 2
MAX_SEARCH = 254
_DIGIT_NOISE = re.compile(r"[\s\-().]")
_DIGITS = re.compile(r"\+?[0-9]+", re.ASCII)
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$", re.ASCII)
CARD_DIGITS = 16


@dataclass(frozen=True, slots=True)
class SearchTerm:
    kind: str  # card | phone | email | name
    value: str  # the normalized text: the exact card or phone, or the prefix of an e-mail or name


def parse_search(text: str, *, name_key: str, email: str) -> SearchTerm:
    """What the operator typed: a card number (16 digits, spaces or dashes allowed, checked by
    Luhn), a phone number in international form (+ or 00), the start of an e-mail (it has an
    @) or the start of a name. `name_key` and `email` are the text in the form the names and
    e-mails are stored in (members_service.search_key / normalize_email)."""
    stripped = text.strip()
    if not stripped:
        raise InvalidInput("Type an e-mail, a card or phone number, or a name.", field="search")
    if len(stripped) > MAX_SEARCH:
        raise InvalidInput(f"Search with at most {MAX_SEARCH} characters.", field="search")
    compact = _DIGIT_NOISE.sub("", stripped)
    if _DIGITS.fullmatch(compact):
        if compact.startswith("00"):
            compact = "+" + compact[2:]
        if compact.startswith("+"):
            if not _PHONE.match(compact):
                raise InvalidInput(
                    "A phone number has a country code and 7 to 15 digits, like +14155550123.",
                    field="search",
                )
            return SearchTerm("phone", compact)
        if len(compact) == CARD_DIGITS:
            if not luhn.is_valid(compact):
                raise InvalidInput(
                    "This card number's check digit is wrong: look at the digits again.",
                    field="search",
                )
            return SearchTerm("card", compact)
        raise InvalidInput(
            "Type the card's 16 digits, or the phone number with its country code (+1...).",
            field="search",
        )
    if "@" in stripped:
        if len(email) < MIN_SEARCH:
            raise InvalidInput("Type more of the e-mail.", field="search")
        return SearchTerm("email", email)
    if len(name_key) < MIN_SEARCH:
        raise InvalidInput(f"Type at least {MIN_SEARCH} letters of the name.", field="search")
    return SearchTerm("name", name_key)


PREFIX_END = "\U0010ffff"  # after every character: [prefix, prefix + PREFIX_END) is the prefix


def prefix_range(prefix: str) -> tuple[str, str]:
    return prefix, prefix + PREFIX_END


# -- the histogram of the members' last two purchase days ------------------------------------------


def activity_moves(
    before: tuple[dt.date | None, dt.date | None], after: tuple[dt.date | None, dt.date | None]
) -> dict[dt.date, tuple[int, int]]:
    """How a member's (last, previous) purchase days going from `before` to `after` moves the
    per-day counts of members (last_buyers, prev_buyers): -1 on each old day, +1 on each new
    one; days whose counts do not change are left out."""
    moves: dict[dt.date, list[int]] = {}
    for position, (old, new) in enumerate(zip(before, after, strict=True)):
        if old == new:
            continue
        if old is not None:
            moves.setdefault(old, [0, 0])[position] -= 1
        if new is not None:
            moves.setdefault(new, [0, 0])[position] += 1
    return {day: (last, prev) for day, (last, prev) in moves.items() if last or prev}
