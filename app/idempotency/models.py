from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class IdempotencyRecord(SQLModel, table=True):
    """The stored result of a write, by (member, scope, key): a replay returns it unchanged."""

    __tablename__ = "idempotency_records"
    __table_args__ = (
        UniqueConstraint(
            "member_id", "scope", "key", name="uq_idempotency_records_member_scope_key"
        ),
        Index("ix_idempotency_records_scope_key", "scope", "key"),  # reuse across members
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    scope: str = Field(max_length=60)  # "staff:<id>" or "member:<id>"
    key: str = Field(max_length=200)
    operation: str = Field(max_length=40)
    request_hash: str = Field(max_length=64)
    result: dict[str, Any] = Field(sa_type=JSON)
    created_at: dt.datetime = Field(sa_type=UTCDateTime, index=True)
