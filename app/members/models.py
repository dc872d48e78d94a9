from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, fields

from sqlalchemy import Index, String
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id

# Search keys compare byte by byte on both databases (SQLite's BINARY; PostgreSQL's "C", whatever
# the database's default collation), so that a prefix is one index range and the index gives the
# order: the operator's member search (app/stats/queries.py).
SEARCH_COLLATED = String(254).with_variant(String(254, collation="C"), "postgresql")


class Member(SQLModel, table=True):
    __tablename__ = "members"
    __table_args__ = (
        Index("ix_members_created_at_id", "created_at", "id"),
        Index("ix_members_name_key", "name_key", "id"),
        Index("ix_members_surname_key", "surname_key", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    # normalized: trimmed, lower case; byte-wise order for prefix search
    email: str = Field(sa_type=SEARCH_COLLATED, unique=True)
    password_hash: str = Field(max_length=255)
    first_name: str = Field(max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=20, index=True)  # E.164
    birth_date: dt.date | None = Field(default=None, index=True)  # the birthday job's lookup
    # When the birth date was last set: one entered just before the birthday waits a year.
    birth_date_set_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
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
    # members_service.search_key of "first last" and of "last first" (None without a last name)
    name_key: str = Field(
        default="", sa_type=SEARCH_COLLATED, sa_column_kwargs={"server_default": ""}
    )
    surname_key: str | None = Field(default=None, sa_type=SEARCH_COLLATED)


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A member's row as a plain object, read with Core where nothing changes it (the till's
    scan): a mapped `Member` costs ten times as much to build. Fields are the table's columns."""

    id: uuid.UUID
    email: str
    password_hash: str
    first_name: str
    last_name: str | None
    phone: str | None
    birth_date: dt.date | None
    birth_date_set_at: dt.datetime | None
    locale: str
    marketing_consent: bool
    card_number: str
    referral_code: str
    referred_by_id: uuid.UUID | None
    static_code_version: int
    active: bool
    created_at: dt.datetime
    updated_at: dt.datetime
    name_key: str
    surname_key: str | None


# The row's fields are the table's columns, in order (a Core row of the table builds one).
if tuple(field.name for field in fields(MemberRow)) != tuple(
    Member.__table__.columns.keys()  # type: ignore[attr-defined]
):
    raise RuntimeError("MemberRow must list members' columns, in order")

AnyMember = Member | MemberRow
