"""auth_service.refresh_session and logout: rotation, reuse detection, expiry, hashed storage."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import select, text, update

from app.auth import service as auth_service
from app.auth.actors import MemberActor
from app.auth.models import AuthSession, RefreshToken
from app.errors import DomainError
from app.members.models import Member
from tests.conftest import START
from tests.service.helpers import actor_for
from tests.support import PASSWORD, create_member


async def refresh(db, settings, clock, token: str) -> auth_service.AuthTokens:
    return await auth_service.refresh_session(db, settings, clock, refresh_token=token)


async def refresh_error(db, settings, clock, token: str) -> tuple[str, str | None]:
    with pytest.raises(DomainError) as raised:
        await refresh(db, settings, clock, token)
    return raised.value.code, raised.value.field


async def the_session(db) -> AuthSession:
    async with db.read() as session:
        return (await session.scalars(select(AuthSession))).one()


async def test_rotates_the_refresh_token(db, settings, clock):
    # given
    first, member = await create_member(db, settings, clock)
    clock.advance(minutes=5)

    # when
    second = await refresh(db, settings, clock, first.refresh_token)

    # then
    assert second.refresh_token != first.refresh_token
    assert second.access_token != first.access_token
    assert (second.subject_kind, second.subject_id) == ("member", member.id)
    assert second.access_token_expires_at == START + dt.timedelta(minutes=5, seconds=900)
    async with db.read() as session:
        rows = (await session.scalars(select(RefreshToken).order_by(RefreshToken.created_at))).all()
    assert [(row.created_at, row.spent_at, row.expires_at) for row in rows] == [
        (START, START + dt.timedelta(minutes=5), START + dt.timedelta(days=30)),
        (
            START + dt.timedelta(minutes=5),
            None,
            START + dt.timedelta(days=30, minutes=5),
        ),
    ]
    assert len({row.session_id for row in rows}) == 1


async def test_the_new_token_refreshes_again(db, settings, clock):
    # given
    first, member = await create_member(db, settings, clock)
    second = await refresh(db, settings, clock, first.refresh_token)

    # when
    third = await refresh(db, settings, clock, second.refresh_token)

    # then
    assert third.subject_id == member.id
    assert len({first.refresh_token, second.refresh_token, third.refresh_token}) == 3


async def test_reusing_a_spent_token_revokes_the_family(db, settings, clock):
    # given
    first, _ = await create_member(db, settings, clock)
    second = await refresh(db, settings, clock, first.refresh_token)
    clock.advance(minutes=1)

    # when
    error = await refresh_error(db, settings, clock, first.refresh_token)

    # then
    assert error == ("REFRESH_TOKEN_REUSED", None)
    revoked = await the_session(db)
    assert (revoked.revoked_at, revoked.revoked_reason) == (
        START + dt.timedelta(minutes=1),
        "refresh_token_reused",
    )
    assert await refresh_error(db, settings, clock, second.refresh_token) == (
        "SESSION_REVOKED",
        None,
    )
    assert await refresh_error(db, settings, clock, first.refresh_token) == (
        "SESSION_REVOKED",
        None,
    )


async def test_reuse_leaves_other_sessions_open(db, settings, clock, hasher):
    # given
    first, member = await create_member(db, settings, clock)
    other = await auth_service.login(
        db,
        settings,
        clock,
        hasher,
        kind="member",
        email="ann@example.com",
        password=PASSWORD,
        client_address=None,
    )
    await refresh(db, settings, clock, first.refresh_token)
    await refresh_error(db, settings, clock, first.refresh_token)

    # when
    refreshed = await refresh(db, settings, clock, other.refresh_token)

    # then
    assert refreshed.subject_id == member.id


async def test_expired_token_is_refused(db, settings, clock):
    # given
    first, _ = await create_member(db, settings, clock)
    clock.advance(days=31)

    # when
    error = await refresh_error(db, settings, clock, first.refresh_token)

    # then
    assert error == ("REFRESH_TOKEN_EXPIRED", None)


async def test_token_expires_after_exactly_thirty_days(db, settings, clock):
    # given
    first, _ = await create_member(db, settings, clock)
    clock.advance(days=30, seconds=-1)
    second = await refresh(db, settings, clock, first.refresh_token)
    clock.advance(days=30)

    # when
    error = await refresh_error(db, settings, clock, second.refresh_token)

    # then
    assert error == ("REFRESH_TOKEN_EXPIRED", None)


@pytest.mark.parametrize("token", ["rt_unknown", "", "garbage\x00", "rt_" + "é" * 300])
async def test_unknown_token_is_invalid(db, settings, clock, token):
    # given
    await create_member(db, settings, clock)

    # when
    error = await refresh_error(db, settings, clock, token)

    # then
    assert error == ("REFRESH_TOKEN_INVALID", None)


async def test_disabled_member_cannot_refresh(db, settings, clock):
    # given
    first, member = await create_member(db, settings, clock)
    async with db.transaction() as session:
        await session.execute(update(Member).where(Member.id == member.id).values(active=False))

    # when
    error = await refresh_error(db, settings, clock, first.refresh_token)

    # then
    assert error == ("ACCOUNT_DISABLED", None)
    async with db.read() as session:
        token = (await session.scalars(select(RefreshToken))).one()
    assert token.spent_at is None


async def test_logout_revokes_the_session(db, settings, clock):
    # given
    first, _ = await create_member(db, settings, clock)
    second = await refresh(db, settings, clock, first.refresh_token)
    clock.advance(minutes=2)

    # when
    await auth_service.logout(db, clock, refresh_token=second.refresh_token)

    # then
    revoked = await the_session(db)
    assert (revoked.revoked_at, revoked.revoked_reason) == (
        START + dt.timedelta(minutes=2),
        "logout",
    )
    assert await refresh_error(db, settings, clock, second.refresh_token) == (
        "SESSION_REVOKED",
        None,
    )


async def test_logout_with_an_unknown_token_changes_nothing(db, settings, clock):
    # given
    first, member = await create_member(db, settings, clock)

    # when
    await auth_service.logout(db, clock, refresh_token="rt_unknown")

    # then
    assert (await the_session(db)).revoked_at is None
    assert (await refresh(db, settings, clock, first.refresh_token)).subject_id == member.id


async def test_tokens_are_stored_only_hashed(db, settings, clock):
    # given
    first, _ = await create_member(db, settings, clock)

    # when
    second = await refresh(db, settings, clock, first.refresh_token)

    # then
    async with db.read() as session:
        rows = (await session.execute(text("SELECT * FROM refresh_tokens"))).all()
        sessions = (await session.execute(text("SELECT * FROM auth_sessions"))).all()
    stored = " ".join(str(value) for row in [*rows, *sessions] for value in row)
    for raw in (first.refresh_token, second.refresh_token):
        assert raw not in stored
        assert raw.removeprefix("rt_") not in stored
    assert sorted(row.token_hash for row in rows) == sorted(
        hashlib.sha256(raw.encode()).hexdigest()
        for raw in (first.refresh_token, second.refresh_token)
    )


async def test_the_new_access_token_speaks_for_the_member(db, settings, clock):
    # given
    first, member = await create_member(db, settings, clock)

    # when
    second = await refresh(db, settings, clock, first.refresh_token)

    # then
    actor = await actor_for(db, settings, clock, second)
    assert actor == MemberActor(member.id)
