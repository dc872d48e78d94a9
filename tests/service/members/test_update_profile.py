"""members_service.update_profile: the member changes its own profile, checked field by field."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import select

from app.auth.actors import MemberActor, StaffActor, SystemActor
from app.errors import DomainError
from app.members import service as members_service
from app.members.models import Member
from app.outbox.models import OutboxEvent
from tests.conftest import START
from tests.support import create_member


async def stored(db, member_id: uuid.UUID) -> Member:
    async with db.read() as session:
        member = await session.get(Member, member_id)
    assert member is not None
    return member


async def test_changes_the_given_fields_only(db, settings, clock):
    # given
    _, member = await create_member(
        db, settings, clock, last_name="Lee", phone="+14155550123", locale="en"
    )
    clock.advance(hours=1)

    # when
    updated = await members_service.update_profile(
        db,
        MemberActor(member.id),
        clock,
        members_service.ProfileChanges(
            first_name=" Annie ",
            phone="0044 20 7946 0958",
            birth_date=dt.date(1990, 2, 28),
            marketing_consent=True,
        ),
    )

    # then
    row = await stored(db, member.id)
    assert (row.first_name, row.last_name, row.phone) == ("Annie", "Lee", "+442079460958")
    assert (row.birth_date, row.locale, row.marketing_consent) == (dt.date(1990, 2, 28), "en", True)
    assert (row.created_at, row.updated_at) == (START, START + dt.timedelta(hours=1))
    assert updated.first_name == "Annie"


async def test_clears_optional_fields(db, settings, clock):
    # given
    _, member = await create_member(
        db, settings, clock, last_name="Lee", phone="+14155550123", birth_date=dt.date(1990, 1, 1)
    )

    # when
    await members_service.update_profile(
        db,
        MemberActor(member.id),
        clock,
        members_service.ProfileChanges(clear=frozenset({"lastName", "phone", "birthDate"})),
    )

    # then
    row = await stored(db, member.id)
    assert (row.first_name, row.last_name, row.phone, row.birth_date) == ("Ann", None, None, None)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (members_service.ProfileChanges(first_name="  "), "firstName"),
        (members_service.ProfileChanges(last_name="x" * 101), "lastName"),
        (members_service.ProfileChanges(phone="555-0123"), "phone"),
        (members_service.ProfileChanges(birth_date=dt.date(2026, 6, 2)), "birthDate"),
        (members_service.ProfileChanges(birth_date=dt.date(1899, 12, 31)), "birthDate"),
        (members_service.ProfileChanges(locale="english"), "locale"),
        (members_service.ProfileChanges(first_name="Ann\u202e"), "firstName"),
    ],
)
async def test_refuses_bad_input_and_changes_nothing(db, settings, clock, changes, field):
    # given
    _, member = await create_member(db, settings, clock, last_name="Lee", phone="+14155550123")

    # when
    with pytest.raises(DomainError) as raised:
        await members_service.update_profile(
            db,
            MemberActor(member.id),
            clock,
            members_service.ProfileChanges(
                marketing_consent=True,
                first_name=changes.first_name,
                last_name=changes.last_name,
                phone=changes.phone,
                birth_date=changes.birth_date,
                locale=changes.locale,
            ),
        )

    # then
    assert (raised.value.code, raised.value.field) == ("INVALID_INPUT", field)
    row = await stored(db, member.id)
    assert (row.first_name, row.last_name, row.phone, row.marketing_consent) == (
        "Ann",
        "Lee",
        "+14155550123",
        False,
    )


@pytest.mark.parametrize(
    "actor", [StaffActor(uuid.uuid4(), "ADMIN"), StaffActor(uuid.uuid4(), "CASHIER"), SystemActor()]
)
async def test_only_the_member_changes_its_profile(db, settings, clock, actor):
    # given
    await create_member(db, settings, clock)

    # when
    with pytest.raises(DomainError) as raised:
        await members_service.update_profile(
            db, actor, clock, members_service.ProfileChanges(first_name="Eve")
        )

    # then
    assert raised.value.code == "FORBIDDEN"


async def test_a_member_of_an_unknown_id_is_not_found(db, clock):
    # when
    with pytest.raises(DomainError) as raised:
        await members_service.update_profile(
            db, MemberActor(uuid.uuid4()), clock, members_service.ProfileChanges(first_name="Eve")
        )

    # then
    assert (raised.value.code, raised.value.field) == ("NOT_FOUND", "memberId")


async def member_updates(db, member_id: uuid.UUID) -> list[dict]:
    async with db.read() as session:
        rows = await session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.member_id == member_id, OutboxEvent.type == "member.updated")
            .order_by(OutboxEvent.occurred_at)
        )
        return [event.data for event in rows]


async def test_a_new_name_announces_the_change_for_the_wallet_pass(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock, last_name="Lee")

    # when: the name changes once, then only the consent
    for changes in (
        members_service.ProfileChanges(first_name="Annie"),
        members_service.ProfileChanges(marketing_consent=True),
    ):
        await members_service.update_profile(db, MemberActor(member.id), clock, changes)

    # then: one event, for the name (the card shows it; consent is not on the card)
    assert await member_updates(db, member.id) == [
        {"changed": ["name"], "firstName": "Annie", "lastName": "Lee"}
    ]


async def test_a_revoked_wallet_code_announces_the_change(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)

    # when
    await members_service.revoke_wallet_code(db, MemberActor(member.id), clock)

    # then
    assert await member_updates(db, member.id) == [{"changed": ["walletCode"]}]
