"""The outbox worker: fans new events out to their targets and delivers them, at least once.

One round of work:
1. fan-out: a batch of events not yet fanned out (oldest first) gets one delivery row per target
   of every channel, and is marked, in one transaction; each channel answers for the whole batch
   (`targets_of`), so a batch costs a fixed number of queries, not a few per event;
2. claim: due deliveries are leased to this worker in a short transaction (PostgreSQL: `FOR UPDATE
   SKIP LOCKED`, so several workers share the rows; SQLite: one writer, so one worker) that moves
   `next_attempt_at` to the end of the lease and bumps `attempts`. Nothing is held open while the
   network is called, and a worker killed mid-delivery gives its rows back when the lease ends;
3. deliver: each claimed delivery is attempted by its channel, concurrently: at most
   `outbox_concurrency` attempts in flight per worker, each in a slot whose HTTP client keeps its
   connections alive (one client per `SLOTS_PER_CLIENT` slots);
4. settle: outcomes are written back in one transaction per batch of outcomes, one UPDATE per
   kind of outcome (DELIVERED; a retry later with backoff; DEAD after the last attempt; GONE when
   the target no longer exists), each only for the rows whose lease the claim still holds.

`run` repeats this until stopped, woken by PostgreSQL `NOTIFY outbox` (a trigger on the events
table), by a finished delivery while more are due, or every `outbox_poll_seconds`. On PostgreSQL a
round fans out only when NOTIFY announced events (or the last batch was full, or a poll interval
passed), so the rounds that only refill the delivery slots cost no fan-out transaction. `run_once` does all the work that is due now and returns:
the tests and `loyalty outbox deliver --once` use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from sqlalchemy import Select, insert, select, update
from sqlmodel import col

from app.clock import Clock
from app.db import Database
from app.kit.ids import new_id
from app.outbox import rules
from app.outbox.channels import Channel, Event, Outcome, Target, registered
from app.outbox.models import DeliveryStatus, OutboxDelivery, OutboxEvent
from app.settings import Settings

log = logging.getLogger("app.outbox")

NOTIFY_CHANNEL = "outbox"
# The claim and settle UPDATEs go through Core: the ORM's bulk UPDATE path (session
# synchronisation, evaluation) is work per statement that the worker does not need.
DELIVERIES = OutboxDelivery.__table__  # type: ignore[attr-defined]
# Delivery slots per HTTP client. Connections are reused (keep-alive), but httpcore's pool looks
# at every connection it holds, twice per request (and counts the idle ones for each idle one):
# one client for 20 slots spent a third of the delivery time there. A client per 5 slots keeps
# that small, and a slot's client always has a connection free for it.
SLOTS_PER_CLIENT = 5
SelectT = TypeVar("SelectT", bound=Select)  # type: ignore[type-arg]


@dataclass(frozen=True, slots=True)
class Claimed:
    delivery_id: uuid.UUID
    lease_id: uuid.UUID
    channel: str
    target_id: str
    attempts: int  # including this one
    event: Event
    target: Target | None  # None: the target is gone


@dataclass
class Stats:
    """What this worker did, for logs and the metrics."""

    fanned_out: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    gone: int = 0

    def count(self, status: str) -> None:
        if status == DeliveryStatus.DELIVERED:
            self.delivered += 1
        elif status == DeliveryStatus.DEAD:
            self.dead += 1
        elif status == DeliveryStatus.GONE:
            self.gone += 1
        else:
            self.retried += 1


def _event(row: OutboxEvent) -> Event:
    return Event(
        id=row.id,
        type=row.type,
        occurred_at=row.occurred_at,
        member_id=row.member_id,
        data=row.data,
    )


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Clock,
        *,
        channels: Sequence[Channel] | None = None,
        http: httpx.AsyncClient | None = None,
        rng: random.Random | None = None,
        name: str | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.channels = {channel.name: channel for channel in (channels or registered())}
        self._http = http  # given (tests): every slot uses it, and the worker does not close it
        self._clients: dict[int, httpx.AsyncClient] = {}
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.name = name or f"worker-{uuid.uuid4().hex[:8]}"
        self.stats = Stats()
        self._wake = asyncio.Event()
        self._events_waiting = True  # NOTIFY said so, or not known: look at the next round
        self._last_fan_out = 0.0
        self._listener: Any = None
        self._listen_retry_at = 0.0

    # -- the HTTP clients: kept-alive connections shared by the deliveries of this worker -------

    def client_for(self, slot: int) -> httpx.AsyncClient:
        """The HTTP client of delivery slot `slot` (0 .. outbox_concurrency - 1): one client per
        `SLOTS_PER_CLIENT` slots, made on first use and kept until the worker stops."""
        if self._http is not None:
            return self._http
        index = (slot % self.settings.outbox_concurrency) // SLOTS_PER_CLIENT
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = httpx.AsyncClient(
                timeout=httpx.Timeout(self.settings.webhook_timeout_seconds),
                limits=httpx.Limits(
                    max_connections=SLOTS_PER_CLIENT * 2,
                    max_keepalive_connections=SLOTS_PER_CLIENT,
                ),
                follow_redirects=False,
            )
        return client

    @property
    def http(self) -> httpx.AsyncClient:
        return self.client_for(0)

    async def aclose(self) -> None:
        """Close the HTTP clients (the worker's own), the channels' connections (those with
        `aclose()`, e.g. APNs over HTTP/2) and the LISTEN connection."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
        for channel in self.channels.values():
            close = getattr(channel, "aclose", None)
            if close is None:
                continue
            try:
                await close()
            except Exception:  # closing one channel must not keep the others open
                log.exception("closing a channel failed", extra={"channel": channel.name})
        await self._unlisten()

    # -- 1. fan-out ------------------------------------------------------------------------

    def _locking(self, query: SelectT) -> SelectT:
        return query if self.db.is_sqlite else query.with_for_update(skip_locked=True)

    async def fan_out(self) -> int:
        """Fan out one batch of new events; returns how many."""
        limit = self.settings.outbox_batch_size
        pending = (
            select(OutboxEvent)
            .where(col(OutboxEvent.fanned_out).is_(False))
            .order_by(col(OutboxEvent.occurred_at), col(OutboxEvent.id))
            .limit(limit)
        )
        if self.db.is_sqlite:
            # Look before taking SQLite's write lock: an idle worker must not queue the tills.
            async with self.db.read() as session:
                if (await session.scalar(pending.with_only_columns(col(OutboxEvent.id)))) is None:
                    return 0
        async with self.db.transaction() as session:
            events = list((await session.scalars(self._locking(pending))).all())
            if not events:
                return 0
            now = self.clock.now()
            batch = [_event(row) for row in events]
            rows: list[dict[str, Any]] = []
            for channel in self.channels.values():
                targets = await channel.targets_of(session, batch)
                for event in batch:
                    for target in targets.get(event.id, ()):
                        rows.append(
                            {
                                "id": new_id(),
                                "event_id": event.id,
                                "member_id": event.member_id,
                                "channel": channel.name,
                                "target_id": target.id,
                                "status": DeliveryStatus.PENDING,
                                "attempts": 0,
                                "next_attempt_at": now,
                                "created_at": now,
                                "updated_at": now,
                            }
                        )
            if rows:
                await session.execute(insert(OutboxDelivery), rows)
            await session.execute(
                update(OutboxEvent)
                .where(col(OutboxEvent.id).in_([row.id for row in events]))
                .values(fanned_out=True)
            )
        self.stats.fanned_out += len(events)
        log.debug("fanned out", extra={"events": len(events), "deliveries": len(rows)})
        return len(events)

    # -- 2. claim --------------------------------------------------------------------------

    async def claim(self, limit: int) -> list[Claimed]:
        """Lease up to `limit` due deliveries to this worker."""
        if limit <= 0:
            return []
        now = self.clock.now()
        due = (
            select(
                col(OutboxDelivery.id),
                col(OutboxDelivery.event_id),
                col(OutboxDelivery.channel),
                col(OutboxDelivery.target_id),
                col(OutboxDelivery.attempts),
            )
            .where(
                col(OutboxDelivery.status) == DeliveryStatus.PENDING,
                col(OutboxDelivery.next_attempt_at) <= now,
            )
            .order_by(col(OutboxDelivery.next_attempt_at))
            .limit(limit)
        )
        if self.db.is_sqlite:
            async with self.db.read() as session:
                if (await session.scalar(due.with_only_columns(col(OutboxDelivery.id)))) is None:
                    return []
        lease_id = new_id()
        lease_end = now + dt.timedelta(seconds=self.settings.outbox_lease_seconds)
        max_attempts = self.settings.outbox_max_attempts
        async with self.db.transaction() as session:
            rows = list((await session.execute(self._locking(due))).all())
            if not rows:
                return []
            # A row due again after its last attempt's lease ran out: the worker was lost
            # during that attempt. It has had all its tries.
            spent = [row for row in rows if row.attempts >= max_attempts]
            rows = [row for row in rows if row.attempts < max_attempts]
            if spent:
                await session.execute(
                    update(DELIVERIES)
                    .where(DELIVERIES.c.id.in_([row.id for row in spent]))
                    .values(
                        status=DeliveryStatus.DEAD,
                        lease_id=None,
                        last_error="the worker was lost during the last attempt",
                        updated_at=now,
                    )
                )
                self.stats.dead += len(spent)
            if not rows:
                return []
            await session.execute(
                update(DELIVERIES)
                .where(DELIVERIES.c.id.in_([row.id for row in rows]))
                .values(
                    lease_id=lease_id,
                    next_attempt_at=lease_end,
                    attempts=DELIVERIES.c.attempts + 1,
                    updated_at=now,
                )
            )
            event_rows = await session.scalars(
                select(OutboxEvent).where(col(OutboxEvent.id).in_({row.event_id for row in rows}))
            )
            events = {row.id: _event(row) for row in event_rows}
            targets: dict[str, dict[str, Target]] = {}
            for name in {row.channel for row in rows}:
                channel = self.channels.get(name)
                ids = sorted({row.target_id for row in rows if row.channel == name})
                targets[name] = await channel.load(session, ids) if channel else {}
        return [
            Claimed(
                delivery_id=row.id,
                lease_id=lease_id,
                channel=row.channel,
                target_id=row.target_id,
                attempts=row.attempts + 1,
                event=events[row.event_id],
                target=targets[row.channel].get(row.target_id),
            )
            for row in rows
        ]

    # -- 3. deliver ------------------------------------------------------------------------

    async def attempt(self, claimed: Claimed, slot: int = 0) -> Outcome:
        """One attempt, in delivery slot `slot` (its HTTP client); never raises (an exception of
        the channel is a retry)."""
        channel = self.channels.get(claimed.channel)
        if channel is None:
            return Outcome.dead(f"no channel {claimed.channel!r} in this worker")
        if claimed.target is None:
            return Outcome.gone("the target no longer exists")
        try:
            return await channel.deliver(
                claimed.target, claimed.event, self.settings, self.client_for(slot)
            )
        except Exception as exc:  # a channel's bug or an unforeseen network error: try again
            log.exception(
                "delivery raised",
                extra={"delivery_id": str(claimed.delivery_id), "channel": claimed.channel},
            )
            return Outcome.retry(f"{type(exc).__name__}: {exc}"[:300])

    # -- 4. settle -------------------------------------------------------------------------

    async def settle(self, results: Sequence[tuple[Claimed, Outcome]]) -> None:
        """Write the outcomes back, in one transaction: one UPDATE per claim and outcome (all the
        deliveries of a claim that succeeded are one statement). A claim whose lease was taken
        over (it ran out and another worker claimed the row) writes nothing."""
        if not results:
            return
        now = self.clock.now()
        groups: dict[tuple[uuid.UUID, tuple[tuple[str, Any], ...]], list[Claimed]] = defaultdict(
            list
        )
        outcomes: dict[uuid.UUID, tuple[Outcome, str]] = {}
        async with self.db.transaction() as session:
            for claimed, outcome in results:
                values = self._values_for(claimed, outcome, now)
                if outcome.kind == "GONE":
                    channel = self.channels.get(claimed.channel)
                    if channel is not None and claimed.target is not None:
                        await channel.remove(session, claimed.target_id)
                outcomes[claimed.delivery_id] = (
                    outcome,
                    values.get("status", DeliveryStatus.PENDING),
                )
                groups[(claimed.lease_id, tuple(sorted(values.items())))].append(claimed)
            written: set[uuid.UUID] = set()
            for (lease_id, changes), group in groups.items():
                written.update(
                    await session.scalars(
                        update(DELIVERIES)
                        .where(
                            DELIVERIES.c.lease_id == lease_id,
                            DELIVERIES.c.id.in_([c.delivery_id for c in group]),
                        )
                        .values(dict(changes))
                        .returning(DELIVERIES.c.id)
                    )
                )
        for claimed, _ in results:
            if claimed.delivery_id not in written:
                log.warning(
                    "lease lost before the outcome was written",
                    extra={"delivery_id": str(claimed.delivery_id)},
                )
                continue
            outcome, status = outcomes[claimed.delivery_id]
            self.stats.count(status)
            self._log_outcome(claimed, outcome, status)

    def _values_for(self, claimed: Claimed, outcome: Outcome, now: dt.datetime) -> dict[str, Any]:
        """What the delivery row becomes after this attempt."""
        values: dict[str, Any] = {"lease_id": None, "updated_at": now}
        if outcome.kind == "DELIVERED":
            values.update(status=DeliveryStatus.DELIVERED, delivered_at=now, last_error=None)
        elif outcome.kind == "GONE":
            values.update(status=DeliveryStatus.GONE, last_error=outcome.reason[:500])
        elif outcome.kind == "DEAD" or claimed.attempts >= self.settings.outbox_max_attempts:
            values.update(status=DeliveryStatus.DEAD, last_error=outcome.reason[:500])
        else:
            delay = rules.backoff_seconds(
                claimed.attempts,
                base=self.settings.outbox_backoff_base_seconds,
                cap=self.settings.outbox_backoff_max_seconds,
                rng=self.rng,
                retry_after=outcome.retry_after,
            )
            values.update(
                next_attempt_at=now + dt.timedelta(seconds=delay),
                last_error=outcome.reason[:500],
            )
        return values

    def _log_outcome(self, claimed: Claimed, outcome: Outcome, status: str) -> None:
        extra = {
            "worker": self.name,
            "delivery_id": str(claimed.delivery_id),
            "event_id": str(claimed.event.id),
            "event_type": claimed.event.type,
            "channel": claimed.channel,
            "target_id": claimed.target_id,
            "attempt": claimed.attempts,
            "status": status,
            "reason": outcome.reason,
        }
        if status == DeliveryStatus.DELIVERED:
            log.debug("delivered", extra=extra)
        elif status == DeliveryStatus.DEAD:
            log.warning("delivery dead", extra=extra)
        else:
            log.info("delivery not done", extra=extra)

    # -- rounds ----------------------------------------------------------------------------

    async def run_once(self) -> Stats:
        """Fan out every new event, then deliver everything due now, until nothing is left."""
        while await self.fan_out():
            pass
        while claimed := await self.claim(self.settings.outbox_concurrency):
            outcomes = await asyncio.gather(
                *(self.attempt(c, slot) for slot, c in enumerate(claimed))
            )
            await self.settle(list(zip(claimed, outcomes, strict=True)))
        return self.stats

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until `stop` is set; then finish the deliveries in flight and return."""
        concurrency = self.settings.outbox_concurrency
        in_flight: set[asyncio.Task[None]] = set()
        free_slots = list(range(concurrency))  # a slot goes back before its task leaves in_flight
        done: asyncio.Queue[tuple[Claimed, Outcome]] = asyncio.Queue()
        settler = asyncio.create_task(self._settle_loop(done))
        await self._listen()
        log.info("outbox worker started", extra={"worker": self.name})

        async def deliver(claimed: Claimed, slot: int) -> None:
            try:
                outcome = await self.attempt(claimed, slot)
            finally:
                free_slots.append(slot)
            await done.put((claimed, outcome))

        try:
            while not stop.is_set():
                self._wake.clear()
                busy = False
                try:
                    await self._listen()
                    if self._look_for_events():
                        fanned = await self.fan_out()
                        busy = fanned > 0
                        if fanned >= self.settings.outbox_batch_size:
                            self._events_waiting = True
                    free = min(concurrency - len(in_flight), len(free_slots))
                    if free > 0:
                        claimed = await self.claim(free)
                        busy = busy or len(claimed) == free
                        for item in claimed:
                            task = asyncio.create_task(deliver(item, free_slots.pop()))
                            in_flight.add(task)
                            task.add_done_callback(self._on_task_done(in_flight, busy))
                except Exception:  # the database went away: log, wait, try again
                    log.exception("outbox round failed", extra={"worker": self.name})
                    self._events_waiting = True
                    busy = False
                if busy and len(in_flight) < concurrency:
                    continue
                await self._sleep(stop)
        finally:
            if in_flight:
                await asyncio.wait(in_flight, timeout=self.settings.webhook_timeout_seconds + 5)
            await done.join()
            settler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await settler
            await self.aclose()
            log.info(
                "outbox worker stopped",
                extra={
                    "worker": self.name,
                    "delivered": self.stats.delivered,
                    "retried": self.stats.retried,
                    "dead": self.stats.dead,
                },
            )

    def _look_for_events(self) -> bool:
        """Whether this round fans out. On PostgreSQL with LISTEN working, only when NOTIFY
        announced events (or the last batch was full), and at least every poll interval in case
        a notification was missed: a round woken by a finished delivery does not pay for an
        empty fan-out transaction. Without LISTEN (SQLite), every round looks (on SQLite a
        read, no lock)."""
        now = time.monotonic()
        listening = self._listener is not None and not self._listener.is_closed()
        if (
            listening
            and not self._events_waiting
            and now - self._last_fan_out < self.settings.outbox_poll_seconds
        ):
            return False
        self._events_waiting = False
        self._last_fan_out = now
        return True

    def _on_task_done(self, in_flight: set[asyncio.Task[None]], backlog: bool) -> Any:
        def callback(task: asyncio.Task[None]) -> None:
            in_flight.discard(task)
            if backlog:  # more may be due: claim again at once
                self._wake.set()

        return callback

    async def _settle_loop(self, done: asyncio.Queue[tuple[Claimed, Outcome]]) -> None:
        while True:
            batch = [await done.get()]
            while not done.empty() and len(batch) < self.settings.outbox_batch_size:
                batch.append(done.get_nowait())
            try:
                await self.settle(batch)
            except Exception:  # not written: the lease runs out and the deliveries come again
                log.exception("settling outcomes failed", extra={"worker": self.name})
            finally:
                for _ in batch:
                    done.task_done()

    async def _sleep(self, stop: asyncio.Event) -> None:
        waits = [asyncio.create_task(stop.wait()), asyncio.create_task(self._wake.wait())]
        try:
            await asyncio.wait(
                waits, timeout=self.settings.outbox_poll_seconds, return_when="FIRST_COMPLETED"
            )
        finally:
            for task in waits:
                task.cancel()

    # -- PostgreSQL LISTEN -----------------------------------------------------------------

    async def _listen(self) -> None:
        """Be woken by `NOTIFY outbox` (PostgreSQL). Without it the worker still polls."""
        if self.db.is_sqlite:
            return
        if self._listener is not None and not self._listener.is_closed():
            return
        if time.monotonic() < self._listen_retry_at:
            return
        import asyncpg

        self._listener = None
        url = self.db.engine.url.set(drivername="postgresql")
        try:
            conn = await asyncpg.connect(url.render_as_string(hide_password=False))
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._notified())
        except (OSError, asyncpg.PostgresError) as exc:
            self._listen_retry_at = time.monotonic() + 30
            log.warning("LISTEN unavailable; polling", extra={"error": str(exc)})
            return
        self._listener = conn
        self._events_waiting = True  # what was notified while not listening

    def _notified(self) -> None:
        self._events_waiting = True
        self._wake.set()

    async def _unlisten(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                await self._listener.close()
            self._listener = None
