"""One refresh token spent by many tasks at once: one wins, the family ends revoked."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import select

from app.auth import service as auth_service
from app.auth.models import AuthSession, RefreshToken
from app.errors import DomainError
from tests.concurrency.conftest import assert_ran_concurrently
from tests.support import create_member


async def spend(db, settings, clock, token: str):
    try:
        return await auth_service.refresh_session(db, settings, clock, refresh_token=token)
    except DomainError as error:
        return error


async def test_one_token_spent_by_ten_tasks_succeeds_once(db, settings, clock, connections):
    # given
    tokens, member = await create_member(db, settings, clock)
    connections.peak = 0

    # when
    results = await asyncio.gather(
        *(spend(db, settings, clock, tokens.refresh_token) for _ in range(10))
    )

    # then
    won = [r for r in results if isinstance(r, auth_service.AuthTokens)]
    lost = Counter((r.code, r.field) for r in results if isinstance(r, DomainError))
    assert len(won) == 1
    assert won[0].subject_id == member.id
    assert lost == {("REFRESH_TOKEN_REUSED", None): 1, ("SESSION_REVOKED", None): 8}
    async with db.read() as session:
        family = (await session.scalars(select(AuthSession))).one()
        rows = (await session.scalars(select(RefreshToken))).all()
    assert (family.revoked_at, family.revoked_reason) == (clock.now(), "refresh_token_reused")
    assert len(rows) == 2
    assert sorted(row.spent_at is None for row in rows) == [False, True]
    assert_ran_concurrently(db, connections)
    # the winner's new token belongs to the revoked family
    late = await spend(db, settings, clock, won[0].refresh_token)
    assert isinstance(late, DomainError)
    assert late.code == "SESSION_REVOKED"
