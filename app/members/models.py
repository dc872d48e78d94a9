from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class Member(SQLModel, table=True):
    __tablename__ = "members"
    __table_args__ = (Index("ix_members_created_at_id", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(max_length=254, unique=True)  # normalized: trimmed, lower case
    password_hash: str = Field(max_length=255)
    first_name: str = Field(max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=20, index=True)  # E.164
    birth_date: dt.date | None = None
    locale: str = Field(default="en", max_length=10)
    marketing_consent: bool = False
    card_number: str = Field(max_length=16, unique=True)
    referral_code: str = Field(max_length=12, unique=True)
    referred_by_id: uuid.UUID | None = Field(default=None, foreign_key="members.id")
    # Bumped to revoke the static code printed on wallet passes; older codes become CODE_REVOKED.
    static_code_version: int = 1
    active: bool = True
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)
