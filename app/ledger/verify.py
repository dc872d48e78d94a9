"""`loyalty verify-ledger`: every invariant of the ledger, for every member, in batches.

For each member: the cached balances equal the entries and the lots (less the debt); no lot is
below zero or above its size, and each lot's remaining equals its points plus its movements;
the entries form an unbroken hash chain ending at the account's last hash; every purchase's
points equal the entries written for it; every voucher, donation, referral and birthday bonus
names the one entry that moved its points. And no member, entry, lot, movement or purchase is
without its account (deleting an account must not hide its ledger from this check).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.checkout import service as checkout_service
from app.checkout.models import Purchase
from app.db import Database
from app.kit.hashing import GENESIS, chain_hash
from app.ledger.models import EntryKind, LedgerEntry, LotMovement, MemberAccount, PointLot
from app.ledger.service import entry_fields
from app.members.models import Member
from app.referrals import service as referrals_service
from app.rewards import service as rewards_service


@dataclass(frozen=True, slots=True)
class Violation:
    member_id: uuid.UUID
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"member {self.member_id}: {self.rule}: {self.detail}"


@dataclass
class Report:
    members: int = 0
    entries: int = 0
    lots: int = 0
    purchases: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


async def verify_ledger(
    db: Database,
    *,
    batch_size: int = 500,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    report = Report()
    after: uuid.UUID | None = None
    while True:
        async with db.read() as session:
            query = select(MemberAccount).order_by(col(MemberAccount.member_id)).limit(batch_size)
            if after is not None:
                query = query.where(col(MemberAccount.member_id) > after)
            accounts = list((await session.scalars(query)).all())
            if not accounts:
                break
            await _verify_batch(session, accounts, report)
        after = accounts[-1].member_id
        report.members += len(accounts)
        if progress is not None:
            progress(report)
    async with db.read() as session:
        report.violations.extend(await _without_account(session))
    return report


_OWNED_ROWS = (  # (table, the column naming the member, what a row is called)
    (Member, "id", "member"),
    (LedgerEntry, "member_id", "entries"),
    (PointLot, "member_id", "lots"),
    (LotMovement, "member_id", "lot movements"),
    (Purchase, "member_id", "purchases"),
)


async def _without_account(session: AsyncSession, limit: int = 1000) -> list[Violation]:
    """The members whose rows have no account: one violation per member (the first `limit`)."""
    found: dict[uuid.UUID, list[str]] = defaultdict(list)
    for model, column_name, what in _OWNED_ROWS:
        member_column = getattr(model, column_name)
        accounts = select(col(MemberAccount.member_id)).where(
            col(MemberAccount.member_id) == member_column
        )
        rows = await session.execute(
            select(member_column, func.count())
            .where(~accounts.exists())
            .group_by(member_column)
            .order_by(member_column)
            .limit(limit)
        )
        for member_id, count in rows.all():
            found[member_id].append(f"{count} {what}" if what != "member" else "the member row")
    return [
        Violation(member_id, "rows without an account", ", ".join(parts))
        for member_id, parts in sorted(found.items())[:limit]
    ]


async def _verify_batch(
    session: AsyncSession, accounts: list[MemberAccount], report: Report
) -> None:
    ids = [account.member_id for account in accounts]

    def fail(member_id: uuid.UUID, rule: str, detail: str) -> None:
        report.violations.append(Violation(member_id, rule, detail))

    # Lots and their movements.
    lots = (await session.scalars(select(PointLot).where(col(PointLot.member_id).in_(ids)))).all()
    report.lots += len(lots)
    moved: dict[uuid.UUID, int] = {
        lot_id: int(total)
        for lot_id, total in (
            await session.execute(
                select(col(LotMovement.lot_id), func.sum(col(LotMovement.points)))
                .where(col(LotMovement.member_id).in_(ids))
                .group_by(col(LotMovement.lot_id))
            )
        ).all()
    }
    released: dict[uuid.UUID, int] = defaultdict(int)
    pending: dict[uuid.UUID, int] = defaultdict(int)
    soonest: dict[uuid.UUID, dt.datetime] = {}
    for lot in lots:
        if lot.remaining > 0 and (
            lot.member_id not in soonest or lot.expires_at < soonest[lot.member_id]
        ):
            soonest[lot.member_id] = lot.expires_at
        if lot.remaining < 0 or lot.remaining > lot.points:
            fail(
                lot.member_id, "lot out of range", f"lot {lot.id}: {lot.remaining} of {lot.points}"
            )
        if lot.points + int(moved.get(lot.id, 0)) != lot.remaining:
            fail(
                lot.member_id,
                "lot disagrees with its movements",
                f"lot {lot.id}: {lot.points} + {moved.get(lot.id, 0)} != {lot.remaining}",
            )
        (released if lot.released else pending)[lot.member_id] += lot.remaining

    # Entries: sums, and the hash chain.
    entries = (
        await session.scalars(
            select(LedgerEntry)
            .where(col(LedgerEntry.member_id).in_(ids))
            .order_by(col(LedgerEntry.member_id), col(LedgerEntry.seq))
        )
    ).all()
    report.entries += len(entries)
    by_member: dict[uuid.UUID, list[LedgerEntry]] = defaultdict(list)
    for entry in entries:
        by_member[entry.member_id].append(entry)

    for account in accounts:
        member = account.member_id
        chain = by_member.get(member, [])
        total = sum(entry.points for entry in chain)
        if account.available + account.pending != total:
            fail(
                member,
                "balance disagrees with the entries",
                f"available {account.available} + pending {account.pending} != {total}",
            )
        if account.pending != pending[member]:
            fail(
                member, "pending disagrees with the lots", f"{account.pending} != {pending[member]}"
            )
        if account.available != released[member] - account.debt:
            fail(
                member,
                "available disagrees with the lots",
                f"{account.available} != {released[member]} - debt {account.debt}",
            )
        if account.debt < 0:
            fail(member, "negative debt", str(account.debt))
        qualifying = sum(entry.qualifying for entry in chain)
        if account.qualifying_total != qualifying:
            fail(
                member,
                "qualifying total disagrees with the entries",
                f"{account.qualifying_total} != {qualifying}",
            )
        if member in soonest and (
            account.next_expiry_at is None or account.next_expiry_at > soonest[member]
        ):
            fail(
                member,
                "expiry bound is past a lot's expiry",
                f"next expiry {account.next_expiry_at} > lot expiring {soonest[member]}",
            )
        prev = GENESIS
        balance = 0
        for expected_seq, entry in enumerate(chain, start=1):
            balance += entry.points
            if entry.seq != expected_seq:
                fail(
                    member,
                    "hash chain broken",
                    f"entry {entry.id}: seq {entry.seq}, expected {expected_seq}",
                )
                break
            if entry.prev_hash != prev:
                fail(member, "hash chain broken", f"entry {entry.seq}: previous hash differs")
                break
            if chain_hash(entry.prev_hash, entry_fields(entry)) != entry.hash:
                fail(
                    member,
                    "entry altered",
                    f"entry {entry.seq} ({entry.id}) does not match its hash",
                )
                break
            if entry.balance_after != balance:
                fail(
                    member,
                    "balance after is wrong",
                    f"entry {entry.seq}: {entry.balance_after} != {balance}",
                )
            prev = entry.hash
        else:  # the chain is intact so far (a break was reported once, above): its end
            if account.entry_count != len(chain):
                fail(
                    member,
                    "hash chain broken",
                    f"the account ends at entry {account.entry_count}, the ledger at {len(chain)}",
                )
            elif account.last_entry_hash != prev:
                fail(
                    member,
                    "hash chain broken",
                    f"the account's last hash is not the hash of entry {len(chain)}",
                )

    # Purchases against their entries.
    purchases = await checkout_service.purchases_of_members(session, ids)
    report.purchases += len(purchases)
    sums: dict[tuple[uuid.UUID, str], int] = defaultdict(int)
    for entry in entries:
        if entry.purchase_id is not None:
            # An offer's points are part of what its purchase earned, in entries of their own.
            kind = EntryKind.EARN if entry.kind == EntryKind.OFFER else entry.kind
            sums[(entry.purchase_id, kind)] += entry.points
    for purchase in purchases:
        checks = (
            (EntryKind.EARN, purchase.points_earned),
            (EntryKind.REDEEM, -purchase.points_redeemed),
            (EntryKind.REVERSAL, -purchase.points_reversed),
            (EntryKind.RESTORE, purchase.points_restored),
        )
        for kind, expected in checks:
            if sums[(purchase.id, kind)] != expected:
                fail(
                    purchase.member_id,
                    "purchase disagrees with its entries",
                    f"purchase {purchase.id} ({purchase.receipt_number}): {kind} "
                    f"{sums[(purchase.id, kind)]} != {expected}",
                )

    # Vouchers, donations, referral and birthday bonuses against their entries.
    for member_id, rule, detail in [
        *await rewards_service.spending_violations(session, ids, entries),
        *await referrals_service.bonus_violations(session, ids, entries),
    ]:
        fail(member_id, rule, detail)
