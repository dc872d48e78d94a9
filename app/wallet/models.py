"""Wallet passes: one Apple/Google pass per member, the devices registered for its updates, and
the development signing identity.

A pass's serial number and authentication token are made once and never change (Apple refuses a
pass whose serial or token changed). `updated_at` is the pass's modification time as the PassKit
web service reports it: whole seconds, and strictly increasing, so `Last-Modified` and
`If-Modified-Since` (one-second resolution) never hide a change.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.db import UTCDateTime
from app.kit.ids import new_id


class WalletPass(SQLModel, table=True):
    __tablename__ = "wallet_passes"
    __table_args__ = (
        UniqueConstraint("member_id", name="uq_wallet_passes_member"),
        UniqueConstraint("pass_type_id", "serial_number", name="uq_wallet_passes_type_serial"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    pass_type_id: str = Field(max_length=255)
    serial_number: str = Field(max_length=64)  # random, stable; never the card number
    authentication_token: str = Field(max_length=64)  # random, stable; Wallet sends it back
    # sha256 of what the pass shows (balance, tier, name, code): the worker compares it to tell
    # a change the member can see from one it cannot.
    face: str = Field(max_length=64)
    # `issuerId.serial` once the Google Wallet object was inserted; None before.
    google_object_id: str | None = Field(default=None, max_length=255)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)


class WalletRegistration(SQLModel, table=True):
    """A device that asked for updates of a pass, with the push token to wake it."""

    __tablename__ = "wallet_registrations"
    __table_args__ = (
        UniqueConstraint(
            "member_id",
            "pass_id",
            "device_library_id",
            name="uq_wallet_registrations_member_pass_device",
        ),
        # GET /v1/devices/{device}/registrations/{passType}: the device's passes
        Index("ix_wallet_registrations_device", "device_library_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    member_id: uuid.UUID = Field(foreign_key="members.id")
    pass_id: uuid.UUID = Field(foreign_key="wallet_passes.id")
    device_library_id: str = Field(max_length=128)
    push_token: str = Field(max_length=200)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
    updated_at: dt.datetime = Field(sa_type=UTCDateTime)


class WalletDevCertificate(SQLModel, table=True):
    """Development only (no APPLE_PASS_* settings): a self-signed CA standing in for Apple's WWDR
    intermediate and a pass certificate it issued, made once per pass type id and reused, so
    every pass is complete and verifiable (`openssl smime -verify -CAfile <ca>`)."""

    __tablename__ = "wallet_dev_certificates"

    pass_type_id: str = Field(max_length=255, primary_key=True)
    team_id: str = Field(max_length=20)
    ca_pem: str = Field(sa_type=Text)
    cert_pem: str = Field(sa_type=Text)
    key_pem: str = Field(sa_type=Text)
    created_at: dt.datetime = Field(sa_type=UTCDateTime)
