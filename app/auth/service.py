"""Sessions: sign-in with throttling, rotating refresh tokens, sign-out, and bearer tokens to actors."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth import tokens
from app.auth.actors import Actor, MemberActor, StaffActor, require_admin
from app.auth.models import AuthSession, LoginFailure, RefreshToken
from app.auth.passwords import PasswordHasher, check_strength
from app.clock import Clock
from app.db import Database, core
from app.errors import (
    AccountDisabled,
    EmailTaken,
    InvalidCredentials,
    InvalidInput,
    RateLimited,
    RefreshTokenExpired,
    RefreshTokenInvalid,
    RefreshTokenReused,
    SessionRevoked,
)
from app.ledger import service as ledger_service
from app.members import service as members_service
from app.members.models import Member
from app.program import service as program_service
from app.settings import Settings
from app.staff import service as staff_service
from app.staff.models import Staff, StaffStore
from app.stats import service as stats_service


@dataclass(frozen=True, slots=True)
class AuthTokens:
    access_token: str
    access_token_expires_at: dt.datetime
    refresh_token: str
    subject_kind: str
    subject_id: uuid.UUID


async def start_session(
    session: AsyncSession,
    settings: Settings,
    *,
    subject_kind: str,
    subject_id: uuid.UUID,
    now: dt.datetime,
) -> AuthTokens:
    """Building block: a new session family with its first refresh token. Never commits."""
    auth_session = AuthSession(subject_kind=subject_kind, subject_id=subject_id, created_at=now)
    session.add(auth_session)
    return await _issue(session, settings, auth_session, now)


async def _issue(
    session: AsyncSession, settings: Settings, auth_session: AuthSession, now: dt.datetime
) -> AuthTokens:
    refresh = tokens.new_refresh_token()
    session.add(
        RefreshToken(
            session_id=auth_session.id,
            token_hash=tokens.hash_refresh_token(refresh),
            created_at=now,
            expires_at=now + dt.timedelta(days=settings.refresh_token_ttl_days),
        )
    )
    access, expires_at = tokens.issue_access_token(
        settings,
        subject_kind=auth_session.subject_kind,
        subject_id=auth_session.subject_id,
        session_id=auth_session.id,
        now=now,
    )
    return AuthTokens(
        access, expires_at, refresh, auth_session.subject_kind, auth_session.subject_id
    )


async def register_member(
    db: Database,
    settings: Settings,
    clock: Clock,
    hasher: PasswordHasher,
    new: members_service.NewMember,
) -> tuple[AuthTokens, Member]:
    """Sign a new member up: the member, an empty account in the lowest tier, and a session."""
    members_service.check_email(new.email)
    check_strength(new.password)
    password_hash = await hasher.hash(new.password)  # before the transaction: it is slow
    now = clock.now()
    try:
        async with db.transaction() as session:
            rules = await program_service.current_rules(session)
            member = await members_service.add_member(
                session, new, password_hash=password_hash, now=now
            )
            account = await ledger_service.open_account(
                session,
                member.id,
                tier_code=rules.lowest_tier.code,
                tier_year_days=rules.tier_window_days,
                now=now,
            )
            account.referral_pending = member.referred_by_id is not None
            await stats_service.record_movement(
                session, at=now, store_id=None, account=account, joined=1
            )
            result = await start_session(
                session, settings, subject_kind="member", subject_id=member.id, now=now
            )
    except IntegrityError:
        # Two sign-ups with one e-mail at the same moment: the unique index decided.
        raise EmailTaken(field="email") from None
    return result, member


async def create_staff(
    db: Database,
    actor: Actor | None,
    clock: Clock,
    hasher: PasswordHasher,
    new: staff_service.NewStaff,
    *,
    password: str,
) -> Staff:
    """An admin creates a staff account bound to stores (`loyalty create-admin` uses it too)."""
    require_admin(actor)
    members_service.check_email(new.email)
    check_strength(password)
    password_hash = await hasher.hash(password)
    try:
        async with db.transaction() as session:
            return await staff_service.add_staff(
                session, actor, new, password_hash=password_hash, now=clock.now()
            )
    except IntegrityError:
        raise EmailTaken(
            "A staff account with this e-mail exists already.", field="email"
        ) from None


async def login(
    db: Database,
    settings: Settings,
    clock: Clock,
    hasher: PasswordHasher,
    *,
    kind: str,
    email: str,
    password: str,
    client_address: str | None,
) -> AuthTokens:
    """Sign a member (`kind="member"`) or a staff member (`kind="staff"`) in.

    After `login_max_failures` failures in `login_window_seconds`, for the account or for the
    client address, every attempt answers RATE_LIMITED until the window has passed.
    """
    now = clock.now()
    try:
        normalized: str | None = members_service.check_email(email)
    except InvalidInput:
        # No account has it, and it may not fit a failure's key or hold a NUL PostgreSQL refuses.
        normalized = None
    keys = [f"account:{kind}:{normalized}"] if normalized else []
    if client_address:
        keys.append(f"address:{client_address}")
    since = now - dt.timedelta(seconds=settings.login_window_seconds)
    async with db.read() as session:
        for key in keys:
            failures = await session.scalar(
                select(func.count())
                .select_from(LoginFailure)
                .where(col(LoginFailure.key) == key, col(LoginFailure.created_at) > since)
            )
            if (failures or 0) >= settings.login_max_failures:
                raise RateLimited()
        subject: tuple[uuid.UUID, str, bool] | None = None
        if normalized is None:
            pass
        elif kind == "member":
            member = await members_service.find_member_by_email(session, normalized)
            subject = (member.id, member.password_hash, member.active) if member else None
        else:
            staff = await staff_service.find_staff_by_email(session, normalized)
            subject = (staff.id, staff.password_hash, staff.active) if staff else None

    # Verified outside any transaction: argon2 takes tens of milliseconds on purpose.
    ok = await hasher.verify(password, subject[1] if subject else None)
    async with db.transaction() as session:
        if not ok or subject is None:
            for key in keys:
                session.add(LoginFailure(key=key, created_at=now))
                await session.execute(
                    delete(LoginFailure).where(
                        col(LoginFailure.key) == key, col(LoginFailure.created_at) <= since
                    )
                )
            failed = True
        else:
            failed = False
            await session.execute(delete(LoginFailure).where(col(LoginFailure.key) == keys[0]))
            if not subject[2]:
                raise AccountDisabled()
            result = await start_session(
                session, settings, subject_kind=kind, subject_id=subject[0], now=now
            )
    if failed:
        # Raised after the block, so that the failure is committed, not rolled back.
        raise InvalidCredentials()
    return result


async def refresh_session(
    db: Database, settings: Settings, clock: Clock, *, refresh_token: str
) -> AuthTokens:
    """Spend a refresh token for a new pair. A spent token presented again closes the family."""
    now = clock.now()
    token_hash = tokens.hash_refresh_token(refresh_token)
    reused = False
    async with db.transaction() as session:
        row = (
            await session.execute(
                select(RefreshToken, AuthSession)
                .join(AuthSession, col(AuthSession.id) == col(RefreshToken.session_id))
                .where(col(RefreshToken.token_hash) == token_hash)
                .with_for_update()
            )
        ).one_or_none()
        if row is None:
            raise RefreshTokenInvalid()
        token, auth_session = row
        if auth_session.revoked_at is not None:
            raise SessionRevoked()
        if token.spent_at is not None:
            await _revoke(session, auth_session.id, now, "refresh_token_reused")
            reused = True
        elif token.expires_at <= now:
            raise RefreshTokenExpired()
        else:
            spent = await session.scalar(
                update(RefreshToken)
                .where(col(RefreshToken.id) == token.id, col(RefreshToken.spent_at).is_(None))
                .values(spent_at=now)
                .returning(col(RefreshToken.id))
            )
            if (
                spent is None
            ):  # spent meanwhile by a concurrent refresh (the row lock makes it rare)
                raise RefreshTokenInvalid()
            await _check_subject_active(session, auth_session)
            result = await _issue(session, settings, auth_session, now)
    if reused:
        raise RefreshTokenReused()
    return result


async def logout(db: Database, clock: Clock, *, refresh_token: str) -> None:
    """Close the session family the refresh token belongs to. Unknown tokens are a no-op."""
    token_hash = tokens.hash_refresh_token(refresh_token)
    async with db.transaction() as session:
        session_id = await session.scalar(
            select(col(RefreshToken.session_id)).where(col(RefreshToken.token_hash) == token_hash)
        )
        if session_id is not None:
            await _revoke(session, session_id, clock.now(), "logout")


async def _revoke(
    session: AsyncSession, session_id: uuid.UUID, now: dt.datetime, reason: str
) -> None:
    await session.execute(
        update(AuthSession)
        .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


async def _check_subject_active(session: AsyncSession, auth_session: AuthSession) -> None:
    if auth_session.subject_kind == "member":
        member = await members_service.find_member(session, auth_session.subject_id)
        active = member is not None and member.active
    else:
        staff = await staff_service.find_staff(session, auth_session.subject_id)
        active = staff is not None and staff.active
    if not active:
        raise AccountDisabled()


@dataclass(frozen=True, slots=True)
class _Cached:
    checked_until: float  # time.monotonic(): the staff member is read again after this
    expires_at: dt.datetime  # the token's own expiry
    actor: Actor


class ActorCache:
    """Bearer token -> actor, per process: a till sends the same token with every request, and a
    staff actor costs the JWT's check and a query (the staff member and their stores). The
    token's signature is checked once; its expiry against the clock on every hit; a staff
    member is read again after `ttl_seconds`, so a disabled account or a change of stores takes
    effect within it."""

    def __init__(self, ttl_seconds: float = 5.0, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[str, _Cached] = {}

    def get(self, token: str, *, now: dt.datetime) -> _Cached | None:
        """The token's entry, fresh or not; None when unknown or expired."""
        entry = self._entries.get(token)
        if entry is not None and entry.expires_at <= now:
            del self._entries[token]
            return None
        return entry

    def put(self, token: str, actor: Actor, *, expires_at: dt.datetime) -> None:
        if self.ttl_seconds <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # cheaper than LRU bookkeeping; refills within a request each
        self._entries[token] = _Cached(time.monotonic() + self.ttl_seconds, expires_at, actor)

    def clear(self) -> None:
        self._entries.clear()

    def clear_token(self, token: str) -> None:
        self._entries.pop(token, None)


_STAFF = Staff.__table__  # type: ignore[attr-defined]
_STAFF_STORES = StaffStore.__table__  # type: ignore[attr-defined]
_STAFF_AND_STORES = (  # built once: a staff actor in one statement (a row per store, or one)
    select(_STAFF.c.role, _STAFF.c.active, _STAFF_STORES.c.store_id)
    .select_from(_STAFF.outerjoin(_STAFF_STORES, _STAFF_STORES.c.staff_id == _STAFF.c.id))
    .where(_STAFF.c.id == bindparam("staff_id"))
)


async def actor_for_token(
    db: Database,
    settings: Settings,
    clock: Clock,
    bearer: str,
    *,
    cache: ActorCache | None = None,
) -> Actor:
    """The actor a bearer access token speaks for; raises tokens.TokenInvalid."""
    now = clock.now()
    cached = cache.get(bearer, now=now) if cache is not None else None
    if cached is not None and (
        time.monotonic() < cached.checked_until or isinstance(cached.actor, MemberActor)
    ):
        return cached.actor
    if cached is not None:  # a staff member to read again; the token was checked
        staff_id, expires_at = cached.actor.staff_id, cached.expires_at  # type: ignore[union-attr]
    else:
        claims = tokens.decode_access_token(settings, bearer, now=now)
        if claims.subject_kind == "member":
            actor: Actor = MemberActor(claims.subject_id)
            if cache is not None:
                cache.put(bearer, actor, expires_at=claims.expires_at)
            return actor
        staff_id, expires_at = claims.subject_id, claims.expires_at
    async with db.read() as session:
        rows = await (await core(session)).all(_STAFF_AND_STORES, {"staff_id": staff_id})
    if not rows or not rows[0].active:
        if cache is not None:
            cache.clear_token(bearer)
        raise tokens.TokenInvalid("staff account gone or disabled")
    stores = frozenset(row.store_id for row in rows if row.store_id is not None)
    actor = StaffActor(staff_id, rows[0].role, stores)
    if cache is not None:
        cache.put(bearer, actor, expires_at=expires_at)
    return actor
