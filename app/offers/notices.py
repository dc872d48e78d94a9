"""`offer.available`: each member learns once of each offer open to them, when it opens for them
(created, its start date or their tier's early access come, or they enter its audience: their
birthday month, 60 days without a purchase, a new member).

The scheduled job (`app.jobs.announce_offers`) walks every member by id in batches, a batch one
transaction: the member's offers the rules make available (tier, audience, rollout, use limit;
stores, hours and activation are conditions of a purchase, not of availability) that nobody told
them of yet get a notice row and an event. The notice's key (offer, member) makes the job
idempotent, and two runs at once tell nobody twice: an event is written only for the notice rows
this run inserted.

A walk over a million members is not free, and the worker runs its jobs every minute: a new walk
starts when an offer opened (created, started, or open early to a tier) since the last one
started, and otherwise once an hour (members enter audiences and tiers as time passes). The walk's
cursor is stored with each batch, so a stopped walk goes on where it stopped, and runs at once
share it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import Database
from app.ledger import service as ledger_service
from app.members import service as members_service
from app.offers import rules as offer_rules
from app.offers.models import Offer, OfferNotice, OfferNoticeScan, OfferUse
from app.offers.rules import MemberFacts
from app.outbox import service as outbox_service
from app.outbox.events import EventType
from app.program.rules import ProgramRules

INSERT_CHUNK = 1000  # notice rows per INSERT: 3 parameters each, well under SQLite's limit
RESCAN_EVERY = dt.timedelta(hours=1)  # a new walk at least this long after the last one started
SCAN_ID = 1


async def open_offers(
    session: AsyncSession, rules: ProgramRules, *, now: dt.datetime
) -> list[Offer]:
    """Offers open now, or open early to some tier (ix_offers_ends_at): the only ones that can be
    announced. Offers that start later than any tier's early access wait for a later run."""
    opening = now + dt.timedelta(days=max((t.early_access_days for t in rules.tiers), default=0))
    rows = await session.scalars(
        select(Offer)
        .where(
            or_(col(Offer.ends_at).is_(None), col(Offer.ends_at) > now),
            or_(col(Offer.starts_at).is_(None), col(Offer.starts_at) <= opening),
        )
        .order_by(col(Offer.created_at), col(Offer.id))
    )
    return list(rows.all())


def _opened_since(
    offers: Sequence[Offer], rules: ProgramRules, since: dt.datetime, now: dt.datetime
) -> bool:
    """Whether an offer was created, or opened for some tier, in (since, now]."""
    for offer in offers:
        moments = [offer.created_at]
        if offer.starts_at is not None:
            moments += [
                offer.starts_at - dt.timedelta(days=t.early_access_days) for t in rules.tiers
            ]
        if any(since < moment <= now for moment in moments):
            return True
    return False


async def _locked_scan(db: Database, session: AsyncSession) -> OfferNoticeScan:
    """The walk's row, locked for this transaction (made on first use)."""
    scan = await session.get(OfferNoticeScan, SCAN_ID, with_for_update=True)
    if scan is None:
        dialect = sqlite if db.is_sqlite else postgresql
        await session.execute(
            dialect.insert(OfferNoticeScan).values(id=SCAN_ID).on_conflict_do_nothing()
        )
        scan = await session.get(
            OfferNoticeScan, SCAN_ID, with_for_update=True, populate_existing=True
        )
    assert scan is not None
    return scan


async def start_scan(
    db: Database, rules: ProgramRules, offers: Sequence[Offer], *, now: dt.datetime
) -> bool:
    """Go on with the walk under way, or start a new one if it is due. False: nothing to do."""
    async with db.transaction() as session:
        scan = await _locked_scan(db, session)
        if scan.started_at is not None and scan.finished_at is None:
            return True
        if (
            scan.started_at is not None
            and now - scan.started_at < RESCAN_EVERY
            and not _opened_since(offers, rules, scan.started_at, now)
        ):
            return False
        scan.started_at, scan.after_member_id, scan.finished_at = now, None, None
        session.add(scan)
        return True


@dataclass(frozen=True, slots=True)
class Batch:
    done: bool  # the walk reached the end (this batch, or another run)
    told: int  # notices written (one event each)


async def announce_batch(
    db: Database,
    rules: ProgramRules,
    offers: Sequence[Offer],
    *,
    now: dt.datetime,
    limit: int,
) -> Batch:
    """The next members of the walk (member id order, the accounts' primary key), up to
    `limit`, in one transaction with moving the cursor: a notice and an `offer.available` event
    for each offer now available to a member who was not told of it yet."""
    async with db.transaction() as session:
        scan = await _locked_scan(db, session)
        if scan.finished_at is not None:
            return Batch(True, 0)
        accounts = await ledger_service.standings_after(
            session, after=scan.after_member_id, limit=limit
        )
        if not accounts:
            scan.finished_at = now
            session.add(scan)
            return Batch(True, 0)
        first, last = accounts[0].member_id, accounts[-1].member_id
        scan.after_member_id = last
        session.add(scan)
        told = await _told(session, offers, first=first, last=last)
        untold = {
            account.member_id: found
            for account in accounts
            if (found := [o for o in offers if (o.id, account.member_id) not in told])
        }
        if not untold:
            return Batch(False, 0)
        members = await members_service.find_member_dates(session, list(untold))
        uses = await _uses(session, untold)
        pairs: list[tuple[Offer, MemberFacts]] = []
        for account in accounts:
            member = members.get(account.member_id)
            if account.member_id not in untold or member is None or not member.active:
                continue
            tier = rules.tier(account.tier_code)
            facts = MemberFacts(
                member_id=account.member_id,
                tier_code=account.tier_code,
                early_access_days=tier.early_access_days if tier else 0,
                joined_at=member.joined_at,
                birth_date=member.birth_date,
                last_purchase_at=account.last_purchase_at,
                uses=uses.get(account.member_id, {}),
            )
            pairs.extend(
                (offer, facts)
                for offer in untold[account.member_id]
                if offer_rules.unavailable(offer, facts, now) is None
            )
        inserted = await _insert_notices(db, session, pairs, now=now)
        for offer, facts in pairs:
            if (offer.id, facts.member_id) not in inserted:
                continue  # another run told them in the meantime
            await outbox_service.record(
                session,
                type=EventType.OFFER_AVAILABLE,
                member_id=facts.member_id,
                data=notice_data(offer, facts, rules, now=now),
                at=now,
            )
        return Batch(False, len(inserted))


def notice_data(
    offer: Offer, facts: MemberFacts, rules: ProgramRules, *, now: dt.datetime
) -> dict[str, object]:
    """The event's body. The reason is the one the member's offer list gives, without their
    purchase history (a million histories are not read for a notice): their moment, early
    access, their tier, the offer's categories."""
    _, reason = offer_rules.explain(offer, facts, {}, rules, now=now)
    return {
        "offerId": str(offer.id),
        "title": offer.title,
        "description": offer.description,
        "reason": reason,
        "validUntil": offer.ends_at.isoformat() if offer.ends_at else None,
        "requiresActivation": offer.requires_activation,
    }


async def _told(
    session: AsyncSession, offers: Sequence[Offer], *, first: uuid.UUID, last: uuid.UUID
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(offer, member) pairs already told in this id range: one range of the primary key per
    offer."""
    rows = await session.execute(
        select(col(OfferNotice.offer_id), col(OfferNotice.member_id)).where(
            col(OfferNotice.offer_id).in_([offer.id for offer in offers]),
            col(OfferNotice.member_id) >= first,
            col(OfferNotice.member_id) <= last,
        )
    )
    return {(offer_id, member_id) for offer_id, member_id in rows.all()}


async def _uses(
    session: AsyncSession, untold: dict[uuid.UUID, list[Offer]]
) -> dict[uuid.UUID, dict[uuid.UUID, int]]:
    """The members' uses of the offers that have a use limit (ix_offer_uses_member_purchase)."""
    limited = {offer.id for found in untold.values() for offer in found if offer.uses_per_member}
    if not limited:
        return {}
    rows = await session.execute(
        select(col(OfferUse.member_id), col(OfferUse.offer_id), func.count())
        .where(
            col(OfferUse.member_id).in_(list(untold)),
            col(OfferUse.offer_id).in_(list(limited)),
        )
        .group_by(col(OfferUse.member_id), col(OfferUse.offer_id))
    )
    uses: dict[uuid.UUID, dict[uuid.UUID, int]] = defaultdict(dict)
    for member_id, offer_id, count in rows.all():
        uses[member_id][offer_id] = int(count)
    return uses


async def _insert_notices(
    db: Database,
    session: AsyncSession,
    pairs: Sequence[tuple[Offer, MemberFacts]],
    *,
    now: dt.datetime,
) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """Insert the notices, skipping those that exist; the pairs this statement inserted."""
    dialect = sqlite if db.is_sqlite else postgresql
    inserted: set[tuple[uuid.UUID, uuid.UUID]] = set()
    for start in range(0, len(pairs), INSERT_CHUNK):
        chunk = pairs[start : start + INSERT_CHUNK]
        rows = await session.execute(
            dialect.insert(OfferNotice)
            .values(
                [
                    {"offer_id": offer.id, "member_id": facts.member_id, "created_at": now}
                    for offer, facts in chunk
                ]
            )
            .on_conflict_do_nothing()
            .returning(col(OfferNotice.offer_id), col(OfferNotice.member_id))
        )
        inserted.update((offer_id, member_id) for offer_id, member_id in rows.all())
    return inserted
