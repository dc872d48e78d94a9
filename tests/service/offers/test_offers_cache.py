"""The process's cache of offers: the till skips the offers query while none is open, and a new
offer reaches the till at once in the process that created it, within the TTL in the others."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from app.checkout import service as checkout_service
from app.db import Database, watching_statements
from app.offers import service as offers_service
from app.offers.rules import NewOffer
from tests.service.checkout.tills import command, new_member, open_till, scan
from tests.support import SYSTEM


@contextmanager
def offer_queries(db: Database) -> Iterator[list[str]]:
    """The statements that read the offers table while the block runs."""
    seen: list[str] = []

    def watch(sql: str) -> None:
        if "FROM offers" in sql:
            seen.append(sql)

    with watching_statements(db.engine, watch):
        yield seen


def bonus(title: str = "Bonus") -> NewOffer:
    return NewOffer(title=title, description=f"{title}, described", kind="BONUS_POINTS", value=50)


async def _purchase(db, clock, at, member, receipt, cache):  # type: ignore[no-untyped-def]
    opened = await scan(db, clock, at, member)
    return await checkout_service.complete_purchase(
        db, at.actor, clock, command(opened.checkout.id, receipt, 1000), offers_cache=cache
    )


async def test_with_no_offer_open_the_till_asks_once_per_ttl(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    cache = offers_service.OffersCache(ttl_seconds=60)

    # when: three purchases
    with offer_queries(db) as queries:
        for n in range(3):
            receipt = await _purchase(db, clock, at, member, f"R-{n}", cache)

    # then: one query filled the cache; the purchases earned without offers
    assert len(queries) == 1
    assert receipt.applied_offers == ()


async def test_an_offer_created_in_this_process_applies_at_the_next_purchase(db, settings, clock):
    # given: the cache knows that no offer is open
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    cache = offers_service.OffersCache(ttl_seconds=60)
    await _purchase(db, clock, at, member, "R-1", cache)

    # when
    offer = await offers_service.create_offer(db, SYSTEM, clock, bonus(), cache=cache)
    receipt = await _purchase(db, clock, at, member, "R-2", cache)

    # then
    assert [(o.id, o.points) for o in receipt.applied_offers] == [(offer.id, 50)]


async def test_another_process_sees_a_new_offer_once_its_cache_is_stale(db, settings, clock):
    # given: this process's cache knows that no offer is open; another process creates one
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    cache = offers_service.OffersCache(ttl_seconds=60)
    await _purchase(db, clock, at, member, "R-1", cache)
    offer = await offers_service.create_offer(db, SYSTEM, clock, bonus(), cache=None)

    # when: within the TTL, then after it
    within = await _purchase(db, clock, at, member, "R-2", cache)
    cache.ttl_seconds = 0.0
    cache.clear()  # as if the TTL had passed
    after = await _purchase(db, clock, at, member, "R-3", cache)

    # then
    assert within.applied_offers == ()
    assert [o.id for o in after.applied_offers] == [offer.id]


async def test_an_offer_that_ends_leaves_the_till_while_still_cached(db, settings, clock):
    # given: an offer for one day, cached
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    cache = offers_service.OffersCache(ttl_seconds=3600)
    ends = clock.now() + dt.timedelta(days=1)
    await offers_service.create_offer(
        db, SYSTEM, clock, dataclasses.replace(bonus(), ends_at=ends), cache=cache
    )
    first = await _purchase(db, clock, at, member, "R-1", cache)

    # when: two days later, the cache still fresh
    clock.advance(days=2)
    with offer_queries(db) as queries:
        later = await _purchase(db, clock, at, member, "R-2", cache)

    # then: the cached offer is seen to have ended, without a query
    assert len(first.applied_offers) == 1
    assert later.applied_offers == ()
    assert queries == []
