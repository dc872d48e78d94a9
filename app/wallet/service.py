"""Wallet passes: a member's pass (made on first use), its signed `.pkpass`, the PassKit web
service's use cases, keeping the pass current, and the Google Wallet save link.

Keeping passes current: the outbox channel (`app/wallet/channel.py`) calls `refresh_pass` for
every event about a member, in the worker's fan-out transaction. It compares what the pass shows
(balance, tier, name, card, code version) with what it showed; when that changed it moves the
pass's modification time (`updated_at`: whole seconds, strictly increasing) and the channel
pushes to every registered device and PATCHes the Google object. So no use case that moves
points needs to know about wallets, and a change nobody can see pushes nothing.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, MemberActor
from app.clock import Clock
from app.db import Database
from app.errors import Forbidden, InvalidInput, NotFound
from app.ledger import service as ledger_service
from app.members import codes as member_codes
from app.members import service as members_service
from app.program import service as program_service
from app.settings import ConfigurationError, Settings
from app.wallet import apple, google
from app.wallet.models import WalletDevCertificate, WalletPass, WalletRegistration

log = logging.getLogger("app.wallet")

# Development stand-ins when APPLE_PASS_TYPE_ID / APPLE_TEAM_ID are unset (production refuses).
DEV_PASS_TYPE_ID = "pass.dev.loyalty.local"
DEV_TEAM_ID = "DEVTEAM000"
# Apple documents neither shape; real ones are 32 hex characters (device library id) and 64 hex
# characters (push token). Refuse what cannot be one, so junk never reaches the database or APNs.
_DEVICE_ID = re.compile(r"[0-9A-Za-z]{8,128}", re.ASCII)
_PUSH_TOKEN = re.compile(r"(?:[0-9A-Fa-f]{2}){32,100}", re.ASCII)
_TAG = re.compile(r"[0-9]{1,12}", re.ASCII)


def pass_type_id(settings: Settings) -> str:
    return settings.apple_pass_type_id or DEV_PASS_TYPE_ID


def team_id(settings: Settings) -> str:
    return settings.apple_team_id or DEV_TEAM_ID


def web_service_url(settings: Settings) -> str:
    return f"{settings.public_base_url}/wallet"


def download_url(settings: Settings) -> str:
    """Where the member's app downloads the `.pkpass`, with its bearer token."""
    return f"{settings.public_base_url}/wallet/pass.pkpass"


def image_url(settings: Settings, name: str) -> str:
    return f"{settings.public_base_url}/wallet/images/{name}"


def google_configured(settings: Settings) -> bool:
    return bool(settings.google_wallet_issuer_id and settings.google_wallet_service_account_file)


def uses_pass_certificate(settings: Settings) -> bool:
    return bool(settings.apple_pass_cert and settings.apple_pass_key and settings.apple_wwdr_cert)


# -- signing ---------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _file_identity(cert: str, key: str, wwdr: str, password: str | None) -> apple.SigningIdentity:
    try:
        return apple.load_identity(
            Path(cert).read_bytes(),
            Path(key).read_bytes(),
            Path(wwdr).read_bytes(),
            password=password.encode() if password else None,
        )
    except (OSError, ValueError, TypeError) as error:
        raise ConfigurationError(f"Apple pass signing files cannot be used: {error}") from None


def configured_identity(settings: Settings) -> apple.SigningIdentity | None:
    """The identity from APPLE_PASS_CERT / APPLE_PASS_KEY / APPLE_WWDR_CERT, read once per
    process; None when they are unset. Raises ConfigurationError when they cannot be used."""
    if not uses_pass_certificate(settings):
        return None
    assert settings.apple_pass_cert and settings.apple_pass_key and settings.apple_wwdr_cert
    password = settings.apple_pass_key_password
    return _file_identity(
        settings.apple_pass_cert,
        settings.apple_pass_key,
        settings.apple_wwdr_cert,
        password.get_secret_value() if password else None,
    )


async def signing_identity(db: Database, settings: Settings, clock: Clock) -> apple.SigningIdentity:
    identity = configured_identity(settings)
    if identity is not None:
        return identity
    if settings.is_production:  # check_for_production refuses this configuration at start
        raise ConfigurationError("APPLE_PASS_CERT, APPLE_PASS_KEY and APPLE_WWDR_CERT are not set")
    row = await dev_certificates(db, settings, clock)
    return apple.load_identity(row.cert_pem.encode(), row.key_pem.encode(), row.ca_pem.encode())


async def find_dev_certificates(session: AsyncSession, type_id: str) -> WalletDevCertificate | None:
    return await session.get(WalletDevCertificate, type_id)


async def dev_certificates(db: Database, settings: Settings, clock: Clock) -> WalletDevCertificate:
    """The development CA and pass certificate of this pass type id: made the first time, then
    read back (several processes may race to make it; the first insert wins)."""
    type_id = pass_type_id(settings)
    async with db.read() as session:
        row = await session.get(WalletDevCertificate, type_id)
    if row is not None:
        return row
    made = apple.make_dev_certificates(type_id, team_id(settings), now=clock.now())
    try:
        async with db.transaction() as session:
            if await session.get(WalletDevCertificate, type_id) is None:
                session.add(
                    WalletDevCertificate(
                        pass_type_id=type_id,
                        team_id=team_id(settings),
                        ca_pem=made.ca_pem,
                        cert_pem=made.cert_pem,
                        key_pem=made.key_pem,
                        created_at=clock.now(),
                    )
                )
    except IntegrityError:
        pass  # another process made it first: use theirs
    async with db.read() as session:
        row = await session.get(WalletDevCertificate, type_id)
    assert row is not None
    return row


# -- what the pass shows ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Face:
    """What a member's cards show, read from the member's rows; the static code is made from
    it with the code secret (which only the entry points hold)."""

    program_name: str
    member_name: str
    card_number: str
    balance: int
    tier_name: str
    code_version: int
    member_since: dt.datetime

    def fingerprint(self) -> str:
        shown = (
            self.program_name,
            self.member_name,
            self.card_number,
            str(self.balance),
            self.tier_name,
            str(self.code_version),
        )
        return hashlib.sha256("\x1f".join(shown).encode()).hexdigest()

    def static_code(self, secret: bytes) -> str:
        return member_codes.static_code(secret, self.card_number, self.code_version)

    def to_json(self) -> dict[str, Any]:
        return {
            "program_name": self.program_name,
            "member_name": self.member_name,
            "card_number": self.card_number,
            "balance": self.balance,
            "tier_name": self.tier_name,
            "code_version": self.code_version,
            "member_since": self.member_since.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Face:
        return cls(
            **{**data, "member_since": dt.datetime.fromisoformat(data["member_since"])},
        )


async def faces(session: AsyncSession, member_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Face]:
    """The faces of these members' cards, in three queries."""
    if not member_ids:
        return {}
    members = await members_service.find_members(session, list(member_ids))
    accounts = await ledger_service.accounts_by_member(session, list(member_ids))
    rules = await program_service.current_rules(session)
    found: dict[uuid.UUID, Face] = {}
    for member_id, member in members.items():
        account = accounts.get(member_id)
        if account is None:
            continue
        tier = rules.tier(account.tier_code)
        found[member_id] = Face(
            program_name=rules.name,
            member_name=" ".join(part for part in (member.first_name, member.last_name) if part),
            card_number=member.card_number,
            balance=account.available,
            tier_name=tier.name if tier else account.tier_code,
            code_version=member.static_code_version,
            member_since=member.created_at,
        )
    return found


async def _face(session: AsyncSession, member_id: uuid.UUID) -> Face:
    found = (await faces(session, [member_id])).get(member_id)
    if found is None:
        raise NotFound("No such member.", field="memberId")
    return found


def _modified_after(previous: dt.datetime, now: dt.datetime) -> dt.datetime:
    """The next modification time: now, in whole seconds, and at least a second after the last
    one, so that every version of a pass has its own `Last-Modified`."""
    return max(now.astimezone(dt.UTC).replace(microsecond=0), previous + dt.timedelta(seconds=1))


# -- the member's pass -----------------------------------------------------------------------------


async def find_pass(session: AsyncSession, member_id: uuid.UUID) -> WalletPass | None:
    return await session.scalar(select(WalletPass).where(col(WalletPass.member_id) == member_id))


async def members_with_pass(
    session: AsyncSession, member_ids: Sequence[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these members have a pass, in one query (the outbox's batch fan-out)."""
    if not member_ids:
        return set()
    rows = await session.scalars(
        select(col(WalletPass.member_id)).where(col(WalletPass.member_id).in_(set(member_ids)))
    )
    return set(rows)


def _new_serial() -> str:
    """128 random bits in base32 (26 characters): stable for the member, guessable by no one."""
    return base64.b32encode(secrets.token_bytes(16)).decode("ascii").rstrip("=")


async def issue_pass(
    db: Database, actor: Actor | None, clock: Clock, settings: Settings
) -> WalletPass:
    """The signed-in member's pass: made on first use (a random serial number and
    authentication token, which never change), then the same one."""
    if not isinstance(actor, MemberActor):
        raise Forbidden("Only a member has a wallet pass.")
    async with db.read() as session:
        existing = await find_pass(session, actor.member_id)
    if existing is not None:
        return existing
    now = clock.now()
    try:
        async with db.transaction() as session:
            member = await members_service.get_member(session, actor, actor.member_id)
            existing = await find_pass(session, member.id)
            if existing is not None:
                return existing
            face = await _face(session, member.id)
            wallet_pass = WalletPass(
                member_id=member.id,
                pass_type_id=pass_type_id(settings),
                serial_number=_new_serial(),
                authentication_token=secrets.token_urlsafe(32),
                face=face.fingerprint(),
                updated_at=now.astimezone(dt.UTC).replace(microsecond=0),
                created_at=now,
            )
            session.add(wallet_pass)
    except IntegrityError:  # the member's other request made it at the same moment
        async with db.read() as session:
            existing = await find_pass(session, actor.member_id)
        if existing is None:
            raise
        return existing
    return wallet_pass


@dataclass(frozen=True, slots=True)
class PassFile:
    content: bytes
    last_modified: dt.datetime
    serial_number: str


async def _render(
    db: Database, settings: Settings, clock: Clock, wallet_pass: WalletPass
) -> PassFile:
    async with db.read() as session:
        face = await _face(session, wallet_pass.member_id)
    identity = await signing_identity(db, settings, clock)
    document = apple.pass_json(
        apple.PassFace(
            program_name=face.program_name,
            member_name=face.member_name,
            card_number=face.card_number,
            balance=face.balance,
            tier_name=face.tier_name,
            static_code=face.static_code(settings.member_code_secret.get_secret_value().encode()),
            member_since=face.member_since,
        ),
        apple.PassIdentity(
            pass_type_id=wallet_pass.pass_type_id,
            team_id=team_id(settings),
            serial_number=wallet_pass.serial_number,
            authentication_token=wallet_pass.authentication_token,
            web_service_url=web_service_url(settings),
        ),
        updated_at=wallet_pass.updated_at,
    )
    return PassFile(
        content=apple.bundle(document, apple.images(), identity),
        last_modified=wallet_pass.updated_at,
        serial_number=wallet_pass.serial_number,
    )


async def member_pass_file(
    db: Database, actor: Actor | None, clock: Clock, settings: Settings
) -> PassFile:
    """The signed-in member's `.pkpass`, as of now."""
    wallet_pass = await issue_pass(db, actor, clock, settings)
    return await _render(db, settings, clock, wallet_pass)


# -- the PassKit web service -----------------------------------------------------------------------


def check_device_id(value: str) -> str:
    if not _DEVICE_ID.fullmatch(value):
        raise InvalidInput("Not a device library identifier.", field="deviceLibraryIdentifier")
    return value


def check_push_token(value: object) -> str:
    if not isinstance(value, str) or not _PUSH_TOKEN.fullmatch(value):
        raise InvalidInput("Not an APNs push token.", field="pushToken")
    return value.lower()


def _check_pass_type(settings: Settings, value: str) -> None:
    if value != pass_type_id(settings):
        raise NotFound("No pass of this type is issued here.", field="passTypeIdentifier")


async def _authenticated_pass(
    session: AsyncSession, settings: Settings, type_id: str, serial: str, token: str | None
) -> WalletPass:
    """The pass the device names, if the device holds its authentication token. Unknown:
    NotFound (404); the wrong token or none: Forbidden (the web service answers 401)."""
    _check_pass_type(settings, type_id)
    wallet_pass = await session.scalar(
        select(WalletPass).where(
            col(WalletPass.pass_type_id) == type_id, col(WalletPass.serial_number) == serial
        )
    )
    if wallet_pass is None:
        raise NotFound("No pass has this serial number.", field="serialNumber")
    if token is None or not hmac.compare_digest(
        token.encode(), wallet_pass.authentication_token.encode()
    ):
        raise Forbidden("The pass's authentication token is missing or wrong.")
    return wallet_pass


async def register_device(
    db: Database,
    settings: Settings,
    clock: Clock,
    *,
    device_id: str,
    type_id: str,
    serial: str,
    token: str | None,
    push_token: object,
) -> bool:
    """A device asks for updates of a pass. True when it is new; False when it was registered
    already (its push token is brought up to date)."""
    device = check_device_id(device_id)
    push = check_push_token(push_token)
    now = clock.now()
    try:
        async with db.transaction() as session:
            wallet_pass = await _authenticated_pass(session, settings, type_id, serial, token)
            existing = await session.scalar(
                select(WalletRegistration).where(
                    col(WalletRegistration.member_id) == wallet_pass.member_id,
                    col(WalletRegistration.pass_id) == wallet_pass.id,
                    col(WalletRegistration.device_library_id) == device,
                )
            )
            if existing is not None:
                if existing.push_token != push:
                    existing.push_token = push
                    existing.updated_at = now
                    session.add(existing)
                return False
            session.add(
                WalletRegistration(
                    member_id=wallet_pass.member_id,
                    pass_id=wallet_pass.id,
                    device_library_id=device,
                    push_token=push,
                    created_at=now,
                    updated_at=now,
                )
            )
    except IntegrityError:  # the same registration, sent twice at once
        return False
    return True


async def unregister_device(
    db: Database,
    settings: Settings,
    *,
    device_id: str,
    type_id: str,
    serial: str,
    token: str | None,
) -> None:
    """The device no longer wants updates of the pass (removed from Wallet). Idempotent."""
    device = check_device_id(device_id)
    async with db.transaction() as session:
        wallet_pass = await _authenticated_pass(session, settings, type_id, serial, token)
        await session.execute(
            delete(WalletRegistration).where(
                col(WalletRegistration.member_id) == wallet_pass.member_id,
                col(WalletRegistration.pass_id) == wallet_pass.id,
                col(WalletRegistration.device_library_id) == device,
            )
        )


@dataclass(frozen=True, slots=True)
class UpdatedSerials:
    serial_numbers: list[str]
    last_updated: str


def update_tag(moment: dt.datetime) -> str:
    """`lastUpdated`: opaque to the device, which sends it back as `passesUpdatedSince`. It is
    the Unix second of the newest modification, so it only grows."""
    return str(int(moment.timestamp()))


def parse_update_tag(tag: str | None) -> dt.datetime | None:
    """The moment of a tag we gave; None for no tag or one we never give (treated as none)."""
    if tag is None or not _TAG.fullmatch(tag):
        return None
    return dt.datetime.fromtimestamp(int(tag), dt.UTC)


async def updated_serials(
    db: Database, settings: Settings, *, device_id: str, type_id: str, since: str | None
) -> UpdatedSerials | None:
    """The serial numbers of the device's passes of this type modified after `since`; None
    when there are none (the web service answers 204)."""
    device = check_device_id(device_id)
    _check_pass_type(settings, type_id)
    after = parse_update_tag(since)
    query = (
        select(col(WalletPass.serial_number), col(WalletPass.updated_at))
        .join(WalletRegistration, col(WalletRegistration.pass_id) == col(WalletPass.id))
        .where(
            col(WalletRegistration.device_library_id) == device,
            col(WalletPass.pass_type_id) == type_id,
        )
        .order_by(col(WalletPass.serial_number))
    )
    if after is not None:
        query = query.where(col(WalletPass.updated_at) > after)
    async with db.read() as session:
        rows = (await session.execute(query)).all()
    if not rows:
        return None
    return UpdatedSerials(
        serial_numbers=[serial for serial, _ in rows],
        last_updated=update_tag(max(updated_at for _, updated_at in rows)),
    )


async def device_pass(
    db: Database, settings: Settings, *, type_id: str, serial: str, token: str | None
) -> WalletPass:
    """The pass a device asks for with its authentication token (its modification time answers
    a conditional request without building the bundle)."""
    async with db.read() as session:
        return await _authenticated_pass(session, settings, type_id, serial, token)


async def render_pass(
    db: Database, settings: Settings, clock: Clock, wallet_pass: WalletPass
) -> PassFile:
    """The pass's `.pkpass` as of now."""
    return await _render(db, settings, clock, wallet_pass)


# -- keeping passes current (the outbox channel) ---------------------------------------------------


async def refresh_pass(
    session: AsyncSession, member_id: uuid.UUID, *, now: dt.datetime
) -> WalletPass | None:
    """Building block for the outbox's fan-out: when what the member's pass shows changed since
    it was last marked, mark it modified now and return it; None when nothing visible changed
    or the member has no pass. Locks the pass row, so that two workers fanning out events of
    the same member mark it one after the other."""
    wallet_pass = await session.scalar(
        select(WalletPass)
        .where(col(WalletPass.member_id) == member_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if wallet_pass is None:
        return None
    face = (await faces(session, [member_id])).get(member_id)
    if face is None or face.fingerprint() == wallet_pass.face:
        return None
    wallet_pass.face = face.fingerprint()
    wallet_pass.updated_at = _modified_after(wallet_pass.updated_at, now)
    session.add(wallet_pass)
    await session.flush()
    return wallet_pass


async def list_registrations(
    session: AsyncSession, wallet_pass: WalletPass
) -> list[WalletRegistration]:
    rows = await session.scalars(
        select(WalletRegistration)
        .where(
            col(WalletRegistration.member_id) == wallet_pass.member_id,
            col(WalletRegistration.pass_id) == wallet_pass.id,
        )
        .order_by(col(WalletRegistration.created_at), col(WalletRegistration.id))
    )
    return list(rows.all())


@dataclass(frozen=True, slots=True)
class PushTarget:
    registration_id: uuid.UUID
    push_token: str
    pass_type_id: str


async def find_push_targets(
    session: AsyncSession, registration_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, PushTarget]:
    if not registration_ids:
        return {}
    rows = await session.execute(
        select(
            col(WalletRegistration.id),
            col(WalletRegistration.push_token),
            col(WalletPass.pass_type_id),
        )
        .join(WalletPass, col(WalletPass.id) == col(WalletRegistration.pass_id))
        .where(col(WalletRegistration.id).in_(list(registration_ids)))
    )
    return {
        registration_id: PushTarget(registration_id, token, type_id)
        for registration_id, token, type_id in rows.all()
    }


async def remove_registration(session: AsyncSession, registration_id: uuid.UUID) -> None:
    """APNs said the device's token is gone (410): stop pushing to it."""
    await session.execute(
        delete(WalletRegistration).where(col(WalletRegistration.id) == registration_id)
    )


@dataclass(frozen=True, slots=True)
class GoogleTarget:
    pass_id: uuid.UUID
    object_id: str
    face: Face


async def find_google_targets(
    session: AsyncSession, pass_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, GoogleTarget]:
    """The Google objects of these passes with what they must show now."""
    if not pass_ids:
        return {}
    passes = (
        await session.scalars(
            select(WalletPass).where(
                col(WalletPass.id).in_(list(pass_ids)),
                col(WalletPass.google_object_id).is_not(None),
            )
        )
    ).all()
    found = await faces(session, [wallet_pass.member_id for wallet_pass in passes])
    return {
        wallet_pass.id: GoogleTarget(wallet_pass.id, wallet_pass.google_object_id or "", face)
        for wallet_pass in passes
        if (face := found.get(wallet_pass.member_id)) is not None
    }


async def forget_google_object(session: AsyncSession, pass_id: uuid.UUID) -> None:
    """Google no longer has the object (404 on PATCH): stop patching it; the next save link
    inserts it again."""
    await session.execute(
        update(WalletPass).where(col(WalletPass.id) == pass_id).values(google_object_id=None)
    )


# -- Google Wallet ---------------------------------------------------------------------------------


def google_object_fields(face: Face, secret: bytes) -> dict[str, Any]:
    return google.object_fields(
        member_name=face.member_name,
        card_number=face.card_number,
        balance=face.balance,
        tier_name=face.tier_name,
        static_code=face.static_code(secret),
    )


def service_account(settings: Settings) -> google.ServiceAccount:
    assert settings.google_wallet_service_account_file
    try:
        return google.load_service_account(settings.google_wallet_service_account_file)
    except ValueError as error:
        raise ConfigurationError(f"GOOGLE_WALLET_SERVICE_ACCOUNT_FILE: {error}") from None


def google_client(settings: Settings, http: httpx.AsyncClient) -> google.WalletClient:
    return google.WalletClient(settings.google_wallet_base_url, service_account(settings), http)


async def google_save_url(
    db: Database, actor: Actor | None, clock: Clock, settings: Settings
) -> str | None:
    """The member's "Save to Google Wallet" link; None when Google Wallet is not configured.
    The first time, the program's class and the member's object are inserted over REST (the
    link only names the object, which keeps it short). Raises google.GoogleWalletError when
    Google refuses or cannot be reached."""
    if not google_configured(settings):
        return None
    assert settings.google_wallet_issuer_id
    wallet_pass = await issue_pass(db, actor, clock, settings)
    account = service_account(settings)
    issuer = settings.google_wallet_issuer_id
    object_id = google.object_id(issuer, wallet_pass.serial_number)
    if wallet_pass.google_object_id != object_id:
        await _insert_google_object(db, settings, wallet_pass, account, object_id)
    return google.save_url(
        account,
        object_id,
        origins=[settings.public_base_url, *settings.cors_origins],
        now=clock.now(),
    )


async def _insert_google_object(
    db: Database,
    settings: Settings,
    wallet_pass: WalletPass,
    account: google.ServiceAccount,
    object_id: str,
) -> None:
    """Insert the program's class (409: it exists) and the member's object (409: it exists,
    maybe stale, so it is patched), then remember the object on the pass."""
    assert settings.google_wallet_issuer_id
    async with db.read() as session:
        face = await _face(session, wallet_pass.member_id)
    klass = google.class_id(settings.google_wallet_issuer_id, settings.google_wallet_class_suffix)
    fields = google_object_fields(face, settings.member_code_secret.get_secret_value().encode())
    async with httpx.AsyncClient() as http:
        client = google.WalletClient(settings.google_wallet_base_url, account, http)
        await client.insert(
            "loyaltyClass",
            google.loyalty_class(
                class_id=klass,
                program_name=face.program_name,
                logo_url=image_url(settings, "logo.png"),
            ),
        )
        body = google.loyalty_object(object_id=object_id, class_id=klass, fields=fields)
        if not await client.insert("loyaltyObject", body):
            await client.patch_object(object_id, fields)
    async with db.transaction() as session:
        await session.execute(
            update(WalletPass)
            .where(col(WalletPass.id) == wallet_pass.id)
            .values(google_object_id=object_id)
        )
