"""Outbox delivery latency: a burst of events committed, `loyalty worker` processes delivering
them to a webhook receiver on 127.0.0.1; latency = received - committed, per event.

    PYTHON=/path/to/venv/bin/python
    $PYTHON bench/outbox/run.py                                   # SQLite (temp file), 1 worker
    PG_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres $PYTHON bench/outbox/run.py
                                  # also PostgreSQL, 1 then 2 workers, in a database it creates

EVENTS (1000) events are committed one transaction each (what 1000 purchases would write), by
WRITERS (8) concurrent tasks on PostgreSQL, one at a time on SQLite. The workers run with the
defaults (poll 1 s, concurrency 20; woken by NOTIFY on PostgreSQL). Every request is checked for
its signature; the run fails on a missing, duplicate or badly signed delivery.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from app.auth.actors import SystemActor
from app.clock import SystemClock
from app.db import Database, make_engine
from app.migrate import migrate
from app.outbox import service as outbox_service
from app.settings import Settings
from app.webhooks import service as webhooks_service

EVENTS = int(os.environ.get("EVENTS", "1000"))
WRITERS = int(os.environ.get("WRITERS", "8"))
LOYALTY = Path(sys.executable).parent / "loyalty"


class Receiver:
    """HTTP/1.1 keep-alive server: 204 to every POST, the receive time per webhook-id."""

    def __init__(self, secret: str) -> None:
        self.key = base64.b64decode(secret.removeprefix("whsec_"))
        self.received: dict[str, float] = {}
        self.duplicates = 0
        self.bad_signatures = 0
        self.done = asyncio.Event()
        self.expected = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                headers = {}
                for line in head.decode("latin-1").split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                at = time.time()
                msg_id = headers["webhook-id"]
                signed = f"{msg_id}.{headers['webhook-timestamp']}.".encode() + body
                expected = hmac.new(self.key, signed, hashlib.sha256).digest()
                signature = headers["webhook-signature"].split(" ")[0].partition(",")[2]
                if not hmac.compare_digest(base64.b64decode(signature), expected):
                    self.bad_signatures += 1
                if msg_id in self.received:
                    self.duplicates += 1
                else:
                    self.received[msg_id] = at
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
                if len(self.received) >= self.expected:
                    self.done.set()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def run_once(url: str, workers: int, workdir: Path) -> dict[str, object]:
    settings = Settings(database_url=url, env="development")
    db = Database(make_engine(settings))
    clock = SystemClock()
    await migrate(settings, db, clock)
    receiver_server = None
    processes: list[asyncio.subprocess.Process] = []
    try:
        receiver = Receiver("whsec_" + base64.b64encode(b"\0" * 32).decode())
        receiver_server = await asyncio.start_server(receiver.serve, "127.0.0.1", 0)
        port = receiver_server.sockets[0].getsockname()[1]
        endpoint = await webhooks_service.create_endpoint(
            db, SystemActor("bench"), clock, settings,
            webhooks_service.NewEndpoint(url=f"http://127.0.0.1:{port}/hook", event_types=["*"]),
        )  # fmt: skip
        receiver.key = base64.b64decode(endpoint.secret.removeprefix("whsec_"))
        receiver.expected = EVENTS

        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", str(workdir)),
            "DATABASE_URL": url,
            "LOYALTY_ENV": "development",
            "LOYALTY_LOG_LEVEL": "INFO",
        }
        logs = []
        for n in range(workers):
            log = workdir / f"worker-{n}.log"
            logs.append(log)
            with log.open("wb") as out:
                processes.append(
                    await asyncio.create_subprocess_exec(
                        str(LOYALTY), "worker", "--no-jobs", env=env, stdout=out, stderr=out
                    )
                )
        for log in logs:  # started: listening (PostgreSQL) and polling
            for _ in range(1200):
                if b"outbox worker started" in log.read_bytes():
                    break
                await asyncio.sleep(0.05)

        committed: dict[str, float] = {}

        async def writer(count: int) -> None:
            for _ in range(count):
                async with db.transaction() as session:
                    event_id = await outbox_service.record(
                        session, type="points.earned", member_id=None,
                        data={"points": 100, "bench": True}, at=clock.now(),
                    )  # fmt: skip
                committed[str(event_id)] = time.time()

        writers = 1 if db.is_sqlite else WRITERS
        started = time.time()
        await asyncio.gather(
            *(
                writer(EVENTS // writers + (1 if i < EVENTS % writers else 0))
                for i in range(writers)
            )
        )
        burst_seconds = time.time() - started
        await asyncio.wait_for(receiver.done.wait(), 600)
        finished = max(receiver.received.values())
        latencies = [receiver.received[i] - committed[i] for i in committed]
        missing = set(committed) - set(receiver.received)
        return {
            "database": "sqlite" if db.is_sqlite else "postgresql",
            "workers": workers,
            "events": EVENTS,
            "burst_seconds": round(burst_seconds, 2),
            "p50_ms": round(percentile(latencies, 50) * 1000, 1),
            "p99_ms": round(percentile(latencies, 99) * 1000, 1),
            "max_ms": round(max(latencies) * 1000, 1),
            "mean_ms": round(statistics.mean(latencies) * 1000, 1),
            "throughput_per_s": round(EVENTS / (finished - started), 1),
            "missing": len(missing),
            "duplicates": receiver.duplicates,
            "bad_signatures": receiver.bad_signatures,
        }
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                await asyncio.wait_for(process.wait(), 30)
            except TimeoutError:
                process.kill()
        if receiver_server is not None:
            receiver_server.close()
        await db.dispose()


async def main() -> None:
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results.append(await run_once(f"sqlite+aiosqlite:///{workdir / 'bench.db'}", 1, workdir))
        pg = os.environ.get("PG_URL")
        if pg:
            admin_dsn = make_url(pg).set(drivername="postgresql")
            for workers in (1, 2):
                name = f"loyalty_bench_outbox_{uuid.uuid4().hex[:8]}"
                admin = await asyncpg.connect(admin_dsn.render_as_string(hide_password=False))
                await admin.execute(f'CREATE DATABASE "{name}"')
                await admin.close()
                try:
                    url = make_url(pg).set(database=name).render_as_string(hide_password=False)
                    results.append(await run_once(url, workers, workdir))
                finally:
                    admin = await asyncpg.connect(admin_dsn.render_as_string(hide_password=False))
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    await admin.close()
    for result in results:
        print(json.dumps(result))
    if any(r["missing"] or r["duplicates"] or r["bad_signatures"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    import argparse

    # No options: the settings are the environment variables above; --help says so and stops.
    argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Settings: PG_URL (also PostgreSQL), EVENTS (1000), WRITERS (8), PYTHON.",
    ).parse_args()
    asyncio.run(main())
