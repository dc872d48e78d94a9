"""Members: sign-up, profile, card numbers, referral codes, and member codes back to members."""

from __future__ import annotations

import datetime as dt
import re
import secrets
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, MemberActor, require_self
from app.clock import Clock
from app.db import Database
from app.errors import (
    CardNotFound,
    CodeMalformed,
    CodeRevoked,
    EmailTaken,
    Forbidden,
    InvalidInput,
    NotFound,
)
from app.kit import luhn
from app.members import codes
from app.members.models import Member, MemberRow
from app.outbox import service as outbox_service
from app.outbox.events import EventType

CARD_PREFIX = "7"  # ISO/IEC 7812 major industry identifier 7: petroleum and other future use
REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$", re.ASCII)  # `\d` would match any Unicode digit
_LOCALE = re.compile(r"^[a-z]{2,3}(-[A-Z]{2})?$")
_PHONE_NOISE = str.maketrans("", "", " -().")
_REFERRAL_CODE = re.compile(r"^[A-Z0-9]{1,12}$", re.ASCII)


@dataclass(frozen=True, slots=True)
class NewMember:
    email: str
    password: str
    first_name: str
    last_name: str | None = None
    phone: str | None = None
    birth_date: dt.date | None = None
    referral_code: str | None = None
    locale: str | None = None
    marketing_consent: bool = False


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """Fields left as None stay as they are; `clear` names optional fields to empty."""

    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    birth_date: dt.date | None = None
    locale: str | None = None
    marketing_consent: bool | None = None
    clear: frozenset[str] = frozenset()


# -- input normalization (used by auth and staff too) -------------------------------------------


def normalize_email(email: str) -> str:
    return unicodedata.normalize("NFC", email).strip().lower()


def check_email(email: str) -> str:
    normalized = normalize_email(email)
    if len(normalized) > 254 or not _EMAIL.match(normalized) or _has_control(normalized):
        raise InvalidInput("Enter an e-mail address like name@example.com.", field="email")
    return normalized


def clean_name(value: str | None, *, field: str, required: bool) -> str | None:
    if value is None:
        if required:
            raise InvalidInput("This field is required.", field=field)
        return None
    cleaned = unicodedata.normalize("NFC", value).strip()
    if not cleaned:
        if required:
            raise InvalidInput("This field cannot be empty.", field=field)
        return None
    if len(cleaned) > 100 or _has_control(cleaned):
        raise InvalidInput("Use at most 100 printable characters.", field=field)
    return cleaned


def clean_phone(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    phone = value.strip().translate(_PHONE_NOISE)
    if phone.startswith("00"):
        phone = "+" + phone[2:]
    if not _PHONE.match(phone):
        raise InvalidInput(
            "Enter the phone number in international form, like +14155550123.", field="phone"
        )
    return phone


def check_birth_date(value: dt.date | None, *, today: dt.date) -> dt.date | None:
    if value is None:
        return None
    if value > today or value < dt.date(1900, 1, 1):
        raise InvalidInput("Enter a real birth date.", field="birthDate")
    return value


def check_locale(value: str | None) -> str | None:
    if value is None:
        return None
    if not _LOCALE.match(value):
        raise InvalidInput("Use a language tag like en, ru or en-GB.", field="locale")
    return value


def search_key(text: str) -> str:
    """The form names are searched in (the operator's member search): compatibility-normalized,
    accents dropped, case-folded, spaces collapsed; "José  ÅBERG" -> "jose aberg". Stored in
    `Member.name_key` / `surname_key` and applied to the search text alike."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(char for char in decomposed if unicodedata.category(char) != "Mn")
    folded = unicodedata.normalize("NFC", bare.casefold())
    return " ".join(folded.split())[:254]


def set_search_keys(member: Member) -> None:
    """Keep the member's name keys in step with its names (after every change of a name)."""
    member.name_key = search_key(f"{member.first_name} {member.last_name or ''}")
    member.surname_key = (
        search_key(f"{member.last_name} {member.first_name}") if member.last_name else None
    )


# Joiners are format characters that real names need: Persian and Indic spellings (ZWNJ) and
# emoji sequences (ZWJ); every other control, format, private or unassigned character is refused.
_JOINERS = {"\u200c", "\u200d"}


def _has_control(value: str) -> bool:
    return any(
        unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn") and char not in _JOINERS
        for char in value
    )


# -- reads ---------------------------------------------------------------------------------------


async def find_member(session: AsyncSession, member_id: uuid.UUID) -> Member | None:
    return await session.get(Member, member_id)


async def find_members(
    session: AsyncSession, member_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Member]:
    """The members of these ids that exist, in one query."""
    if not member_ids:
        return {}
    rows = await session.scalars(select(Member).where(col(Member.id).in_(set(member_ids))))
    return {row.id: row for row in rows}


@dataclass(frozen=True, slots=True)
class MemberDates:
    joined_at: dt.datetime
    birth_date: dt.date | None
    active: bool


async def find_member_dates(
    session: AsyncSession, member_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, MemberDates]:
    """When these members joined and were born, and whether they are active, in one query
    without loading the rows (for jobs that visit many members)."""
    if not member_ids:
        return {}
    rows = await session.execute(
        select(col(Member.id), col(Member.created_at), col(Member.birth_date), col(Member.active))
        .where(col(Member.id).in_(set(member_ids)))
    )  # fmt: skip
    return {
        member_id: MemberDates(joined_at, birth_date, active)
        for member_id, joined_at, birth_date, active in rows.all()
    }


async def find_member_by_email(session: AsyncSession, email: str) -> Member | None:
    return await session.scalar(select(Member).where(col(Member.email) == normalize_email(email)))


async def get_member(session: AsyncSession, actor: Actor | None, member_id: uuid.UUID) -> Member:
    require_self(actor, member_id)
    member = await session.get(Member, member_id)
    if member is None:
        raise NotFound("No such member.", field="memberId")
    return member


async def find_by_referral_code(session: AsyncSession, code: str) -> Member | None:
    normalized = code.strip().upper()
    if not _REFERRAL_CODE.match(normalized):  # e.g. a NUL byte, which PostgreSQL refuses
        return None
    return await session.scalar(select(Member).where(col(Member.referral_code) == normalized))


# -- writes (building blocks: they take a session and never commit) ------------------------------


async def add_member(
    session: AsyncSession, new: NewMember, *, password_hash: str, now: dt.datetime
) -> Member:
    """Validate and insert a member. The caller hashed the password (outside the transaction)."""
    email = check_email(new.email)
    first_name = clean_name(new.first_name, field="firstName", required=True)
    last_name = clean_name(new.last_name, field="lastName", required=False)
    phone = clean_phone(new.phone)
    birth_date = check_birth_date(new.birth_date, today=now.date())
    locale = check_locale(new.locale) or "en"
    referrer: Member | None = None
    if new.referral_code is not None and new.referral_code.strip():
        referrer = await find_by_referral_code(session, new.referral_code)
        if referrer is None:
            raise InvalidInput("No member has this referral code.", field="referralCode")
        if referrer.email == email or (phone is not None and referrer.phone == phone):
            raise InvalidInput("You cannot refer yourself.", field="referralCode")
    if await find_member_by_email(session, email) is not None:
        raise EmailTaken(field="email")
    member = Member(
        email=email,
        password_hash=password_hash,
        first_name=first_name or "",
        last_name=last_name,
        phone=phone,
        birth_date=birth_date,
        birth_date_set_at=now if birth_date is not None else None,
        locale=locale,
        marketing_consent=new.marketing_consent,
        card_number=await _unused_card_number(session),
        referral_code=await _unused_referral_code(session),
        referred_by_id=referrer.id if referrer else None,
        created_at=now,
        updated_at=now,
    )
    set_search_keys(member)
    session.add(member)
    await session.flush()
    await outbox_service.record(
        session,
        type=EventType.MEMBER_REGISTERED,
        member_id=member.id,
        data={
            "email": member.email,
            "firstName": member.first_name,
            "lastName": member.last_name,
            "locale": member.locale,
            "marketingConsent": member.marketing_consent,
            "referredBy": str(member.referred_by_id) if member.referred_by_id else None,
        },
        at=now,
    )
    return member


async def update_profile(
    db: Database, actor: Actor, clock: Clock, changes: ProfileChanges
) -> Member:
    """The signed-in member changes its own profile."""
    if not isinstance(actor, MemberActor):
        raise Forbidden("Only the member changes its profile.")
    async with db.transaction() as session:
        return await _apply_profile(session, actor, actor.member_id, changes, now=clock.now())


async def _apply_profile(
    session: AsyncSession,
    actor: Actor,
    member_id: uuid.UUID,
    changes: ProfileChanges,
    *,
    now: dt.datetime,
) -> Member:
    member = await get_member(session, actor, member_id)
    shown_before = (member.first_name, member.last_name)
    if changes.first_name is not None:
        member.first_name = clean_name(changes.first_name, field="firstName", required=True) or ""
    if changes.last_name is not None or "lastName" in changes.clear:
        member.last_name = clean_name(changes.last_name, field="lastName", required=False)
    if changes.phone is not None or "phone" in changes.clear:
        member.phone = clean_phone(changes.phone)
    if changes.birth_date is not None or "birthDate" in changes.clear:
        birth_date = check_birth_date(changes.birth_date, today=now.date())
        if birth_date != member.birth_date:
            member.birth_date = birth_date
            member.birth_date_set_at = now if birth_date is not None else None
    if changes.locale is not None:
        member.locale = check_locale(changes.locale) or member.locale
    if changes.marketing_consent is not None:
        member.marketing_consent = changes.marketing_consent
    set_search_keys(member)
    member.updated_at = now
    session.add(member)
    await session.flush()
    if (member.first_name, member.last_name) != shown_before:  # the wallet pass shows the name
        await outbox_service.record(
            session, type=EventType.MEMBER_UPDATED, member_id=member.id,
            data={"changed": ["name"], "firstName": member.first_name,
                  "lastName": member.last_name},
            at=now,
        )  # fmt: skip
    return member


async def revoke_wallet_code(
    db: Database, actor: Actor, clock: Clock, *, member_id: uuid.UUID | None = None
) -> Member:
    """Invalidate every static code issued so far (a lost phone, a shared pass). A member
    revokes its own; an admin anyone's."""
    if member_id is None:
        if not isinstance(actor, MemberActor):
            raise InvalidInput("Name the member.", field="memberId")
        member_id = actor.member_id
    async with db.transaction() as session:
        member = await get_member(session, actor, member_id)
        now = clock.now()
        await session.execute(
            update(Member)
            .where(col(Member.id) == member.id)
            .values(static_code_version=col(Member.static_code_version) + 1, updated_at=now)
        )
        await session.refresh(member)
        # Wallet passes carry the static code: they are refreshed with the new one.
        await outbox_service.record(
            session, type=EventType.MEMBER_UPDATED, member_id=member.id,
            data={"changed": ["walletCode"]}, at=now,
        )  # fmt: skip
        return member


async def _unused_card_number(session: AsyncSession) -> str:
    while True:
        body = CARD_PREFIX + "".join(secrets.choice("0123456789") for _ in range(14))
        number = body + luhn.check_digit(body)
        if (
            await session.scalar(select(col(Member.id)).where(col(Member.card_number) == number))
            is None
        ):
            return number


async def _unused_referral_code(session: AsyncSession) -> str:
    while True:
        code = "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(8))
        if (
            await session.scalar(select(col(Member.id)).where(col(Member.referral_code) == code))
            is None
        ):
            return code


# -- member codes --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RotatingCode:
    payload: str
    expires_at: dt.datetime


def rotating_code_for(member: Member, secret: bytes, *, now: dt.datetime) -> RotatingCode:
    step = codes.step_at(now.timestamp())
    expires_at = dt.datetime.fromtimestamp((step + 1) * codes.STEP_SECONDS, dt.UTC)
    return RotatingCode(codes.rotating_code(secret, member.card_number, step), expires_at)


def static_code_for(member: Member, secret: bytes) -> str:
    return codes.static_code(secret, member.card_number, member.static_code_version)


async def resolve_code(
    session: AsyncSession, secret: bytes, raw: str, *, now: dt.datetime
) -> Member:
    """The member a scanned rotating code, wallet code or typed card number names.

    Refuses malformed (CODE_MALFORMED), forged (CODE_INVALID), expired (CODE_EXPIRED) and
    revoked (CODE_REVOKED) codes, and unknown or closed cards (CARD_NOT_FOUND).
    """
    return (await resolve_code_kind(session, secret, raw, now=now))[1]


_MEMBER_BY_CARD = select(Member).where(col(Member.card_number) == bindparam("card_number"))


async def resolve_code_kind(
    session: AsyncSession, secret: bytes, raw: str, *, now: dt.datetime
) -> tuple[str, Member]:
    """As resolve_code, with the kind of code scanned: rotating, static or typed."""
    scanned = parse_code(secret, raw, now=now)
    member = await session.scalar(_MEMBER_BY_CARD, {"card_number": scanned.card_number})
    return scanned.kind, check_scanned(scanned, member)


def parse_code(secret: bytes, raw: str, *, now: dt.datetime) -> codes.ScannedCode:
    """The card a code names, before any query: refuses malformed, forged and expired codes."""
    if len(raw) > 200:
        raise CodeMalformed(field="code")
    return codes.parse(secret, raw, unix_seconds=now.timestamp())


_AnyMember = TypeVar("_AnyMember", Member, MemberRow)


def check_scanned(scanned: codes.ScannedCode, member: _AnyMember | None) -> _AnyMember:
    """The member of a parsed code's card (None: no such card): refuses unknown and closed
    cards, and wallet codes whose version was revoked."""
    if member is None or not member.active:
        raise CardNotFound(field="code")
    if scanned.static_version is not None and scanned.static_version != member.static_code_version:
        raise CodeRevoked(field="code")
    return member
