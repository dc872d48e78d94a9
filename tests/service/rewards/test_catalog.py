"""createReward and the catalog a member sees."""

from __future__ import annotations

import datetime as dt

import pytest

from app.auth.actors import StaffActor
from app.errors import DomainError
from app.kit.ids import new_id
from app.kit.money import Money
from app.rewards import service as rewards_service
from tests.service.checkout.tills import new_member, open_till, refused
from tests.service.rewards.support import as_member, new_reward
from tests.support import SYSTEM, create_store


async def catalog(db, actor, clock, *, first: int = 20, after: str | None = None):
    async with db.read() as session:
        return await rewards_service.list_rewards(
            session, actor, now=clock.now(), first=first, after=after
        )


async def test_create_reward_keeps_what_the_admin_gave(db, clock):
    # given
    store = await create_store(db, clock)

    # when
    item = await rewards_service.create_reward(
        db,
        SYSTEM,
        clock,
        rewards_service.NewReward(
            title="  Free   coffee ",
            description="Any size.\nAny milk.",
            kind="FREE_PRODUCT",
            points_cost=150,
            value=Money(450, "USD"),
            stock=20,
            tier_codes=["platinum", "gold"],
            store_ids=[str(store.id)],
            starts_at=clock.now(),
            ends_at=clock.now() + dt.timedelta(days=30),
            voucher_valid_days=14,
        ),
    )

    # then
    reward = item.reward
    assert item.available is True
    assert (reward.title, reward.description, reward.kind, reward.points_cost, reward.value) == (
        "Free coffee",
        "Any size.\nAny milk.",
        "FREE_PRODUCT",
        150,
        450,
    )
    assert (reward.stock, reward.tier_codes, reward.store_ids, reward.voucher_valid_days) == (
        20,
        ["GOLD", "PLATINUM"],
        [str(store.id)],
        14,
    )


async def test_create_reward_defaults_to_unlimited_everywhere_for_thirty_days(db, clock):
    # when
    reward = await new_reward(db, clock)

    # then
    assert (reward.stock, reward.tier_codes, reward.store_ids) == (None, [], [])
    assert (reward.starts_at, reward.ends_at, reward.voucher_valid_days, reward.active) == (
        None,
        None,
        30,
        True,
    )


REFUSED = {
    "empty title": ({"title": "  "}, "INVALID_INPUT", "title"),
    "unknown kind": ({"kind": "CASH"}, "INVALID_INPUT", "kind"),
    "free": ({"points_cost": 0}, "INVALID_INPUT", "pointsCost"),
    "negative stock": ({"stock": -1}, "INVALID_INPUT", "stock"),
    "unknown tier": ({"tier_codes": ["DIAMOND"]}, "INVALID_INPUT", "tierCodes"),
    "unknown store": ({"store_ids": [str(new_id())]}, "INVALID_INPUT", "storeIds"),
    "not a store id": ({"store_ids": ["store-1"]}, "INVALID_INPUT", "storeIds"),
    "value in euros": ({"value": Money(450, "EUR")}, "CURRENCY_MISMATCH", "value"),
    "negative value": ({"value": Money(-1, "USD")}, "INVALID_INPUT", "value"),
    "ends before it starts": (
        {
            "starts_at": dt.datetime(2026, 7, 1, tzinfo=dt.UTC),
            "ends_at": dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
        },
        "INVALID_INPUT",
        "endsAt",
    ),
    "vouchers for no days": ({"voucher_valid_days": 0}, "INVALID_INPUT", "voucherValidDays"),
}


@pytest.mark.parametrize("name", REFUSED)
async def test_create_reward_refuses_bad_input(db, clock, name):
    # given
    changes, code, field = REFUSED[name]

    # when
    error = await refused(new_reward(db, clock, **changes))

    # then
    assert error == (code, field)
    assert (await catalog(db, SYSTEM, clock)).items == []


async def test_only_an_admin_creates_rewards(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    manager = StaffActor(till.staff.id, "MANAGER", frozenset({till.store.id}))

    # then
    for actor in (as_member(member), till.actor, manager):
        with pytest.raises(DomainError) as raised:
            await rewards_service.create_reward(
                db,
                actor,
                clock,
                rewards_service.NewReward(title="Free coffee", kind="FREE_PRODUCT", points_cost=1),
            )
        assert raised.value.code == "FORBIDDEN"


async def test_the_member_sees_what_it_may_take(db, settings, clock):
    # given: a Bronze member; rewards for everyone, for Gold, out of stock, not yet started
    member = await new_member(db, settings, clock)
    coffee = await new_reward(db, clock, title="Free coffee")
    gold = await new_reward(db, clock, title="Lounge", kind="EXPERIENCE", tier_codes=["GOLD"])
    gone = await new_reward(db, clock, title="Mug", stock=0)
    later = await new_reward(
        db, clock, title="Summer", starts_at=clock.now() + dt.timedelta(days=1)
    )
    await new_reward(db, clock, title="Spring", ends_at=clock.now() + dt.timedelta(hours=1))

    # when: an hour later, the spring reward has ended and is not listed
    clock.advance(hours=1)
    page = await catalog(db, as_member(member), clock)

    # then: newest first
    assert [(i.reward.id, i.available) for i in page.items] == [
        (later.id, False),
        (gone.id, False),
        (gold.id, False),
        (coffee.id, True),
    ]


async def test_staff_see_every_tier_s_reward_as_available(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    await new_reward(db, clock, title="Lounge", kind="EXPERIENCE", tier_codes=["GOLD"])

    # when
    page = await catalog(db, till.actor, clock)

    # then
    assert [(i.reward.title, i.available) for i in page.items] == [("Lounge", True)]


async def test_the_catalog_pages_by_keyset(db, settings, clock):
    # given: five rewards a second apart
    member = await new_member(db, settings, clock)
    titles = []
    for n in range(5):
        titles.append((await new_reward(db, clock, title=f"Reward {n}")).title)
        clock.advance(seconds=1)

    # when
    first = await catalog(db, as_member(member), clock, first=2)
    second = await catalog(db, as_member(member), clock, first=2, after=first.end_cursor)
    third = await catalog(db, as_member(member), clock, first=2, after=second.end_cursor)

    # then
    assert [i.reward.title for i in first.items] == ["Reward 4", "Reward 3"]
    assert [i.reward.title for i in second.items] == ["Reward 2", "Reward 1"]
    assert [i.reward.title for i in third.items] == ["Reward 0"]
    assert (first.has_next, second.has_next, third.has_next) == (True, True, False)
