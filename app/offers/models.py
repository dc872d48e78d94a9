"""Offers, the members who activated them, and each use of an offer on a purchase.

An offer's conditions: categories (empty: every line), a minimum spend on those lines, stores,
tiers, ISO weekdays and local hours (in the store's time zone), a validity window, an audience
(everyone, new members, members in their birthday month, members to win back), a per-member use
limit and a pilot rollout share.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class OfferKind:
    BONUS_POINTS = "BONUS_POINTS"  # `value` points once per purchase
    POINTS_MULTIPLIER = "POINTS_MULTIPLIER"  # `value` percent of the points of matching lines
    PERCENT_DISCOUNT = "PERCENT_DISCOUNT"  # `value` percent off matching lines

    ALL = (BONUS_POINTS, POINTS_MULTIPLIER, PERCENT_DISCOUNT)


class Audience:
    EVERYONE = "EVERYONE"
    NEW_MEMBERS = "NEW_MEMBERS"  # joined in the last 30 days
    BIRTHDAY = "BIRTHDAY"  # in the member's birthday month
    WIN_BACK = "WIN_BACK"  # no purchase in 60 days

    ALL = (EVERYONE, NEW_MEMBERS, BIRTHDAY, WIN_BACK)


class Offer(SQLModel, table=True):
    __tablename__ = "offers"
    __table_args__ = (Index("ix_offers_ends_at", "ends_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    title: str = Field(max_length=100)
    description: str = Field(max_length=1000)
    kind: str = Field(max_length=20)  # OfferKind
    value: int
    categories: list[str] = Field(default_factory=list, sa_type=JSON)  # empty: every line
    min_spend: int | None = None  # minor units of the program's currency, on matching lines
    tier_codes: list[str] = Field(default_factory=list, sa_type=JSON)  # empty: every tier
    store_ids: list[str] = Field(default_factory=list, sa_type=JSON)  # empty: every store
    weekdays: list[int] = Field(default_factory=list, sa_type=JSON)  # ISO 1..7; empty: every day
    hour_from: int | None = None  # local hours [from, to) in the store's time zone
    hour_to: int | None = None
    starts_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    ends_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    requires_activation: bool = False
    rollout_percent: int = 100
    uses_per_member: int | None = None  # None: no limit
    audience: str = Field(
        default=Audience.EVERYONE, max_length=20, sa_column_kwargs={"server_default": "EVERYONE"}
    )
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class OfferActivation(SQLModel, table=True):
    __tablename__ = "offer_activations"

    member_id: uuid.UUID = Field(foreign_key="members.id", primary_key=True)
    offer_id: uuid.UUID = Field(foreign_key="offers.id", primary_key=True)
    activated_at: dt.datetime = Field(sa_type=UTCDateTime)


class OfferUse(SQLModel, table=True):
    """One offer applied to one purchase: what it gave, and the entry that carries its points.
    Written under the member's account lock, numbered per (member, offer): the unique number is
    a second guard on the use limit."""

    __tablename__ = "offer_uses"
    __table_args__ = (
        UniqueConstraint("member_id", "offer_id", "seq", name="uq_offer_uses_member_offer_seq"),
        Index("ix_offer_uses_member_purchase", "member_id", "purchase_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    offer_id: uuid.UUID = Field(foreign_key="offers.id")
    seq: int  # the member's n-th use of this offer
    purchase_id: uuid.UUID = Field(foreign_key="purchases.id")
    entry_id: uuid.UUID | None = Field(default=None, foreign_key="ledger_entries.id")
    points: int = Field(default=0, sa_type=BigInteger)
    discount: int = Field(default=0, sa_type=BigInteger)  # minor units
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class OfferNotice(SQLModel, table=True):
    """A member was told an offer is available to them (`offer.available`), once per offer: the
    key makes a second run of the job, or two at once, tell nobody twice."""

    __tablename__ = "offer_notices"

    offer_id: uuid.UUID = Field(foreign_key="offers.id", primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id", primary_key=True)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class OfferNoticeScan(SQLModel, table=True):
    """The notices job's walk over every member (one row): when it started, how far it got
    (members up to this id are done), and when it reached the end. A stopped walk goes on from
    its cursor; runs at once share it, a batch each."""

    __tablename__ = "offer_notice_scans"

    id: int = Field(primary_key=True)  # always 1
    started_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    after_member_id: uuid.UUID | None = None
    finished_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
