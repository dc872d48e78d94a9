"""Live updates across server processes: two `loyalty serve` processes on one PostgreSQL
database, each on its own port. A member subscribed on process A gets the update of a purchase
made through process B (B's transaction NOTIFYs; A's LISTEN connection fans it out).

SQLite has no NOTIFY and runs one server process: there, one `loyalty serve` process takes
both the subscription and the purchase (its in-process hub, after the commit).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from app.clock import SystemClock
from app.settings import Settings
from tests.api.test_balance_updates import PROTOCOL, WAIT, Socket, change
from tests.api.test_till_operations import checkout_for, complete, open_till, purchase

LOYALTY = Path(sys.executable).parent / "loyalty"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@asynccontextmanager
async def loyalty_serve(settings: Settings, workdir: Path, name: str) -> AsyncIterator[str]:
    """`loyalty serve` in a process of its own on the test's database; its base URL once ready."""
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", str(workdir)),
        "DATABASE_URL": settings.database_url,
        "LOYALTY_ENV": "development",
        "LOYALTY_ARGON2_TIME_COST": "1",
        "LOYALTY_ARGON2_MEMORY_KIB": "8",
        "LOYALTY_LOG_LEVEL": "WARNING",
    }
    log = workdir / f"{name}.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            str(LOYALTY), "serve", "--host", "127.0.0.1", "--port", str(port),
            cwd=workdir, env=env, stdout=output, stderr=output,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as http:
            for _ in range(int(WAIT * 20)):
                if process.returncode is not None:
                    raise AssertionError(f"{name} exited: {log.read_text()}")
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
            else:
                raise AssertionError(f"{name} never became ready: {log.read_text()}")
        yield base
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), WAIT)
            except TimeoutError:
                process.kill()
                await process.wait()


async def live_metrics(http: httpx.AsyncClient) -> dict[str, int]:
    text = (await http.get("/metrics")).text
    return {
        name: int(value)
        for name, value in re.findall(r"^(loyalty_live_\w+) (\d+)$", text, flags=re.MULTILINE)
    }


async def until_subscribed(http: httpx.AsyncClient, *, subscribers: int, listening: bool) -> None:
    """Wait until the process has registered the subscriptions (and LISTENs, on PostgreSQL)."""
    for _ in range(int(WAIT * 20)):
        metrics = await live_metrics(http)
        if metrics["loyalty_live_subscribers"] == subscribers and (
            not listening or metrics["loyalty_live_listeners_connected"] == 1
        ):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never subscribed: {await live_metrics(http)}")


@asynccontextmanager
async def subscribed(ws_url: str, token: str) -> AsyncIterator[Socket]:
    async with connect(ws_url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        live = Socket(ws)
        await live.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}}
        )
        assert await live.receive() == {"type": "connection_ack"}
        await live.subscribe()
        yield live


async def test_a_purchase_through_one_process_reaches_a_subscriber_on_another(
    db, settings, tmp_path
):
    # given: A and B on PostgreSQL; one process on SQLite
    clock = SystemClock()  # the servers run on the real clock, and check tokens with it
    async with AsyncExitStack() as stack:
        a = await stack.enter_async_context(loyalty_serve(settings, tmp_path, "a"))
        b = (
            a
            if db.is_sqlite
            else await stack.enter_async_context(loyalty_serve(settings, tmp_path, "b"))
        )
        http_a = await stack.enter_async_context(httpx.AsyncClient(base_url=a))
        http_b = await stack.enter_async_context(httpx.AsyncClient(base_url=b))
        till = await open_till(http_a, db, settings, clock)
        on_a = await stack.enter_async_context(
            subscribed(a.replace("http", "ws") + "/graphql", till.member_token)
        )
        on_b = await stack.enter_async_context(
            subscribed(b.replace("http", "ws") + "/graphql", till.member_token)
        )
        listening = not db.is_sqlite
        await until_subscribed(http_a, subscribers=2 if a == b else 1, listening=listening)
        await until_subscribed(http_b, subscribers=2 if a == b else 1, listening=listening)

        # when: the purchase goes through B
        checkout = await checkout_for(http_b, till)
        receipt = await complete(http_b, till.cashier_token, purchase(checkout, "R-1", 20000))

        # then: the subscribers on A (and on B itself) get it
        assert receipt["balance"] == {"available": 200, "pending": 0}
        assert await on_a.next_change() == change(200, 0, "PURCHASE")
        assert await on_b.next_change() == change(200, 0, "PURCHASE")
        assert (await live_metrics(http_a))["loyalty_live_updates_dropped_total"] == 0
