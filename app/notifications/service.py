"""Push devices: a member registers the token of the app on its phone, and unregisters it.

Registering a token that another member registered moves it: a token names one app install, and
the member signed in on it now is the one who gets its pushes. Registering it again is a no-op
apart from the language. A member keeps at most MAX_DEVICES_PER_MEMBER devices: registering one
more forgets the one registered longest ago (a phone long gone that its provider never reported).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, MemberActor
from app.clock import Clock
from app.db import Database
from app.errors import Forbidden, InvalidInput, InvalidPushToken, PushDeviceNotFound
from app.kit.ids import new_id
from app.members import service as members_service
from app.notifications import messages
from app.notifications.models import PushDevice, PushPlatform

MAX_DEVICES_PER_MEMBER = 10
PLATFORMS = (PushPlatform.APNS, PushPlatform.FCM)
# APNs device tokens are 32 bytes in hex today; Apple says their length may change.
_APNS_TOKEN = re.compile(r"^(?:[0-9a-f]{2}){32,100}$")
# FCM registration tokens: URL-safe base64 and colons, ~160 characters today.
_FCM_TOKEN = re.compile(r"^[A-Za-z0-9_:\-]{100,4096}$")


@dataclass(frozen=True, slots=True)
class NewPushDevice:
    platform: str
    token: str
    locale: str | None = None


@dataclass(frozen=True, slots=True)
class RegisteredDevice:
    device: PushDevice
    language: messages.Language  # what its pushes are written in


def check_token(platform: str, token: str) -> str:
    """The token as stored, or InvalidPushToken on `token`."""
    cleaned = token.strip()
    if platform == PushPlatform.APNS:
        cleaned = cleaned.lower()
        if not _APNS_TOKEN.match(cleaned):
            raise InvalidPushToken(
                "An APNs device token is 64 to 200 hexadecimal digits.", field="token"
            )
        return cleaned
    if platform == PushPlatform.FCM:
        if not _FCM_TOKEN.match(cleaned):
            raise InvalidPushToken(
                "An FCM registration token is 100 to 4096 letters, digits, '-', '_' or ':'.",
                field="token",
            )
        return cleaned
    raise InvalidInput("The platform is APNS or FCM.", field="platform")


def check_locale(locale: str | None) -> str | None:
    if locale is None or not locale.strip():
        return None
    cleaned = locale.strip()
    if not messages.is_locale(cleaned):
        raise InvalidInput("Use a language tag like en, ru or ru-RU.", field="locale")
    return cleaned.replace("_", "-")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def language_of(device: PushDevice, member_locale: str | None) -> messages.Language:
    """The phone's language when the app sent it, else the member's; English when we have
    neither language."""
    return messages.language_for(device.locale or member_locale)


# -- use cases -----------------------------------------------------------------------------------


async def register_push_device(
    db: Database, actor: Actor, clock: Clock, new: NewPushDevice
) -> RegisteredDevice:
    """The signed-in member's app registers (or re-registers) its push token."""
    if not isinstance(actor, MemberActor):
        raise Forbidden("Only a member registers a push device.")
    token = check_token(new.platform, new.token)
    locale = check_locale(new.locale)
    now = clock.now()
    async with db.transaction() as session:
        device_id = await _upsert(session, actor.member_id, new.platform, token, locale, now=now)
        await _keep_newest(session, actor.member_id)
        device = await session.get(PushDevice, device_id, populate_existing=True)
        member = await members_service.get_member(session, actor, actor.member_id)
        assert device is not None
        return RegisteredDevice(device, language_of(device, member.locale))


async def unregister_push_device(
    db: Database, actor: Actor, *, platform: str, token: str
) -> RegisteredDevice:
    """The member's app gives up its token (sign-out). Another member's token is not found."""
    if not isinstance(actor, MemberActor):
        raise Forbidden("Only a member unregisters a push device.")
    try:
        cleaned = check_token(platform, token)
    except InvalidPushToken:
        raise PushDeviceNotFound(field="token") from None
    async with db.transaction() as session:
        device = await session.scalar(
            select(PushDevice).where(
                col(PushDevice.platform) == platform,
                col(PushDevice.token_hash) == token_hash(cleaned),
                col(PushDevice.member_id) == actor.member_id,
            )
        )
        if device is None:
            raise PushDeviceNotFound(field="token")
        member = await members_service.get_member(session, actor, actor.member_id)
        await session.delete(device)
        return RegisteredDevice(device, language_of(device, member.locale))


async def _upsert(
    session: AsyncSession,
    member_id: uuid.UUID,
    platform: str,
    token: str,
    locale: str | None,
    *,
    now: dt.datetime,
) -> uuid.UUID:
    """One statement, so two registrations of one token at once cannot both insert."""
    values = {
        "id": new_id(),
        "member_id": member_id,
        "platform": platform,
        "token": token,
        "token_hash": token_hash(token),
        "locale": locale,
        "created_at": now,
        "updated_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    inserting = insert(PushDevice).values(**values)
    upsert = inserting.on_conflict_do_update(
        index_elements=["platform", "token_hash"],
        set_={
            "member_id": inserting.excluded.member_id,
            "locale": inserting.excluded.locale,
            "updated_at": inserting.excluded.updated_at,
        },
    ).returning(col(PushDevice.id))
    device_id = await session.scalar(upsert)
    assert device_id is not None
    return device_id


async def _keep_newest(session: AsyncSession, member_id: uuid.UUID) -> None:
    keep = (
        select(col(PushDevice.id))
        .where(col(PushDevice.member_id) == member_id)
        .order_by(col(PushDevice.updated_at).desc(), col(PushDevice.id).desc())
        .limit(MAX_DEVICES_PER_MEMBER)
    )
    await session.execute(
        delete(PushDevice).where(
            col(PushDevice.member_id) == member_id,
            col(PushDevice.id).not_in(keep.scalar_subquery()),
        )
    )


# -- building blocks for the outbox channel (they take a session and never commit) ---------------


async def list_member_devices(session: AsyncSession, member_id: uuid.UUID) -> list[PushDevice]:
    rows = await session.scalars(
        select(PushDevice)
        .where(col(PushDevice.member_id) == member_id)
        .order_by(col(PushDevice.updated_at).desc(), col(PushDevice.id).desc())
    )
    return list(rows)


async def list_devices_of_members(
    session: AsyncSession, member_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[PushDevice]]:
    """`list_member_devices` for several members, in one query (the outbox's batch fan-out)."""
    if not member_ids:
        return {}
    rows = await session.scalars(
        select(PushDevice)
        .where(col(PushDevice.member_id).in_(set(member_ids)))
        .order_by(col(PushDevice.updated_at).desc(), col(PushDevice.id).desc())
    )
    found: dict[uuid.UUID, list[PushDevice]] = {}
    for device in rows:
        found.setdefault(device.member_id, []).append(device)
    return found


async def find_devices(
    session: AsyncSession, device_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, PushDevice]:
    if not device_ids:
        return {}
    rows = await session.scalars(select(PushDevice).where(col(PushDevice.id).in_(device_ids)))
    return {row.id: row for row in rows}


async def remove_device(session: AsyncSession, device_id: uuid.UUID) -> None:
    """Forget a device whose provider reported its token dead."""
    await session.execute(delete(PushDevice).where(col(PushDevice.id) == device_id))
