"""The program's rules: version 1 holds DESIGN.md's defaults; every change writes a version."""

from __future__ import annotations

import uuid

import pytest

from app.auth.actors import MemberActor, StaffActor
from app.errors import DomainError
from app.program import service as program_service
from app.program.models import ProgramVersion
from app.program.rules import CategoryRule, ProgramRules, Tier
from app.tiers import service as tiers_service
from tests.service.helpers import count_rows
from tests.support import SYSTEM, create_member, create_staff

DEFAULTS = ProgramRules(
    version=1,
    name="Loyalty",
    currency="USD",
    earn_points=1,
    earn_per_amount=100,
    point_value_points=100,
    point_value_amount=100,
    redeem_min_points=100,
    redeem_max_percent=50,
    pending_days=0,
    expiry_days=365,
    tier_window_days=365,
    tiers=(
        Tier("BRONZE", "Bronze", 0, 100, ("Earn 1 point per 1.00",)),
        Tier("SILVER", "Silver", 1000, 125, ("Earn 25 % more points",)),
        Tier("GOLD", "Gold", 5000, 150, ("Earn 50 % more points", "Gold-only offers")),
        Tier(
            "PLATINUM",
            "Platinum",
            15000,
            200,
            ("Earn double points", "Platinum-only rewards", "Early access to sales"),
        ),
    ),
    category_rules={"gift-cards": CategoryRule(multiplier_percent=0)},
    referral_points=500,
    referral_min_purchase=1000,
    referral_monthly_cap=10,
    birthday_points=200,
)


@pytest.fixture
async def admin(db, settings, clock) -> StaffActor:
    staff = await create_staff(db, settings, clock, email="admin@example.com", role="ADMIN")
    return StaffActor(staff.id, "ADMIN")


async def current(db) -> ProgramRules:
    async with db.read() as session:
        return await program_service.current_rules(session)


async def version(db, number: int) -> ProgramRules:
    async with db.read() as session:
        return await program_service.rules_version(session, number)


async def test_version_one_holds_the_design_defaults(db):
    # when
    rules = await current(db)

    # then
    assert rules == DEFAULTS
    assert [str(tier.earn_multiplier) for tier in rules.tiers] == ["1", "1.25", "1.5", "2"]
    assert await count_rows(db, ProgramVersion) == 1


async def test_update_writes_version_two_and_keeps_version_one(db, clock, admin):
    # when
    updated = await program_service.update_program(
        db, admin, clock, {"earn_points": 2, "redeem_max_percent": 30, "name": "Club"}
    )

    # then
    expected = ProgramRules(
        **{
            **{f: getattr(DEFAULTS, f) for f in DEFAULTS.__slots__},
            "version": 2,
            "earn_points": 2,
            "redeem_max_percent": 30,
            "name": "Club",
        }
    )
    assert updated == expected
    assert await current(db) == expected
    assert await version(db, 1) == DEFAULTS
    assert await version(db, 2) == expected
    assert await count_rows(db, ProgramVersion) == 2


async def test_the_admin_is_recorded_as_the_author(db, clock, admin):
    # when
    await program_service.update_program(db, admin, clock, {"birthday_points": 300})

    # then
    async with db.read() as session:
        row = await session.get(ProgramVersion, 2)
    assert row is not None
    assert (row.created_by, row.birthday_points, row.created_at) == (
        admin.staff_id,
        300,
        clock.now(),
    )


async def test_an_unknown_version_is_not_found(db):
    # when
    with pytest.raises(DomainError) as raised:
        await version(db, 2)

    # then
    assert raised.value.code == "NOT_FOUND"


async def test_the_currency_cannot_change(db, clock, admin):
    # when
    with pytest.raises(DomainError) as raised:
        await program_service.update_program(db, admin, clock, {"currency": "EUR"})

    # then
    assert (raised.value.code, raised.value.field) == ("INVALID_INPUT", "currency")
    assert await count_rows(db, ProgramVersion) == 1


@pytest.mark.parametrize("changes", [{"tiers": ()}, {"version": 7}, {"colour": "red"}])
async def test_refuses_fields_that_are_not_settings(db, clock, changes, admin):
    # when
    with pytest.raises(DomainError) as raised:
        await program_service.update_program(db, admin, clock, changes)

    # then
    assert raised.value.code == "INVALID_INPUT"
    assert await count_rows(db, ProgramVersion) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"redeem_max_percent": 101}, "redeemMaxPercent"),
        ({"earn_per_amount": 0}, "earnPerAmount"),
        ({"name": "  "}, "name"),
        ({"expiry_days": 0}, "expiryDays"),
    ],
)
async def test_refuses_values_out_of_range(db, clock, changes, field, admin):
    # when
    with pytest.raises(DomainError) as raised:
        await program_service.update_program(db, admin, clock, changes)

    # then
    assert (raised.value.code, raised.value.field) == ("INVALID_INPUT", field)
    assert await count_rows(db, ProgramVersion) == 1


@pytest.mark.parametrize(
    "actor", [StaffActor(uuid.uuid4(), "MANAGER"), StaffActor(uuid.uuid4(), "CASHIER")]
)
async def test_only_admins_change_the_program(db, clock, actor):
    # when
    with pytest.raises(DomainError) as raised:
        await program_service.update_program(db, actor, clock, {"earn_points": 5})

    # then
    assert raised.value.code == "FORBIDDEN"
    assert await count_rows(db, ProgramVersion) == 1


async def test_set_tier_adds_a_tier_in_threshold_order(db, clock):
    # given
    diamond = Tier("DIAMOND", "Diamond", 30000, 300, ("Triple points",))

    # when
    updated = await program_service.set_tier(db, SYSTEM, clock, diamond)

    # then
    assert updated.version == 2
    assert updated.tiers == (*DEFAULTS.tiers, diamond)
    assert (await version(db, 1)).tiers == DEFAULTS.tiers


async def test_set_tier_changes_the_tier_with_the_same_code(db, clock, admin):
    # given
    silver = Tier("SILVER", "Silver+", 800, 130)

    # when
    updated = await program_service.set_tier(db, admin, clock, silver)

    # then
    assert [(t.code, t.name, t.threshold, t.multiplier_percent) for t in updated.tiers] == [
        ("BRONZE", "Bronze", 0, 100),
        ("SILVER", "Silver+", 800, 130),
        ("GOLD", "Gold", 5000, 150),
        ("PLATINUM", "Platinum", 15000, 200),
    ]
    assert (await current(db)).tier("SILVER") == silver


@pytest.mark.parametrize(
    ("tier", "field"),
    [
        (Tier("GOLD2", "Gold 2", 5000, 150), "threshold"),
        (Tier("gold", "Gold", 6000, 150), "code"),
        (Tier("DIAMOND", "Diamond", 30000, 99), "earnMultiplier"),
        (Tier("DIAMOND", " ", 30000, 300), "name"),
    ],
)
async def test_set_tier_refuses_a_bad_tier(db, clock, tier, field, admin):
    # when
    with pytest.raises(DomainError) as raised:
        await program_service.set_tier(db, admin, clock, tier)

    # then
    assert (raised.value.code, raised.value.field) == ("INVALID_INPUT", field)
    assert await count_rows(db, ProgramVersion) == 1


async def test_remove_tier_drops_a_tier_nobody_holds(db, settings, clock, admin):
    # given
    await create_member(db, settings, clock)

    # when
    updated = await tiers_service.remove_tier(db, admin, clock, "PLATINUM")

    # then
    assert updated.version == 2
    assert [t.code for t in updated.tiers] == ["BRONZE", "SILVER", "GOLD"]
    assert [t.code for t in (await version(db, 1)).tiers] == [
        "BRONZE",
        "SILVER",
        "GOLD",
        "PLATINUM",
    ]


async def test_remove_tier_refuses_a_held_tier(db, settings, clock, admin):
    # given
    await create_member(db, settings, clock)

    # when
    with pytest.raises(DomainError) as raised:
        await tiers_service.remove_tier(db, admin, clock, "BRONZE")

    # then
    assert (raised.value.code, raised.value.field) == ("CONFLICT", "code")
    assert await count_rows(db, ProgramVersion) == 1


async def test_remove_tier_refuses_an_unknown_tier(db, clock, admin):
    # when
    with pytest.raises(DomainError) as raised:
        await tiers_service.remove_tier(db, admin, clock, "DIAMOND")

    # then
    assert (raised.value.code, raised.value.field) == ("NOT_FOUND", "code")


async def test_remove_tier_refuses_the_lowest_tier_even_when_nobody_holds_it(db, clock, admin):
    # when
    with pytest.raises(DomainError) as raised:
        await tiers_service.remove_tier(db, admin, clock, "BRONZE")

    # then
    assert (raised.value.code, raised.value.field) == ("INVALID_INPUT", "threshold")
    assert await count_rows(db, ProgramVersion) == 1


async def test_members_cannot_change_tiers(db, clock):
    # when
    with pytest.raises(DomainError) as raised:
        await program_service.set_tier(
            db, MemberActor(uuid.uuid4()), clock, Tier("DIAMOND", "Diamond", 30000, 300)
        )

    # then
    assert raised.value.code == "FORBIDDEN"
