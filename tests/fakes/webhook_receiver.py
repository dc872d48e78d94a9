"""A webhook receiver on 127.0.0.1: a small HTTP/1.1 server that records what it is sent and
answers by a script ("fail" 500, "ok" 204, "hold": never answer until the connection closes or
`release()`, "garbage": bytes that are not HTTP), then "ok" once the script runs out.

`verify` checks a request the way a receiver following the Standard Webhooks spec does, without
the application's code: HMAC-SHA256 with the base64-decoded part of `whsec_...` over
`{webhook-id}.{webhook-timestamp}.{body}`, compared with every `v1,` signature of the header.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    answer: str  # what the script said to do with it
    at: float  # time.time() when the body was read
    peer: tuple[str, int]

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    def json(self) -> Any:
        return json.loads(self.body)


def verify(received: Received, secret: str) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{received.headers['webhook-id']}.{received.headers['webhook-timestamp']}.".encode()
    expected = hmac.new(key, signed + received.body, hashlib.sha256).digest()
    for candidate in received.headers["webhook-signature"].split(" "):
        version, _, signature = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(signature), expected):
            return True
    return False


class WebhookReceiver:
    def __init__(self, script: Iterable[str] = (), *, delay: float = 0.0) -> None:
        self.script: deque[str] = deque(script)
        self.delay = delay  # seconds before each answer (to keep several workers busy)
        self.requests: list[Received] = []
        self._server: asyncio.Server | None = None
        self._changed = asyncio.Condition()
        self._released = asyncio.Event()
        self.url = ""

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.requests if r.answer == "ok"]

    async def __aenter__(self) -> WebhookReceiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hooks/loyalty"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._released.set()
        assert self._server is not None
        self._server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._server.wait_closed(), 5)

    def release(self) -> None:
        self._released.set()

    async def wait_for(self, count: int, *, accepted: bool = False, limit: float = 60) -> None:
        """Until `count` requests (accepted ones, if asked) arrived; `limit` only guards against
        a hung test."""

        def enough() -> bool:
            return len(self.accepted if accepted else self.requests) >= count

        async with asyncio.timeout(limit):
            async with self._changed:
                await self._changed.wait_for(enough)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                answer = self.script.popleft() if self.script else "ok"
                received = Received(
                    method, path, headers, body, answer, time.time(), (peer[0], peer[1])
                )
                async with self._changed:
                    self.requests.append(received)
                    self._changed.notify_all()
                if self.delay:
                    await asyncio.sleep(self.delay)
                if answer == "hold":
                    closed = asyncio.ensure_future(reader.read())  # EOF: the caller is gone
                    released = asyncio.ensure_future(self._released.wait())
                    await asyncio.wait({closed, released}, return_when="FIRST_COMPLETED")
                    closed.cancel()
                    released.cancel()
                    return
                if answer == "garbage":
                    writer.write(b"\x00\xffnot http at all\r\n\r\n")
                    await writer.drain()
                    return
                status = b"204 No Content" if answer == "ok" else b"500 Internal Server Error"
                writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()
