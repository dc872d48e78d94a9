"""Offers' rules: who may use an offer when and where, the checks of a new offer, and the
ranking of a member's offers by what fits them. Pure: time and facts are passed in.

The arithmetic of an offer on a basket (discounts, multipliers, bonus points, one rounding)
lives with the till's in `app.checkout.rules.quote`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import uuid
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from app.errors import InvalidInput
from app.kit.pagination import InvalidCursor
from app.offers.models import Audience, Offer, OfferKind
from app.program.rules import CATEGORY, ProgramRules

NEW_MEMBER_DAYS = 30
WIN_BACK_DAYS = 60
HISTORY_DAYS = 365  # purchases older than this say nothing about what a member likes
FREQUENT_SHARE = Fraction(1, 5)  # a category with a fifth of the weighted spend: "often"
MAX_VALUE = {
    OfferKind.BONUS_POINTS: 1_000_000,  # points
    OfferKind.POINTS_MULTIPLIER: 1000,  # percent: x10 at most
    OfferKind.PERCENT_DISCOUNT: 100,  # percent
}
MIN_VALUE = {
    OfferKind.BONUS_POINTS: 1,
    OfferKind.POINTS_MULTIPLIER: 101,  # x1.01: a multiplier that adds something
    OfferKind.PERCENT_DISCOUNT: 1,
}


# -- who, when, where ------------------------------------------------------------------------------


def in_rollout(offer_id: uuid.UUID, member_id: uuid.UUID, percent: int) -> bool:
    """The same members every time: a stable hash of (offer, member) into 100 buckets."""
    if percent >= 100:
        return True
    digest = hashlib.sha256(offer_id.bytes + member_id.bytes).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


@dataclass(frozen=True, slots=True)
class MemberFacts:
    """What the rules need to know of a member."""

    member_id: uuid.UUID
    tier_code: str
    early_access_days: int  # of the member's tier: offers open this many days sooner
    joined_at: dt.datetime
    birth_date: dt.date | None
    last_purchase_at: dt.datetime | None
    activated: frozenset[uuid.UUID] = frozenset()
    uses: Mapping[uuid.UUID, int] = field(default_factory=dict)


class Unavailable:
    """Why an offer is not available to a member now (None: it is)."""

    ENDED = "ENDED"
    NOT_STARTED = "NOT_STARTED"
    TIER = "TIER"
    ROLLOUT = "ROLLOUT"
    AUDIENCE = "AUDIENCE"
    USED_UP = "USED_UP"


def opens_at(offer: Offer, facts: MemberFacts) -> dt.datetime | None:
    """When the offer opens for this member: early, by the days of the member's tier."""
    if offer.starts_at is None:
        return None
    return offer.starts_at - dt.timedelta(days=facts.early_access_days)


def in_audience(offer: Offer, facts: MemberFacts, now: dt.datetime) -> bool:
    if offer.audience == Audience.NEW_MEMBERS:
        return now - facts.joined_at < dt.timedelta(days=NEW_MEMBER_DAYS)
    if offer.audience == Audience.BIRTHDAY:
        return facts.birth_date is not None and facts.birth_date.month == now.month
    if offer.audience == Audience.WIN_BACK:
        return is_lapsed(facts, now)
    return True


def is_lapsed(facts: MemberFacts, now: dt.datetime) -> bool:
    """No purchase in 60 days, as a member for at least that long."""
    window = dt.timedelta(days=WIN_BACK_DAYS)
    if now - facts.joined_at < window:
        return False
    return facts.last_purchase_at is None or now - facts.last_purchase_at >= window


def unavailable(offer: Offer, facts: MemberFacts, now: dt.datetime) -> str | None:
    """Why this member may not use this offer now, or None. Activation, stores, weekdays and
    hours are conditions of a purchase, not of availability."""
    if offer.ends_at is not None and offer.ends_at <= now:
        return Unavailable.ENDED
    opening = opens_at(offer, facts)
    if opening is not None and opening > now:
        return Unavailable.NOT_STARTED
    if offer.tier_codes and facts.tier_code not in offer.tier_codes:
        return Unavailable.TIER
    if not in_rollout(offer.id, facts.member_id, offer.rollout_percent):
        return Unavailable.ROLLOUT
    if not in_audience(offer, facts, now):
        return Unavailable.AUDIENCE
    if offer.uses_per_member is not None and facts.uses.get(offer.id, 0) >= offer.uses_per_member:
        return Unavailable.USED_UP
    return None


def is_activated(offer: Offer, facts: MemberFacts) -> bool:
    return not offer.requires_activation or offer.id in facts.activated


def local_moment(now: dt.datetime, timezone: str) -> tuple[int, int]:
    """(ISO weekday, hour) of `now` in the store's time zone (UTC when it is unknown)."""
    try:
        zone: dt.tzinfo = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = dt.UTC
    local = now.astimezone(zone)
    return local.isoweekday(), local.hour


def applies_at(offer: Offer, *, store_id: uuid.UUID, weekday: int, hour: int) -> bool:
    """The offer's store, weekday and hour conditions, at this store's local time."""
    if offer.store_ids and str(store_id) not in offer.store_ids:
        return False
    if offer.weekdays and weekday not in offer.weekdays:
        return False
    if offer.hour_from is not None and offer.hour_to is not None:
        if offer.hour_from <= offer.hour_to:
            return offer.hour_from <= hour < offer.hour_to
        return hour >= offer.hour_from or hour < offer.hour_to  # across midnight: 22 to 2
    return True


def usable_at_purchase(
    offer: Offer,
    facts: MemberFacts,
    *,
    now: dt.datetime,
    store_id: uuid.UUID,
    timezone: str,
) -> bool:
    """Available to the member, activated if it must be, and valid at this store now."""
    if unavailable(offer, facts, now) is not None or not is_activated(offer, facts):
        return False
    weekday, hour = local_moment(now, timezone)
    return applies_at(offer, store_id=store_id, weekday=weekday, hour=hour)


# -- a new offer -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewOffer:
    title: str
    description: str
    kind: str
    value: int
    categories: Sequence[str] = ()
    min_spend: int | None = None
    tier_codes: Sequence[str] = ()
    store_ids: Sequence[uuid.UUID] = ()
    weekdays: Sequence[int] = ()
    hour_from: int | None = None
    hour_to: int | None = None
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    requires_activation: bool = False
    rollout_percent: int = 100
    uses_per_member: int | None = None
    audience: str = Audience.EVERYONE


def _text(value: str, *, field: str, limit: int) -> str:
    cleaned = value.strip()
    if (
        not cleaned
        or len(cleaned) > limit
        or any(not ch.isprintable() for ch in cleaned if ch != "\n")
    ):
        raise InvalidInput(f"Give 1 to {limit} printable characters.", field=field)
    return cleaned


def check_new_offer(new: NewOffer, rules: ProgramRules, *, now: dt.datetime) -> Offer:
    """The offer to store, or InvalidInput naming the field at fault (camelCase, as the API)."""
    title = _text(new.title, field="title", limit=100)
    description = _text(new.description, field="description", limit=1000)
    if new.kind not in OfferKind.ALL:
        raise InvalidInput(f"An offer is one of {', '.join(OfferKind.ALL)}.", field="kind")
    low, high = MIN_VALUE[new.kind], MAX_VALUE[new.kind]
    if not low <= new.value <= high:
        unit = "points" if new.kind == OfferKind.BONUS_POINTS else "percent"
        raise InvalidInput(f"The value is {low} to {high} {unit}.", field="value")
    categories = sorted({c.strip().lower() for c in new.categories})
    if len(categories) > 50 or any(not CATEGORY.fullmatch(c) for c in categories):
        raise InvalidInput(
            "At most 50 categories, each lower-case letters, digits, '.', '_' or '-'.",
            field="categories",
        )
    if new.min_spend is not None and not 0 < new.min_spend <= 10**9:
        raise InvalidInput("A minimum spend is more than zero.", field="minSpend")
    tier_codes = sorted(set(new.tier_codes))
    unknown = [code for code in tier_codes if rules.tier(code) is None]
    if unknown:
        raise InvalidInput(f"No tier {', '.join(unknown)}.", field="tierCodes")
    if len(set(new.store_ids)) > 500:
        raise InvalidInput("At most 500 stores.", field="storeIds")
    weekdays = sorted(set(new.weekdays))
    if any(not 1 <= day <= 7 for day in weekdays):
        raise InvalidInput("Weekdays are 1 (Monday) to 7 (Sunday).", field="weekdays")
    if (new.hour_from is None) != (new.hour_to is None):
        raise InvalidInput("Give both hours, or neither.", field="hourFrom")
    if new.hour_from is not None and new.hour_to is not None:
        if not 0 <= new.hour_from <= 23:
            raise InvalidInput("An hour is 0 to 23.", field="hourFrom")
        if not 0 <= new.hour_to <= 24 or new.hour_to == new.hour_from:
            raise InvalidInput("An hour is 0 to 24, not the starting hour.", field="hourTo")
    for name, value in (("startsAt", new.starts_at), ("endsAt", new.ends_at)):
        if value is not None and value.tzinfo is None:
            raise InvalidInput("Give the time with its offset.", field=name)
    if new.ends_at is not None and new.ends_at <= now:
        raise InvalidInput("The offer would have ended already.", field="endsAt")
    if new.starts_at is not None and new.ends_at is not None and new.ends_at <= new.starts_at:
        raise InvalidInput("An offer ends after it starts.", field="endsAt")
    if not 1 <= new.rollout_percent <= 100:
        raise InvalidInput("The rollout is 1 to 100 percent.", field="rolloutPercent")
    if new.uses_per_member is not None and not 1 <= new.uses_per_member <= 1000:
        raise InvalidInput("A member may use an offer 1 to 1000 times.", field="usesPerMember")
    if new.audience not in Audience.ALL:
        raise InvalidInput(f"The audience is one of {', '.join(Audience.ALL)}.", field="audience")
    return Offer(
        title=title,
        description=description,
        kind=new.kind,
        value=new.value,
        categories=categories,
        min_spend=new.min_spend,
        tier_codes=tier_codes,
        store_ids=sorted({str(store) for store in new.store_ids}),
        weekdays=weekdays,
        hour_from=new.hour_from,
        hour_to=new.hour_to,
        starts_at=new.starts_at.astimezone(dt.UTC) if new.starts_at else None,
        ends_at=new.ends_at.astimezone(dt.UTC) if new.ends_at else None,
        requires_activation=new.requires_activation,
        rollout_percent=new.rollout_percent,
        uses_per_member=new.uses_per_member,
        audience=new.audience,
        created_at=now,
    )


# -- personalization -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spend:
    """Money a member spent on a category (None: lines without one) at a time."""

    at: dt.datetime
    category: str | None
    amount: int


def affinity(history: Iterable[Spend], *, now: dt.datetime) -> dict[str, Fraction]:
    """Each category's recency-weighted share of the member's spend over the last year: a
    purchase weighs (365 - its age in days) / 365, so last week counts nearly in full and last
    spring barely. Exact; the shares of all categories (and of lines without one) add up to 1."""
    weighted: dict[str | None, Fraction] = {}
    for spend in history:
        age = (now - spend.at).days
        if spend.amount <= 0 or not 0 <= age < HISTORY_DAYS:
            continue
        weight = Fraction(HISTORY_DAYS - age, HISTORY_DAYS)
        weighted[spend.category] = weighted.get(spend.category, Fraction(0)) + weight * spend.amount
    total = sum(weighted.values(), Fraction(0))
    if total == 0:
        return {}
    return {cat: part / total for cat, part in weighted.items() if cat is not None}


@dataclass(frozen=True, slots=True)
class Ranked:
    offer: Offer
    score: int
    reason: str
    activated: bool


AUDIENCE_SCORE = 3000  # an offer made for the member's moment (birthday, return, welcome)
EARLY_SCORE = 1500  # open to the member's tier before everyone else
AFFINITY_SCORE = 1000  # times the share of the member's spend in the offer's categories
TIER_SCORE = 200  # kept for the member's tier


def _label(category: str) -> str:
    return category.replace("-", " ").replace("_", " ")


def _tier_names(offer: Offer, rules: ProgramRules) -> str:
    names = [tier.name for tier in rules.tiers if tier.code in offer.tier_codes]
    return " and ".join(names) if names else " and ".join(offer.tier_codes)


def explain(
    offer: Offer,
    facts: MemberFacts,
    shares: Mapping[str, Fraction],
    rules: ProgramRules,
    *,
    now: dt.datetime,
) -> tuple[int, str]:
    """The offer's score for this member and the reason a person reads, from the strongest
    factor: the member's moment, early access, what they often buy, their tier."""
    share = sum((shares.get(c, Fraction(0)) for c in offer.categories), Fraction(0))
    score = int(share * AFFINITY_SCORE)
    tier = rules.tier(facts.tier_code)
    tier_name = tier.name if tier else facts.tier_code
    early = offer.starts_at is not None and offer.starts_at > now
    if offer.tier_codes:
        score += TIER_SCORE
    if early:
        score += EARLY_SCORE
    if offer.audience != Audience.EVERYONE:
        score += AUDIENCE_SCORE
    favourite = max(
        (c for c in offer.categories if shares.get(c, 0) > 0),
        key=lambda c: (shares[c], c),
        default=None,
    )
    if offer.audience == Audience.BIRTHDAY:
        reason = "Happy birthday month! A treat for you"
    elif offer.audience == Audience.WIN_BACK:
        reason = "We miss you: it has been a while since your last visit"
    elif offer.audience == Audience.NEW_MEMBERS:
        reason = "Welcome! For new members"
    elif early:
        reason = f"Early access for {tier_name} members"
    elif favourite is not None and shares[favourite] >= FREQUENT_SHARE:
        reason = f"You often buy {_label(favourite)}"
    elif favourite is not None:
        reason = f"You have bought {_label(favourite)} lately"
    elif offer.tier_codes:
        reason = f"For {_tier_names(offer, rules)} members"
    elif offer.categories:
        reason = f"On {', '.join(_label(c) for c in offer.categories[:3])}"
    else:
        reason = "For every member"
    return score, reason


def rank(
    offers: Iterable[Offer],
    facts: MemberFacts,
    shares: Mapping[str, Fraction],
    rules: ProgramRules,
    *,
    now: dt.datetime,
) -> list[Ranked]:
    """The offers this member may use now, best fit first (score, then newest, then id): the
    same facts give the same order every time. Offers the member may not use are left out."""
    ranked = []
    for offer in offers:
        if unavailable(offer, facts, now) is not None:
            continue
        score, reason = explain(offer, facts, shares, rules, now=now)
        ranked.append(Ranked(offer, score, reason, is_activated(offer, facts)))
    ranked.sort(key=lambda r: (-r.score, -r.offer.created_at.timestamp(), str(r.offer.id)))
    return ranked


def rank_key(item: Ranked) -> tuple[int, float, str]:
    return (-item.score, -item.offer.created_at.timestamp(), str(item.offer.id))


def encode_rank_cursor(item: Ranked) -> str:
    key = rank_key(item)
    raw = json.dumps([key[0], key[1], key[2]], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_rank_cursor(cursor: str) -> tuple[int, float, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        score, at, offer_id = json.loads(raw)
        uuid.UUID(offer_id)
        if not isinstance(score, int) or not isinstance(at, int | float):
            raise ValueError(cursor)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise InvalidCursor("This cursor was not returned by this list.") from None
    return score, float(at), offer_id
