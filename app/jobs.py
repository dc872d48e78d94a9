"""Scheduled jobs: pending points become available, lots expire. Each works in batches of
members, one transaction per member (locking the account), so it is restartable at any point
and idempotent: a second run finds nothing left to do."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import app.models  # noqa: F401  (every table mapped: the rows we write name other domains' tables)
from app.clock import Clock
from app.db import Database
from app.ledger import service as ledger_service
from app.program import service as program_service

log = logging.getLogger("app.jobs")


@dataclass
class JobReport:
    name: str
    members: int = 0
    points: int = 0


async def release_pending(
    db: Database,
    clock: Clock,
    *,
    batch_size: int = 500,
    progress: Callable[[JobReport], None] | None = None,
) -> JobReport:
    report = JobReport("release-pending")
    now = clock.now()
    after: uuid.UUID | None = None
    while True:
        async with db.read() as session:
            batch = await ledger_service.members_with_lots_due(
                session, column="release", now=now, after=after, limit=batch_size
            )
        if not batch:
            return report
        for member_id in batch:
            async with db.transaction() as session:
                account = await ledger_service.lock_account(session, member_id)
                moved = await ledger_service.release_due(session, account, now)
                session.add(account)
            if moved:
                report.members += 1
                report.points += moved
        after = batch[-1]
        if progress:
            progress(report)


async def expire_points(
    db: Database,
    clock: Clock,
    *,
    batch_size: int = 500,
    progress: Callable[[JobReport], None] | None = None,
) -> JobReport:
    report = JobReport("expire-points")
    now = clock.now()
    after: uuid.UUID | None = None
    while True:
        async with db.read() as session:
            batch = await ledger_service.members_with_lots_due(
                session, column="expire", now=now, after=after, limit=batch_size
            )
        if not batch:
            return report
        for member_id in batch:
            async with db.transaction() as session:
                account = await ledger_service.lock_account(session, member_id)
                rules = await program_service.current_rules(session)
                posting = ledger_service.Posting(
                    actor_kind="system", actor_id=None, store_id=None,
                    rules_version=rules.version, now=now,
                )  # fmt: skip
                entry = await ledger_service.expire_due(session, account, posting)
                session.add(account)
            if entry is not None:
                report.members += 1
                report.points += -entry.points
        after = batch[-1]
        if progress:
            progress(report)


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
