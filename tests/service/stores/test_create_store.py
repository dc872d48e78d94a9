"""stores_service.create_store: admins only, codes unique and normalized."""

from __future__ import annotations

import uuid

import pytest

from app.auth.actors import MemberActor, StaffActor
from app.errors import DomainError
from app.stores import service as stores_service
from app.stores.models import Store
from tests.conftest import START
from tests.service.helpers import count_rows
from tests.support import SYSTEM, create_store

ADMIN = StaffActor(uuid.uuid4(), "ADMIN")


async def test_an_admin_creates_a_store(db, clock):
    # when
    store = await stores_service.create_store(
        db,
        ADMIN,
        clock,
        stores_service.NewStore(code=" mall-2 ", name=" Mall ", timezone="Europe/Berlin"),
    )

    # then
    async with db.read() as session:
        stored = await session.get(Store, store.id)
    assert stored is not None
    assert (stored.code, stored.name, stored.timezone, stored.created_at) == (
        "MALL-2",
        "Mall",
        "Europe/Berlin",
        START,
    )


async def test_the_time_zone_defaults_to_utc(db, clock):
    # when
    store = await create_store(db, clock)

    # then
    assert store.timezone == "UTC"


@pytest.mark.parametrize("role", ["CASHIER", "MANAGER"])
async def test_cashiers_and_managers_cannot_create_stores(db, clock, role):
    # given
    main = await create_store(db, clock)
    actor = StaffActor(uuid.uuid4(), role, frozenset({main.id}))

    # when
    with pytest.raises(DomainError) as raised:
        await stores_service.create_store(
            db, actor, clock, stores_service.NewStore(code="MALL", name="Mall")
        )

    # then
    assert raised.value.code == "FORBIDDEN"
    assert await count_rows(db, Store) == 1


async def test_members_cannot_create_stores(db, clock):
    # when
    with pytest.raises(DomainError) as raised:
        await stores_service.create_store(
            db, MemberActor(uuid.uuid4()), clock, stores_service.NewStore(code="MALL", name="Mall")
        )

    # then
    assert raised.value.code == "FORBIDDEN"
    assert await count_rows(db, Store) == 0


async def test_a_code_is_unique_whatever_its_case(db, clock):
    # given
    await create_store(db, clock, code="MAIN")

    # when
    with pytest.raises(DomainError) as raised:
        await stores_service.create_store(
            db, SYSTEM, clock, stores_service.NewStore(code="main", name="Other")
        )

    # then
    assert (raised.value.code, raised.value.field) == ("ALREADY_EXISTS", "code")
    assert await count_rows(db, Store) == 1


@pytest.mark.parametrize(
    ("new", "field"),
    [
        (stores_service.NewStore(code="", name="Main"), "code"),
        (stores_service.NewStore(code="MAIN ST", name="Main"), "code"),
        (stores_service.NewStore(code="X" * 33, name="Main"), "code"),
        (stores_service.NewStore(code="MAIN", name="   "), "name"),
        (stores_service.NewStore(code="MAIN", name="Main\x00"), "name"),
        (stores_service.NewStore(code="MAIN", name="Main", timezone="Mars/Olympus"), "timezone"),
    ],
)
async def test_refuses_bad_input(db, clock, new, field):
    # when
    with pytest.raises(DomainError) as raised:
        await stores_service.create_store(db, SYSTEM, clock, new)

    # then
    assert (raised.value.code, raised.value.field) == ("INVALID_INPUT", field)
    assert await count_rows(db, Store) == 0
