"""Idempotent writes: the same key and input return the stored result; other input is refused.

Used inside a use case's transaction after the member's account is locked, so that concurrent
replays of one key are serialised by the lock: the first writes, the others read its result.
A staff member's key can come with any member (two tills of one cashier, one key, two
members' baskets): those transactions lock different accounts, so the key itself is locked
first (`hold_key`, or `key_lock` in the statement that locks the account), and the second
finds the first's record and is refused. A member's own key only ever names that member.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import BigInteger, bindparam, case, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import core
from app.errors import IdempotencyKeyReused, InvalidInput
from app.idempotency.models import IdempotencyRecord
from app.kit.ids import new_id

MAX_KEY_LENGTH = 200


def check_key(key: str) -> str:
    cleaned = key.strip()
    if not cleaned or len(cleaned) > MAX_KEY_LENGTH or not cleaned.isprintable():
        raise InvalidInput(
            f"An idempotency key is 1 to {MAX_KEY_LENGTH} printable characters.",
            field="idempotencyKey",
        )
    return cleaned


def request_hash(operation: str, payload: dict[str, Any]) -> str:
    canonical = json.dumps([operation, payload], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_lock(scope: str, key: str) -> int:
    """The number of a key's PostgreSQL advisory lock: 64 bits of a hash of scope and key."""
    digest = hashlib.blake2b(f"{scope}\n{key}".encode(), digest_size=8, person=b"idem-key")
    return int.from_bytes(digest.digest(), "big", signed=True)


def lock_key_column() -> Any:
    """A column that takes the key's lock (bound as `key_lock`) for a statement that also locks
    the member's account: PostgreSQL computes it before it locks the row (`hold_key`)."""
    return func.pg_advisory_xact_lock(bindparam("key_lock", type_=BigInteger)).label("held_key")


_HOLD_KEY = select(lock_key_column())


async def hold_key(session: AsyncSession, *, scope: str, key: str) -> None:
    """Lock the key for this transaction, before the member's account (always in this order,
    so two transactions never wait on each other): another transaction with the same key, for
    whichever member, waits here until this one ends, then finds its record. PostgreSQL only:
    SQLite has one writer at a time."""
    connection = await core(session)
    if connection.postgres:
        await connection.execute(_HOLD_KEY, {"key_lock": key_lock(scope, key)})


# Built once: the till asks on every write. Columns, not objects: a record is never changed.
_RECORDS = IdempotencyRecord.__table__  # type: ignore[attr-defined]
_RECORDS_OF_KEY = (  # the member's own record first, and whether another member's exists
    select(_RECORDS.c.member_id, _RECORDS.c.operation, _RECORDS.c.request_hash, _RECORDS.c.result)
    .where(_RECORDS.c.scope == bindparam("scope"), _RECORDS.c.key == bindparam("key"))
    .order_by(case((_RECORDS.c.member_id == bindparam("member_id"), 0), else_=1))
    .limit(2)
)


async def replay(
    session: AsyncSession,
    *,
    member_id: uuid.UUID,
    scope: str,
    key: str,
    operation: str,
    digest: str,
) -> dict[str, Any] | None:
    """The stored result for this key, None when the key is new; IDEMPOTENCY_KEY_REUSED when
    the key was used with other input (or for another operation)."""
    # One query on (scope, key): the key is scoped to the till's staff member, and a key already
    # used for another member is a reuse too (the unique key includes the member, so that the
    # data can be distributed by member).
    records = await (await core(session)).all(
        _RECORDS_OF_KEY, {"scope": scope, "key": key, "member_id": member_id}
    )
    record = next((r for r in records if r.member_id == member_id), None)
    if record is None:
        if records:
            raise IdempotencyKeyReused(field="idempotencyKey")
        return None
    if record.operation != operation or record.request_hash != digest:
        raise IdempotencyKeyReused(field="idempotencyKey")
    return record.result


async def remember(
    session: AsyncSession,
    *,
    member_id: uuid.UUID,
    scope: str,
    key: str,
    operation: str,
    digest: str,
    result: dict[str, Any],
    now: dt.datetime,
) -> None:
    row = {
        "id": new_id(), "member_id": member_id, "scope": scope, "key": key,
        "operation": operation, "request_hash": digest, "result": result, "created_at": now,
    }  # fmt: skip
    await (await core(session)).execute(_INSERT_RECORD, row)


_INSERT_RECORD = insert(IdempotencyRecord.__table__)  # type: ignore[attr-defined]  # built once
