from __future__ import annotations

import datetime as dt
import enum
import uuid

from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class StaffRole(enum.StrEnum):
    CASHIER = "CASHIER"
    MANAGER = "MANAGER"
    ADMIN = "ADMIN"


class Staff(SQLModel, table=True):
    __tablename__ = "staff"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    email: str = Field(max_length=254, unique=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=10)  # a StaffRole value
    active: bool = True
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class StaffStore(SQLModel, table=True):
    """A store a staff member works in. Admins act everywhere and need none."""

    __tablename__ = "staff_stores"

    staff_id: uuid.UUID = Field(foreign_key="staff.id", primary_key=True)
    store_id: uuid.UUID = Field(foreign_key="stores.id", primary_key=True, index=True)
