"""Writing events (`record`, in the caller's transaction) and the admin's view of deliveries."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, require_admin
from app.clock import Clock
from app.db import Database, core
from app.errors import InvalidInput
from app.kit import pagination
from app.kit.ids import new_id, parse_id
from app.kit.pagination import Page
from app.outbox.events import EVENT_TYPES, EventType  # noqa: F401 - the catalogue, re-exported
from app.outbox.models import DeliveryStatus, OutboxDelivery, OutboxEvent


async def record(
    session: AsyncSession,
    *,
    type: str,
    member_id: uuid.UUID | None,
    data: dict[str, Any],
    at: dt.datetime,
) -> uuid.UUID:
    """Write one event in the caller's transaction (one INSERT, no commit); returns its id.

    `data` must be JSON-serialisable (ids as strings, times as ISO 8601 strings, points and
    amounts as integers). The worker delivers it after the transaction commits; if the caller
    rolls back, the event never existed.
    """
    (event_id,) = await record_all(session, [NewEvent(type, member_id, data)], at=at)
    return event_id


@dataclass(frozen=True, slots=True)
class NewEvent:
    type: str
    member_id: uuid.UUID | None
    data: dict[str, Any]


async def record_all(
    session: AsyncSession, events: Sequence[NewEvent], *, at: dt.datetime
) -> list[uuid.UUID]:
    """`record` for several events of one change, in one statement (none for no events)."""
    ids = [new_id() for _ in events]
    rows = []
    for event_id, event in zip(ids, events, strict=True):
        if event.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {event.type!r}: add it to app/outbox/events.py")
        rows.append(
            {"id": event_id, "type": event.type, "occurred_at": at, "member_id": event.member_id,
             "data": event.data, "fanned_out": False}
        )  # fmt: skip
    if rows:
        await (await core(session)).execute(_INSERT_EVENT, rows if len(rows) > 1 else rows[0])
    return ids


_INSERT_EVENT = insert(OutboxEvent.__table__)  # type: ignore[attr-defined]  # built once


# -- keeping the tables small ---------------------------------------------------------------------

_FINISHED = (DeliveryStatus.DELIVERED, DeliveryStatus.GONE)


async def prune(db: Database, *, before: dt.datetime, batch_size: int = 1000) -> tuple[int, bool]:
    """One batch of what was finished before `before`: deliveries delivered or gone, then the
    events left without a delivery. Returns the events deleted and whether more may be left."""
    async with db.transaction() as session:
        finished = (
            select(col(OutboxDelivery.id))
            .where(
                col(OutboxDelivery.status).in_(_FINISHED), col(OutboxDelivery.updated_at) < before
            )
            .limit(batch_size)
        )
        deliveries = list((await session.scalars(finished)).all())
        if deliveries:
            await session.execute(
                delete(OutboxDelivery).where(col(OutboxDelivery.id).in_(deliveries))
            )
        waiting = select(col(OutboxDelivery.id)).where(
            col(OutboxDelivery.event_id) == col(OutboxEvent.id)
        )
        done = (
            select(col(OutboxEvent.id))
            .where(
                col(OutboxEvent.fanned_out).is_(True),
                col(OutboxEvent.occurred_at) < before,
                ~waiting.exists(),
            )
            .limit(batch_size)
        )
        events = list((await session.scalars(done)).all())
        if events:
            await session.execute(delete(OutboxEvent).where(col(OutboxEvent.id).in_(events)))
    return len(events), len(deliveries) == batch_size or len(events) == batch_size


# -- what the admins see and do ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeadLetter:
    delivery: OutboxDelivery
    event: OutboxEvent


async def list_dead_letters(
    session: AsyncSession, actor: Actor | None, *, first: int, after: str | None
) -> Page[DeadLetter]:
    """Deliveries that gave up, the most recent first (keyset on updated_at, id)."""
    require_admin(actor)
    limit = pagination.check_first(first)
    query = (
        select(OutboxDelivery, OutboxEvent)
        .join(OutboxEvent, col(OutboxEvent.id) == col(OutboxDelivery.event_id))
        .where(col(OutboxDelivery.status) == DeliveryStatus.DEAD)
    )
    if after is not None:
        at, id_ = pagination.decode_cursor(after)
        query = query.where(
            or_(
                col(OutboxDelivery.updated_at) < at,
                and_(col(OutboxDelivery.updated_at) == at, col(OutboxDelivery.id) < id_),
            )
        )
    query = query.order_by(
        col(OutboxDelivery.updated_at).desc(), col(OutboxDelivery.id).desc()
    ).limit(limit + 1)
    rows = [DeadLetter(delivery, event) for delivery, event in (await session.execute(query))]
    items = rows[:limit]
    return Page(
        items=items,
        cursors=[
            pagination.encode_cursor(item.delivery.updated_at, item.delivery.id) for item in items
        ],
        has_next=len(rows) > limit,
    )


async def retry_dead_letters(
    db: Database, actor: Actor | None, clock: Clock, *, ids: Sequence[str] | None
) -> int:
    """Dead deliveries (these, or all when `ids` is None) start over: due now, attempts from
    zero. Returns how many. Ids that are not dead (delivered meanwhile, retried already) are
    skipped."""
    require_admin(actor)
    wanted: list[uuid.UUID] | None = None
    if ids is not None:
        wanted = []
        for value in ids:
            parsed = parse_id(value)
            if parsed is None:
                raise InvalidInput(f"{value[:60]!r} is not a dead letter id.", field="ids")
            wanted.append(parsed)
        if not wanted:
            return 0
    now = clock.now()
    query = update(OutboxDelivery).where(col(OutboxDelivery.status) == DeliveryStatus.DEAD)
    if wanted is not None:
        query = query.where(col(OutboxDelivery.id).in_(wanted))
    async with db.transaction() as session:
        retried = await session.scalars(
            query.values(
                status=DeliveryStatus.PENDING,
                attempts=0,
                next_attempt_at=now,
                lease_id=None,
                updated_at=now,
            ).returning(col(OutboxDelivery.id))
        )
        return len(retried.all())


@dataclass(frozen=True, slots=True)
class OutboxStatus:
    events_waiting: int  # not fanned out yet
    deliveries: dict[str, int]  # by status
    due_now: int
    oldest_due_at: dt.datetime | None


async def outbox_status(session: AsyncSession, *, now: dt.datetime) -> OutboxStatus:
    """Counts for `loyalty outbox status` (each query on an index)."""
    waiting = await session.scalar(
        select(func.count()).select_from(OutboxEvent).where(col(OutboxEvent.fanned_out).is_(False))
    )
    by_status = {
        status: int(count)
        for status, count in await session.execute(
            select(col(OutboxDelivery.status), func.count()).group_by(col(OutboxDelivery.status))
        )
    }
    due = await session.execute(
        select(func.count(), func.min(col(OutboxDelivery.next_attempt_at))).where(
            col(OutboxDelivery.status) == DeliveryStatus.PENDING,
            col(OutboxDelivery.next_attempt_at) <= now,
        )
    )
    due_count, oldest = due.one()
    return OutboxStatus(
        events_waiting=int(waiting or 0),
        deliveries=by_status,
        due_now=int(due_count or 0),
        oldest_due_at=oldest,
    )
