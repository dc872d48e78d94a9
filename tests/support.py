"""Test helpers: the fake clock, GraphQL calls, the clients' operations, factories."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from graphql import OperationDefinitionNode, parse, print_ast

from app.auth import service as auth_service
from app.auth.actors import SystemActor
from app.auth.passwords import PasswordHasher
from app.db import Database
from app.members import service as members_service
from app.settings import Settings
from app.staff import service as staff_service
from app.stores import service as stores_service

OPERATIONS = Path(__file__).resolve().parent.parent / "schema" / "operations"
PASSWORD = "correct-Horse-9"
SYSTEM = SystemActor("tests")


class FakeClock:
    def __init__(self, start: dt.datetime) -> None:
        self.current = start

    def now(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> dt.datetime:
        self.current += dt.timedelta(**delta)
        return self.current


@cache
def operations() -> dict[str, str]:
    """Every operation of schema/operations/*.graphql by name, each printed on its own."""
    found: dict[str, str] = {}
    for path in sorted(OPERATIONS.glob("*.graphql")):
        for definition in parse(path.read_text()).definitions:
            if isinstance(definition, OperationDefinitionNode) and definition.name:
                found[definition.name.value] = print_ast(definition)
    return found


def operation(name: str) -> str:
    return operations()[name]


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    expect_errors: bool = False,
) -> dict[str, Any]:
    """POST /graphql and return the JSON body. Unless `expect_errors`, top-level errors fail."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    body = response.json()
    if not expect_errors:
        assert response.status_code == 200, body
        assert "errors" not in body, body["errors"]
    return body


async def run_operation(
    client: httpx.AsyncClient, name: str, variables: dict[str, Any] | None = None, **kwargs: Any
) -> dict[str, Any]:
    return await gql(client, operation(name), variables, **kwargs)


# -- factories ---------------------------------------------------------------------------------


async def create_member(
    db: Database,
    settings: Settings,
    clock: FakeClock,
    *,
    email: str = "ann@example.com",
    first_name: str = "Ann",
    **fields: Any,
) -> tuple[auth_service.AuthTokens, Any]:
    return await auth_service.register_member(
        db,
        settings,
        clock,
        PasswordHasher(settings),
        members_service.NewMember(email=email, password=PASSWORD, first_name=first_name, **fields),
    )


async def create_store(
    db: Database, clock: FakeClock, code: str = "MAIN", name: str = "Main st."
) -> Any:
    return await stores_service.create_store(
        db, SYSTEM, clock, stores_service.NewStore(code=code, name=name)
    )


async def create_staff(
    db: Database,
    settings: Settings,
    clock: FakeClock,
    *,
    email: str,
    role: str = "CASHIER",
    store_ids: list[str] | None = None,
) -> Any:
    return await auth_service.create_staff(
        db,
        SYSTEM,
        clock,
        PasswordHasher(settings),
        staff_service.NewStaff(email=email, role=role, store_ids=store_ids or []),
        password=PASSWORD,
    )


async def login(
    db: Database, settings: Settings, clock: FakeClock, *, kind: str, email: str
) -> str:
    tokens = await auth_service.login(
        db,
        settings,
        clock,
        PasswordHasher(settings),
        kind=kind,
        email=email,
        password=PASSWORD,
        client_address=None,
    )
    return tokens.access_token
