"""auth_service.create_staff: admins create staff bound to stores."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.auth import service as auth_service
from app.auth.actors import MemberActor, StaffActor
from app.errors import DomainError
from app.staff import service as staff_service
from app.staff.models import Staff, StaffStore
from tests.conftest import START
from tests.service.helpers import counts
from tests.support import PASSWORD, create_staff, create_store

ADMIN = StaffActor(uuid.uuid4(), "ADMIN")


async def add(
    db, settings, clock, hasher, actor, *, email, role="CASHIER", store_ids=(), password=PASSWORD
):
    return await auth_service.create_staff(
        db,
        actor,
        clock,
        hasher,
        staff_service.NewStaff(email=email, role=role, store_ids=list(store_ids)),
        password=password,
    )


async def add_error(db, settings, clock, hasher, actor, **kwargs) -> tuple[str, str | None]:
    with pytest.raises(DomainError) as raised:
        await add(db, settings, clock, hasher, actor, **kwargs)
    return raised.value.code, raised.value.field


async def test_an_admin_creates_a_cashier_bound_to_stores(db, settings, clock, hasher):
    # given
    main = await create_store(db, clock, code="MAIN")
    mall = await create_store(db, clock, code="MALL", name="Mall")

    # when
    staff = await add(
        db,
        settings,
        clock,
        hasher,
        ADMIN,
        email=" Cash.Ier@Example.com ",
        store_ids=[str(main.id), str(mall.id), str(main.id)],
    )

    # then
    async with db.read() as session:
        stored = await session.get(Staff, staff.id)
        stores = set(await staff_service.store_ids(session, staff.id))
    assert stored is not None
    assert (stored.email, stored.role, stored.active, stored.created_at) == (
        "cash.ier@example.com",
        "CASHIER",
        True,
        START,
    )
    assert stores == {main.id, mall.id}


async def test_an_admin_needs_no_store(db, settings, clock, hasher):
    # when
    staff = await add(db, settings, clock, hasher, ADMIN, email="admin@example.com", role="ADMIN")

    # then
    assert staff.role == "ADMIN"
    assert await counts(db, Staff, StaffStore) == {"staff": 1, "staff_stores": 0}


@pytest.mark.parametrize("role", ["CASHIER", "MANAGER"])
async def test_cashiers_and_managers_need_a_store(db, settings, clock, hasher, role):
    # when
    error = await add_error(db, settings, clock, hasher, ADMIN, email="x@example.com", role=role)

    # then
    assert error == ("INVALID_INPUT", "storeIds")
    assert await counts(db, Staff) == {"staff": 0}


async def test_refuses_an_unknown_store_and_writes_nothing(db, settings, clock, hasher):
    # given
    main = await create_store(db, clock)

    # when
    error = await add_error(
        db,
        settings,
        clock,
        hasher,
        ADMIN,
        email="cashier@example.com",
        store_ids=[str(main.id), str(uuid.uuid4())],
    )

    # then
    assert error == ("INVALID_INPUT", "storeIds")
    assert await counts(db, Staff, StaffStore) == {"staff": 0, "staff_stores": 0}


@pytest.mark.parametrize("raw", ["not-an-id", "", "１２３"])
async def test_refuses_a_malformed_store_id(db, settings, clock, hasher, raw):
    # when
    error = await add_error(
        db, settings, clock, hasher, ADMIN, email="cashier@example.com", store_ids=[raw]
    )

    # then
    assert error == ("INVALID_INPUT", "storeIds")
    assert await counts(db, Staff) == {"staff": 0}


async def test_refuses_a_duplicate_email_whatever_its_case(db, settings, clock, hasher):
    # given
    main = await create_store(db, clock)
    await create_staff(db, settings, clock, email="cashier@example.com", store_ids=[str(main.id)])

    # when
    error = await add_error(
        db, settings, clock, hasher, ADMIN, email=" CASHIER@example.com", store_ids=[str(main.id)]
    )

    # then
    assert error == ("EMAIL_TAKEN", "email")
    assert await counts(db, Staff, StaffStore) == {"staff": 1, "staff_stores": 1}


async def test_refuses_an_unknown_role(db, settings, clock, hasher):
    # when
    error = await add_error(db, settings, clock, hasher, ADMIN, email="x@example.com", role="OWNER")

    # then
    assert error == ("INVALID_INPUT", "role")


async def test_refuses_a_weak_password(db, settings, clock, hasher):
    # when
    error = await add_error(
        db, settings, clock, hasher, ADMIN, email="x@example.com", role="ADMIN", password="short1"
    )

    # then
    assert error == ("WEAK_PASSWORD", "password")


@pytest.mark.parametrize("role", ["CASHIER", "MANAGER"])
async def test_cashiers_and_managers_cannot_create_staff(db, settings, clock, hasher, role):
    # given
    main = await create_store(db, clock)
    actor = StaffActor(uuid.uuid4(), role, frozenset({main.id}))

    # when
    error = await add_error(
        db, settings, clock, hasher, actor, email="new@example.com", store_ids=[str(main.id)]
    )

    # then
    assert error == ("FORBIDDEN", None)
    assert await counts(db, Staff) == {"staff": 0}


async def test_members_cannot_create_staff(db, settings, clock, hasher):
    # when
    error = await add_error(
        db,
        settings,
        clock,
        hasher,
        MemberActor(uuid.uuid4()),
        email="new@example.com",
        role="ADMIN",
    )

    # then
    assert error == ("FORBIDDEN", None)


async def test_an_admin_signed_in_creates_staff(db, settings, clock, hasher):
    # given
    await create_staff(db, settings, clock, email="admin@example.com", role="ADMIN")
    tokens = await auth_service.login(
        db,
        settings,
        clock,
        hasher,
        kind="staff",
        email="admin@example.com",
        password=PASSWORD,
        client_address=None,
    )
    admin = await auth_service.actor_for_token(db, settings, clock, tokens.access_token)
    main = await create_store(db, clock)

    # when
    staff = await add(
        db,
        settings,
        clock,
        hasher,
        admin,
        email="manager@example.com",
        role="MANAGER",
        store_ids=[str(main.id)],
    )

    # then
    async with db.read() as session:
        emails = (await session.scalars(select(Staff.email).order_by(Staff.email))).all()
    assert staff.role == "MANAGER"
    assert emails == ["admin@example.com", "manager@example.com"]
