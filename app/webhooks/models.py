"""Webhook endpoints: where the outbox's events go over HTTP, signed as Standard Webhooks."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import JSON, Index, true
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class WebhookEndpoint(SQLModel, table=True):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (Index("ix_webhook_endpoints_active_created", "active", "created_at", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    url: str = Field(max_length=2048)
    event_types: list[str] = Field(sa_type=JSON)  # ["*"] = every event
    # `whsec_<base64>`; kept as written because signing needs it. After a rotation the previous
    # secret also signs, until `previous_secret_expires_at`.
    secret: str = Field(max_length=100)
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: dt.datetime | None = Field(default=None, sa_type=UTCDateTime)
    active: bool = Field(default=True, sa_column_kwargs={"server_default": true()})
    created_by: uuid.UUID | None = None  # the admin
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)
