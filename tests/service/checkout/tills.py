"""Helpers for the till's service tests: a store with its cashier, a member, scans, commands,
and snapshots of what the till writes (to prove that a refusal writes nothing)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from app.auth.actors import StaffActor
from app.checkout import rules as till
from app.checkout import service as checkout_service
from app.checkout.models import Checkout, Purchase, PurchaseLine, Refund
from app.db import Database
from app.errors import DomainError
from app.idempotency.models import IdempotencyRecord
from app.kit.money import Money
from app.ledger.models import LedgerEntry, LotMovement, MemberAccount, PointLot
from app.ledger.verify import verify_ledger
from app.members import service as members_service
from app.settings import Settings
from tests.service.helpers import code_secret, counts
from tests.support import FakeClock, create_member, create_staff, create_store

TILL_TABLES = (
    Checkout,
    Purchase,
    PurchaseLine,
    Refund,
    LedgerEntry,
    PointLot,
    LotMovement,
    IdempotencyRecord,
)


@dataclass
class Till:
    store: Any
    staff: Any
    actor: StaffActor
    secret: bytes


async def open_till(
    db: Database,
    settings: Settings,
    clock: FakeClock,
    *,
    email: str = "till@example.com",
    store_code: str = "MAIN",
    store_name: str = "Main st.",
) -> Till:
    store = await create_store(db, clock, code=store_code, name=store_name)
    staff = await create_staff(db, settings, clock, email=email, store_ids=[str(store.id)])
    actor = StaffActor(staff.id, "CASHIER", frozenset({store.id}))
    return Till(store=store, staff=staff, actor=actor, secret=code_secret(settings))


async def new_member(
    db: Database, settings: Settings, clock: FakeClock, email: str = "ann@example.com"
) -> Any:
    _, member = await create_member(db, settings, clock, email=email)
    return member


async def scan(
    db: Database, clock: FakeClock, at: Till, member: Any
) -> checkout_service.OpenedCheckout:
    """Scan the member's rotating code as the app shows it now."""
    code = members_service.rotating_code_for(member, at.secret, now=clock.now()).payload
    return await checkout_service.scan_member_code(
        db, at.actor, clock, at.secret, code=code, store_id=str(at.store.id)
    )


def command(
    checkout_id: Any,
    receipt: str,
    total: int,
    *,
    redeem: int = 0,
    key: str | None = None,
    lines: list[tuple[till.Line, str]] | None = None,
    currency: str = "USD",
) -> checkout_service.PurchaseCommand:
    return checkout_service.PurchaseCommand(
        checkout_id=str(checkout_id),
        receipt_number=receipt,
        total=Money(total, currency),
        lines=lines,
        redeem_points=redeem,
        idempotency_key=f"key-{receipt}" if key is None else key,
    )


def line(sku: str, category: str | None, amount: int, quantity: int = 1) -> tuple[till.Line, str]:
    return till.Line(sku, category, quantity, amount), "USD"


async def buy(
    db: Database,
    clock: FakeClock,
    at: Till,
    member: Any,
    receipt: str,
    total: int,
    **kwargs: Any,
) -> checkout_service.PurchaseReceipt:
    """Scan and complete a purchase in one go."""
    opened = await scan(db, clock, at, member)
    return await checkout_service.complete_purchase(
        db, at.actor, clock, command(opened.checkout.id, receipt, total, **kwargs)
    )


async def refund(
    db: Database,
    clock: FakeClock,
    at: Till,
    purchase_id: Any,
    amount: int,
    *,
    key: str,
    currency: str = "USD",
) -> checkout_service.RefundReceipt:
    return await checkout_service.refund_purchase(
        db,
        at.actor,
        clock,
        purchase_id=str(purchase_id),
        amount=Money(amount, currency),
        idempotency_key=key,
    )


async def refused(call: Any) -> tuple[str, str | None]:
    """Await the call and return the (code, field) of the DomainError it raises."""
    with pytest.raises(DomainError) as raised:
        await call
    return raised.value.code, raised.value.field


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, int]
    accounts: list[tuple[Any, ...]]


async def snapshot(db: Database) -> Snapshot:
    """Row counts of every table the till writes, and every account's balances and version."""
    async with db.read() as session:
        accounts = (
            await session.scalars(select(MemberAccount).order_by(col(MemberAccount.member_id)))
        ).all()
        state = [
            (a.member_id, a.available, a.pending, a.debt, a.tier_code, a.entry_count, a.version)
            for a in accounts
        ]
    return Snapshot(rows=await counts(db, *TILL_TABLES), accounts=state)


async def account_of(db: Database, member_id: uuid.UUID) -> MemberAccount:
    async with db.read() as session:
        account = await session.get(MemberAccount, member_id)
        assert account is not None
        return account


async def purchase_row(db: Database, purchase_id: uuid.UUID) -> Purchase:
    async with db.read() as session:
        purchase = await session.get(Purchase, purchase_id)
        assert purchase is not None
        return purchase


async def lots_of(db: Database, member_id: uuid.UUID) -> list[PointLot]:
    """The member's lots, in the order they were created."""
    async with db.read() as session:
        rows = await session.scalars(
            select(PointLot)
            .where(col(PointLot.member_id) == member_id)
            .order_by(col(PointLot.created_at), col(PointLot.id))
        )
        return list(rows.all())


async def entries_of(db: Database, member_id: uuid.UUID) -> list[tuple[int, str, int, int]]:
    """(seq, kind, points, qualifying) of the member's entries, oldest first."""
    async with db.read() as session:
        rows = await session.scalars(
            select(LedgerEntry)
            .where(col(LedgerEntry.member_id) == member_id)
            .order_by(col(LedgerEntry.seq))
        )
        return [(e.seq, e.kind, e.points, e.qualifying) for e in rows.all()]


async def assert_ledger_clean(db: Database) -> None:
    assert (await verify_ledger(db)).violations == []
