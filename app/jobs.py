"""Scheduled jobs: pending points become available, lots expire. Each works in batches of
members, one transaction per member (locking the account), so it is restartable at any point
and idempotent: a second run finds nothing left to do."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

import app.models  # noqa: F401  (every table mapped: the rows we write name other domains' tables)
from app.clock import Clock
from app.db import Database
from app.ledger import service as ledger_service
from app.ledger.models import MemberAccount
from app.program import service as program_service

log = logging.getLogger("app.jobs")


@dataclass
class JobReport:
    name: str
    members: int = 0
    points: int = 0


Work = Callable[[AsyncSession, MemberAccount, dt.datetime], Awaitable[int]]


async def _each_member_due(
    db: Database,
    clock: Clock,
    report: JobReport,
    *,
    due: str,
    work: Work,
    batch_size: int,
    progress: Callable[[JobReport], None] | None,
) -> JobReport:
    """Run `work` on every member with lots `due` ("release" or "expire"), a batch of member ids
    at a time (keyset on the id), each member in a transaction of its own that locks the account.
    `work` returns the points it moved; members it moved nothing for are not counted."""
    now = clock.now()
    after: uuid.UUID | None = None
    while True:
        async with db.read() as session:
            batch = await ledger_service.members_with_lots_due(
                session, column=due, now=now, after=after, limit=batch_size
            )
        if not batch:
            return report
        for member_id in batch:
            async with db.transaction() as session:
                account = await ledger_service.lock_account(session, member_id)
                moved = await work(session, account, now)
                session.add(account)
            if moved:
                report.members += 1
                report.points += moved
        after = batch[-1]
        if progress:
            progress(report)


async def _release(session: AsyncSession, account: MemberAccount, now: dt.datetime) -> int:
    return await ledger_service.release_due(session, account, now)


async def _expire(session: AsyncSession, account: MemberAccount, now: dt.datetime) -> int:
    rules = await program_service.current_rules(session)
    entry = await ledger_service.expire_lapsed(
        session, account, rules_version=rules.version, now=now
    )
    return -entry.points if entry is not None else 0


async def release_pending(
    db: Database,
    clock: Clock,
    *,
    batch_size: int = 500,
    progress: Callable[[JobReport], None] | None = None,
) -> JobReport:
    """Pending points whose date has come become available."""
    return await _each_member_due(
        db, clock, JobReport("release-pending"), due="release", work=_release,
        batch_size=batch_size, progress=progress,
    )  # fmt: skip


async def expire_points(
    db: Database,
    clock: Clock,
    *,
    batch_size: int = 500,
    progress: Callable[[JobReport], None] | None = None,
) -> JobReport:
    """Lots past their date expire: one EXPIRE entry per member."""
    return await _each_member_due(
        db, clock, JobReport("expire-points"), due="expire", work=_expire,
        batch_size=batch_size, progress=progress,
    )  # fmt: skip


JOBS = (release_pending, expire_points)


async def run_all(
    db: Database, clock: Clock, *, progress: Callable[[JobReport], None] | None = None
) -> list[JobReport]:
    reports = []
    for job in JOBS:
        report = await job(db, clock, progress=progress)
        log.info(
            "job done",
            extra={"job": report.name, "members": report.members, "points": report.points},
        )
        reports.append(report)
    return reports
