"""API-test fixtures.

Every response to a GraphQL mutation sent by an API test passes through `check_mutation_errors`:
a top-level error on a mutation may only be a transport refusal (not signed in, not allowed,
a bad or too complex document, an oversize body). A use case's failure must come back as a
`UserError` member of the mutation's result union; one that escapes (a domain error missing from
the union, or a crash) fails the test, even when the test itself expected errors.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
import pytest_asyncio
from asgi_lifespan import LifespanManager
from graphql import GraphQLSyntaxError, OperationDefinitionNode, OperationType, parse

from app.db import Database
from app.main import create_app
from app.settings import Settings
from tests.support import FakeClock

TRANSPORT_CODES = frozenset(
    {"UNAUTHENTICATED", "FORBIDDEN", "BAD_REQUEST", "TOO_COMPLEX", "PAYLOAD_TOO_LARGE"}
)

AppClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def is_mutation(request_body: bytes) -> bool:
    try:
        payload = json.loads(request_body)
        document = parse(payload["query"])
    except (ValueError, TypeError, KeyError, GraphQLSyntaxError):
        return False
    name = payload.get("operationName")
    return any(
        isinstance(definition, OperationDefinitionNode)
        and definition.operation == OperationType.MUTATION
        and (name is None or (definition.name and definition.name.value == name))
        for definition in document.definitions
    )


def mutation_errors_beyond_transport(
    request_body: bytes, response_body: bytes, *, allowed: frozenset[str] = TRANSPORT_CODES
) -> list[dict[str, Any]]:
    """The top-level errors of a mutation's response that are not transport refusals."""
    if not is_mutation(request_body):
        return []
    try:
        errors = json.loads(response_body).get("errors") or []
    except (ValueError, AttributeError):
        return []
    return [e for e in errors if (e.get("extensions") or {}).get("code") not in allowed]


class MutationGuard:
    def __init__(self) -> None:
        self.allowed = TRANSPORT_CODES

    def allow_internal_errors(self) -> None:
        """For the tests that break the database on purpose to see the error masked."""
        self.allowed = TRANSPORT_CODES | {"INTERNAL_SERVER_ERROR"}

    async def __call__(self, response: httpx.Response) -> None:
        if response.request.method != "POST" or response.request.url.path != "/graphql":
            return
        try:
            request_body = response.request.content
        except httpx.RequestNotRead:  # a streamed body: the body tests, not a mutation
            return
        await response.aread()
        escaped = mutation_errors_beyond_transport(
            request_body, response.content, allowed=self.allowed
        )
        assert not escaped, f"a mutation answered with top-level errors: {escaped}"


@pytest.fixture
def mutation_guard() -> MutationGuard:
    return MutationGuard()


def _open(
    settings: Settings, db: Database, clock: FakeClock, guard: MutationGuard
) -> AbstractAsyncContextManager[httpx.AsyncClient]:
    @asynccontextmanager
    async def opened() -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings, db=db, clock=clock)
        async with LifespanManager(app):
            transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 40000))
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://testserver",
                event_hooks={"response": [guard]},
            ) as http:
                yield http

    return opened()


@pytest_asyncio.fixture
async def client(
    settings: Settings, db: Database, clock: FakeClock, mutation_guard: MutationGuard
) -> AsyncIterator[httpx.AsyncClient]:
    """The root `client`, with the mutation guard."""
    async with _open(settings, db, clock, mutation_guard) as http:
        yield http


@pytest.fixture
def app_client(db: Database, clock: FakeClock, mutation_guard: MutationGuard) -> AppClient:
    """`async with app_client(settings) as client:` an app built with other settings, on the
    test's database (or on `database=` another one), with the mutation guard."""

    def open_client(
        settings: Settings, *, database: Database | None = None
    ) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return _open(settings, database or db, clock, mutation_guard)

    return open_client
