from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import JSON
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime


class ProgramVersion(SQLModel, table=True):
    """One version of the program's rules. Never updated: a change writes the next version, and
    every ledger entry names the version that computed it."""

    __tablename__ = "program_versions"

    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    name: str = Field(max_length=100)
    currency: str = Field(max_length=3)
    earn_points: int  # `earn_points` points ...
    earn_per_amount: int  # ... per `earn_per_amount` minor units paid
    point_value_points: int  # `point_value_points` points ...
    point_value_amount: int  # ... are worth `point_value_amount` minor units at the till
    redeem_min_points: int
    redeem_max_percent: int  # of the total
    pending_days: int
    expiry_days: int
    tier_window_days: int
    tiers: list[dict[str, Any]] = Field(sa_type=JSON)  # see program.rules.Tier
    category_rules: dict[str, dict[str, Any]] = Field(sa_type=JSON)  # see rules.CategoryRule
    referral_points: int
    referral_min_purchase: int  # minor units
    referral_monthly_cap: int
    birthday_points: int
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    created_by: uuid.UUID | None = Field(default=None, foreign_key="staff.id")
