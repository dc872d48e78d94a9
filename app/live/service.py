"""Live balance updates: announced in the transaction that changes a member's balance or tier,
delivered to the member's open subscriptions in every server process once it commits.

PostgreSQL: `announce_balance` runs `SELECT pg_notify('balance_changed', <json>)` in the
writer's transaction, so the notification leaves on commit and never for a rollback. A server
process LISTENs on one dedicated connection (`listening`, set up for the app's lifetime) while
it has subscribers, and fans out to them; a change made through any process, the CLI or the
worker reaches them all. The connection opens with the process's first subscription (which
waits for it, so that no later change is missed) and closes `IDLE_SECONDS` after the last one
ends: every notification wakes every listening connection, in PostgreSQL and in its process
(some 60 microseconds of CPU each: bench/README.md, runs 27 - 30), and a process that serves
only tills has no one to hand them to.
SQLite: no NOTIFY, and one server process: the update is published in-process once the
transaction has committed (`app.db.after_commit`); nothing runs before.

Each update is the member's whole balance (available, pending, tier) with the reason for the
change, so a subscriber that dropped older updates still shows the latest state.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, after_commit, core
from app.ledger.models import Account
from app.live import broker

CHANNEL = "balance_changed"
LISTENER_NAME = "loyalty live listener"  # its application_name in pg_stat_activity
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', :payload)")


class Reason(StrEnum):
    """Why a balance changed. Stable: clients switch on these."""

    PURCHASE = "PURCHASE"  # points earned (and any paid with) at the till
    REFUND = "REFUND"  # a refund took earned points back or gave redeemed ones back
    REDEMPTION = "REDEMPTION"  # points spent outside a purchase: a reward, a donation
    ADJUSTMENT = "ADJUSTMENT"  # an operator's correction
    EXPIRY = "EXPIRY"  # points past their date expired
    RELEASE = "RELEASE"  # pending points became available
    TIER = "TIER"  # the tier changed with no points moving (the tier year's review)
    BONUS = "BONUS"  # points given outside a purchase: a referral, an offer, a birthday


@dataclass(frozen=True, slots=True)
class BalanceUpdate:
    member_id: uuid.UUID
    available: int
    pending: int
    tier_code: str
    reason: Reason

    def to_json(self) -> str:
        return json.dumps(
            {
                "member": str(self.member_id),
                "available": self.available,
                "pending": self.pending,
                "tier": self.tier_code,
                "reason": self.reason.value,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, payload: str) -> BalanceUpdate:
        data = json.loads(payload)
        return cls(
            member_id=uuid.UUID(data["member"]),
            available=int(data["available"]),
            pending=int(data["pending"]),
            tier_code=str(data["tier"]),
            reason=Reason(data["reason"]),
        )


BALANCES: broker.Hub[BalanceUpdate] = broker.Hub()


def publish(update: BalanceUpdate) -> int:
    """Hand the update to this process's subscribers of the member (how many there were)."""
    return BALANCES.publish(update.member_id, update)


def _receive(payload: str) -> None:
    publish(BalanceUpdate.from_json(payload))


async def announce_balance(session: AsyncSession, account: Account, reason: Reason) -> None:
    """Building block: the member's balance and tier as they stand in this transaction reach
    the member's subscriptions when it commits. Call it once, after the last change. One
    statement on PostgreSQL; none on SQLite."""
    update = BalanceUpdate(
        member_id=account.member_id,
        available=account.available,
        pending=account.pending,
        tier_code=account.tier_code,
        reason=reason,
    )
    if session.get_bind().dialect.name == "postgresql":
        await (await core(session)).execute(_NOTIFY, {"payload": update.to_json()})
    else:
        after_commit(session, partial(publish, update))


@asynccontextmanager
async def subscribe(member_id: uuid.UUID) -> AsyncIterator[broker.Subscription[BalanceUpdate]]:
    """The member's balance updates while the block runs: every change committed after the
    block has begun (on PostgreSQL, it begins once this process LISTENs: `CONNECT_WAIT_SECONDS`
    at most, after which the listener's updates arrive as soon as it connects)."""
    try:
        with BALANCES.subscribe(member_id) as updates:
            await _wake_listeners()
            yield updates
    finally:
        _rest_listeners_when_idle()


# -- the PostgreSQL listener: one per process and database, while the process has subscribers -----

IDLE_SECONDS = 60.0  # how long a listener stays connected after the last subscription ends
CONNECT_WAIT_SECONDS = 5.0  # how long a new subscription waits for its process's LISTEN


@dataclass
class _Listening:
    listener: broker.Listener
    users: int = 0
    rest: asyncio.TimerHandle | None = None  # the listener's stop, once idle


_listeners: dict[str, _Listening] = {}


async def _wake_listeners() -> None:
    """Start this process's listeners (a subscription has begun) and wait until they LISTEN."""
    for entry in _listeners.values():
        if entry.rest is not None:
            entry.rest.cancel()
            entry.rest = None
        entry.listener.start()
    for entry in list(_listeners.values()):
        with suppress(TimeoutError):  # the database is away: the listener keeps trying
            await asyncio.wait_for(entry.listener.connected.wait(), CONNECT_WAIT_SECONDS)


def _rest_listeners_when_idle() -> None:
    """With no subscription left in the process, stop its listeners `IDLE_SECONDS` from now
    (unless a subscription begins before)."""
    if BALANCES.subscriber_count():
        return
    loop = asyncio.get_running_loop()
    for entry in _listeners.values():
        if entry.rest is None:
            entry.rest = loop.call_later(IDLE_SECONDS, _rest, entry)


def _rest(entry: _Listening) -> None:
    """Stop listening, at once: a subscription that begins right after starts it again."""
    entry.rest = None
    if not BALANCES.subscriber_count():
        entry.listener.cancel()  # (its task closes the connection as it ends)


def connect_kwargs(url: URL) -> dict[str, Any]:
    """asyncpg.connect() arguments for the database of a SQLAlchemy URL."""
    kwargs: dict[str, Any] = url.translate_connect_args(username="user")
    kwargs["server_settings"] = {"application_name": LISTENER_NAME}
    ssl = url.query.get("ssl") or url.query.get("sslmode")
    if ssl:
        kwargs["ssl"] = ssl if isinstance(ssl, str) else ssl[0]
    return kwargs


@asynccontextmanager
async def listening(db: Database) -> AsyncIterator[broker.Listener | None]:
    """While the block runs (the app's lifespan), updates NOTIFYed by any process reach this
    process's subscribers. On PostgreSQL one LISTEN connection per process and database, shared
    by the apps running in the process, connected while the process has subscribers (see the
    module's text); nothing to do on SQLite."""
    if db.is_sqlite:
        yield None
        return
    kwargs = connect_kwargs(db.engine.url)
    key = json.dumps(kwargs, sort_keys=True, default=str)
    entry = _listeners.get(key)
    if entry is None:
        entry = _listeners[key] = _Listening(broker.Listener(kwargs, CHANNEL, _receive))
        if BALANCES.subscriber_count():
            entry.listener.start()
    entry.users += 1
    try:
        yield entry.listener
    finally:
        entry.users -= 1
        if entry.users == 0:
            del _listeners[key]
            if entry.rest is not None:
                entry.rest.cancel()
            await entry.listener.stop()


@dataclass(frozen=True, slots=True)
class Stats:
    subscribers: int
    published: int
    dropped: int
    listeners: int
    listeners_connected: int


def stats() -> Stats:
    """This process's numbers, for /metrics."""
    listeners = [entry.listener for entry in _listeners.values()]
    return Stats(
        subscribers=BALANCES.subscriber_count(),
        published=BALANCES.published,
        dropped=BALANCES.dropped,
        listeners=len(listeners),
        listeners_connected=sum(listener.connected.is_set() for listener in listeners),
    )
