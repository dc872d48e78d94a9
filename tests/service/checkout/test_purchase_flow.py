"""The till end to end at the service layer: scan, quote, complete, refund, verify."""

from __future__ import annotations

from app.auth.actors import StaffActor
from app.checkout import rules as till
from app.checkout import service as checkout_service
from app.kit.money import Money
from app.ledger.verify import verify_ledger
from app.members import service as members_service
from tests.support import create_member, create_staff, create_store

SECRET_FIELD = "member_code_secret"


async def _till(db, settings, clock):
    store = await create_store(db, clock)
    staff = await create_staff(
        db, settings, clock, email="till@example.com", store_ids=[str(store.id)]
    )
    actor = StaffActor(staff.id, "CASHIER", frozenset({store.id}))
    _, member = await create_member(db, settings, clock)
    secret = settings.member_code_secret.get_secret_value().encode()
    code = members_service.rotating_code_for(member, secret, now=clock.now()).payload
    opened = await checkout_service.scan_member_code(
        db, actor, clock, secret, code=code, store_id=str(store.id)
    )
    return actor, opened


def _command(checkout_id, receipt, total, *, redeem=0, key=None, lines=None):
    return checkout_service.PurchaseCommand(
        checkout_id=str(checkout_id),
        receipt_number=receipt,
        total=Money(total, "USD"),
        lines=lines,
        redeem_points=redeem,
        idempotency_key=key or f"key-{receipt}",
    )


async def test_purchase_then_partial_refunds_keep_the_ledger_exact(db, settings, clock):
    # given
    actor, opened = await _till(db, settings, clock)
    lines = [
        (till.Line("COFFEE", "coffee", 2, 1999), "USD"),
        (till.Line("GIFT", "gift-cards", 1, 5000), "USD"),
        (till.Line("CAKE", None, 1, 13001), "USD"),
    ]

    # when
    first = await checkout_service.complete_purchase(
        db, actor, clock, _command(opened.checkout.id, "R-1", 20000, lines=lines)
    )
    second = await checkout_service.complete_purchase(
        db, actor, clock, _command(opened.checkout.id, "R-2", 40000, redeem=100)
    )
    replay = await checkout_service.complete_purchase(
        db, actor, clock, _command(opened.checkout.id, "R-2", 40000, redeem=100)
    )
    refund = await checkout_service.refund_purchase(
        db,
        actor,
        clock,
        purchase_id=str(second.purchase_id),
        amount=Money(13300, "USD"),
        idempotency_key="refund-1",
    )
    rest = await checkout_service.refund_purchase(
        db,
        actor,
        clock,
        purchase_id=str(second.purchase_id),
        amount=Money(26600, "USD"),
        idempotency_key="refund-2",
    )

    # then: gift cards earn nothing; 150.00 of coffee and cake earn 150
    assert (first.points_earned, first.points_redeemed, first.available) == (150, 0, 150)
    # 400.00 less 1.00 paid with points earns 399
    assert (second.points_earned, second.points_redeemed, second.discount, second.amount_due) == (
        399,
        100,
        100,
        39900,
    )
    assert second.available == 150 - 100 + 399
    assert replay == second
    assert (refund.points_reversed, refund.points_restored) == (133, 33)
    assert (rest.points_reversed, rest.points_restored) == (266, 67)
    assert rest.available == 150
    report = await verify_ledger(db)
    assert report.violations == []
    assert (report.members, report.purchases) == (1, 2)


async def test_spending_walks_more_lots_than_one_page(db, settings, clock):
    # given: 70 lots of 1 point, the later ones expiring later
    import uuid

    from sqlalchemy import select

    from app.ledger import service as ledger_service
    from app.ledger.models import PointLot

    admin = StaffActor(uuid.uuid4(), "ADMIN")
    _, member = await create_member(db, settings, clock)
    for n in range(70):
        await ledger_service.adjust_points(
            db, admin, clock, member_id=str(member.id), points=1, reason="welcome",
            idempotency_key=f"lot-{n}",
        )  # fmt: skip
        clock.advance(seconds=1)

    # when: one spend takes 66 of them, across two pages of lots
    entry = await ledger_service.adjust_points(
        db, admin, clock, member_id=str(member.id), points=-66, reason="correction",
        idempotency_key="spend",
    )  # fmt: skip

    # then: the 66 oldest lots are empty, the 4 newest untouched
    async with db.read() as session:
        lots = (
            await session.scalars(
                select(PointLot)
                .where(PointLot.member_id == member.id)
                .order_by(PointLot.expires_at)
            )
        ).all()
    assert [lot.remaining for lot in lots] == [0] * 66 + [1] * 4
    assert entry.balance_after == 4
    assert (await verify_ledger(db)).violations == []


async def test_a_key_used_for_one_member_is_refused_for_another(db, settings, clock):
    # given: a till that completed a purchase for one member under a key
    import pytest

    from app.errors import IdempotencyKeyReused

    actor, opened = await _till(db, settings, clock)
    await checkout_service.complete_purchase(
        db, actor, clock, _command(opened.checkout.id, "R-1", 1000, key="till-key")
    )
    _, other = await create_member(db, settings, clock, email="other@example.com")
    secret = settings.member_code_secret.get_secret_value().encode()
    second = await checkout_service.scan_member_code(
        db, actor, clock, secret, code=other.card_number, store_id=str(opened.checkout.store_id)
    )

    # when: the same key for the other member's basket
    with pytest.raises(IdempotencyKeyReused) as refused:
        await checkout_service.complete_purchase(
            db, actor, clock, _command(second.checkout.id, "R-2", 1000, key="till-key")
        )

    # then
    assert (refused.value.code, refused.value.field) == ("IDEMPOTENCY_KEY_REUSED", "idempotencyKey")
    assert (await verify_ledger(db)).violations == []
