from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Index
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class Offer(SQLModel, table=True):
    __tablename__ = "offers"
    __table_args__ = (Index("ix_offers_ends_at", "ends_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    title: str = Field(max_length=100)
    description: str = Field(max_length=1000)
    kind: str = Field(max_length=20)  # BONUS_POINTS | POINTS_MULTIPLIER | PERCENT_DISCOUNT
    value: int
    categories: list[str] = Field(default_factory=list, sa_type=JSON)
    min_spend: int | None = None  # minor units of the program's currency
    tier_codes: list[str] = Field(default_factory=list, sa_type=JSON)  # empty: every tier
    starts_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    ends_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    requires_activation: bool = False
    rollout_percent: int = 100
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class OfferActivation(SQLModel, table=True):
    __tablename__ = "offer_activations"

    member_id: uuid.UUID = Field(foreign_key="members.id", primary_key=True)
    offer_id: uuid.UUID = Field(foreign_key="offers.id", primary_key=True)
    activated_at: dt.datetime = Field(sa_type=UTCDateTime)
