"""The actor of a bearer token, cached per process: the token's signature checked once, its
expiry on every request, a staff member read again after the cache's TTL."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import update

from app.auth import service as auth_service
from app.auth.actors import MemberActor, StaffActor
from app.auth.tokens import TokenInvalid
from app.db import watching_statements
from app.staff.models import Staff, StaffStore
from tests.support import create_member, create_staff, create_store, login


async def cashier_token(db, settings, clock) -> tuple[str, str]:
    store = await create_store(db, clock)
    await create_staff(db, settings, clock, email="cy@example.com", store_ids=[str(store.id)])
    return await login(db, settings, clock, kind="staff", email="cy@example.com"), str(store.id)


async def actor(db, settings, clock, token, cache) -> object:
    return await auth_service.actor_for_token(db, settings, clock, token, cache=cache)


async def test_a_cached_staff_actor_costs_no_statement_within_the_ttl(db, settings, clock):
    # given
    token, store_id = await cashier_token(db, settings, clock)
    cache = auth_service.ActorCache(ttl_seconds=60)
    first = await actor(db, settings, clock, token, cache)
    sent: list[str] = []

    # when
    with watching_statements(db.engine, sent.append):
        again = await actor(db, settings, clock, token, cache)

    # then
    assert isinstance(first, StaffActor)
    assert again == first
    assert {str(s) for s in first.store_ids} == {store_id}
    assert sent == []


async def test_after_the_ttl_a_disabled_staff_member_is_refused_and_stores_change(
    db, settings, clock
):
    # given: two tokens of one cashier, one of them then the other cached for a moment
    token, store_id = await cashier_token(db, settings, clock)
    other = await create_store(db, clock, code="EAST", name="East st.")
    cache = auth_service.ActorCache(ttl_seconds=0.05)
    await actor(db, settings, clock, token, cache)
    async with db.engine.begin() as conn:
        await conn.execute(update(StaffStore.__table__).values(store_id=other.id))  # type: ignore[attr-defined]

    # when: within the TTL, then after it
    within = await actor(db, settings, clock, token, cache)
    await asyncio.sleep(0.06)
    after = await actor(db, settings, clock, token, cache)
    async with db.engine.begin() as conn:
        await conn.execute(update(Staff.__table__).values(active=False))  # type: ignore[attr-defined]
    await asyncio.sleep(0.06)

    # then
    assert {str(s) for s in within.store_ids} == {store_id}
    assert after.store_ids == frozenset({other.id})
    with pytest.raises(TokenInvalid):
        await actor(db, settings, clock, token, cache)
    with pytest.raises(TokenInvalid):  # and it stays refused (not cached as it was)
        await actor(db, settings, clock, token, cache)


async def test_an_expired_token_is_refused_though_cached(db, settings, clock):
    # given
    token, _ = await cashier_token(db, settings, clock)
    member_tokens, _ = await create_member(db, settings, clock)
    cache = auth_service.ActorCache(ttl_seconds=3600)
    assert isinstance(await actor(db, settings, clock, token, cache), StaffActor)
    member = await actor(db, settings, clock, member_tokens.access_token, cache)
    assert isinstance(member, MemberActor)

    # when
    clock.advance(seconds=settings.access_token_ttl_seconds + 1)

    # then
    for bearer in (token, member_tokens.access_token):
        with pytest.raises(TokenInvalid):
            await actor(db, settings, clock, bearer, cache)


async def test_a_forged_token_is_refused_and_not_cached(db, settings, clock):
    # given
    token, _ = await cashier_token(db, settings, clock)
    head, body, signature = token.split(".")
    forged = f"{head}.{body}.{signature[::-1]}"
    cache = auth_service.ActorCache(ttl_seconds=3600)

    # when / then
    for _ in range(2):
        with pytest.raises(TokenInvalid):
            await actor(db, settings, clock, forged, cache)
    assert cache.get(forged, now=clock.now() + dt.timedelta(seconds=1)) is None
