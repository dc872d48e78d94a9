"""`loyalty worker` processes delivering to a webhook receiver on 127.0.0.1.

- Several workers on PostgreSQL share the deliveries (`FOR UPDATE SKIP LOCKED`): each event
  reaches the receiver exactly once when nothing fails.
- A worker killed with SIGKILL while the receiver holds its request loses nothing: once the
  lease has run out the delivery is made again, with the same `webhook-id` (both databases).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from app.clock import SystemClock
from app.db import Database
from app.outbox.models import DeliveryStatus
from app.outbox.worker import OutboxWorker
from app.settings import Settings
from app.webhooks import service as webhooks_service
from app.webhooks.channel import WebhookChannel
from tests.fakes.webhook_receiver import WebhookReceiver, verify
from tests.service.outbox.fakes import deliveries, record_events
from tests.support import SYSTEM, FakeClock

LOYALTY = Path(sys.executable).parent / "loyalty"
WAIT = 60.0  # seconds: only a guard against a hung test, never an assertion


class Worker:
    def __init__(self, process: asyncio.subprocess.Process, log: Path) -> None:
        self.process = process
        self.log = log

    def lines(self) -> list[dict[str, Any]]:
        found = []
        for line in self.log.read_text().splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return found

    def logged(self, message: str) -> list[dict[str, Any]]:
        return [line for line in self.lines() if line.get("message") == message]


@asynccontextmanager
async def loyalty_worker(
    settings: Settings, workdir: Path, name: str, **env: str
) -> AsyncIterator[Worker]:
    """`loyalty worker --no-jobs` in a process of its own, once it says it started."""
    log = workdir / f"{name}.log"
    environment = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(workdir)),
        "DATABASE_URL": settings.database_url,
        "LOYALTY_ENV": "development",
        "LOYALTY_LOG_LEVEL": "INFO",
        "LOYALTY_OUTBOX_POLL_SECONDS": "0.2",
        **env,
    }
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            str(LOYALTY), "worker", "--no-jobs",
            cwd=workdir, env=environment, stdout=output, stderr=output,
        )  # fmt: skip
    worker = Worker(process, log)
    try:
        async with asyncio.timeout(WAIT):
            while not worker.logged("outbox worker started"):
                if process.returncode is not None:
                    raise AssertionError(f"{name} exited: {log.read_text()}")
                await asyncio.sleep(0.05)
        yield worker
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def all_settled(db: Database, count: int) -> list[Any]:
    async with asyncio.timeout(WAIT):
        while True:
            rows = await deliveries(db)
            if len(rows) == count and all(r.status == DeliveryStatus.DELIVERED for r in rows):
                return rows
            await asyncio.sleep(0.05)


async def endpoint_for(db, settings, clock, receiver):
    return await webhooks_service.create_endpoint(
        db, SYSTEM, clock, settings,
        webhooks_service.NewEndpoint(url=receiver.url, event_types=["*"]),
    )  # fmt: skip


@pytest.mark.postgres_only
async def test_several_workers_deliver_each_event_exactly_once(db, settings, clock, tmp_path):
    events = 150
    # a receiver that takes a moment per request, so that one worker cannot take everything
    async with WebhookReceiver(delay=0.01) as receiver:
        # given: three workers waiting (woken by NOTIFY when the events commit)
        endpoint = await endpoint_for(db, settings, clock, receiver)
        options = {"LOYALTY_OUTBOX_CONCURRENCY": "4", "LOYALTY_OUTBOX_BATCH_SIZE": "10"}
        async with (
            loyalty_worker(settings, tmp_path, "w1", **options) as w1,
            loyalty_worker(settings, tmp_path, "w2", **options) as w2,
            loyalty_worker(settings, tmp_path, "w3", **options) as w3,
        ):
            # when
            ids = await record_events(db, clock, events)
            await receiver.wait_for(events, accepted=True, limit=WAIT)
            rows = await all_settled(db, events)
            workers = (w1, w2, w3)
            for worker in workers:
                worker.process.send_signal(signal.SIGTERM)
            codes = [await asyncio.wait_for(w.process.wait(), WAIT) for w in workers]

        # then: every event once, signed; the work was shared; the workers stopped cleanly
        assert sorted(r.webhook_id for r in receiver.requests) == sorted(str(i) for i in ids)
        assert all(verify(r, endpoint.secret) for r in receiver.requests)
        assert {r.attempts for r in rows} == {1}
        delivered = [w.logged("outbox worker stopped")[0]["delivered"] for w in workers]
        assert sum(delivered) == events
        assert sum(1 for count in delivered if count > 0) >= 2
        assert codes == [0, 0, 0]


async def test_a_worker_killed_mid_delivery_loses_nothing(db, settings, clock, tmp_path):
    async with WebhookReceiver(["hold"]) as receiver:
        # given: a worker process whose request the receiver holds
        endpoint = await endpoint_for(db, settings, clock, receiver)
        [event_id] = await record_events(db, clock)
        async with loyalty_worker(
            settings, tmp_path, "doomed", LOYALTY_WEBHOOK_TIMEOUT_SECONDS="30"
        ) as doomed:
            await receiver.wait_for(1, limit=WAIT)

            # when: it is killed mid-delivery
            doomed.process.kill()
            assert await doomed.process.wait() == -signal.SIGKILL
        [held] = await deliveries(db)
        too_soon = await OutboxWorker(
            db, settings, SystemClock(), channels=[WebhookChannel()]
        ).claim(10)
        # ... and another worker runs after the lease has run out
        later = FakeClock(
            dt.datetime.now(dt.UTC) + dt.timedelta(seconds=settings.outbox_lease_seconds + 1)
        )
        await OutboxWorker(db, settings, later, channels=[WebhookChannel(later)]).run_once()

        # then: delivered again, same id, signed
        assert (held.status, held.attempts) == (DeliveryStatus.PENDING, 1)
        assert held.lease_id is not None
        assert too_soon == []
        first, second = receiver.requests
        assert (first.answer, second.answer) == ("hold", "ok")
        assert first.webhook_id == second.webhook_id == str(event_id)
        assert verify(second, endpoint.secret)
        [row] = await deliveries(db)
        assert (row.status, row.attempts) == (DeliveryStatus.DELIVERED, 2)
