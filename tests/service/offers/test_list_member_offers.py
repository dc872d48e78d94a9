"""offers_service.list_member_offers: the offers a member may use now, best fit first (equal fits
newest first), keyset-paginated."""

from __future__ import annotations

import datetime as dt

import pytest

from app.kit.pagination import InvalidCursor, InvalidPageSize
from app.offers import service as offers_service
from app.offers.models import Offer, OfferActivation
from app.program import service as program_service
from tests.conftest import START
from tests.support import create_member


async def add_offer(db, title: str, *, created_at: dt.datetime, **fields) -> Offer:
    offer = Offer(
        title=title,
        description=f"{title} description",
        kind="BONUS_POINTS",
        value=100,
        created_at=created_at,
        **fields,
    )
    async with db.transaction() as session:
        session.add(offer)
    return offer


async def list_offers(db, clock, member, *, tier_code="BRONZE", first=10, after=None):
    async with db.read() as session:
        rules = await program_service.current_rules(session)
        return await offers_service.list_member_offers(
            session,
            rules,
            member=member,
            tier_code=tier_code,
            now=clock.now(),
            first=first,
            after=after,
        )


def titles(page) -> list[str]:
    return [item.offer.title for item in page.items]


async def test_a_new_member_without_offers_gets_an_empty_page(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)

    # when
    page = await list_offers(db, clock, member)

    # then
    assert (list(page.items), list(page.cursors), page.has_next, page.end_cursor) == (
        [],
        [],
        False,
        None,
    )


async def test_lists_offers_valid_now_newest_first(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    hour = dt.timedelta(hours=1)
    await add_offer(db, "old", created_at=START - 3 * hour)
    await add_offer(db, "new", created_at=START - hour, ends_at=START + hour)
    await add_offer(db, "ended", created_at=START - 2 * hour, ends_at=START)
    await add_offer(db, "future", created_at=START - 2 * hour, starts_at=START + hour)
    await add_offer(db, "started", created_at=START - 2 * hour, starts_at=START)

    # when
    page = await list_offers(db, clock, member)

    # then
    assert titles(page) == ["new", "started", "old"]
    assert [item.reason for item in page.items] == ["For every member"] * 3


async def test_keeps_offers_of_other_tiers_out(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    await add_offer(db, "gold", created_at=START, tier_codes=["GOLD", "PLATINUM"])
    await add_offer(db, "bronze", created_at=START, tier_codes=["BRONZE"])

    # when
    bronze = await list_offers(db, clock, member)
    gold = await list_offers(db, clock, member, tier_code="GOLD")

    # then
    assert [(i.offer.title, i.reason) for i in bronze.items] == [("bronze", "For Bronze members")]
    assert [(i.offer.title, i.reason) for i in gold.items] == [
        ("gold", "For Gold and Platinum members")
    ]


async def test_marks_activation(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    hour = dt.timedelta(hours=1)
    plain = await add_offer(db, "plain", created_at=START - 3 * hour)
    waiting = await add_offer(db, "waiting", created_at=START - 2 * hour, requires_activation=True)
    active = await add_offer(db, "active", created_at=START - hour, requires_activation=True)
    async with db.transaction() as session:
        session.add(OfferActivation(member_id=member.id, offer_id=active.id, activated_at=START))

    # when
    page = await list_offers(db, clock, member)

    # then
    assert [(i.offer.id, i.activated) for i in page.items] == [
        (active.id, True),
        (waiting.id, False),
        (plain.id, True),
    ]


async def test_pages_with_cursors_across_equal_timestamps(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    offers = [
        await add_offer(db, f"offer {n}", created_at=START - dt.timedelta(minutes=n // 2))
        for n in range(5)
    ]
    expected = [
        o.title for o in sorted(offers, key=lambda o: (-o.created_at.timestamp(), str(o.id)))
    ]

    # when
    first = await list_offers(db, clock, member, first=2)
    second = await list_offers(db, clock, member, first=2, after=first.end_cursor)
    third = await list_offers(db, clock, member, first=2, after=second.end_cursor)

    # then
    assert (titles(first), first.has_next) == (expected[0:2], True)
    assert (titles(second), second.has_next) == (expected[2:4], True)
    assert (titles(third), third.has_next) == (expected[4:], False)
    assert sorted(expected[0:2]) == ["offer 0", "offer 1"]
    assert expected[4] == "offer 4"


async def test_a_partial_rollout_reaches_the_same_members_every_time(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    offer = await add_offer(db, "half", created_at=START, rollout_percent=50)
    reached = offers_service.in_rollout(offer.id, member.id, 50)

    # when
    pages = [await list_offers(db, clock, member) for _ in range(2)]

    # then
    assert [titles(page) for page in pages] == [["half"] if reached else []] * 2
    assert offers_service.in_rollout(offer.id, member.id, 0) is False
    assert offers_service.in_rollout(offer.id, member.id, 100) is True


async def test_refuses_a_foreign_cursor(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)

    # when / then
    with pytest.raises(InvalidCursor):
        await list_offers(db, clock, member, after="bm90LWEtY3Vyc29y")


@pytest.mark.parametrize("first", [0, 101])
async def test_refuses_a_page_size_out_of_range(db, settings, clock, first):
    # given
    _, member = await create_member(db, settings, clock)

    # when / then
    with pytest.raises(InvalidPageSize):
        await list_offers(db, clock, member, first=first)
