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
from app.live import service as live_service
from app.offers import notices as offer_notices
from app.outbox import reminders
from app.outbox import rules as outbox_rules
from app.outbox import service as outbox_service
from app.program import service as program_service
from app.referrals import service as referrals_service
from app.stats import service as stats_service
from app.tiers import service as tiers_service

log = logging.getLogger("app.jobs")


@dataclass
class JobReport:
    name: str
    members: int = 0  # what the job counts: the members it changed, unless `counted` says
    points: int = 0
    counted: str = "members"

    def summary(self) -> str:
        return f"{self.members} {self.counted}, {self.points} points"


Work = Callable[[AsyncSession, MemberAccount, dt.datetime], Awaitable[int]]
Find = Callable[..., Awaitable[list[uuid.UUID]]]


async def _each_member_due(
    db: Database,
    clock: Clock,
    report: JobReport,
    *,
    due: str | Find,
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
            if isinstance(due, str):
                batch = await ledger_service.members_with_lots_due(
                    session, column=due, now=now, after=after, limit=batch_size
                )
            else:  # a finder of its own: (session, now=, after=, limit=) -> member ids
                batch = await due(session, now=now, after=after, limit=batch_size)
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
    moved = await ledger_service.release_due(session, account, now)
    if moved:
        await live_service.announce_balance(session, account, live_service.Reason.RELEASE)
    return moved


async def _expire(session: AsyncSession, account: MemberAccount, now: dt.datetime) -> int:
    rules = await program_service.current_rules(session)
    entry = await ledger_service.expire_lapsed(
        session, account, rules_version=rules.version, now=now, trust_bound=False
    )
    if entry is None:
        return 0
    await stats_service.record_movement(
        session, at=now, store_id=None, account=account, expired=-entry.points
    )
    await live_service.announce_balance(session, account, live_service.Reason.EXPIRY)
    return -entry.points


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


async def birthday_bonuses(
    db: Database,
    clock: Clock,
    *,
    batch_size: int = 500,
    progress: Callable[[JobReport], None] | None = None,
) -> JobReport:
    """The birthday bonus, once a year per member (a unique (member, year) record), on the
    birthday or up to a few days late; batches of members by id, one transaction each."""
    report = JobReport("birthday-bonuses")
    now = clock.now()
    after: uuid.UUID | None = None
    while True:
        async with db.read() as session:
            batch = await referrals_service.birthdays_due(
                session, now=now, after=after, limit=batch_size
            )
        if not batch:
            return report
        for member_id in batch:
            points = await referrals_service.give_birthday_bonus(db, member_id, now=now)
            if points:
                report.members += 1
                report.points += points
        after = batch[-1]
        if progress:
            progress(report)


async def _review_tier(session: AsyncSession, account: MemberAccount, now: dt.datetime) -> int:
    rules = await program_service.current_rules(session)
    if not await tiers_service.review_tier(session, rules, account, now=now):
        return 0
    await live_service.announce_balance(session, account, live_service.Reason.TIER)
    return 1


async def review_tiers(
    db: Database,
    clock: Clock,
    *,
    batch_size: int = 500,
    progress: Callable[[JobReport], None] | None = None,
) -> JobReport:
    """Members whose tier year has ended move down to the tier their qualifying points reach,
    and start a new tier year. Counts the members moved down (as `members` and `points`)."""
    return await _each_member_due(
        db, clock, JobReport("review-tiers"), due=tiers_service.members_due_for_review,
        work=_review_tier, batch_size=batch_size, progress=progress,
    )  # fmt: skip


async def remind_expiring_points(
    db: Database,
    clock: Clock,
    *,
    batch_size: int = 500,
    progress: Callable[[JobReport], None] | None = None,
) -> JobReport:
    """`points.expiring` 30 and 7 days before lots expire, once per lot and horizon. Counts the
    reminders sent (as `members`) and the points they were about."""
    sent, points = await reminders.remind_expiring(db, clock, batch_size=batch_size)
    report = JobReport("remind-expiring-points", members=sent, points=points)
    if progress:
        progress(report)
    return report


async def announce_offers(
    db: Database,
    clock: Clock,
    *,
    batch_size: int = 500,
    progress: Callable[[JobReport], None] | None = None,
) -> JobReport:
    """`offer.available` once per (offer, member), when the offer opens for the member: a walk
    over every member by id in batches, a batch one transaction, when an offer opened since the
    last walk or hourly (app.offers.notices). Counts the notices sent (as `members`)."""
    report = JobReport("announce-offers", counted="offer notices")
    now = clock.now()
    async with db.read() as session:
        rules = await program_service.current_rules(session)
        offers = await offer_notices.open_offers(session, rules, now=now)
    if not offers or not await offer_notices.start_scan(db, rules, offers, now=now):
        return report
    while True:
        batch = await offer_notices.announce_batch(db, rules, offers, now=now, limit=batch_size)
        report.members += batch.told
        if batch.done:
            return report
        if progress:
            progress(report)


async def prune_outbox(
    db: Database,
    clock: Clock,
    *,
    batch_size: int = 1000,
    progress: Callable[[JobReport], None] | None = None,
) -> JobReport:
    """Delete the outbox events delivered (or wanted by no target) more than
    `outbox_rules.RETENTION_DAYS` ago, with their deliveries, a batch a transaction."""
    report = JobReport("prune-outbox", counted="outbox events")
    before = clock.now() - dt.timedelta(days=outbox_rules.RETENTION_DAYS)
    while True:
        deleted, more = await outbox_service.prune(db, before=before, batch_size=batch_size)
        report.members += deleted
        if not more:
            return report
        if progress:
            progress(report)


JOBS = (
    release_pending, expire_points, birthday_bonuses, review_tiers, remind_expiring_points,
    announce_offers, prune_outbox,
)  # fmt: skip


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
