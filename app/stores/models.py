from __future__ import annotations

import datetime as dt
import uuid

from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class Store(SQLModel, table=True):
    __tablename__ = "stores"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    code: str = Field(max_length=32, unique=True)  # normalized: upper case
    name: str = Field(max_length=100)
    timezone: str = Field(default="UTC", max_length=64)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
