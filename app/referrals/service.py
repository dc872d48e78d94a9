"""The referral bonus and the birthday bonus: points the program gives for who the member is.

Referral: a member who signed up with another's referral code (`Member.referred_by_id`, checked
at registration) has a pending referral until its first qualifying purchase; that purchase's
transaction settles it (`settle_referral`, called by `complete_purchase` with the new member's
account locked): both sides earn the bonus once, the referrer at most `referral_monthly_cap`
times a calendar month (past the cap only the new member earns), and the same person under two
accounts (one mailbox or one phone) earns nothing. A `referrals` row, unique per new member,
records the outcome and closes the referral.

Birthday: the worker's job gives the bonus once a year per member (a unique (member, year) row),
on the birthday or up to a few days late; a birth date set 30 days or fewer before the birthday
waits for the next one.

Locks: the new member's account, then the referrer's. The referrer signed up before the member
it referred, so every transaction locks the newer account first and no two can wait on each
other in a cycle.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.db import Database
from app.ledger import service as ledger_service
from app.ledger.models import Account, EntryKind, LedgerEntry
from app.live import service as live_service
from app.members import service as members_service
from app.members.models import Member
from app.outbox import service as outbox_service
from app.outbox.events import EventType
from app.program import service as program_service
from app.program.rules import ProgramRules
from app.referrals import rules
from app.referrals.models import BirthdayBonus, Referral, ReferralStatus
from app.stats import service as stats_service

# -- referrals -----------------------------------------------------------------------------------


async def settle_referral(
    session: AsyncSession,
    program: ProgramRules,
    account: Account,
    *,
    purchase_id: uuid.UUID,
    amount_paid: int,
    now: dt.datetime,
) -> Referral | None:
    """Building block for the purchase's transaction (the buyer's account is locked): when this
    purchase qualifies and the buyer has a pending referral, settle it. Costs nothing unless the
    account says a referral is pending (`referral_pending`, set at sign-up) and the purchase
    qualifies; then one indexed SELECT."""
    if not account.referral_pending or not rules.qualifies(program, amount_paid=amount_paid):
        return None
    account.referral_pending = False  # settled now, one way or another
    referrer_id = await session.scalar(
        select(col(Member.referred_by_id)).where(
            col(Member.id) == account.member_id,
            col(Member.referred_by_id).is_not(None),
            ~exists().where(col(Referral.member_id) == col(Member.id)),
        )
    )
    if referrer_id is None:
        return None
    referrer_account = await ledger_service.lock_account(session, referrer_id)
    people = await members_service.find_members(session, [account.member_id, referrer_id])
    member, referrer = people[account.member_id], people[referrer_id]
    referral = Referral(
        member_id=member.id,
        referrer_id=referrer.id,
        status=ReferralStatus.REWARDED,
        purchase_id=purchase_id,
        member_points=program.referral_points,
        referrer_points=program.referral_points,
        settled_at=now,
    )
    if rules.same_person(member.email, member.phone, referrer.email, referrer.phone):
        referral.status = ReferralStatus.SELF_REFERRAL
        referral.member_points = referral.referrer_points = 0
    elif not referrer.active or not rules.under_cap(
        program, rewarded_this_month=await _rewarded_since(session, referrer.id, now)
    ):
        referral.status = ReferralStatus.CAPPED
        referral.referrer_points = 0
    posting = ledger_service.Posting(
        actor_kind="system", actor_id=None, store_id=None, rules_version=program.version, now=now
    )
    if referral.member_points:
        entry = await ledger_service.earn(
            session, account, posting, points=referral.member_points, kind=EntryKind.REFERRAL,
            description=f"Referral bonus: welcome, invited by {referrer.first_name}",
            pending_days=program.pending_days, expiry_days=program.expiry_days,
        )  # fmt: skip
        referral.member_entry_id = entry.id
    if referral.referrer_points:
        entry = await ledger_service.earn(
            session, referrer_account, posting, points=referral.referrer_points,
            kind=EntryKind.REFERRAL, description=f"Referral bonus: {member.first_name} joined",
            pending_days=program.pending_days, expiry_days=program.expiry_days,
        )  # fmt: skip
        referral.referrer_entry_id = entry.id
        session.add(referrer_account)
        await live_service.announce_balance(session, referrer_account, live_service.Reason.BONUS)
    session.add(referral)
    await stats_service.record_movement(
        session, at=now, store_id=None, account=account,
        issued=referral.member_points + referral.referrer_points,
    )  # fmt: skip
    if referral.member_points or referral.referrer_points:
        await outbox_service.record(
            session,
            type=EventType.REFERRAL_COMPLETED,
            member_id=referrer.id,
            data={
                "referrerId": str(referrer.id),
                "memberId": str(member.id),
                "status": referral.status,
                "referrerPoints": referral.referrer_points,
                "memberPoints": referral.member_points,
                "purchaseId": str(purchase_id),
            },
            at=now,
        )
    return referral


async def _rewarded_since(session: AsyncSession, referrer_id: uuid.UUID, now: dt.datetime) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(Referral)
        .where(
            col(Referral.referrer_id) == referrer_id,
            col(Referral.settled_at) >= rules.month_start(now),
            col(Referral.referrer_points) > 0,
        )
    )
    return int(count or 0)


# -- birthdays -----------------------------------------------------------------------------------


async def birthdays_due(
    session: AsyncSession, *, now: dt.datetime, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """A batch of active members (in id order, after `after`) whose birthday falls in the
    catch-up window ending today and who have no bonus for it yet: an index lookup on the
    birth dates that can have a birthday in the window."""
    today = now.astimezone(dt.UTC).date()
    window_start = today - dt.timedelta(days=rules.BIRTHDAY_CATCH_UP_DAYS)
    query = select(col(Member.id)).where(
        col(Member.birth_date).in_(rules.candidate_birth_dates(today)),
        col(Member.active).is_(True),
        ~exists().where(
            col(BirthdayBonus.member_id) == col(Member.id),
            col(BirthdayBonus.birthday) > window_start,
        ),
    )
    if after is not None:
        query = query.where(col(Member.id) > after)
    return list((await session.scalars(query.order_by(col(Member.id)).limit(limit))).all())


async def give_birthday_bonus(db: Database, member_id: uuid.UUID, *, now: dt.datetime) -> int:
    """The birthday bonus for this member's birthday, if it is due and not given yet: one
    transaction that locks the account. Returns the points given (0: nothing to do)."""
    async with db.transaction() as session:
        account = await ledger_service.lock_account(session, member_id)
        member = await members_service.find_member(session, member_id)
        if member is None or not member.active:
            return 0
        birthday = rules.birthday_due(
            member.birth_date,
            set_on=member.birth_date_set_at.date() if member.birth_date_set_at else None,
            today=now.astimezone(dt.UTC).date(),
        )
        program = await program_service.current_rules(session)
        if birthday is None or program.birthday_points <= 0:
            return 0
        given = await session.scalar(
            select(col(BirthdayBonus.id)).where(
                col(BirthdayBonus.member_id) == member_id,
                col(BirthdayBonus.year) == birthday.year,
            )
        )
        if given is not None:
            return 0
        posting = ledger_service.Posting(
            actor_kind="system", actor_id=None, store_id=None, rules_version=program.version,
            now=now,
        )  # fmt: skip
        entry = await ledger_service.earn(
            session, account, posting, points=program.birthday_points, kind=EntryKind.BIRTHDAY,
            description="Birthday bonus: happy birthday!", pending_days=0,
            expiry_days=program.expiry_days,
        )  # fmt: skip
        await stats_service.record_movement(
            session, at=now, store_id=None, account=account, issued=program.birthday_points
        )
        session.add(account)
        await live_service.announce_balance(session, account, live_service.Reason.BONUS)
        session.add(
            BirthdayBonus(
                member_id=member_id,
                year=birthday.year,
                birthday=birthday,
                points=program.birthday_points,
                entry_id=entry.id,
                created_at=now,
            )
        )
        await outbox_service.record(
            session,
            type=EventType.MEMBER_BIRTHDAY,
            member_id=member_id,
            data={
                "points": program.birthday_points,
                "birthday": birthday.isoformat(),
                "balance": account.available,
            },
            at=now,
        )
    return program.birthday_points


# -- verify-ledger -------------------------------------------------------------------------------


async def bonus_violations(
    session: AsyncSession, member_ids: Sequence[uuid.UUID], entries: Sequence[LedgerEntry]
) -> list[tuple[uuid.UUID, str, str]]:
    """For `verify-ledger`: every REFERRAL and BIRTHDAY entry of these members is one a
    referral or a birthday bonus names, for its points, and each of those names its entry."""
    ids = list(member_ids)
    named: dict[uuid.UUID, tuple[uuid.UUID, str, int]] = {}  # entry id -> member, kind, points
    referrals = await session.execute(
        select(Referral).where(
            (col(Referral.member_id).in_(ids)) | (col(Referral.referrer_id).in_(ids))
        )
    )
    for (referral,) in referrals.all():
        if referral.member_entry_id is not None:
            named[referral.member_entry_id] = (
                referral.member_id,
                EntryKind.REFERRAL,
                referral.member_points,
            )
        if referral.referrer_entry_id is not None:
            named[referral.referrer_entry_id] = (
                referral.referrer_id,
                EntryKind.REFERRAL,
                referral.referrer_points,
            )
    bonuses = await session.scalars(
        select(BirthdayBonus).where(col(BirthdayBonus.member_id).in_(ids))
    )
    for bonus in bonuses.all():
        named[bonus.entry_id] = (bonus.member_id, EntryKind.BIRTHDAY, bonus.points)
    problems: list[tuple[uuid.UUID, str, str]] = []
    wanted = set(ids)
    seen: set[uuid.UUID] = set()
    for entry in entries:
        if entry.kind not in (EntryKind.REFERRAL, EntryKind.BIRTHDAY):
            continue
        seen.add(entry.id)
        expected = named.get(entry.id)
        if expected != (entry.member_id, entry.kind, entry.points):
            problems.append(
                (entry.member_id, "bonus disagrees with the entries",
                 f"{entry.kind} entry {entry.seq} ({entry.id}) of {entry.points} is not the one "
                 f"a referral or birthday bonus names")
            )  # fmt: skip
    for entry_id, (member_id, kind, points) in named.items():
        if member_id in wanted and entry_id not in seen:
            problems.append(
                (member_id, "bonus disagrees with the entries",
                 f"the {kind} bonus of {points} names entry {entry_id}, which is not in the ledger")
            )  # fmt: skip
    return problems
