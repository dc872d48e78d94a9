"""Offers as the member sees them: those valid now, for the member's tier and rollout share."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.kit import pagination
from app.kit.pagination import Page
from app.offers.models import Offer, OfferActivation
from app.program.rules import ProgramRules


@dataclass(frozen=True, slots=True)
class MemberOffer:
    offer: Offer
    activated: bool
    reason: str


def in_rollout(offer_id: uuid.UUID, member_id: uuid.UUID, percent: int) -> bool:
    """The same members every time: a stable hash of (offer, member) into 100 buckets."""
    if percent >= 100:
        return True
    digest = hashlib.sha256(offer_id.bytes + member_id.bytes).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


def _reason(offer: Offer, rules: ProgramRules) -> str:
    if offer.tier_codes:
        names = [tier.name for tier in rules.tiers if tier.code in offer.tier_codes]
        return f"For {' and '.join(names)} members"
    return "For every member"


async def list_member_offers(
    session: AsyncSession,
    rules: ProgramRules,
    *,
    member_id: uuid.UUID,
    tier_code: str,
    now: dt.datetime,
    first: int,
    after: str | None,
) -> Page[MemberOffer]:
    """Valid offers the member may use, newest first, keyset-paginated on (created_at, id)."""
    pagination.check_first(first)
    query = select(Offer).where(
        or_(col(Offer.starts_at).is_(None), col(Offer.starts_at) <= now),
        or_(col(Offer.ends_at).is_(None), col(Offer.ends_at) > now),
    )
    if after is not None:
        at, offer_id = pagination.decode_cursor(after)
        query = query.where(
            or_(
                col(Offer.created_at) < at,
                and_(col(Offer.created_at) == at, col(Offer.id) < offer_id),
            )
        )
    query = query.order_by(col(Offer.created_at).desc(), col(Offer.id).desc())
    eligible: list[Offer] = []
    has_next = False
    # Tier and rollout are checked here, not in SQL: the offers valid at one time are few.
    for offer in (await session.scalars(query)).all():
        if offer.tier_codes and tier_code not in offer.tier_codes:
            continue
        if not in_rollout(offer.id, member_id, offer.rollout_percent):
            continue
        if len(eligible) == first:
            has_next = True
            break
        eligible.append(offer)
    activated_ids: set[uuid.UUID] = set()
    needing = [o.id for o in eligible if o.requires_activation]
    if needing:
        activated_ids = set(
            (
                await session.scalars(
                    select(col(OfferActivation.offer_id)).where(
                        col(OfferActivation.member_id) == member_id,
                        col(OfferActivation.offer_id).in_(needing),
                    )
                )
            ).all()
        )
    items = [
        MemberOffer(o, (not o.requires_activation) or o.id in activated_ids, _reason(o, rules))
        for o in eligible
    ]
    return Page(
        items=items,
        cursors=[pagination.encode_cursor(i.offer.created_at, i.offer.id) for i in items],
        has_next=has_next,
    )
