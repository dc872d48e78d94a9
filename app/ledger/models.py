"""The ledger: one account row per member (the lock and the cached balances), lots of earned
points, and append-only, hash-chained entries. Every table carries `member_id`."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class MemberAccount(SQLModel, table=True):
    __tablename__ = "member_accounts"

    member_id: uuid.UUID = Field(foreign_key="members.id", primary_key=True)
    available: int = Field(default=0, sa_type=BigInteger)
    pending: int = Field(default=0, sa_type=BigInteger)
    lifetime_earned: int = Field(default=0, sa_type=BigInteger)
    tier_code: str = Field(max_length=20, index=True)
    tier_year_ends_at: dt.datetime = Field(sa_type=UTCDateTime)
    entry_count: int = Field(default=0, sa_type=BigInteger)  # the sequence of the last entry
    last_entry_hash: str = Field(default="", max_length=64)
    version: int = Field(default=0, sa_type=BigInteger)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)


class PointLot(SQLModel, table=True):
    __tablename__ = "point_lots"
    __table_args__ = (Index("ix_point_lots_member_expires", "member_id", "expires_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    points: int = Field(sa_type=BigInteger)
    remaining: int = Field(sa_type=BigInteger)
    available_from: dt.datetime = Field(sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    origin_entry_id: uuid.UUID | None = None
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("member_id", "seq", name="uq_ledger_entries_member_seq"),
        Index("ix_ledger_entries_member_created", "member_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    seq: int = Field(sa_type=BigInteger)
    kind: str = Field(max_length=20)
    points: int = Field(sa_type=BigInteger)
    balance_after: int = Field(sa_type=BigInteger)
    # The base points of purchases (before multipliers, offers and bonuses), net of refunds:
    # what counts towards tiers.
    qualifying: int = Field(default=0, sa_type=BigInteger)
    pending_after: int = Field(default=0, sa_type=BigInteger)
    actor_kind: str = Field(max_length=10)  # member | staff | system
    actor_id: uuid.UUID | None = None
    store_id: uuid.UUID | None = Field(default=None, foreign_key="stores.id")
    purchase_id: uuid.UUID | None = None
    rules_version: int = Field(foreign_key="program_versions.version")
    idempotency_key: str | None = Field(default=None, max_length=200)
    description: str = Field(max_length=300)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
