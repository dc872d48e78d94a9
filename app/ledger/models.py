"""The ledger: one account row per member (the lock and the cached balances), lots of earned
points, append-only hash-chained entries, and the movements of points between entries and lots.
Every table carries `member_id`.

Invariants (`loyalty verify-ledger` proves them for every member):
- available + pending = the sum of the entries' points;
- pending = the remaining points of unreleased lots;
- available = the remaining points of released lots - debt (debt: points a refund took back
  after the member had spent them; later earnings repay it first);
- every lot: 0 <= remaining <= points, and remaining = points + the sum of its movements;
- the entries of a member form a hash chain with consecutive sequence numbers;
- qualifying_total = the sum of the entries' qualifying points; no lot with points left expires
  before next_expiry_at (which is set whenever such a lot exists).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, fields

from sqlalchemy import BigInteger, Index, UniqueConstraint, false, true
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class EntryKind:
    EARN = "EARN"  # points earned by a purchase
    REDEEM = "REDEEM"  # points paid at the till
    REVERSAL = "REVERSAL"  # earned points taken back by a refund
    RESTORE = "RESTORE"  # redeemed points given back by a refund
    ADJUST = "ADJUST"  # an operator's correction, with a reason
    EXPIRE = "EXPIRE"  # lots past their date
    REWARD = "REWARD"  # points spent on a reward from the catalog (a voucher)
    DONATION = "DONATION"  # points given to a cause
    REFERRAL = "REFERRAL"  # the referral bonus, to the referrer and to the new member
    BIRTHDAY = "BIRTHDAY"  # the birthday bonus, once a year
    OFFER = "OFFER"  # points an offer gave on a purchase (beside its EARN entry)


class MemberAccount(SQLModel, table=True):
    __tablename__ = "member_accounts"
    member_id: uuid.UUID = Field(foreign_key="members.id", primary_key=True)
    available: int = Field(default=0, sa_type=BigInteger)
    pending: int = Field(default=0, sa_type=BigInteger)
    debt: int = Field(default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"})
    lifetime_earned: int = Field(default=0, sa_type=BigInteger)
    tier_code: str = Field(max_length=20, index=True)
    tier_year_ends_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)  # tier review
    entry_count: int = Field(default=0, sa_type=BigInteger)  # the sequence of the last entry
    last_entry_hash: str = Field(default="", max_length=64)
    # Summaries the till reads instead of scanning lots and entries on every purchase:
    # no lot with points left expires before `next_expiry_at` (a lower bound; None: no such lot),
    # and `qualifying_total` is the sum of every entry's qualifying points (an upper bound of
    # the rolling tier window's).
    next_expiry_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    qualifying_total: int = Field(
        default=0, sa_type=BigInteger, sa_column_kwargs={"server_default": "0"}
    )
    # The member signed up with a referral code that no purchase has settled yet (app/referrals):
    # every other purchase skips the referral lookup.
    referral_pending: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The member's last two purchases (app/stats sets them with the purchase's totals, and moves
    # its per-day count of them, `daily_totals.last_buyers`/`prev_buyers`, in the same upsert).
    last_purchase_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    prev_purchase_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    version: int = Field(default=0, sa_type=BigInteger)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)


@dataclass(slots=True)
class AccountRow:
    """A member's account row as a plain object: read with Core and written back with one UPDATE
    (`ledger_service.save_account`), without the ORM's identity map and unit of work (the till's
    purchase, the hottest write). The ledger's building blocks take either (`Account`)."""

    member_id: uuid.UUID
    available: int
    pending: int
    debt: int
    lifetime_earned: int
    tier_code: str
    tier_year_ends_at: dt.datetime
    entry_count: int
    last_entry_hash: str
    next_expiry_at: dt.datetime | None
    qualifying_total: int
    referral_pending: bool
    last_purchase_at: dt.datetime | None
    prev_purchase_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


# The row's fields are the table's columns, in order (a Core row of the table builds one).
if tuple(field.name for field in fields(AccountRow)) != tuple(
    MemberAccount.__table__.columns.keys()  # type: ignore[attr-defined]
):
    raise RuntimeError("AccountRow must list member_accounts' columns, in order")

Account = MemberAccount | AccountRow


class PointLot(SQLModel, table=True):
    __tablename__ = "point_lots"
    __table_args__ = (
        Index("ix_point_lots_member_expires", "member_id", "expires_at"),
        Index("ix_point_lots_expires_at", "expires_at"),
        Index("ix_point_lots_available_from", "released", "available_from"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    points: int = Field(sa_type=BigInteger)
    remaining: int = Field(sa_type=BigInteger)
    available_from: dt.datetime = Field(sa_type=UTCDateTime)
    released: bool = Field(sa_column_kwargs={"server_default": true()})  # available, or pending
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    origin_entry_id: uuid.UUID
    purchase_id: uuid.UUID | None = None
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entries"
    __table_args__ = (
        UniqueConstraint("member_id", "seq", name="uq_ledger_entries_member_seq"),
        Index("ix_ledger_entries_member_created", "member_id", "created_at", "id"),
        Index("ix_ledger_entries_member_purchase", "member_id", "purchase_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    seq: int = Field(sa_type=BigInteger)
    kind: str = Field(max_length=20)
    points: int = Field(sa_type=BigInteger)
    balance_after: int = Field(sa_type=BigInteger)  # available + pending after this entry
    # The base points of purchases (before multipliers, offers and bonuses), net of refunds:
    # what counts towards tiers.
    qualifying: int = Field(default=0, sa_type=BigInteger)
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


class LotMovement(SQLModel, table=True):
    """Points an entry took from (negative) or gave back to (positive) a lot, so that a refund
    returns redeemed points to the lots they came from, with their original expiry."""

    __tablename__ = "lot_movements"
    __table_args__ = (
        Index("ix_lot_movements_member_entry", "member_id", "entry_id"),
        Index("ix_lot_movements_lot", "lot_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    entry_id: uuid.UUID = Field(foreign_key="ledger_entries.id")
    lot_id: uuid.UUID = Field(foreign_key="point_lots.id")
    points: int = Field(sa_type=BigInteger)
