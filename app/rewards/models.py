"""What members spend points on: the rewards catalog and the vouchers it issues, and the causes
they donate to. Every row a member's spending writes (vouchers, donations) carries `member_id`
and names the ledger entry that paid for it, so that `verify-ledger` can prove the two agree.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class RewardKind:
    DISCOUNT_VOUCHER = "DISCOUNT_VOUCHER"
    FREE_PRODUCT = "FREE_PRODUCT"
    GIFT_CARD = "GIFT_CARD"
    FREE_DELIVERY = "FREE_DELIVERY"
    EXPERIENCE = "EXPERIENCE"


REWARD_KINDS = (
    RewardKind.DISCOUNT_VOUCHER,
    RewardKind.FREE_PRODUCT,
    RewardKind.GIFT_CARD,
    RewardKind.FREE_DELIVERY,
    RewardKind.EXPERIENCE,
)


class Reward(SQLModel, table=True):
    __tablename__ = "rewards"
    __table_args__ = (Index("ix_rewards_created_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    title: str = Field(max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    kind: str = Field(max_length=20)
    points_cost: int = Field(sa_type=BigInteger)
    value: int | None = Field(default=None, sa_type=BigInteger)  # minor units of the currency
    # Units left; None is unlimited. Taken only by a conditional UPDATE (stock > 0).
    stock: int | None = Field(default=None, sa_type=BigInteger)
    tier_codes: list[str] = Field(default_factory=list, sa_type=JSON)  # empty: every tier
    store_ids: list[str] = Field(
        default_factory=list, sa_type=JSON
    )  # vouchers valid in; empty: all
    starts_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    ends_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    voucher_valid_days: int
    active: bool = True
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class Voucher(SQLModel, table=True):
    """A redeemed reward: a one-time code, used once at a till before it expires."""

    __tablename__ = "vouchers"
    __table_args__ = (
        UniqueConstraint("code", name="uq_vouchers_code"),
        Index("ix_vouchers_member_issued", "member_id", "issued_at", "id"),
        Index("ix_vouchers_reward", "reward_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    reward_id: uuid.UUID = Field(foreign_key="rewards.id")
    code: str = Field(max_length=16)  # canonical: the alphabet's characters, no separators
    points: int = Field(sa_type=BigInteger)  # what the member paid
    entry_id: uuid.UUID  # the REWARD ledger entry that paid for it
    issued_at: dt.datetime = Field(sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    used_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    used_store_id: uuid.UUID | None = Field(default=None, foreign_key="stores.id")
    used_staff_id: uuid.UUID | None = Field(default=None, foreign_key="staff.id")


class Cause(SQLModel, table=True):
    __tablename__ = "causes"
    __table_args__ = (
        UniqueConstraint("name", name="uq_causes_name"),
        Index("ix_causes_created_id", "created_at", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    name: str = Field(max_length=100)
    description: str | None = Field(default=None, max_length=1000)
    # Maintained by the donation's transaction (UPDATE ... SET total = total + :points).
    total_points: int = Field(default=0, sa_type=BigInteger)
    donations: int = Field(default=0, sa_type=BigInteger)
    active: bool = True
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class Donation(SQLModel, table=True):
    __tablename__ = "donations"
    __table_args__ = (
        Index("ix_donations_member_created", "member_id", "created_at"),
        Index("ix_donations_cause_created", "cause_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    cause_id: uuid.UUID = Field(foreign_key="causes.id")
    points: int = Field(sa_type=BigInteger)
    entry_id: uuid.UUID  # the DONATION ledger entry
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
