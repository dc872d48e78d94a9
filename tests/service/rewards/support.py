"""Helpers for the rewards, donations, referrals and birthday tests: points for a member, a
reward, a cause, and snapshots of everything these use cases write (to prove that a refusal
writes nothing)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.auth.actors import MemberActor, StaffActor
from app.db import Database
from app.idempotency.models import IdempotencyRecord
from app.kit.ids import new_id
from app.ledger import service as ledger_service
from app.ledger.models import LedgerEntry, LotMovement, MemberAccount, PointLot
from app.outbox.models import OutboxEvent
from app.referrals.models import BirthdayBonus, Referral
from app.rewards import service as rewards_service
from app.rewards.models import Cause, Donation, Reward, Voucher
from tests.service.helpers import counts
from tests.support import SYSTEM, FakeClock

ADMIN = StaffActor(new_id(), "ADMIN")
WRITTEN = (
    LedgerEntry,
    PointLot,
    LotMovement,
    IdempotencyRecord,
    Voucher,
    Donation,
    Referral,
    BirthdayBonus,
    OutboxEvent,
)


def as_member(member: Any) -> MemberActor:
    return MemberActor(member.id)


async def give(db: Database, clock: FakeClock, member: Any, points: int) -> None:
    """Points for the member, as an operator's adjustment (no qualifying points: the tier stays)."""
    await ledger_service.adjust_points(
        db, ADMIN, clock, member_id=str(member.id), points=points, reason="test",
        idempotency_key=f"give-{uuid.uuid4()}",
    )  # fmt: skip


async def new_reward(db: Database, clock: FakeClock, **fields: Any) -> Reward:
    values: dict[str, Any] = {"title": "Free coffee", "kind": "FREE_PRODUCT", "points_cost": 150}
    values.update(fields)
    item = await rewards_service.create_reward(
        db, SYSTEM, clock, rewards_service.NewReward(**values)
    )
    return item.reward


async def new_cause(db: Database, clock: FakeClock, name: str = "Trees for the city") -> Cause:
    return await rewards_service.create_cause(
        db, SYSTEM, clock, rewards_service.NewCause(name=name, description="One tree per 500")
    )


async def reward_row(db: Database, reward_id: uuid.UUID) -> Reward:
    async with db.read() as session:
        reward = await session.get(Reward, reward_id)
        assert reward is not None
        return reward


async def cause_row(db: Database, cause_id: uuid.UUID) -> Cause:
    async with db.read() as session:
        cause = await session.get(Cause, cause_id)
        assert cause is not None
        return cause


async def events(db: Database, type_: str) -> list[OutboxEvent]:
    async with db.read() as session:
        rows = await session.scalars(
            select(OutboxEvent)
            .where(col(OutboxEvent.type) == type_)
            .order_by(col(OutboxEvent.occurred_at), col(OutboxEvent.id))
        )
        return list(rows.all())


async def history(db: Database, member_id: uuid.UUID) -> list[tuple[str, int, str]]:
    """(kind, points, description) of the member's entries, oldest first."""
    async with db.read() as session:
        rows = await session.scalars(
            select(LedgerEntry)
            .where(col(LedgerEntry.member_id) == member_id)
            .order_by(col(LedgerEntry.seq))
        )
        return [(e.kind, e.points, e.description) for e in rows.all()]


@dataclass(frozen=True)
class Snapshot:
    rows: dict[str, int]
    accounts: list[tuple[Any, ...]]
    stock: list[tuple[Any, ...]]
    causes: list[tuple[Any, ...]]


async def snapshot(db: Database) -> Snapshot:
    async with db.read() as session:
        accounts = (
            await session.scalars(select(MemberAccount).order_by(col(MemberAccount.member_id)))
        ).all()
        rewards = (await session.scalars(select(Reward).order_by(col(Reward.id)))).all()
        causes = (await session.scalars(select(Cause).order_by(col(Cause.id)))).all()
    return Snapshot(
        rows=await counts(db, *WRITTEN),
        accounts=[(a.member_id, a.available, a.pending, a.entry_count) for a in accounts],
        stock=[(r.id, r.stock) for r in rewards],
        causes=[(c.id, c.total_points, c.donations) for c in causes],
    )
