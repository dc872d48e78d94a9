"""The machinery of live updates: an in-process fan-out, and a PostgreSQL LISTEN connection
that feeds it.

`Hub` hands each published item to the subscribers of its key (a member) without waiting.
Every subscriber has a bounded queue: a client that reads slower than updates arrive loses the
oldest ones, never memory. `Listener` holds one dedicated asyncpg connection that LISTENs on a
channel and passes every payload on; when the connection drops it reconnects, with backoff.
Nothing here knows what the items are: `app.live.service` does.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Hashable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, Generic, TypeVar

import asyncpg

log = logging.getLogger("app.live")

T = TypeVar("T")

QUEUE_SIZE = 16


class Subscription(Generic[T]):
    """One subscriber's bounded queue of items, oldest first."""

    def __init__(self, size: int) -> None:
        self._queue: asyncio.Queue[T] = asyncio.Queue(maxsize=size)
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Queue the item; when the queue is full, drop the oldest first. True if one was."""
        dropped = False
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
            dropped = True
        self._queue.put_nowait(item)
        return dropped

    async def get(self) -> T:
        return await self._queue.get()

    def __len__(self) -> int:
        return self._queue.qsize()

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def _items(self) -> AsyncIterator[T]:
        while True:
            yield await self._queue.get()


class Hub(Generic[T]):
    """The subscribers of this process, by key. Publish and subscribe on the event loop's
    thread (asyncio queues are not thread-safe)."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self._subscribers: dict[Hashable, set[Subscription[T]]] = {}
        self.published = 0
        self.dropped = 0

    @contextmanager
    def subscribe(self, key: Hashable) -> Iterator[Subscription[T]]:
        """A subscription to the key's items while the block runs."""
        subscription: Subscription[T] = Subscription(self.queue_size)
        self._subscribers.setdefault(key, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._subscribers.get(key)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[key]

    def publish(self, key: Hashable, item: T) -> int:
        """Hand the item to every subscriber of the key; returns how many there were."""
        subscribers = self._subscribers.get(key, ())
        for subscription in subscribers:
            if subscription.put(item):
                self.dropped += 1
        self.published += 1
        return len(subscribers)

    def subscriber_count(self, key: Hashable | None = None) -> int:
        if key is not None:
            return len(self._subscribers.get(key, ()))
        return sum(len(subscribers) for subscribers in self._subscribers.values())


class Listener:
    """LISTEN on `channel` over one dedicated asyncpg connection, calling `on_payload` with each
    notification's payload. Reconnects with exponential backoff (and jitter) when the
    connection fails or drops; a health query every `health_seconds` notices a silent drop."""

    def __init__(
        self,
        connect_kwargs: dict[str, Any],
        channel: str,
        on_payload: Callable[[str], None],
        *,
        min_backoff: float = 0.5,
        max_backoff: float = 30.0,
        health_seconds: float = 30.0,
    ) -> None:
        self.connect_kwargs = connect_kwargs
        self.channel = channel
        self.on_payload = on_payload
        self.min_backoff = min_backoff
        self.max_backoff = max_backoff
        self.health_seconds = health_seconds
        self.connected = asyncio.Event()
        self.connections = 0  # how many times it has connected
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"listen {self.channel}")

    async def stop(self) -> None:
        task = self.cancel()
        if task is not None:
            with suppress(asyncio.CancelledError):
                await task

    def cancel(self) -> asyncio.Task[None] | None:
        """Stop listening now, without waiting for the connection to close: `connected` is
        clear at once, and a `start()` from here on starts listening again."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
        self.connected.clear()
        return task

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            self.on_payload(payload)
        except Exception:  # one bad payload must not end the listening
            log.exception("live: could not handle a notification on %s", self.channel)

    async def _run(self) -> None:
        backoff = self.min_backoff
        while True:
            before = self.connections
            try:
                await self._listen_once()
            except Exception as error:
                log.warning("live: LISTEN %s failed: %s", self.channel, error)
            if self.connections > before:  # it was up for a while: the next try starts afresh
                backoff = self.min_backoff
            delay = random.uniform(backoff / 2, backoff)  # noqa: S311 (jitter, not a secret)
            backoff = min(backoff * 2, self.max_backoff)
            await asyncio.sleep(delay)

    async def _listen_once(self) -> None:
        """Connect, LISTEN, and return when the connection is lost."""
        conn = await asyncpg.connect(**self.connect_kwargs, timeout=10)
        lost = asyncio.Event()
        try:
            conn.add_termination_listener(lambda _conn: lost.set())
            await conn.add_listener(self.channel, self._notified)
            self.connections += 1
            self.connected.set()
            log.info("live: listening on %s", self.channel)
            while not lost.is_set():
                try:
                    await asyncio.wait_for(lost.wait(), timeout=self.health_seconds)
                except TimeoutError:
                    await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=10)
            log.warning("live: the LISTEN connection for %s was closed", self.channel)
        finally:
            if self._task is asyncio.current_task():  # (not cancelled and started again)
                self.connected.clear()
            if not conn.is_closed():
                conn.terminate()
