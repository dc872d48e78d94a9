"""redeemVoucher at the till: once, before it expires, in a store it is valid in."""

from __future__ import annotations

from app.auth.actors import StaffActor
from app.rewards import rules as reward_rules
from app.rewards import service as rewards_service
from tests.service.checkout.tills import assert_ledger_clean, new_member, open_till, refused
from tests.service.rewards.support import as_member, events, give, new_reward, snapshot
from tests.support import create_staff, create_store


async def voucher_for(db, settings, clock, **reward_fields):
    member = await new_member(db, settings, clock)
    await give(db, clock, member, 500)
    reward = await new_reward(db, clock, **reward_fields)
    issued = await rewards_service.redeem_reward(
        db, as_member(member), clock, reward_id=str(reward.id), idempotency_key="redeem"
    )
    return member, issued.voucher


def take(db, clock, till, code, *, key="till-1", store_id=None):
    return rewards_service.redeem_voucher(
        db, till.actor, clock, code=code, store_id=str(store_id or till.store.id),
        idempotency_key=key,
    )  # fmt: skip


async def test_the_cashier_takes_the_voucher_once(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    member, voucher = await voucher_for(db, settings, clock)
    clock.advance(days=2)
    points_before = (await snapshot(db)).accounts

    # when
    taken = await take(db, clock, till, voucher.code)

    # then
    assert taken.voucher.id == voucher.id
    assert (taken.voucher.used_at, taken.voucher.used_store_id, taken.voucher.used_staff_id) == (
        clock.now(),
        till.store.id,
        till.staff.id,
    )
    assert taken.reward.title == "Free coffee"
    assert (await snapshot(db)).accounts == points_before
    [event] = await events(db, "voucher.redeemed")
    assert (event.member_id, event.data["voucherId"], event.data["storeId"]) == (
        member.id,
        str(voucher.id),
        str(till.store.id),
    )
    await assert_ledger_clean(db)


async def test_the_code_may_be_typed_in_lower_case_without_dashes(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    _, voucher = await voucher_for(db, settings, clock)
    typed = reward_rules.format_voucher_code(voucher.code).lower().replace("-", " ")

    # when
    taken = await take(db, clock, till, typed)

    # then
    assert taken.voucher.id == voucher.id


async def test_a_replay_of_the_till_returns_the_same_answer(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    _, voucher = await voucher_for(db, settings, clock)
    first = await take(db, clock, till, voucher.code)
    before = await snapshot(db)

    # when
    clock.advance(minutes=1)
    again = await take(db, clock, till, voucher.code)

    # then
    assert (again.voucher.id, again.voucher.used_at) == (first.voucher.id, first.voucher.used_at)
    assert await snapshot(db) == before


async def test_a_voucher_used_once_is_refused_the_second_time(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    _, voucher = await voucher_for(db, settings, clock)
    await take(db, clock, till, voucher.code)
    before = await snapshot(db)

    # when
    error = await refused(take(db, clock, till, voucher.code, key="till-2"))

    # then
    assert error == ("VOUCHER_ALREADY_USED", "code")
    assert await snapshot(db) == before


async def test_an_expired_voucher_is_refused(db, settings, clock):
    # given: vouchers valid for 7 days
    till = await open_till(db, settings, clock)
    _, voucher = await voucher_for(db, settings, clock, voucher_valid_days=7)
    clock.advance(days=7)
    before = await snapshot(db)

    # when
    error = await refused(take(db, clock, till, voucher.code))

    # then
    assert error == ("VOUCHER_EXPIRED", "code")
    assert await snapshot(db) == before


async def test_a_store_the_voucher_is_not_valid_in_is_refused(db, settings, clock):
    # given: the reward is valid in the north store only; the till is in the main store
    till = await open_till(db, settings, clock)
    north = await create_store(db, clock, code="NORTH", name="North")
    _, voucher = await voucher_for(db, settings, clock, store_ids=[str(north.id)])
    before = await snapshot(db)

    # when
    error = await refused(take(db, clock, till, voucher.code))

    # then
    assert error == ("VOUCHER_NOT_VALID_HERE", "storeId")
    assert await snapshot(db) == before


async def test_a_cashier_acts_only_in_its_stores(db, settings, clock):
    # given: a cashier of the main store names the north store
    till = await open_till(db, settings, clock)
    north = await create_store(db, clock, code="NORTH", name="North")
    _, voucher = await voucher_for(db, settings, clock)

    # when
    error = await refused(take(db, clock, till, voucher.code, store_id=north.id))

    # then
    assert error == ("FORBIDDEN", "storeId")


async def test_the_reward_s_store_takes_it(db, settings, clock):
    # given
    north = await create_store(db, clock, code="NORTH", name="North")
    staff = await create_staff(
        db, settings, clock, email="north@example.com", store_ids=[str(north.id)]
    )
    actor = StaffActor(staff.id, "CASHIER", frozenset({north.id}))
    _, voucher = await voucher_for(db, settings, clock, store_ids=[str(north.id)])

    # when
    taken = await rewards_service.redeem_voucher(
        db, actor, clock, code=voucher.code, store_id=str(north.id), idempotency_key="k"
    )

    # then
    assert taken.voucher.used_store_id == north.id


async def test_unknown_codes_are_refused(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    await voucher_for(db, settings, clock)

    # then
    assert await refused(take(db, clock, till, "ABCD-EFGH-JKLM")) == ("VOUCHER_NOT_FOUND", "code")
    assert await refused(take(db, clock, till, "not a code")) == ("VOUCHER_NOT_FOUND", "code")


async def test_a_key_used_for_another_voucher_is_refused(db, settings, clock):
    # given: one member with two vouchers; the till used its key for the first
    till = await open_till(db, settings, clock)
    member, first = await voucher_for(db, settings, clock)
    second = await rewards_service.redeem_reward(
        db, as_member(member), clock, reward_id=str(first.reward_id), idempotency_key="again"
    )
    await take(db, clock, till, first.code)
    before = await snapshot(db)

    # when
    error = await refused(take(db, clock, till, second.voucher.code))

    # then
    assert error == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    assert await snapshot(db) == before


async def test_members_do_not_take_vouchers(db, settings, clock):
    # given
    till = await open_till(db, settings, clock)
    member, voucher = await voucher_for(db, settings, clock)

    # when
    error = await refused(
        rewards_service.redeem_voucher(
            db,
            as_member(member),
            clock,
            code=voucher.code,
            store_id=str(till.store.id),
            idempotency_key="k",
        )
    )

    # then
    assert error == ("FORBIDDEN", None)
