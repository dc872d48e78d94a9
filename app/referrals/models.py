"""Referrals (one row per referred member, written when the referral is settled) and birthday
bonuses (one row per member and year). Both name the ledger entries that paid the points."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class ReferralStatus:
    REWARDED = "REWARDED"  # both sides earned the bonus
    CAPPED = "CAPPED"  # the referrer had reached the monthly cap: only the new member earned
    SELF_REFERRAL = "SELF_REFERRAL"  # the same person (e-mail or phone): nobody earned


class Referral(SQLModel, table=True):
    """A referral settled by the new member's first qualifying purchase. Until then the member's
    `referred_by_id` is the pending referral; this row, unique per new member, closes it."""

    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("member_id", name="uq_referrals_member_id"),
        Index("ix_referrals_referrer_settled", "referrer_id", "settled_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")  # the new member (the referee)
    referrer_id: uuid.UUID = Field(foreign_key="members.id")
    status: str = Field(max_length=20)
    purchase_id: uuid.UUID  # the qualifying purchase
    member_points: int = Field(sa_type=BigInteger)
    referrer_points: int = Field(sa_type=BigInteger)
    member_entry_id: uuid.UUID | None = None
    referrer_entry_id: uuid.UUID | None = None
    settled_at: dt.datetime = Field(sa_type=UTCDateTime)


class BirthdayBonus(SQLModel, table=True):
    __tablename__ = "birthday_bonuses"
    __table_args__ = (
        UniqueConstraint("member_id", "year", name="uq_birthday_bonuses_member_year"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    year: int  # the year of the birthday it celebrates
    birthday: dt.date
    points: int = Field(sa_type=BigInteger)
    entry_id: uuid.UUID
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
