"""offers_service.activate_offer and create_offer: refusals write nothing."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from app.auth.actors import MemberActor, StaffActor
from app.errors import DomainError
from app.offers import service as offers_service
from app.offers.models import Offer, OfferActivation
from app.offers.rules import NewOffer
from tests.conftest import START
from tests.service.checkout.tills import buy, new_member, open_till
from tests.service.helpers import count_rows
from tests.service.offers.helpers import make_offer


async def refused(call) -> tuple[str, str | None]:
    with pytest.raises(DomainError) as raised:
        await call
    return raised.value.code, raised.value.field


async def test_activating_records_once_and_again_changes_nothing(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    offer = await make_offer(db, clock, "Activate", requires_activation=True)
    actor = MemberActor(member.id)

    # when
    first = await offers_service.activate_offer(db, actor, clock, str(offer.id))
    again = await offers_service.activate_offer(db, actor, clock, str(offer.id))

    # then
    assert (first.offer.id, first.activated, again.activated) == (offer.id, True, True)
    assert await count_rows(db, OfferActivation) == 1


async def test_activating_an_automatic_offer_writes_nothing(db, settings, clock):
    # given
    member = await new_member(db, settings, clock)
    offer = await make_offer(db, clock, "Automatic")

    # when
    item = await offers_service.activate_offer(db, MemberActor(member.id), clock, str(offer.id))

    # then
    assert item.activated is True
    assert await count_rows(db, OfferActivation) == 0


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"ends_at": START + dt.timedelta(hours=1)}, ("OFFER_EXPIRED", "offerId")),
        ({"tier_codes": ["GOLD"]}, ("OFFER_NOT_ELIGIBLE", "offerId")),
        ({"starts_at": START + dt.timedelta(days=3)}, ("OFFER_NOT_ELIGIBLE", "offerId")),
        ({"audience": "BIRTHDAY"}, ("OFFER_NOT_ELIGIBLE", "offerId")),
    ],
)
async def test_refuses_an_ended_or_ineligible_offer(db, settings, clock, fields, expected):
    # given
    member = await new_member(db, settings, clock)
    offer = await make_offer(db, clock, "Refused", requires_activation=True, **fields)
    clock.advance(hours=2)

    # when
    result = await refused(
        offers_service.activate_offer(db, MemberActor(member.id), clock, str(offer.id))
    )

    # then
    assert result == expected
    assert await count_rows(db, OfferActivation) == 0


async def test_refuses_an_offer_used_up(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    offer = await make_offer(db, clock, "Once", uses_per_member=1)
    await buy(db, clock, at, member, "R-1", 1000)

    # when
    result = await refused(
        offers_service.activate_offer(db, MemberActor(member.id), clock, str(offer.id))
    )

    # then
    assert result == ("OFFER_NOT_ELIGIBLE", "offerId")


@pytest.mark.parametrize("raw", ["not-an-id", str(uuid.uuid4())])
async def test_refuses_an_unknown_offer(db, settings, clock, raw):
    # given
    member = await new_member(db, settings, clock)

    # when
    result = await refused(offers_service.activate_offer(db, MemberActor(member.id), clock, raw))

    # then
    assert result == ("OFFER_NOT_FOUND", "offerId")


async def test_only_members_activate_and_only_admins_create(db, settings, clock):
    # given
    offer = await make_offer(db, clock, "Any")
    cashier = StaffActor(uuid.uuid4(), "CASHIER", frozenset())
    new = NewOffer(title="T", description="D", kind="BONUS_POINTS", value=10)

    # when
    activating = await refused(offers_service.activate_offer(db, cashier, clock, str(offer.id)))
    creating = await refused(offers_service.create_offer(db, cashier, clock, new))

    # then
    assert (activating[0], creating[0]) == ("FORBIDDEN", "FORBIDDEN")
    assert await count_rows(db, Offer) == 1


async def test_create_refuses_an_unknown_store_and_writes_nothing(db, settings, clock):
    # when
    result = await refused(make_offer(db, clock, "Nowhere", store_ids=[uuid.uuid4()]))

    # then
    assert result == ("INVALID_INPUT", "storeIds")
    assert await count_rows(db, Offer) == 0
