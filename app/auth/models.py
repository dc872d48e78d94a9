from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class AuthSession(SQLModel, table=True):
    """A sign-in: the family of refresh tokens that rotate from one login."""

    __tablename__ = "auth_sessions"
    __table_args__ = (Index("ix_auth_sessions_subject", "subject_kind", "subject_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    subject_kind: str = Field(max_length=10)  # "member" | "staff"
    subject_id: uuid.UUID
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    revoked_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_reason: str | None = Field(default=None, max_length=40)


class RefreshToken(SQLModel, table=True):
    """One refresh token, stored as the SHA-256 of its value. Spent once, then replaced."""

    __tablename__ = "refresh_tokens"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    session_id: uuid.UUID = Field(foreign_key="auth_sessions.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    expires_at: dt.datetime = Field(sa_type=UTCDateTime)
    spent_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)


class LoginFailure(SQLModel, table=True):
    """A failed sign-in, counted per account and per client address for throttling."""

    __tablename__ = "login_failures"
    __table_args__ = (Index("ix_login_failures_key_at", "key", "created_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    key: str = Field(max_length=300)  # "account:<kind>:<email>" or "address:<ip>"
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
