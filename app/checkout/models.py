"""Checkouts (a scanned member at a till), purchases with their lines, and refunds."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class Checkout(SQLModel, table=True):
    __tablename__ = "checkouts"
    __table_args__ = (Index("ix_checkouts_member_opened", "member_id", "opened_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    staff_id: uuid.UUID = Field(foreign_key="staff.id")
    store_id: uuid.UUID = Field(foreign_key="stores.id")
    code_kind: str = Field(max_length=10)  # rotating | static | typed
    opened_at: dt.datetime = Field(sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)


class Purchase(SQLModel, table=True):
    __tablename__ = "purchases"
    __table_args__ = (
        UniqueConstraint(
            "member_id", "store_id", "receipt_number", name="uq_purchases_member_receipt"
        ),
        Index("ix_purchases_member_created", "member_id", "created_at"),
        Index("ix_purchases_store_created", "store_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    checkout_id: uuid.UUID = Field(foreign_key="checkouts.id")
    store_id: uuid.UUID = Field(foreign_key="stores.id")
    staff_id: uuid.UUID = Field(foreign_key="staff.id")
    receipt_number: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    total: int = Field(sa_type=BigInteger)
    discount: int = Field(sa_type=BigInteger)  # paid with points
    amount_paid: int = Field(sa_type=BigInteger)  # paid with money
    points_earned: int = Field(sa_type=BigInteger)
    points_redeemed: int = Field(sa_type=BigInteger)
    base_points: int = Field(sa_type=BigInteger)  # qualifying points
    refunded_amount: int = Field(default=0, sa_type=BigInteger)
    points_reversed: int = Field(default=0, sa_type=BigInteger)
    points_restored: int = Field(default=0, sa_type=BigInteger)
    qualifying_reversed: int = Field(default=0, sa_type=BigInteger)
    tier_before: str = Field(max_length=20)
    tier_after: str = Field(max_length=20)
    # The member's tier year end before this purchase: restored if a refund takes its upgrade back.
    tier_year_ends_before: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    rules_version: int = Field(foreign_key="program_versions.version")
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class PurchaseLine(SQLModel, table=True):
    __tablename__ = "purchase_lines"
    __table_args__ = (Index("ix_purchase_lines_member_purchase", "member_id", "purchase_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    purchase_id: uuid.UUID = Field(foreign_key="purchases.id")
    sku: str = Field(max_length=64)
    category: str | None = Field(default=None, max_length=50)
    quantity: int
    amount: int = Field(sa_type=BigInteger)


class Refund(SQLModel, table=True):
    __tablename__ = "refunds"
    __table_args__ = (Index("ix_refunds_member_purchase", "member_id", "purchase_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    purchase_id: uuid.UUID = Field(foreign_key="purchases.id")
    store_id: uuid.UUID = Field(foreign_key="stores.id")
    staff_id: uuid.UUID = Field(foreign_key="staff.id")
    amount: int = Field(sa_type=BigInteger)
    points_reversed: int = Field(sa_type=BigInteger)
    points_restored: int = Field(sa_type=BigInteger)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
