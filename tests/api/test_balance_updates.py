"""`BalanceUpdates` over a real websocket (graphql-transport-ws on /graphql), served by uvicorn
on 127.0.0.1: the member's open subscription gets the balance after every change, whichever
use case made it; a socket without a member's access token in `connection_init` is closed
with 4401, one with a staff token with 4403.

On PostgreSQL the updates travel through NOTIFY and this process's LISTEN connection; on
SQLite through the in-process hub, after the commit.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from app import jobs
from app.db import Database
from app.ledger import service as ledger_service
from app.live import service as live_service
from app.main import create_app
from app.program import service as program_service
from app.settings import Settings
from tests.api.test_till_operations import (
    adjust,
    checkout_for,
    complete,
    open_till,
    purchase,
    refund,
    register,
    staff_login,
)
from tests.conftest import _pg_dsn
from tests.support import SYSTEM, FakeClock, create_member, create_store, operation

PROTOCOL = "graphql-transport-ws"
WAIT = 10.0  # seconds a message may take before the test gives up (a hang, not a measurement)


async def until(condition: Callable[[], bool]) -> None:
    """Wait until `condition` holds (the server registers a subscription on its own time)."""
    for _ in range(int(WAIT * 100)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


@dataclasses.dataclass
class Served:
    http: str
    ws: str


@pytest_asyncio.fixture
async def server(settings: Settings, db: Database, clock: FakeClock) -> AsyncIterator[Served]:
    """The app under uvicorn on a free port of 127.0.0.1, in this event loop."""
    app = create_app(settings, db=db, clock=clock)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="on", log_level="warning")
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    await until(lambda: served.started or task.done())
    assert served.started
    port = served.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(http=f"http://127.0.0.1:{port}", ws=f"ws://127.0.0.1:{port}/graphql")
    finally:
        served.should_exit = True
        await task


@pytest_asyncio.fixture
async def client(server: Served, mutation_guard: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=server.http, event_hooks={"response": [mutation_guard]}
    ) as http:
        yield http


class Socket:
    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), WAIT))

    async def closed_with(self) -> tuple[int, str]:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(self.ws.recv(), WAIT)
        assert closed.value.rcvd is not None
        return closed.value.rcvd.code, closed.value.rcvd.reason

    async def subscribe(self, operation_id: str = "1") -> None:
        await self.send(
            {
                "id": operation_id,
                "type": "subscribe",
                "payload": {
                    "query": operation("BalanceUpdates"),
                    "operationName": "BalanceUpdates",
                },
            }
        )

    async def next_change(self) -> dict[str, Any]:
        message = await self.receive()
        assert message["type"] == "next", message
        assert "errors" not in message["payload"], message
        return message["payload"]["data"]["balanceChanged"]


@asynccontextmanager
async def socket(url: str) -> AsyncIterator[Socket]:
    async with connect(url, subprotocols=[PROTOCOL]) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == PROTOCOL
        yield Socket(ws)


@asynccontextmanager
async def subscription(
    url: str, token: str, member_id: str, *, key: str = "authorization"
) -> AsyncIterator[Socket]:
    """A socket subscribed to BalanceUpdates, once the server has registered the subscription."""
    payload = {"authorization": f"Bearer {token}"} if key == "authorization" else {key: token}
    async with socket(url) as ws:
        await ws.send({"type": "connection_init", "payload": payload})
        assert await ws.receive() == {"type": "connection_ack"}
        before = live_service.BALANCES.subscriber_count(uuid.UUID(member_id))
        await ws.subscribe()
        await until(
            lambda: live_service.BALANCES.subscriber_count(uuid.UUID(member_id)) == before + 1
        )
        await until(listening)  # (the server answers nothing when it is)
        yield ws


def listening() -> bool:
    """Whether every LISTEN connection of this process is up (none on SQLite)."""
    return all(entry.listener.connected.is_set() for entry in live_service._listeners.values())


def change(available: int, pending: int, reason: str, tier: str = "BRONZE") -> dict[str, Any]:
    return {"available": available, "pending": pending, "tierCode": tier, "reason": reason}


# -- updates ----------------------------------------------------------------------------------------


async def test_a_purchase_reaches_the_members_subscription(server, client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    async with subscription(server.ws, till.member_token, till.member_id) as ws:
        checkout = await checkout_for(client, till)

        # when
        receipt = await complete(client, till.cashier_token, purchase(checkout, "R-1", 20000))

        # then
        assert receipt["balance"] == {"available": 200, "pending": 0}
        assert await ws.receive() == {
            "id": "1",
            "type": "next",
            "payload": {"data": {"balanceChanged": change(200, 0, "PURCHASE")}},
        }


async def test_refunds_and_adjustments_reach_it_too(server, client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    admin = await staff_login(
        client, db, settings, clock, email="admin@example.com", role="ADMIN", store_ids=[]
    )
    async with subscription(server.ws, till.member_token, till.member_id, key="accessToken") as ws:
        checkout = await checkout_for(client, till)
        receipt = await complete(client, till.cashier_token, purchase(checkout, "R-1", 20000))

        # when
        await refund(client, till.cashier_token, receipt["purchase"]["id"], 5000, key="refund-1")
        await adjust(client, admin, till.member_id, 25, reason="Goodwill", key="adj-1")
        await adjust(client, admin, till.member_id, -5, reason="Double scan", key="adj-2")

        # then
        assert [await ws.next_change() for _ in range(4)] == [
            change(200, 0, "PURCHASE"),
            change(150, 0, "REFUND"),
            change(175, 0, "ADJUSTMENT"),
            change(170, 0, "ADJUSTMENT"),
        ]


async def test_a_replayed_purchase_announces_nothing_new(server, client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    async with subscription(server.ws, till.member_token, till.member_id) as ws:
        checkout = await checkout_for(client, till)
        first = purchase(checkout, "R-1", 20000, key="key-1")
        await complete(client, till.cashier_token, first)

        # when
        await complete(client, till.cashier_token, first)
        second = await checkout_for(client, till)
        await complete(client, till.cashier_token, purchase(second, "R-2", 10000, key="key-2"))

        # then
        assert [await ws.next_change() for _ in range(2)] == [
            change(200, 0, "PURCHASE"),
            change(300, 0, "PURCHASE"),
        ]


async def test_updates_reach_only_their_member(server, client, db, settings, clock):
    # given
    ann = await open_till(client, db, settings, clock)
    bob_session = await register(client, email="bob@example.com")
    bob = dataclasses.replace(
        ann, member_token=bob_session["accessToken"], member_id=bob_session["member"]["id"]
    )
    async with (
        subscription(server.ws, ann.member_token, ann.member_id) as ann_ws,
        subscription(server.ws, bob.member_token, bob.member_id) as bob_ws,
    ):
        # when
        checkout = await checkout_for(client, ann)
        await complete(client, ann.cashier_token, purchase(checkout, "R-1", 20000))
        checkout = await checkout_for(client, bob)
        await complete(client, bob.cashier_token, purchase(checkout, "R-2", 5000))

        # then: Bob's first update is his own purchase, Ann's is hers
        assert await bob_ws.next_change() == change(50, 0, "PURCHASE")
        assert await ann_ws.next_change() == change(200, 0, "PURCHASE")


async def test_jobs_announce_released_and_expired_points(server, client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    await program_service.update_program(db, SYSTEM, clock, {"pending_days": 14, "expiry_days": 30})
    async with subscription(server.ws, till.member_token, till.member_id) as ws:
        checkout = await checkout_for(client, till)
        await complete(client, till.cashier_token, purchase(checkout, "R-1", 20000))

        # when
        clock.advance(days=14)
        released = await jobs.release_pending(db, clock)
        clock.advance(days=30)
        expired = await jobs.expire_points(db, clock)

        # then
        assert (released.points, expired.points) == (200, 200)
        assert [await ws.next_change() for _ in range(3)] == [
            change(0, 200, "PURCHASE"),
            change(200, 0, "RELEASE"),
            change(0, 0, "EXPIRY"),
        ]


async def test_two_subscriptions_on_one_socket_each_get_the_update(
    server, client, db, settings, clock
):
    # given
    till = await open_till(client, db, settings, clock)
    async with subscription(server.ws, till.member_token, till.member_id) as ws:
        await ws.subscribe("2")
        await until(lambda: live_service.BALANCES.subscriber_count(uuid.UUID(till.member_id)) == 2)
        checkout = await checkout_for(client, till)

        # when
        await complete(client, till.cashier_token, purchase(checkout, "R-1", 20000))

        # then
        received = [await ws.receive() for _ in range(2)]
        assert sorted(message["id"] for message in received) == ["1", "2"]
        assert all(
            message["payload"]["data"]["balanceChanged"] == change(200, 0, "PURCHASE")
            for message in received
        )


async def test_completing_the_subscription_unsubscribes(server, client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    member = uuid.UUID(till.member_id)
    async with subscription(server.ws, till.member_token, till.member_id) as ws:
        # when
        await ws.send({"id": "1", "type": "complete"})
        await until(lambda: live_service.BALANCES.subscriber_count(member) == 0)

        # then: the socket stays open and answers
        await ws.send({"type": "ping"})
        assert await ws.receive() == {"type": "pong"}


async def test_closing_the_socket_unsubscribes(server, client, db, settings, clock):
    # given
    till = await open_till(client, db, settings, clock)
    member = uuid.UUID(till.member_id)
    async with subscription(server.ws, till.member_token, till.member_id):
        assert live_service.BALANCES.subscriber_count(member) == 1

    # when the client went away
    await until(lambda: live_service.BALANCES.subscriber_count(member) == 0)

    # then
    assert live_service.stats().subscribers == 0


# -- refused sockets --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"authorization": "Bearer not-a-token"},
        {"authorization": "Basic YW5uOnB3"},
        {"authorization": "Bearer "},
        {"authorization": 42},
        {"accessToken": "not-a-token"},
        {"accessToken": ""},
        {"token": "whatever"},
    ],
    ids=[
        "no-payload",
        "empty",
        "bad-bearer",
        "basic",
        "bearer-nothing",
        "not-a-string",
        "bad-access-token",
        "empty-access-token",
        "other-key",
    ],
)
async def test_a_socket_without_a_valid_token_is_closed_4401(server, payload):
    # given
    async with socket(server.ws) as ws:
        init: dict[str, Any] = {"type": "connection_init"}
        if payload is not None:
            init["payload"] = payload

        # when
        await ws.send(init)

        # then
        assert await ws.closed_with() == (4401, "Unauthorized")


async def test_an_expired_token_is_closed_4401(server, client, db, settings, clock):
    # given
    session = await register(client)
    clock.advance(seconds=settings.access_token_ttl_seconds + 1)

    async with socket(server.ws) as ws:
        # when
        await ws.send(
            {"type": "connection_init", "payload": {"accessToken": session["accessToken"]}}
        )

        # then
        assert await ws.closed_with() == (4401, "Unauthorized")


@pytest.mark.parametrize("role", ["CASHIER", "ADMIN"])
async def test_a_staff_token_is_closed_4403(server, client, db, settings, clock, role):
    # given
    store = await create_store(db, clock)
    token = await staff_login(
        client, db, settings, clock, email="staff@example.com", role=role,
        store_ids=[str(store.id)],
    )  # fmt: skip

    async with socket(server.ws) as ws:
        # when
        await ws.send({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})

        # then
        assert await ws.closed_with() == (4403, "Forbidden")


async def test_subscribing_before_connection_init_is_closed_4401(server):
    # given
    async with socket(server.ws) as ws:
        # when
        await ws.subscribe()

        # then
        assert await ws.closed_with() == (4401, "Unauthorized")


async def test_the_legacy_protocol_is_not_spoken(server):
    # given
    async with connect(server.ws, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
        # when
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT)

    # then
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4406


async def test_the_subscription_over_http_is_a_bad_request(server, client):
    # given
    session = await register(client)

    # when
    response = await client.post(
        "/graphql",
        json={"query": operation("BalanceUpdates"), "operationName": "BalanceUpdates"},
        headers={"authorization": f"Bearer {session['accessToken']}"},
    )

    # then
    assert response.status_code == 200
    assert response.json() == {
        "data": None,
        "errors": [
            {
                "message": "Subscriptions are served over graphql-transport-ws: "
                "open a websocket on /graphql.",
                "extensions": {"code": "BAD_REQUEST"},
            }
        ],
    }


# -- delivery guarantees ----------------------------------------------------------------------------


async def test_a_rolled_back_change_announces_nothing(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    member_id = member.id
    async with (
        live_service.listening(db) as listener,
        live_service.subscribe(member_id) as updates,
    ):
        assert listener is None or listener.connected.is_set()  # subscribing waited for it
        # when
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                account = await ledger_service.lock_account(session, member_id)
                await live_service.announce_balance(
                    session, account, live_service.Reason.ADJUSTMENT
                )
                assert len(updates) == 0  # nothing before the commit
                raise RuntimeError("the use case failed")
        async with db.transaction() as session:
            account = await ledger_service.lock_account(session, member_id)
            await live_service.announce_balance(session, account, live_service.Reason.BONUS)

        # then: the first update to arrive is the committed one
        first = await asyncio.wait_for(updates.get(), WAIT)
        assert (first.member_id, first.reason) == (member_id, live_service.Reason.BONUS)
        assert len(updates) == 0


@pytest.mark.postgres_only
async def test_a_subscription_as_its_process_stops_listening_gets_the_updates(db, settings, clock):
    # given: a process that listened for a subscription, now over
    _, member = await create_member(db, settings, clock)
    async with live_service.listening(db):
        async with live_service.subscribe(member.id):
            pass
        (entry,) = live_service._listeners.values()
        assert entry.rest is not None
        entry.rest.cancel()

        # when: its idle time ends, and a subscription begins right then
        live_service._rest(entry)
        async with live_service.subscribe(member.id) as updates:
            async with db.transaction() as session:
                account = await ledger_service.lock_account(session, member.id)
                await live_service.announce_balance(session, account, live_service.Reason.BONUS)

            # then: it listens again, and the change arrives
            update = await asyncio.wait_for(updates.get(), WAIT)
            assert (update.member_id, update.reason) == (member.id, live_service.Reason.BONUS)


@pytest.mark.postgres_only
async def test_the_listener_reconnects_when_its_connection_is_cut(
    server, client, db, settings, clock
):
    # given: a subscription, and its process's LISTEN connection cut
    till = await open_till(client, db, settings, clock)
    (entry,) = live_service._listeners.values()
    listener = entry.listener
    async with subscription(server.ws, till.member_token, till.member_id) as ws:
        assert await listeners_in_database(settings, db) == 1
        admin = await asyncpg.connect(_pg_dsn(settings.database_url, db.engine.url.database or ""))
        try:
            cut = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = $1",
                live_service.LISTENER_NAME,
            )
        finally:
            await admin.close()
        assert cut == 1

        # when
        await until(lambda: listener.connections == 2 and listener.connected.is_set())
        checkout = await checkout_for(client, till)
        await complete(client, till.cashier_token, purchase(checkout, "R-1", 20000))

        # then
        assert await ws.next_change() == change(200, 0, "PURCHASE")


async def listeners_in_database(settings: Settings, db: Database) -> int:
    """The LISTEN connections of the app in pg_stat_activity."""
    admin = await asyncpg.connect(_pg_dsn(settings.database_url, db.engine.url.database or ""))
    try:
        return await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = $1",
            live_service.LISTENER_NAME,
        )
    finally:
        await admin.close()


@pytest.mark.postgres_only
async def test_a_process_listens_only_while_it_has_subscribers(
    server, client, db, settings, clock, monkeypatch
):
    # given: the server is up; no member has subscribed (it serves tills only)
    monkeypatch.setattr(live_service, "IDLE_SECONDS", 0.05)
    till = await open_till(client, db, settings, clock)
    checkout = await checkout_for(client, till)
    await complete(client, till.cashier_token, purchase(checkout, "R-1", 20000))
    assert await listeners_in_database(settings, db) == 0

    # when: a member subscribes
    async with subscription(server.ws, till.member_token, till.member_id) as ws:
        # then: the process LISTENs, and the next change arrives
        assert await listeners_in_database(settings, db) == 1
        checkout = await checkout_for(client, till)
        await complete(client, till.cashier_token, purchase(checkout, "R-2", 10000))
        assert await ws.next_change() == change(300, 0, "PURCHASE")

    # and when the last subscription has ended, it stops listening once idle
    await until(lambda: live_service.BALANCES.subscriber_count() == 0)
    await until(
        lambda: not any(e.listener.connected.is_set() for e in live_service._listeners.values())
    )
    for _ in range(int(WAIT * 10)):
        if await listeners_in_database(settings, db) == 0:
            break
        await asyncio.sleep(0.1)
    assert await listeners_in_database(settings, db) == 0
