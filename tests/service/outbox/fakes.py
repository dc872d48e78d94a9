"""An in-memory channel whose outcomes the test scripts, and helpers to read the outbox."""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from app.db import Database
from app.outbox import service as outbox_service
from app.outbox.channels import Event, Outcome, Target
from app.outbox.models import OutboxDelivery, OutboxEvent
from tests.support import FakeClock


class ScriptedChannel:
    """Targets: `targets` (every event goes to each); answers: `script` per target, then
    DELIVERED. "raise" makes `deliver` raise."""

    def __init__(
        self, name: str = "fake", targets: Iterable[str] = ("t1",), script: Iterable[Any] = ()
    ) -> None:
        self.name = name
        self.target_ids = list(targets)
        self.script: deque[Any] = deque(script)
        self.attempts: list[tuple[str, uuid.UUID]] = []
        self.removed: list[str] = []
        self.missing: set[str] = set()
        self.fan_outs: list[list[uuid.UUID]] = []  # the events of each `targets_of` call

    async def targets_of(
        self, session: Any, events: Sequence[Event]
    ) -> dict[uuid.UUID, list[Target]]:
        self.fan_outs.append([event.id for event in events])
        return {event.id: [Target(target_id) for target_id in self.target_ids] for event in events}

    async def load(self, session: Any, target_ids: Sequence[str]) -> dict[str, Target]:
        return {t: Target(t, {"loaded": True}) for t in target_ids if t not in self.missing}

    async def deliver(self, target: Target, event: Event, settings: Any, http: Any) -> Outcome:
        assert target.details == {"loaded": True}
        self.attempts.append((target.id, event.id))
        answer = self.script.popleft() if self.script else Outcome.delivered()
        if answer == "raise":
            raise RuntimeError("the channel broke")
        assert isinstance(answer, Outcome)
        return answer

    async def remove(self, session: Any, target_id: str) -> None:
        self.removed.append(target_id)


async def record_events(
    db: Database, clock: FakeClock, count: int = 1, *, type: str = "points.earned"
) -> list[uuid.UUID]:
    ids = []
    async with db.transaction() as session:
        for n in range(count):
            ids.append(
                await outbox_service.record(
                    session, type=type, member_id=None, data={"n": n}, at=clock.now()
                )
            )
    return ids


async def deliveries(db: Database) -> list[OutboxDelivery]:
    async with db.read() as session:
        rows = await session.scalars(
            select(OutboxDelivery).order_by(
                col(OutboxDelivery.created_at), col(OutboxDelivery.target_id)
            )
        )
        return list(rows.all())


async def events(db: Database, *, type: str | None = None) -> list[OutboxEvent]:
    async with db.read() as session:
        query = select(OutboxEvent).order_by(col(OutboxEvent.occurred_at), col(OutboxEvent.id))
        if type is not None:
            query = query.where(col(OutboxEvent.type) == type)
        return list((await session.scalars(query)).all())
