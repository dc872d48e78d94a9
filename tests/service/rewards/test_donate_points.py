"""createCause and donatePoints: points to a cause through the ledger, each cause's total."""

from __future__ import annotations

import pytest

from app.kit.ids import new_id
from app.rewards import service as rewards_service
from tests.service.checkout.tills import (
    assert_ledger_clean,
    buy,
    lots_of,
    new_member,
    open_till,
    refused,
)
from tests.service.rewards.support import (
    as_member,
    cause_row,
    give,
    history,
    new_cause,
    snapshot,
)
from tests.support import SYSTEM


def donate(db, clock, member, cause_id, points, key="donate-1"):
    return rewards_service.donate_points(
        db, as_member(member), clock, cause_id=str(cause_id), points=points, idempotency_key=key
    )


async def test_a_donation_spends_points_and_grows_the_cause(db, settings, clock):
    # given
    ann = await new_member(db, settings, clock, "ann@example.com")
    bob = await new_member(db, settings, clock, "bob@example.com")
    await give(db, clock, ann, 300)
    await give(db, clock, bob, 300)
    cause = await new_cause(db, clock)

    # when
    receipt = await donate(db, clock, ann, cause.id, 120)
    await donate(db, clock, bob, cause.id, 80)

    # then
    assert (receipt.donation.points, receipt.donation.member_id, receipt.cause.name) == (
        120,
        ann.id,
        "Trees for the city",
    )
    assert receipt.cause.total_points == 120
    stored = await cause_row(db, cause.id)
    assert (stored.total_points, stored.donations) == (200, 2)
    assert (await history(db, ann.id))[-1] == ("DONATION", -120, "Donation to Trees for the city")
    await assert_ledger_clean(db)


async def test_a_donation_spends_the_oldest_points_first(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, till, member, "D-1", 10000)
    clock.advance(days=10)
    await buy(db, clock, till, member, "D-2", 10000)
    cause = await new_cause(db, clock)

    # when
    await donate(db, clock, member, cause.id, 130)

    # then
    assert [(lot.points, lot.remaining) for lot in await lots_of(db, member.id)] == [
        (100, 0),
        (100, 70),
    ]
    await assert_ledger_clean(db)


async def test_a_replay_returns_the_same_donation(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 300)
    cause = await new_cause(db, clock)
    first = await donate(db, clock, member, cause.id, 100)
    before = await snapshot(db)

    # when
    again = await donate(db, clock, member, cause.id, 100)

    # then
    assert again.donation.id == first.donation.id
    assert await snapshot(db) == before


async def test_a_key_replayed_with_other_points_is_refused(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 300)
    cause = await new_cause(db, clock)
    await donate(db, clock, member, cause.id, 100)
    before = await snapshot(db)

    # when
    error = await refused(donate(db, clock, member, cause.id, 101))

    # then
    assert error == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    assert await snapshot(db) == before


@pytest.mark.parametrize(
    ("points", "code"),
    [
        (0, "INVALID_INPUT"),
        (-50, "INVALID_INPUT"),
        (301, "INSUFFICIENT_POINTS"),
        (10**9, "INVALID_INPUT"),
    ],
)
async def test_zero_negative_or_too_much_is_refused(db, settings, clock, points, code):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 300)
    cause = await new_cause(db, clock)
    before = await snapshot(db)

    # when
    error = await refused(donate(db, clock, member, cause.id, points))

    # then
    assert error == (code, "points")
    assert await snapshot(db) == before


async def test_unknown_causes_are_refused(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 300)
    before = await snapshot(db)

    # then
    assert await refused(donate(db, clock, member, new_id(), 10)) == ("CAUSE_NOT_FOUND", "causeId")
    assert await refused(donate(db, clock, member, "trees", 10)) == ("INVALID_INPUT", "causeId")
    assert await snapshot(db) == before


async def test_cause_names_are_unique(db, clock):
    # given
    await new_cause(db, clock)

    # when
    error = await refused(new_cause(db, clock, name=" Trees  for the city "))

    # then
    assert error == ("ALREADY_EXISTS", "name")


async def test_only_an_admin_creates_causes(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)

    # when
    error = await refused(
        rewards_service.create_cause(db, till.actor, clock, rewards_service.NewCause(name="X"))
    )

    # then
    assert error == ("FORBIDDEN", None)


async def test_causes_are_listed_with_their_totals(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 300)
    trees = await new_cause(db, clock)
    clock.advance(seconds=1)
    await rewards_service.create_cause(
        db, SYSTEM, clock, rewards_service.NewCause(name="Food bank")
    )
    await donate(db, clock, member, trees.id, 250)

    # when
    async with db.read() as session:
        page = await rewards_service.list_causes(session, first=10, after=None)

    # then
    assert [(c.name, c.total_points) for c in page.items] == [
        ("Food bank", 0),
        ("Trees for the city", 250),
    ]
