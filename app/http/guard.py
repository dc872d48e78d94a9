"""Guards in front of /graphql: body size (413) and JSON syntax (400), answered as GraphQL
transport errors with `extensions.code`, before strawberry sees the request."""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit import jsontext

# The scope's key for a JSON body the guard has read (an object or a list), so that the view
# behind it need not read it again.
JSON_BODY = "loyalty.json_body"


def error_body(message: str, code: str) -> bytes:
    return json.dumps({"errors": [{"message": message, "extensions": {"code": code}}]}).encode()


async def send_json(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await send_json(send, 413, self._too_large())
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await send_json(send, 413, self._too_large())
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if content_type == b"application/json":
            try:
                parsed: Any = jsontext.loads(body)
            except (json.JSONDecodeError, UnicodeDecodeError):
                await send_json(
                    send, 400, error_body("The request body is not valid JSON.", "BAD_REQUEST")
                )
                return
            if not isinstance(parsed, dict | list):
                await send_json(
                    send,
                    400,
                    error_body("The request body must be a JSON object.", "BAD_REQUEST"),
                )
                return
            scope[JSON_BODY] = parsed

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self) -> bytes:
        return error_body(
            f"The request body is larger than {self.max_bytes} bytes.", "PAYLOAD_TOO_LARGE"
        )
