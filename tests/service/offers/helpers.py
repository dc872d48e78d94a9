"""Offers in service tests: created as an admin would, through the use case."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.db import Database
from app.offers import service as offers_service
from app.offers.models import Offer, OfferUse
from app.offers.rules import NewOffer
from tests.support import SYSTEM, FakeClock


async def make_offer(db: Database, clock: FakeClock, title: str = "Offer", **fields: Any) -> Offer:
    values: dict[str, Any] = {
        "title": title,
        "description": f"{title}, described",
        "kind": "BONUS_POINTS",
        "value": 100,
    }
    values.update(fields)
    return await offers_service.create_offer(db, SYSTEM, clock, NewOffer(**values))


async def uses_of(db: Database, member_id: Any) -> list[tuple[str, int, int, int]]:
    """(offer title, seq, points, discount) of the member's offer uses, in order."""
    async with db.read() as session:
        rows = await session.execute(
            select(
                col(Offer.title), col(OfferUse.seq), col(OfferUse.points), col(OfferUse.discount)
            )
            .join(Offer, col(Offer.id) == col(OfferUse.offer_id))
            .where(col(OfferUse.member_id) == member_id)
            .order_by(col(OfferUse.created_at), col(Offer.title), col(OfferUse.seq))
        )
        return [(title, seq, points, discount) for title, seq, points, discount in rows.all()]
