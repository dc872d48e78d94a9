"""Admins changing the program at the same moment: no version is lost or written twice."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from app.auth.actors import StaffActor
from app.errors import DomainError
from app.program import service as program_service
from app.program.models import ProgramVersion
from tests.concurrency.conftest import assert_ran_concurrently
from tests.support import create_staff


async def change(db, actor, clock, points: int):
    try:
        return await program_service.update_program(db, actor, clock, {"birthday_points": points})
    except DomainError as error:
        return error


async def test_concurrent_changes_write_consecutive_versions(db, settings, clock, connections):
    # given
    staff = await create_staff(db, settings, clock, email="admin@example.com", role="ADMIN")
    admin = StaffActor(staff.id, "ADMIN")
    connections.peak = 0

    # when
    results = await asyncio.gather(*(change(db, admin, clock, 300 + n) for n in range(10)))

    # then
    saved = [r for r in results if not isinstance(r, DomainError)]
    refused = [(r.code, r.field) for r in results if isinstance(r, DomainError)]
    assert len(saved) >= 1
    assert refused == [("CONFLICT", None)] * (10 - len(saved))
    async with db.read() as session:
        rows = (
            await session.scalars(select(ProgramVersion).order_by(ProgramVersion.version))
        ).all()
    assert [row.version for row in rows] == list(range(1, len(saved) + 2))
    assert sorted((r.version, r.birthday_points) for r in saved) == [
        (row.version, row.birthday_points) for row in rows[1:]
    ]
    assert_ran_concurrently(db, connections)
