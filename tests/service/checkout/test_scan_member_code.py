"""checkout_service.scan_member_code: a scanned or typed code opens a 15-minute checkout."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from app.auth.actors import MemberActor, StaffActor
from app.checkout import service as checkout_service
from app.checkout.models import Checkout
from app.kit import luhn
from app.members import codes
from app.members import service as members_service
from tests.conftest import START
from tests.service.checkout.tills import (
    assert_ledger_clean,
    buy,
    new_member,
    open_till,
    refused,
    snapshot,
)
from tests.support import SYSTEM


async def scan_code(db, clock, at, code, *, store_id=None, actor=None):
    return await checkout_service.scan_member_code(
        db,
        actor or at.actor,
        clock,
        at.secret,
        code=code,
        store_id=store_id or str(at.store.id),
    )


async def checkout_row(db, checkout_id):
    async with db.read() as session:
        return await session.get(Checkout, checkout_id)


async def test_a_rotating_code_opens_a_checkout_for_15_minutes(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    code = members_service.rotating_code_for(member, at.secret, now=clock.now()).payload

    # when
    opened = await scan_code(db, clock, at, code)

    # then
    row = await checkout_row(db, opened.checkout.id)
    assert (row.member_id, row.staff_id, row.store_id, row.code_kind) == (
        member.id,
        at.staff.id,
        at.store.id,
        "rotating",
    )
    assert (row.opened_at, row.expires_at) == (START, START + dt.timedelta(minutes=15))
    assert (opened.member.id, opened.available, opened.tier_code, opened.max_redeemable) == (
        member.id,
        0,
        "BRONZE",
        0,
    )


async def test_a_rotating_code_of_the_previous_step_still_opens(db, settings, clock):
    # given: shown 119 s ago (the previous 60 s step at most)
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    code = members_service.rotating_code_for(member, at.secret, now=clock.now()).payload
    clock.advance(seconds=119)

    # when
    opened = await scan_code(db, clock, at, code)

    # then
    assert (opened.checkout.code_kind, opened.checkout.expires_at) == (
        "rotating",
        START + dt.timedelta(seconds=119, minutes=15),
    )


async def test_a_wallet_code_opens_a_checkout(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)

    # when
    opened = await scan_code(db, clock, at, members_service.static_code_for(member, at.secret))

    # then
    assert (opened.checkout.member_id, opened.checkout.code_kind) == (member.id, "static")


async def test_a_typed_card_number_opens_a_checkout(db, settings, clock):
    # given: typed in groups of four, as printed
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    card = member.card_number
    typed = f"{card[:4]} {card[4:8]} {card[8:12]} {card[12:]}"

    # when
    opened = await scan_code(db, clock, at, typed)

    # then
    assert (opened.checkout.member_id, opened.checkout.code_kind) == (member.id, "typed")


async def test_the_checkout_shows_the_balance_and_what_can_be_redeemed(db, settings, clock):
    # given: 250.00 earned 250 points
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    await buy(db, clock, at, member, "R-1", 25000)
    code = members_service.rotating_code_for(member, at.secret, now=clock.now()).payload

    # when
    opened = await scan_code(db, clock, at, code)

    # then
    assert (opened.available, opened.max_redeemable) == (250, 250)
    await assert_ledger_clean(db)


async def test_two_scans_open_two_checkouts(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    code = members_service.rotating_code_for(member, at.secret, now=clock.now()).payload

    # when
    first = await scan_code(db, clock, at, code)
    second = await scan_code(db, clock, at, code)

    # then
    assert first.checkout.id != second.checkout.id
    assert (await snapshot(db)).rows["checkouts"] == 2


async def test_an_expired_rotating_code_is_refused(db, settings, clock):
    # given: two steps old
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    code = members_service.rotating_code_for(member, at.secret, now=clock.now()).payload
    clock.advance(seconds=120)
    before = await snapshot(db)

    # when
    error = await refused(scan_code(db, clock, at, code))

    # then
    assert error == ("CODE_EXPIRED", "code")
    assert await snapshot(db) == before


async def test_a_code_signed_with_another_secret_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    forged = members_service.rotating_code_for(member, b"not-the-secret", now=clock.now())
    before = await snapshot(db)

    # when
    error = await refused(scan_code(db, clock, at, forged.payload))

    # then
    assert error == ("CODE_INVALID", "code")
    assert await snapshot(db) == before


async def test_a_code_with_another_card_number_is_refused(db, settings, clock):
    # given: the MAC of one card on another card's number
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    other = await new_member(db, settings, clock, email="bob@example.com")
    code = members_service.rotating_code_for(member, at.secret, now=clock.now()).payload
    forged = code.replace(member.card_number, other.card_number)

    # when
    error = await refused(scan_code(db, clock, at, forged))

    # then
    assert error == ("CODE_INVALID", "code")


async def test_a_revoked_wallet_code_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    old = members_service.static_code_for(member, at.secret)
    await members_service.revoke_wallet_code(db, MemberActor(member.id), clock)
    before = await snapshot(db)

    # when
    error = await refused(scan_code(db, clock, at, old))

    # then
    assert error == ("CODE_REVOKED", "code")
    assert await snapshot(db) == before


async def test_a_malformed_code_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    await new_member(db, settings, clock)
    raws = [
        "",
        "   ",
        "hello",
        "L1.123.456.ABC",
        "1234 5678",
        "4" * 201,
        "L1\n",
        "١٢٣٤٥٦٧٨٩٠١٢٣٤٥٦",
    ]

    # when
    errors = [await refused(scan_code(db, clock, at, raw)) for raw in raws]

    # then
    assert errors == [("CODE_MALFORMED", "code")] * len(raws)
    assert (await snapshot(db)).rows["checkouts"] == 0


async def test_a_card_number_that_fails_its_check_digit_is_malformed(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    wrong = member.card_number[:15] + str((int(member.card_number[15]) + 1) % 10)

    # when
    error = await refused(scan_code(db, clock, at, wrong))

    # then
    assert error == ("CODE_MALFORMED", "code")


async def test_an_unknown_card_number_is_refused(db, settings, clock):
    # given: a valid number nobody holds
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    body = "700000000000001" if not member.card_number.startswith("700000000000001") else "7" * 15
    unknown = body + luhn.check_digit(body)
    signed = codes.rotating_code(at.secret, unknown, codes.step_at(clock.now().timestamp()))

    # when
    typed = await refused(scan_code(db, clock, at, unknown))
    scanned = await refused(scan_code(db, clock, at, signed))

    # then
    assert typed == ("CARD_NOT_FOUND", "code")
    assert scanned == ("CARD_NOT_FOUND", "code")


async def test_a_cashier_of_another_store_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    other = await open_till(
        db, settings, clock, email="other@example.com", store_code="EAST", store_name="East"
    )
    member = await new_member(db, settings, clock)
    code = members_service.rotating_code_for(member, at.secret, now=clock.now()).payload

    # when: the cashier of EAST scans for MAIN
    error = await refused(scan_code(db, clock, other, code, store_id=str(at.store.id)))

    # then
    assert error == ("FORBIDDEN", "storeId")
    assert (await snapshot(db)).rows["checkouts"] == 0


async def test_an_unknown_store_is_refused(db, settings, clock):
    # given: an admin may act in any store, but this one does not exist
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    code = members_service.rotating_code_for(member, at.secret, now=clock.now()).payload
    admin = StaffActor(at.staff.id, "ADMIN", frozenset())

    # when
    error = await refused(scan_code(db, clock, at, code, store_id=str(uuid.uuid4()), actor=admin))

    # then
    assert error == ("NOT_FOUND", "storeId")
    assert (await snapshot(db)).rows["checkouts"] == 0


async def test_a_malformed_store_id_is_refused(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    code = members_service.rotating_code_for(member, at.secret, now=clock.now()).payload

    # when
    error = await refused(scan_code(db, clock, at, code, store_id="main"))

    # then
    assert error == ("INVALID_INPUT", "storeId")


@pytest.mark.parametrize("actor", [None, SYSTEM], ids=["anonymous", "system"])
async def test_only_staff_scan(db, settings, clock, actor):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    code = members_service.rotating_code_for(member, at.secret, now=clock.now()).payload

    # when
    error = await refused(
        checkout_service.scan_member_code(
            db, actor, clock, at.secret, code=code, store_id=str(at.store.id)
        )
    )

    # then
    assert error == ("FORBIDDEN", None)


async def test_a_member_cannot_scan_itself(db, settings, clock):
    # given
    at = await open_till(db, settings, clock)
    member = await new_member(db, settings, clock)
    code = members_service.rotating_code_for(member, at.secret, now=clock.now()).payload

    # when
    error = await refused(scan_code(db, clock, at, code, actor=MemberActor(member.id)))

    # then
    assert error == ("FORBIDDEN", None)
