"""Many tills at once for one member with an offer usable once: exactly one purchase gets it.
The uses are counted under the member's account lock that the purchase already holds, and
numbered under a unique key; `verify-ledger` stays clean (the directory's autouse fixture)."""

from __future__ import annotations

from app.checkout import service as checkout_service
from tests.concurrency.conftest import assert_ran_concurrently
from tests.concurrency.test_ledger_races import at_once, errors_of
from tests.service.checkout.tills import account_of, command, new_member, open_till, scan
from tests.service.offers.helpers import make_offer, uses_of

TILLS = 12


async def test_an_offer_usable_once_applies_to_exactly_one_of_many_purchases(
    db, settings, clock, connections
):
    # given: a checkout per receipt, all of one member, and a 100-point offer usable once
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await make_offer(db, clock, "Once", value=100, uses_per_member=1)
    checkouts = [await scan(db, clock, at, member) for _ in range(TILLS)]
    purchases = [command(opened.checkout.id, f"R-{n}", 1000) for n, opened in enumerate(checkouts)]

    # when
    results = await at_once(
        db,
        connections,
        [
            (lambda p=p: checkout_service.complete_purchase(db, at.actor, clock, p))
            for p in purchases
        ],
    )

    # then: 10 points per purchase, and the offer's 100 once
    assert errors_of(results) == []
    assert_ran_concurrently(db, connections)
    assert sorted(len(r.applied_offers) for r in results) == [0] * (TILLS - 1) + [1]
    assert sum(r.points_earned for r in results) == 10 * TILLS + 100
    assert await uses_of(db, member.id) == [("Once", 1, 100, 0)]
    assert (await account_of(db, member.id)).available == 10 * TILLS + 100
