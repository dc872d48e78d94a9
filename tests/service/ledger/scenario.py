"""Helpers for the ledger and job tests: a till, members who buy, and what the ledger holds."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Uuid, bindparam, select, text
from sqlmodel import col

from app import jobs
from app.auth.actors import StaffActor, SystemActor
from app.checkout import service as checkout_service
from app.db import Database
from app.kit.money import Money
from app.ledger import service as ledger_service
from app.ledger.models import LedgerEntry, MemberAccount, PointLot
from app.ledger.verify import verify_ledger
from app.members import service as members_service
from app.program import service as program_service
from app.settings import Settings
from tests.support import FakeClock, create_member, create_staff, create_store


@dataclass(frozen=True, slots=True)
class Till:
    actor: StaffActor
    store_id: uuid.UUID
    secret: bytes


@dataclass(frozen=True, slots=True)
class Lot:
    points: int
    remaining: int
    released: bool
    available_from: dt.datetime
    expires_at: dt.datetime


async def open_till(
    db: Database, settings: Settings, clock: FakeClock, *, email: str = "till@example.com"
) -> Till:
    store = await create_store(db, clock)
    staff = await create_staff(db, settings, clock, email=email, store_ids=[str(store.id)])
    return Till(
        actor=StaffActor(staff.id, "CASHIER", frozenset({store.id})),
        store_id=store.id,
        secret=settings.member_code_secret.get_secret_value().encode(),
    )


async def join(
    db: Database, settings: Settings, clock: FakeClock, email: str = "ann@example.com"
) -> Any:
    _, member = await create_member(db, settings, clock, email=email)
    return member


async def buy(
    db: Database,
    clock: FakeClock,
    till: Till,
    member: Any,
    receipt: str,
    total: int,
    *,
    redeem: int = 0,
) -> checkout_service.PurchaseReceipt:
    """Scan the member's current code and complete a purchase of `total` cents."""
    code = members_service.rotating_code_for(member, till.secret, now=clock.now()).payload
    opened = await checkout_service.scan_member_code(
        db, till.actor, clock, till.secret, code=code, store_id=str(till.store_id)
    )
    return await checkout_service.complete_purchase(
        db,
        till.actor,
        clock,
        checkout_service.PurchaseCommand(
            checkout_id=str(opened.checkout.id),
            receipt_number=receipt,
            total=Money(total, "USD"),
            lines=None,
            redeem_points=redeem,
            idempotency_key=f"key-{receipt}",
        ),
    )


async def refund(
    db: Database, clock: FakeClock, till: Till, purchase_id: uuid.UUID, amount: int, key: str
) -> checkout_service.RefundReceipt:
    return await checkout_service.refund_purchase(
        db,
        till.actor,
        clock,
        purchase_id=str(purchase_id),
        amount=Money(amount, "USD"),
        idempotency_key=key,
    )


async def set_pending_days(db: Database, clock: FakeClock, days: int) -> None:
    await program_service.update_program(db, SystemActor("tests"), clock, {"pending_days": days})


async def account_of(db: Database, member_id: uuid.UUID) -> MemberAccount:
    async with db.read() as session:
        account = await session.get(MemberAccount, member_id)
    assert account is not None
    return account


async def balance_of(db: Database, member_id: uuid.UUID) -> ledger_service.Balance:
    return ledger_service.balance_of(await account_of(db, member_id))


async def lots_of(db: Database, member_id: uuid.UUID) -> list[Lot]:
    """The member's lots, oldest first."""
    async with db.read() as session:
        rows = await session.scalars(
            select(PointLot)
            .where(col(PointLot.member_id) == member_id)
            .order_by(col(PointLot.created_at), col(PointLot.id))
        )
        return [
            Lot(lot.points, lot.remaining, lot.released, lot.available_from, lot.expires_at)
            for lot in rows.all()
        ]


async def entries_of(db: Database, member_id: uuid.UUID) -> list[LedgerEntry]:
    """The member's entries in the order they were written."""
    async with db.read() as session:
        rows = await session.scalars(
            select(LedgerEntry)
            .where(col(LedgerEntry.member_id) == member_id)
            .order_by(col(LedgerEntry.seq))
        )
        return list(rows.all())


async def assert_ledger_clean(db: Database) -> None:
    report = await verify_ledger(db)
    assert [str(violation) for violation in report.violations] == []


@dataclass(frozen=True, slots=True)
class Busy:
    ann: Any
    bob: Any
    purchases: dict[str, uuid.UUID]


async def busy(db, settings, clock) -> Busy:
    """Two members' year: purchases, redemptions, partial and full refunds, a debt, adjustments
    both ways, a pending period, its release, and an expiry."""
    till = await open_till(db, settings, clock)
    admin = StaffActor(till.actor.staff_id, "ADMIN")
    ann = await join(db, settings, clock, "ann@example.com")
    bob = await join(db, settings, clock, "bob@example.com")
    purchases = {}

    async def purchase(member: Any, receipt: str, total: int, redeem: int = 0) -> None:
        done = await buy(db, clock, till, member, receipt, total, redeem=redeem)
        purchases[receipt] = done.purchase_id

    async def adjust(member: Any, points: int, key: str) -> None:
        await ledger_service.adjust_points(
            db, admin, clock, member_id=str(member.id), points=points, reason="Correction",
            idempotency_key=key,
        )  # fmt: skip

    await purchase(ann, "A-1", 30000)  # ann +300
    await purchase(bob, "B-1", 50000)  # bob +500
    clock.advance(days=1)
    await purchase(ann, "A-2", 1000, redeem=100)  # ann -100 +9
    await adjust(ann, 50, "adjust-ann")  # ann +50
    await adjust(bob, -20, "adjust-bob")  # bob -20
    clock.advance(days=1)
    await refund(db, clock, till, purchases["A-2"], 450, "refund-a2")  # ann -5 +50
    await purchase(bob, "B-2", 2000, redeem=400)  # bob -400 +16
    await refund(db, clock, till, purchases["B-1"], 50000, "refund-b1")  # bob -500: debt 404
    await set_pending_days(db, clock, 14)
    await purchase(bob, "B-3", 10000)  # bob +100, all repaying the debt
    await purchase(ann, "A-3", 20000)  # ann +200 pending
    clock.advance(days=14)
    await jobs.release_pending(db, clock)
    clock.advance(days=360)
    await jobs.expire_points(db, clock)  # ann's first lots (304 left) expire
    return Busy(ann, bob, purchases)


async def tamper(db: Database, sql: str, **params: Any) -> None:
    """Change rows behind the application's back, and commit."""
    binds = [
        bindparam(name, value, type_=Uuid()) if isinstance(value, uuid.UUID) else bindparam(name)
        for name, value in params.items()
    ]
    async with db.engine.begin() as conn:
        result = await conn.execute(text(sql).bindparams(*binds), params)
        assert result.rowcount == 1
