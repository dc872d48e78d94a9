"""app.db.core: Core statements built once, on the session's connection. On PostgreSQL, inside a
transaction, they go to the driver directly, with the values SQLAlchemy would send."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import bindparam, case, event, insert, select, text
from sqlalchemy.exc import IntegrityError

from app.db import Core, core, watching_statements
from app.outbox.models import OutboxEvent

_INSERT = insert(OutboxEvent.__table__)  # type: ignore[attr-defined]
AT = dt.datetime(2026, 6, 1, 14, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def event_row(**values):
    return {
        "id": uuid.uuid4(), "type": "points.earned", "occurred_at": AT, "member_id": None,
        "data": {"points": 5, "store": "Main st. é", "none": None}, "fanned_out": False,
    } | values  # fmt: skip


def statements_seen(db) -> list[str]:
    """The statements SQLAlchemy's execution path sends from now on (its cursor event)."""
    seen: list[str] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _seen(_conn, _cursor, sql, *_args):  # type: ignore[no-untyped-def]
        seen.append(" ".join(sql.split()[:3]))

    return seen


async def test_watching_statements_sees_both_paths(db):
    # given
    watched: list[str] = []

    # when
    with watching_statements(db.engine, lambda sql: watched.append(" ".join(sql.split()[:3]))):
        async with db.transaction() as session:
            await session.execute(text("SELECT 1"))
            await (await core(session)).execute(_INSERT, event_row())

    # then: (SQLite's transaction begins with a statement of its own)
    assert [sql for sql in watched if not sql.startswith("BEGIN")] == [
        "SELECT 1",
        "INSERT INTO outbox_events",
    ]


async def test_rows_read_back_as_written_and_on_postgresql_skip_sqlalchemys_path(db):
    # given
    rows = [event_row(), event_row(), event_row(type="points.redeemed")]
    seen = statements_seen(db)

    # when: a read begins the transaction, then one row, then two in one statement
    async with db.transaction() as session:
        await session.execute(text("SELECT 1"))
        connection = await core(session)
        await connection.execute(_INSERT, rows[0])
        await connection.execute(_INSERT, rows[1:])

    # then
    async with db.read() as session:
        stored = (await session.scalars(select(OutboxEvent))).all()
    assert sorted((e.id, e.type, e.occurred_at, e.member_id, e.data) for e in stored) == sorted(
        (r["id"], r["type"], AT, None, r["data"]) for r in rows
    )
    assert all(e.occurred_at.tzinfo == dt.UTC for e in stored)
    inserts = [sql for sql in seen if sql.startswith("INSERT")]
    assert inserts == ([] if not db.is_sqlite else ["INSERT INTO outbox_events"] * 2)


async def test_a_unique_key_broken_is_sqlalchemys_integrity_error_and_writes_nothing(db):
    # given
    row = event_row()

    # when
    with pytest.raises(IntegrityError) as raised:
        async with db.transaction() as session:
            await session.execute(text("SELECT 1"))
            connection = await core(session)
            await connection.execute(_INSERT, row)
            await connection.execute(_INSERT, event_row(id=row["id"]))

    # then
    assert "outbox_events" in str(raised.value.orig)  # its key, in either database's words
    async with db.read() as session:
        assert (await session.scalars(select(OutboxEvent))).all() == []


async def test_the_first_statement_of_a_transaction_begins_it(db):
    # given
    seen = statements_seen(db)

    # when: a write is the transaction's first statement, and it rolls back
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await (await core(session)).execute(_INSERT, event_row())
            raise RuntimeError("changed my mind")

    # then: the write was inside the transaction (begun as SQLAlchemy begins it), so it is gone
    inserts = [sql for sql in seen if sql.startswith("INSERT")]
    assert inserts == ([] if not db.is_sqlite else ["INSERT INTO outbox_events"])
    async with db.read() as session:
        assert (await session.scalars(select(OutboxEvent))).all() == []


async def test_a_query_reads_as_sqlalchemy_reads_and_on_postgresql_skips_its_path(db):
    # given: rows with times, JSON and a NULL; a query with constants of its own (LIMIT, CASE)
    rows = [event_row(), event_row(type="points.redeemed", data=["é", 1, None])]
    async with db.transaction() as session:
        await (await core(session)).execute(_INSERT, rows)
    table = OutboxEvent.__table__  # type: ignore[attr-defined]
    query = (
        select(
            table.c.id,
            table.c.type,
            table.c.occurred_at,
            table.c.member_id,
            table.c.data,
            table.c.id.label("again"),
        )
        .order_by(case((table.c.id == bindparam("first"), 0), else_=1))
        .limit(5)
    )
    parameters = {"first": rows[1]["id"]}
    seen = statements_seen(db)

    # when: the query is the transaction's first statement
    async with db.transaction() as session:
        read = await (await core(session)).all(query, parameters)
    async with db.read() as session:
        expected = (await session.execute(query, parameters)).all()

    # then: the same rows, values, types and names; only SQLite went through SQLAlchemy twice
    assert [tuple(row) for row in read] == [tuple(row) for row in expected]
    assert [[type(v) for v in row] for row in read] == [[type(v) for v in row] for row in expected]
    assert read[0].id == read[0].again == rows[1]["id"]
    assert read[0].data == ["é", 1, None] and read[0].type == "points.redeemed"
    assert read[1].member_id is None
    assert read[0].occurred_at == AT and read[0].occurred_at.tzinfo == dt.UTC
    assert len([sql for sql in seen if sql.startswith("SELECT")]) == (2 if db.is_sqlite else 1)


async def test_in_autocommit_a_write_goes_straight_to_the_driver_too(db):
    # given
    seen = statements_seen(db)
    row = event_row()

    # when
    async with db.autocommit() as session:
        await (await core(session)).execute(_INSERT, row)

    # then: committed at once (SQLite has no autocommit here: its transaction)
    inserts = [sql for sql in seen if sql.startswith("INSERT")]
    assert inserts == ([] if not db.is_sqlite else ["INSERT INTO outbox_events"])
    async with db.read() as session:
        assert [e.id for e in (await session.scalars(select(OutboxEvent))).all()] == [row["id"]]


async def test_the_connection_is_kept_for_the_transaction_and_no_longer(db):
    # given: a read session, which may run several transactions one after the other
    async with db.read() as session:
        first = await core(session)
        await first.execute(_INSERT, event_row())

        # when
        again = await core(session)
        await session.rollback()
        after = await core(session)
        seen = await after.all(select(OutboxEvent.__table__.c.id), {})  # type: ignore[attr-defined]

    # then: the same within the transaction, a new one after it (the insert was rolled back)
    assert again is first
    assert after is not first
    assert seen == []


async def test_on_a_connection_sqlalchemy_has_not_begun_its_path_begins_and_commits(db):
    # given
    row = event_row()

    # when: a plain connection, its first statement through Core, then its commit
    async with db.engine.connect() as conn:
        await Core(conn).execute(_INSERT, row)
        await conn.commit()

    # then
    async with db.read() as session:
        assert [e.id for e in (await session.scalars(select(OutboxEvent))).all()] == [row["id"]]
