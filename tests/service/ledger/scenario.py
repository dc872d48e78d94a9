"""Helpers for the ledger and job tests: a till, members who buy, and what the ledger holds."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import col

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
