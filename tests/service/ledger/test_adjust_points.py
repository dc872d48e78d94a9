"""adjustPoints: an operator's correction with a reason, idempotent, recorded as who made it."""

from __future__ import annotations

import uuid

import pytest

from app.auth.actors import MemberActor, StaffActor, SystemActor
from app.errors import DomainError, InsufficientPoints
from app.idempotency.models import IdempotencyRecord
from app.ledger import service as ledger_service
from app.ledger.models import LedgerEntry, PointLot
from tests.conftest import START
from tests.service.helpers import counts
from tests.service.ledger.scenario import (
    assert_ledger_clean,
    balance_of,
    entries_of,
    join,
    tamper,
)
from tests.support import create_staff, create_store

LEDGER_TABLES = (LedgerEntry, PointLot, IdempotencyRecord)
NOTHING_WRITTEN = {"ledger_entries": 0, "point_lots": 0, "idempotency_records": 0}


async def _staff(db, settings, clock, role: str, email: str = "boss@example.com") -> StaffActor:
    """A staff member of this role (cashiers and managers work in a store of their own)."""
    stores = []
    if role != "ADMIN":
        stores = [await create_store(db, clock, code=email.split("@")[0].upper())]
    staff = await create_staff(
        db, settings, clock, email=email, role=role, store_ids=[str(s.id) for s in stores]
    )
    return StaffActor(staff.id, role, frozenset(s.id for s in stores))


async def _adjust(db, actor, clock, member_id, points, reason="Goodwill", key="adjust-1"):
    return await ledger_service.adjust_points(
        db, actor, clock, member_id=str(member_id), points=points, reason=reason,
        idempotency_key=key,
    )  # fmt: skip


@pytest.mark.parametrize("role", ["ADMIN", "MANAGER"])
async def test_admins_and_managers_adjust_points(db, settings, clock, role):
    # given
    actor = await _staff(db, settings, clock, role)
    member = await join(db, settings, clock)

    # when
    result = await _adjust(db, actor, clock, member.id, 250, reason="Goodwill for a late parcel")

    # then
    [entry] = await entries_of(db, member.id)
    assert (
        result.entry_id,
        result.kind,
        result.points,
        result.balance_after,
        result.description,
        result.created_at,
    ) == (entry.id, "ADJUST", 250, 250, "Adjustment: Goodwill for a late parcel", START)
    assert (
        entry.actor_kind,
        entry.actor_id,
        entry.store_id,
        entry.purchase_id,
        entry.idempotency_key,
    ) == ("staff", actor.staff_id, None, None, "adjust-1")
    assert await balance_of(db, member.id) == ledger_service.Balance(available=250, pending=0)
    await assert_ledger_clean(db)


async def test_cashiers_members_and_the_anonymous_may_not_adjust(db, settings, clock):
    # given
    cashier = await _staff(db, settings, clock, "CASHIER")
    member = await join(db, settings, clock)
    actors = [cashier, MemberActor(member.id), SystemActor("cli"), None]

    # when
    codes = []
    for actor in actors:
        with pytest.raises(DomainError) as error:
            await _adjust(db, actor, clock, member.id, 250)
        codes.append(error.value.code)

    # then
    assert codes == ["FORBIDDEN"] * 4
    assert await counts(db, *LEDGER_TABLES) == NOTHING_WRITTEN


async def test_a_reason_is_required(db, settings, clock):
    # given
    admin = await _staff(db, settings, clock, "ADMIN")
    member = await join(db, settings, clock)
    reasons = ["", "   ", "\t\n", "x" * 201, "Goodwill\x00", "\x1b[31mGoodwill", "Goodwill\x7f"]

    # when
    errors = []
    for reason in reasons:
        with pytest.raises(DomainError) as error:
            await _adjust(db, admin, clock, member.id, 250, reason=reason)
        errors.append((error.value.code, error.value.field))

    # then
    assert errors == [("INVALID_INPUT", "reason")] * len(reasons)
    assert await counts(db, *LEDGER_TABLES) == NOTHING_WRITTEN


async def test_a_reason_is_trimmed_and_may_have_200_characters(db, settings, clock):
    # given
    admin = await _staff(db, settings, clock, "ADMIN")
    member = await join(db, settings, clock)

    # when
    short = await _adjust(db, admin, clock, member.id, 10, reason="  Late \n parcel  ")
    long = await _adjust(db, admin, clock, member.id, 20, reason="y" * 200, key="adjust-2")

    # then
    assert short.description == "Adjustment: Late parcel"
    assert long.description == "Adjustment: " + "y" * 200
    await assert_ledger_clean(db)


async def test_zero_or_absurd_points_are_refused(db, settings, clock):
    # given
    admin = await _staff(db, settings, clock, "ADMIN")
    member = await join(db, settings, clock)

    # when
    errors = []
    for points in [0, 10_000_001, -10_000_001]:
        with pytest.raises(DomainError) as error:
            await _adjust(db, admin, clock, member.id, points)
        errors.append((error.value.code, error.value.field))

    # then
    assert errors == [("INVALID_INPUT", "points")] * 3
    assert await counts(db, *LEDGER_TABLES) == NOTHING_WRITTEN


async def test_the_largest_adjustment_is_ten_million_points(db, settings, clock):
    # given
    admin = await _staff(db, settings, clock, "ADMIN")
    member = await join(db, settings, clock)

    # when
    given = await _adjust(db, admin, clock, member.id, 10_000_000)
    taken = await _adjust(db, admin, clock, member.id, -10_000_000, key="adjust-2")

    # then
    assert (given.balance_after, taken.balance_after) == (10_000_000, 0)
    await assert_ledger_clean(db)


async def test_points_earned_in_a_lifetime_stay_within_the_apis_integers(db, settings, clock):
    # given: a member who has earned (and lost) all but 100 of what an Int can say
    admin = await _staff(db, settings, clock, "ADMIN")
    member = await join(db, settings, clock)
    await tamper(
        db, "UPDATE member_accounts SET lifetime_earned = :points WHERE member_id = :id",
        points=2**31 - 1 - 100, id=member.id,
    )  # fmt: skip

    # when
    with pytest.raises(DomainError) as refused:
        await _adjust(db, admin, clock, member.id, 101)
    allowed = await _adjust(db, admin, clock, member.id, 100, key="adjust-2")

    # then
    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", "points")
    assert allowed.balance_after == 100
    await assert_ledger_clean(db)


async def test_taking_more_than_the_balance_is_refused_and_writes_nothing(db, settings, clock):
    # given
    admin = await _staff(db, settings, clock, "ADMIN")
    member = await join(db, settings, clock)
    await _adjust(db, admin, clock, member.id, 100)
    before = await counts(db, *LEDGER_TABLES)

    # when
    with pytest.raises(InsufficientPoints) as error:
        await _adjust(db, admin, clock, member.id, -101, key="adjust-2")

    # then
    assert (error.value.code, error.value.field, error.value.available) == (
        "INSUFFICIENT_POINTS",
        "points",
        100,
    )
    assert await counts(db, *LEDGER_TABLES) == before
    assert await balance_of(db, member.id) == ledger_service.Balance(available=100, pending=0)
    taken = await _adjust(db, admin, clock, member.id, -100, key="adjust-2")
    assert taken.balance_after == 0
    await assert_ledger_clean(db)


async def test_a_replay_returns_the_same_entry(db, settings, clock):
    # given
    admin = await _staff(db, settings, clock, "ADMIN")
    member = await join(db, settings, clock)
    first = await _adjust(db, admin, clock, member.id, 250)
    clock.advance(minutes=5)

    # when
    replay = await _adjust(db, admin, clock, member.id, 250)

    # then
    assert replay == first
    assert [(e.kind, e.points) for e in await entries_of(db, member.id)] == [("ADJUST", 250)]
    await assert_ledger_clean(db)


async def test_a_key_reused_with_other_input_is_refused(db, settings, clock):
    # given
    admin = await _staff(db, settings, clock, "ADMIN")
    member = await join(db, settings, clock)
    await _adjust(db, admin, clock, member.id, 250)

    # when
    errors = []
    for points, reason in [(251, "Goodwill"), (250, "Another reason"), (-250, "Goodwill")]:
        with pytest.raises(DomainError) as error:
            await _adjust(db, admin, clock, member.id, points, reason=reason)
        errors.append((error.value.code, error.value.field))

    # then
    assert errors == [("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")] * 3
    assert [(e.kind, e.points) for e in await entries_of(db, member.id)] == [("ADJUST", 250)]


async def test_one_key_of_two_staff_members_makes_two_adjustments(db, settings, clock):
    # given
    admin = await _staff(db, settings, clock, "ADMIN")
    manager = await _staff(db, settings, clock, "MANAGER", email="manager@example.com")
    member = await join(db, settings, clock)

    # when
    by_admin = await _adjust(db, admin, clock, member.id, 250)
    by_manager = await _adjust(db, manager, clock, member.id, 250)

    # then
    assert by_admin.entry_id != by_manager.entry_id
    assert [(e.actor_id, e.points) for e in await entries_of(db, member.id)] == [
        (admin.staff_id, 250),
        (manager.staff_id, 250),
    ]
    await assert_ledger_clean(db)


async def test_an_unknown_or_malformed_member_is_refused(db, settings, clock):
    # given
    admin = await _staff(db, settings, clock, "ADMIN")
    member_ids = [str(uuid.UUID(int=7)), "not-an-id", "", "٠١٢٣٤٥٦٧-٨٩ab-cdef-0123-456789abcdef"]

    # when
    errors = []
    for member_id in member_ids:
        with pytest.raises(DomainError) as error:
            await _adjust(db, admin, clock, member_id, 250)
        errors.append((error.value.code, error.value.field))

    # then
    assert errors == [
        ("NOT_FOUND", "memberId"),
        ("INVALID_INPUT", "memberId"),
        ("INVALID_INPUT", "memberId"),
        ("INVALID_INPUT", "memberId"),
    ]
    assert await counts(db, *LEDGER_TABLES) == NOTHING_WRITTEN


async def test_a_malformed_idempotency_key_is_refused(db, settings, clock):
    # given
    admin = await _staff(db, settings, clock, "ADMIN")
    member = await join(db, settings, clock)

    # when
    errors = []
    for key in ["", "   ", "k" * 201, "key\x00"]:
        with pytest.raises(DomainError) as error:
            await _adjust(db, admin, clock, member.id, 250, key=key)
        errors.append((error.value.code, error.value.field))

    # then
    assert errors == [("INVALID_INPUT", "idempotencyKey")] * 4
    assert await counts(db, *LEDGER_TABLES) == NOTHING_WRITTEN
