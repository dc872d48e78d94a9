"""Authorization in the service layer: who may read a member, who may act in a store."""

from __future__ import annotations

import uuid

import pytest

from app.auth import service as auth_service
from app.auth.actors import MemberActor, StaffActor, SystemActor, require_store
from app.errors import DomainError
from app.members import service as members_service
from tests.service.helpers import actor_for
from tests.support import create_member, create_staff, create_store, login


async def staff_actor(db, settings, clock, *, email: str, role: str, store_ids: list[str]):
    await create_staff(db, settings, clock, email=email, role=role, store_ids=store_ids)
    token = await login(db, settings, clock, kind="staff", email=email)
    return await auth_service.actor_for_token(db, settings, clock, token)


async def test_a_member_reads_itself(db, settings, clock):
    # given
    tokens, ann = await create_member(db, settings, clock)
    actor = await actor_for(db, settings, clock, tokens)

    # when
    async with db.read() as session:
        found = await members_service.get_member(session, actor, ann.id)

    # then
    assert (found.id, found.email) == (ann.id, "ann@example.com")


async def test_a_member_cannot_read_another_member(db, settings, clock):
    # given
    tokens, _ = await create_member(db, settings, clock, email="ann@example.com")
    _, bob = await create_member(db, settings, clock, email="bob@example.com")
    actor = await actor_for(db, settings, clock, tokens)

    # when
    with pytest.raises(DomainError) as raised:
        async with db.read() as session:
            await members_service.get_member(session, actor, bob.id)

    # then
    assert (raised.value.code, raised.value.field) == ("FORBIDDEN", None)


async def test_a_cashier_cannot_read_a_member_by_id(db, settings, clock):
    # given
    _, ann = await create_member(db, settings, clock)
    store = await create_store(db, clock)
    cashier = await staff_actor(
        db, settings, clock, email="cashier@example.com", role="CASHIER", store_ids=[str(store.id)]
    )

    # when
    with pytest.raises(DomainError) as raised:
        async with db.read() as session:
            await members_service.get_member(session, cashier, ann.id)

    # then
    assert raised.value.code == "FORBIDDEN"


async def test_an_admin_reads_any_member(db, settings, clock):
    # given
    _, ann = await create_member(db, settings, clock)
    admin = await staff_actor(
        db, settings, clock, email="admin@example.com", role="ADMIN", store_ids=[]
    )

    # when
    async with db.read() as session:
        found = await members_service.get_member(session, admin, ann.id)

    # then
    assert found.id == ann.id


async def test_an_unknown_member_is_not_found_for_an_admin(db, settings, clock):
    # given
    admin = await staff_actor(
        db, settings, clock, email="admin@example.com", role="ADMIN", store_ids=[]
    )

    # when
    with pytest.raises(DomainError) as raised:
        async with db.read() as session:
            await members_service.get_member(session, admin, uuid.uuid4())

    # then
    assert (raised.value.code, raised.value.field) == ("NOT_FOUND", "memberId")


async def test_staff_act_in_their_stores_only(db, settings, clock):
    # given
    main = await create_store(db, clock, code="MAIN")
    mall = await create_store(db, clock, code="MALL", name="Mall")
    cashier = await staff_actor(
        db, settings, clock, email="cashier@example.com", role="CASHIER", store_ids=[str(main.id)]
    )

    # when
    allowed = require_store(cashier, main.id)
    with pytest.raises(DomainError) as raised:
        require_store(cashier, mall.id)

    # then
    assert allowed is cashier
    assert (raised.value.code, raised.value.field) == ("FORBIDDEN", "storeId")


async def test_a_manager_of_two_stores_acts_in_both(db, settings, clock):
    # given
    main = await create_store(db, clock, code="MAIN")
    mall = await create_store(db, clock, code="MALL", name="Mall")
    manager = await staff_actor(
        db,
        settings,
        clock,
        email="manager@example.com",
        role="MANAGER",
        store_ids=[str(main.id), str(mall.id)],
    )

    # when
    acting = [require_store(manager, store.id) for store in (main, mall)]

    # then
    assert acting == [manager, manager]
    assert manager == StaffActor(manager.staff_id, "MANAGER", frozenset({main.id, mall.id}))


async def test_an_admin_acts_in_every_store(db, settings, clock):
    # given
    main = await create_store(db, clock)
    admin = await staff_actor(
        db, settings, clock, email="admin@example.com", role="ADMIN", store_ids=[]
    )

    # when
    acting = require_store(admin, main.id)

    # then
    assert acting is admin
    assert admin.store_ids == frozenset()


@pytest.mark.parametrize("actor", [MemberActor(uuid.uuid4()), SystemActor(), None])
async def test_only_staff_act_in_a_store(db, clock, actor):
    # given
    main = await create_store(db, clock)

    # when
    with pytest.raises(DomainError) as raised:
        require_store(actor, main.id)

    # then
    assert (raised.value.code, raised.value.field) == ("FORBIDDEN", "storeId")
