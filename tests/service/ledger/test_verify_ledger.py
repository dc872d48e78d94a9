"""verify-ledger: clean after a busy life of two members, and it sees every kind of tampering
done behind the application's back with raw SQL."""

from __future__ import annotations

import uuid

from app.db import Database
from app.ledger.verify import verify_ledger
from tests.service.ledger.scenario import (
    account_of,
    assert_ledger_clean,
    busy,
    entries_of,
    lots_of,
    tamper,
)


async def found(db: Database) -> list[tuple[uuid.UUID, str]]:
    return [(v.member_id, v.rule) for v in (await verify_ledger(db)).violations]


async def test_a_busy_ledger_is_clean(db, settings, clock):
    # given
    life = await busy(db, settings, clock)

    # when
    report = await verify_ledger(db)

    # then
    assert report.violations == []
    assert (report.members, report.entries, report.lots, report.purchases) == (2, 14, 7, 6)
    ann = await account_of(db, life.ann.id)
    bob = await account_of(db, life.bob.id)
    assert (ann.available, ann.pending, ann.debt) == (200, 0, 0)
    assert (bob.available, bob.pending, bob.debt) == (-304, 0, 304)
    assert [(e.kind, e.points, e.balance_after) for e in await entries_of(db, life.bob.id)] == [
        ("EARN", 500, 500),
        ("ADJUST", -20, 480),
        ("REDEEM", -400, 80),
        ("EARN", 16, 96),
        ("REVERSAL", -500, -404),
        ("EARN", 100, -304),
    ]
    assert [(lot.points, lot.remaining) for lot in await lots_of(db, life.ann.id)] == [
        (300, 0),
        (9, 0),
        (50, 0),
        (200, 200),
    ]


async def test_finds_an_entry_whose_points_were_changed(db, settings, clock):
    # given
    life = await busy(db, settings, clock)
    first = (await entries_of(db, life.ann.id))[0]

    # when
    await tamper(db, "UPDATE ledger_entries SET points = 301 WHERE id = :id", id=first.id)

    # then
    ann = life.ann.id
    assert await found(db) == [
        (ann, "balance disagrees with the entries"),
        (ann, "entry altered"),
        (ann, "purchase disagrees with its entries"),
    ]
    [altered] = [v for v in (await verify_ledger(db)).violations if v.rule == "entry altered"]
    assert altered.detail == f"entry 1 ({first.id}) does not match its hash"


async def test_finds_an_entry_whose_words_were_changed(db, settings, clock):
    # given
    life = await busy(db, settings, clock)
    adjustment = (await entries_of(db, life.bob.id))[1]

    # when
    await tamper(
        db,
        "UPDATE ledger_entries SET description = 'Adjustment: Prize' WHERE id = :id",
        id=adjustment.id,
    )

    # then
    assert await found(db) == [(life.bob.id, "entry altered")]


async def test_finds_a_lot_whose_remaining_was_changed(db, settings, clock):
    # given
    life = await busy(db, settings, clock)

    # when
    await tamper(
        db,
        "UPDATE point_lots SET remaining = 201 WHERE member_id = :member AND remaining = 200",
        member=life.ann.id,
    )

    # then
    ann = life.ann.id
    assert await found(db) == [
        (ann, "lot out of range"),
        (ann, "lot disagrees with its movements"),
        (ann, "available disagrees with the lots"),
    ]


async def test_finds_a_spent_lot_that_was_refilled(db, settings, clock):
    # given: bob's first lot was spent and taken back to 0
    life = await busy(db, settings, clock)

    # when
    await tamper(
        db,
        "UPDATE point_lots SET remaining = 500 WHERE member_id = :member AND points = 500",
        member=life.bob.id,
    )

    # then
    bob = life.bob.id
    assert await found(db) == [
        (bob, "lot disagrees with its movements"),
        (bob, "available disagrees with the lots"),
    ]


async def test_finds_a_deleted_entry(db, settings, clock):
    # given
    life = await busy(db, settings, clock)
    adjustment = (await entries_of(db, life.ann.id))[3]
    assert (adjustment.kind, adjustment.points) == ("ADJUST", 50)

    # when
    await tamper(db, "DELETE FROM ledger_entries WHERE id = :id", id=adjustment.id)

    # then
    ann = life.ann.id
    assert await found(db) == [
        (ann, "balance disagrees with the entries"),
        (ann, "hash chain broken"),
    ]


async def test_finds_a_deleted_last_entry(db, settings, clock):
    # given: bob's last entry earned 100 points that repaid his debt (a movement of its lot)
    life = await busy(db, settings, clock)
    last = (await entries_of(db, life.bob.id))[-1]

    # when
    await tamper(db, "DELETE FROM lot_movements WHERE entry_id = :id", id=last.id)
    await tamper(db, "DELETE FROM ledger_entries WHERE id = :id", id=last.id)

    # then
    bob = life.bob.id
    assert await found(db) == [
        (bob, "lot disagrees with its movements"),
        (bob, "balance disagrees with the entries"),
        (bob, "qualifying total disagrees with the entries"),
        (bob, "hash chain broken"),
        (bob, "purchase disagrees with its entries"),
    ]


async def test_finds_an_account_whose_last_hash_was_changed(db, settings, clock):
    # given
    life = await busy(db, settings, clock)

    # when
    await tamper(
        db,
        "UPDATE member_accounts SET last_entry_hash = :forged WHERE member_id = :member",
        forged="f" * 64,
        member=life.ann.id,
    )

    # then
    assert [str(v) for v in (await verify_ledger(db)).violations] == [
        f"member {life.ann.id}: hash chain broken: the account's last hash is not the hash of "
        "entry 8"
    ]


async def test_finds_an_account_whose_qualifying_total_was_changed(db, settings, clock):
    # given: the till trusts the total to skip the tier check
    life = await busy(db, settings, clock)

    # when
    await tamper(
        db,
        "UPDATE member_accounts SET qualifying_total = qualifying_total - 1 WHERE member_id = :m",
        m=life.ann.id,
    )

    # then
    assert await found(db) == [(life.ann.id, "qualifying total disagrees with the entries")]


async def test_finds_an_expiry_bound_past_a_lot_with_points_left(db, settings, clock):
    # given: ann has a lot with points left; the till trusts the bound to skip lapsed lots
    life = await busy(db, settings, clock)
    assert (await account_of(db, life.ann.id)).next_expiry_at is not None

    # when
    await tamper(
        db, "UPDATE member_accounts SET next_expiry_at = NULL WHERE member_id = :m", m=life.ann.id
    )

    # then
    assert await found(db) == [(life.ann.id, "expiry bound is past a lot's expiry")]


async def test_finds_an_account_whose_balance_was_changed(db, settings, clock):
    # given
    life = await busy(db, settings, clock)

    # when
    await tamper(
        db,
        "UPDATE member_accounts SET available = available + 1000 WHERE member_id = :member",
        member=life.bob.id,
    )

    # then
    bob = life.bob.id
    assert await found(db) == [
        (bob, "balance disagrees with the entries"),
        (bob, "available disagrees with the lots"),
    ]


async def test_finds_a_purchase_whose_points_were_changed(db, settings, clock):
    # given
    life = await busy(db, settings, clock)

    # when
    await tamper(
        db, "UPDATE purchases SET points_earned = 3000 WHERE id = :id", id=life.purchases["A-1"]
    )

    # then
    assert await found(db) == [(life.ann.id, "purchase disagrees with its entries")]


async def test_reports_each_violation_in_words(db, settings, clock):
    # given
    life = await busy(db, settings, clock)
    await tamper(
        db, "UPDATE purchases SET points_earned = 3000 WHERE id = :id", id=life.purchases["A-1"]
    )

    # when
    report = await verify_ledger(db)

    # then
    assert [str(v) for v in report.violations] == [
        f"member {life.ann.id}: purchase disagrees with its entries: "
        f"purchase {life.purchases['A-1']} (A-1): EARN 300 != 3000"
    ]
    assert report.ok is False


async def test_checks_members_in_batches(db, settings, clock):
    # given
    life = await busy(db, settings, clock)
    await tamper(
        db, "UPDATE purchases SET points_earned = 3000 WHERE id = :id", id=life.purchases["A-1"]
    )
    seen = []

    # when
    report = await verify_ledger(db, batch_size=1, progress=lambda r: seen.append(r.members))

    # then
    assert seen == [1, 2]
    assert (report.members, report.entries, report.lots, report.purchases) == (2, 14, 7, 6)
    assert [v.member_id for v in report.violations] == [life.ann.id]


async def test_an_empty_ledger_is_clean(db):
    # when
    report = await verify_ledger(db)

    # then
    assert (report.members, report.entries, report.violations) == (0, 0, [])
    await assert_ledger_clean(db)


async def test_finds_a_ledger_whose_account_was_deleted(db, settings, clock):
    # given
    life = await busy(db, settings, clock)

    # when: Ann's account goes, and with it what the per-account checks would read
    await tamper(db, "DELETE FROM member_accounts WHERE member_id = :id", id=life.ann.id)

    # then
    report = await verify_ledger(db)
    assert [(v.member_id, v.rule, v.detail) for v in report.violations] == [
        (
            life.ann.id,
            "rows without an account",
            "the member row, 8 entries, 4 lots, 6 lot movements, 3 purchases",
        )
    ]
    assert report.members == 1
