"""The outbox: events written in the transaction of the change they announce, and one delivery
row per (event, channel, target) that the worker drives to DELIVERED or DEAD.

An event is fanned out once (`fanned_out`): the worker asks every channel which targets want it
and writes their delivery rows in the same transaction that marks the event. A delivery is claimed
with a lease (`next_attempt_at` moves to the end of the lease, `lease_id` names the claim), so a
worker killed mid-delivery leaves a row that comes due again when its lease runs out.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Index, UniqueConstraint, false
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class DeliveryStatus:
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    DEAD = "DEAD"  # the last attempt failed, or the channel said it never will succeed
    GONE = "GONE"  # the target no longer exists (endpoint disabled, push token unregistered)


class OutboxEvent(SQLModel, table=True):
    __tablename__ = "outbox_events"
    __table_args__ = (
        # the fan-out's queue: WHERE fanned_out = false ORDER BY occurred_at, id
        Index("ix_outbox_events_fanout", "fanned_out", "occurred_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    type: str = Field(max_length=60)
    occurred_at: dt.datetime = Field(sa_type=UTCDateTime)
    member_id: uuid.UUID | None = Field(default=None, foreign_key="members.id")
    data: dict[str, Any] = Field(sa_type=JSON)
    fanned_out: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class OutboxDelivery(SQLModel, table=True):
    __tablename__ = "outbox_deliveries"
    __table_args__ = (
        UniqueConstraint(
            "event_id", "channel", "target_id", name="uq_outbox_deliveries_event_channel_target"
        ),
        # the worker's claim: WHERE status = 'PENDING' AND next_attempt_at <= now
        Index("ix_outbox_deliveries_due", "status", "next_attempt_at"),
        # dead letters, newest first, keyset on (updated_at, id)
        Index("ix_outbox_deliveries_status_updated", "status", "updated_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    event_id: uuid.UUID = Field(foreign_key="outbox_events.id")
    member_id: uuid.UUID | None = Field(default=None, foreign_key="members.id")
    channel: str = Field(max_length=30)
    target_id: str = Field(max_length=100)
    status: str = Field(default=DeliveryStatus.PENDING, max_length=10)
    attempts: int = Field(default=0)
    next_attempt_at: dt.datetime = Field(sa_type=UTCDateTime)
    lease_id: uuid.UUID | None = None  # the claim in progress; a stale claim cannot write
    last_error: str | None = Field(default=None, max_length=500)
    delivered_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)


class ExpiryReminder(SQLModel, table=True):
    """A lot the member was told about, once per horizon (30 and 7 days before it expires): what
    makes the `points.expiring` job idempotent."""

    __tablename__ = "expiry_reminders"
    __table_args__ = (
        UniqueConstraint(
            "member_id", "lot_id", "horizon_days", name="uq_expiry_reminders_member_lot_horizon"
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    lot_id: uuid.UUID = Field(foreign_key="point_lots.id")
    horizon_days: int
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
