"""How a movement reaches the day's totals: in a transaction, as its last statement (every till
adds to the same rows, so their lock is held for that statement and the commit only), one
upsert for all the transaction's movements; outside one, at once."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from app.db import watching_statements
from app.stats import service as stats_service
from app.stats.models import ALL_STORES, DailyTotal
from tests.service.ledger.scenario import buy, join, open_till

AT = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


def writes(db, seen: list[str]):
    """Watch the statements that write (not BEGIN, not reads)."""

    def watch(sql: str) -> None:
        words = sql.split()
        if words[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            seen.append(" ".join(words[:3]))

    return watching_statements(db.engine, watch)


async def rows(db) -> dict[uuid.UUID, tuple[int, int]]:
    """Issued and redeemed by store (the program's row under ALL_STORES)."""
    async with db.read() as session:
        found = await session.execute(
            select(DailyTotal.store_id, DailyTotal.issued, DailyTotal.redeemed)
        )
        return {store: (issued, redeemed) for store, issued, redeemed in found.all()}


async def test_a_purchases_totals_are_its_last_write(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    ann = await join(db, settings, clock)
    seen: list[str] = []

    # when
    with writes(db, seen):
        await buy(db, clock, till, ann, "A-1", 2500)

    # then: after the account, the events, the idempotency record
    assert seen[-1] == "INSERT INTO daily_totals"
    assert seen.count("INSERT INTO daily_totals") == 1
    assert "INSERT INTO idempotency_records" in seen


async def test_a_transactions_movements_are_one_upsert_written_when_it_ends(db):
    # given
    store, other = uuid.uuid4(), uuid.uuid4()
    seen: list[str] = []

    # when: two movements at one store, and one at another, in one transaction
    with writes(db, seen):
        async with db.transaction() as session:
            await stats_service.record_movement(session, at=AT, store_id=store, issued=10)
            await stats_service.record_movement(session, at=AT, store_id=store, redeemed=4)
            await stats_service.record_movement(session, at=AT, store_id=other, issued=1)
            assert seen == []  # nothing yet

    # then: one statement; the rows added up, one per key (the program's has all three)
    assert seen == ["INSERT INTO daily_totals"]
    assert await rows(db) == {ALL_STORES: (11, 4), store: (10, 4), other: (1, 0)}


async def test_a_transaction_that_fails_adds_nothing(db):
    # when
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await stats_service.record_movement(session, at=AT, store_id=uuid.uuid4(), issued=7)
            raise RuntimeError("the till went away")

    # then
    assert await rows(db) == {}


async def test_outside_a_transaction_a_movement_is_written_at_once(db):
    # given
    seen: list[str] = []

    # when: a session of its own (the tests' and scripts' kind), not Database.transaction()
    with writes(db, seen):
        async with db.read() as session:
            await stats_service.record_movement(session, at=AT, store_id=uuid.uuid4(), issued=3)

            # then
            assert seen == ["INSERT INTO daily_totals"]
            assert len((await session.execute(select(DailyTotal.store_id))).all()) == 2
