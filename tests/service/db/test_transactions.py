"""Database.transaction() and autocommit(): what a block wrote is committed when it ends and
rolled back when it raises (or is cancelled), the after-commit callbacks run only after a
commit, and the connection goes back to the pool in every case, reset."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError

from app.db import after_commit, core
from app.outbox.models import OutboxEvent

_INSERT = insert(OutboxEvent.__table__)  # type: ignore[attr-defined]
AT = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def row(**values) -> dict[str, object]:
    return {
        "id": uuid.uuid4(), "type": "points.earned", "occurred_at": AT, "member_id": None,
        "data": {}, "fanned_out": False,
    } | values  # fmt: skip


def new_event(**values) -> OutboxEvent:
    return OutboxEvent(**row(**values))


async def stored_ids(db) -> set[uuid.UUID]:
    async with db.read() as session:
        return set((await session.scalars(select(OutboxEvent.id))).all())


def checked_out(db) -> int:
    return db.engine.pool.checkedout()


async def test_a_block_that_ends_commits_orm_and_core_writes_then_calls_back(db):
    # given
    by_orm, by_core = new_event(), row()
    called: list[str] = []

    # when
    async with db.transaction() as session:
        session.add(by_orm)
        await (await core(session)).execute(_INSERT, by_core)
        after_commit(session, lambda: called.append("committed"))
        assert called == []

    # then
    assert await stored_ids(db) == {by_orm.id, by_core["id"]}
    assert called == ["committed"]
    assert checked_out(db) == 0


async def test_a_block_that_raises_writes_nothing_and_does_not_call_back(db):
    # given
    called: list[str] = []

    # when
    with pytest.raises(RuntimeError, match="changed my mind"):
        async with db.transaction() as session:
            session.add(new_event())
            await (await core(session)).execute(_INSERT, row())
            after_commit(session, lambda: called.append("committed"))
            raise RuntimeError("changed my mind")

    # then
    assert await stored_ids(db) == set()
    assert called == []
    assert checked_out(db) == 0


async def test_a_failure_at_the_end_rolls_back_everything(db):
    # given: an event already stored
    first = new_event()
    async with db.transaction() as session:
        session.add(first)
    called: list[str] = []

    # when: the block's last flush breaks the key (after a Core write that went through)
    with pytest.raises(IntegrityError):
        async with db.transaction() as session:
            await (await core(session)).execute(_INSERT, row())
            session.add(new_event(id=first.id))
            after_commit(session, lambda: called.append("committed"))

    # then
    assert await stored_ids(db) == {first.id}
    assert called == []
    assert checked_out(db) == 0


async def test_a_cancelled_block_rolls_back_and_returns_its_connection(db):
    # given
    inside = asyncio.Event()

    async def till() -> None:
        async with db.transaction() as session:
            await (await core(session)).execute(_INSERT, row())
            inside.set()
            await asyncio.sleep(60)

    # when
    task = asyncio.create_task(till())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # then
    assert await stored_ids(db) == set()
    assert checked_out(db) == 0


async def test_after_autocommit_the_connection_is_transactional_again(db):
    # given: a write in autocommit (committed by itself)
    kept = row()
    async with db.autocommit() as session:
        await (await core(session)).execute(_INSERT, kept)
    assert checked_out(db) == 0

    # when: the next transaction (on a connection of the same pool) writes, then raises
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await session.execute(text("SELECT 1"))
            await (await core(session)).execute(_INSERT, row())
            raise RuntimeError("rolled back")

    # then: the pool gave the connection back in transactions, so only the first write stays
    assert await stored_ids(db) == {kept["id"]}
    assert checked_out(db) == 0
