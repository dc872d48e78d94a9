"""The event catalogue: every type the outbox carries. Domains import these names; a type that is
not here is refused by `record`. The README's "Events" section documents each with a body."""

from __future__ import annotations

from typing import Final


class EventType:
    MEMBER_REGISTERED: Final = "member.registered"
    MEMBER_BIRTHDAY: Final = "member.birthday"
    MEMBER_UPDATED: Final = "member.updated"  # what the member's card shows: name, wallet code
    POINTS_EARNED: Final = "points.earned"
    POINTS_REDEEMED: Final = "points.redeemed"
    POINTS_REVERSED: Final = "points.reversed"
    POINTS_ADJUSTED: Final = "points.adjusted"
    POINTS_EXPIRING: Final = "points.expiring"
    POINTS_EXPIRED: Final = "points.expired"
    TIER_CHANGED: Final = "tier.changed"
    OFFER_AVAILABLE: Final = "offer.available"
    REWARD_REDEEMED: Final = "reward.redeemed"
    VOUCHER_REDEEMED: Final = "voucher.redeemed"
    REFERRAL_COMPLETED: Final = "referral.completed"


EVENT_TYPES: Final[frozenset[str]] = frozenset(
    value for name, value in vars(EventType).items() if name.isupper()
)
