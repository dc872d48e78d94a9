"""Push devices: one row per app install's push token, owned by the member signed in on it."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class PushPlatform:
    APNS = "APNS"
    FCM = "FCM"


class PushDevice(SQLModel, table=True):
    """A token belongs to one app install, not to one member: the unique key is the token
    alone (by its hash: FCM tokens may be 4 KiB, past a B-tree entry), so registering it again
    under another member moves it (the phone changed hands) and no one gets another's pushes."""

    __tablename__ = "push_devices"
    __table_args__ = (
        UniqueConstraint("platform", "token_hash", name="uq_push_devices_platform_token_hash"),
        # the member's devices, newest first (targets, and the cap on devices per member)
        Index("ix_push_devices_member_updated", "member_id", "updated_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    platform: str = Field(max_length=4)  # PushPlatform
    token: str = Field(sa_type=Text)
    token_hash: str = Field(max_length=64)  # sha256 hex of the token
    locale: str | None = Field(default=None, max_length=35)  # the phone's language, as sent
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)
