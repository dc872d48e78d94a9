"""`points.expiring`: tell members about points that expire in 30 and in 7 days, once per lot
and horizon. Restartable and idempotent: a lot's reminder row and its event are written in one
transaction, and a reminder that exists (another run got there first) is not announced again."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col

from app.clock import Clock
from app.db import Database
from app.kit.ids import new_id
from app.ledger import service as ledger_service
from app.outbox import service as outbox_service
from app.outbox.events import EventType
from app.outbox.models import ExpiryReminder

HORIZONS_DAYS = (30, 7)


async def remind_expiring(db: Database, clock: Clock, *, batch_size: int = 500) -> tuple[int, int]:
    """Returns (reminders sent, points they were about)."""
    now = clock.now()
    sent = points = 0
    horizons = sorted(HORIZONS_DAYS, reverse=True)
    for index, days in enumerate(horizons):
        # A lot inside the next horizon gets that one only: no 30-day notice 5 days before.
        nearer = horizons[index + 1] if index + 1 < len(horizons) else 0
        start = now + dt.timedelta(days=nearer)
        end = now + dt.timedelta(days=days)
        after: tuple[dt.datetime, uuid.UUID] | None = None
        while True:
            async with db.read() as session:
                lots = await ledger_service.lots_expiring(
                    session, start=start, end=end, after=after, limit=batch_size
                )
            if not lots:
                break
            after = (lots[-1].expires_at, lots[-1].id)
            async with db.transaction() as session:
                dialect = postgresql if not db.is_sqlite else sqlite
                inserted = set(
                    (
                        await session.scalars(
                            dialect.insert(ExpiryReminder)
                            .values(
                                [
                                    {
                                        "id": new_id(),
                                        "member_id": lot.member_id,
                                        "lot_id": lot.id,
                                        "horizon_days": days,
                                        "created_at": now,
                                    }
                                    for lot in lots
                                ]
                            )
                            .on_conflict_do_nothing()
                            .returning(col(ExpiryReminder.lot_id))
                        )
                    ).all()
                )
                by_member: dict[uuid.UUID, list[tuple[int, dt.datetime]]] = defaultdict(list)
                for lot in lots:
                    if lot.id in inserted:
                        by_member[lot.member_id].append((lot.remaining, lot.expires_at))
                for member_id, found in by_member.items():
                    total = sum(remaining for remaining, _ in found)
                    await outbox_service.record(
                        session,
                        type=EventType.POINTS_EXPIRING,
                        member_id=member_id,
                        data={
                            "points": total,
                            "expiresAt": min(at for _, at in found).isoformat(),
                            "withinDays": days,
                        },
                        at=now,
                    )
                    sent += 1
                    points += total
            if len(lots) < batch_size:
                break
    return sent, points
