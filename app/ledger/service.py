"""The ledger: the account's opening, the building blocks that move points, and the reads.

Points move only inside a use case's transaction that locked the member's account row first
(`lock_account`); the building blocks here take that locked account and never commit.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key
from sqlmodel import col

from app.auth.actors import Actor, StaffActor
from app.clock import Clock
from app.db import Database, core
from app.errors import Forbidden, InsufficientPoints, InvalidInput, NotFound
from app.idempotency import service as idempotency
from app.kit import pagination
from app.kit.hashing import GENESIS, chain_hash
from app.kit.ids import new_id, parse_id
from app.kit.pagination import Page
from app.ledger.models import (
    Account,
    AccountRow,
    EntryKind,
    LedgerEntry,
    LotMovement,
    MemberAccount,
    PointLot,
)
from app.live import service as live_service
from app.outbox import service as outbox_service
from app.outbox.events import EventType
from app.program import service as program_service
from app.stats import service as stats_service

EXPIRING_SOON_DAYS = 30


@dataclass(frozen=True, slots=True)
class Posting:
    """Who, where, when and under which rules the entries of one use case are written."""

    actor_kind: str  # member | staff | system
    actor_id: uuid.UUID | None
    store_id: uuid.UUID | None
    rules_version: int
    now: dt.datetime
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class Balance:
    available: int
    pending: int


def balance_of(account: Account) -> Balance:
    return Balance(available=account.available, pending=account.pending)


@dataclass(frozen=True, slots=True)
class ExpiringPoints:
    points: int
    expires_at: dt.datetime


async def open_account(
    session: AsyncSession,
    member_id: uuid.UUID,
    *,
    tier_code: str,
    tier_year_days: int,
    now: dt.datetime,
) -> MemberAccount:
    """Building block: the empty account of a new member, in the lowest tier."""
    account = MemberAccount(
        member_id=member_id,
        last_entry_hash=GENESIS,
        tier_code=tier_code,
        tier_year_ends_at=now + dt.timedelta(days=tier_year_days),
        created_at=now,
        updated_at=now,
    )
    session.add(account)
    await session.flush()
    return account


_ACCOUNTS = select(MemberAccount).where(
    col(MemberAccount.member_id).in_(bindparam("member_ids", expanding=True))
)  # built once: the till's scan and every MemberHome ask


async def accounts_by_member(
    session: AsyncSession, member_ids: Sequence[uuid.UUID]
) -> Mapping[uuid.UUID, MemberAccount]:
    rows = await session.scalars(_ACCOUNTS, {"member_ids": list(member_ids)})
    return {account.member_id: account for account in rows.all()}


@dataclass(frozen=True, slots=True)
class AccountStanding:
    member_id: uuid.UUID
    tier_code: str
    last_purchase_at: dt.datetime | None


async def standings_after(
    session: AsyncSession, *, after: uuid.UUID | None, limit: int
) -> list[AccountStanding]:
    """A batch of accounts' tier and last purchase, in member id order after `after` (the
    primary key), without loading the rows: jobs that visit every member walk them with this."""
    query = select(
        col(MemberAccount.member_id),
        col(MemberAccount.tier_code),
        col(MemberAccount.last_purchase_at),
    )
    if after is not None:
        query = query.where(col(MemberAccount.member_id) > after)
    query = query.order_by(col(MemberAccount.member_id)).limit(limit)
    return [AccountStanding(*row) for row in (await session.execute(query)).all()]


async def expiring_soon(
    session: AsyncSession, member_id: uuid.UUID, *, now: dt.datetime, days: int = EXPIRING_SOON_DAYS
) -> list[ExpiringPoints]:
    """Available points that expire within `days`, grouped by expiry date, soonest first."""
    rows = await session.execute(
        select(col(PointLot.expires_at), func.sum(col(PointLot.remaining)))
        .where(
            col(PointLot.member_id) == member_id,
            col(PointLot.remaining) > 0,
            col(PointLot.released).is_(True),
            col(PointLot.expires_at) > now,
            col(PointLot.expires_at) <= now + dt.timedelta(days=days),
        )
        .group_by(col(PointLot.expires_at))
        .order_by(col(PointLot.expires_at))
    )
    return [ExpiringPoints(int(points), expires_at) for expires_at, points in rows.all()]


def may_have_lapsed(account: Account, now: dt.datetime) -> bool:
    """Whether a lot of the member's may be past its date: almost never, so the till need not
    look (the account keeps a lower bound of its lots' expiry dates)."""
    return account.next_expiry_at is not None and account.next_expiry_at <= now


def _expiry_bound(account: Account, expires_at: dt.datetime) -> None:
    """A lot with points left expiring at `expires_at` exists (new, or given points back)."""
    if account.next_expiry_at is None or expires_at < account.next_expiry_at:
        account.next_expiry_at = expires_at


async def lapsed_points(session: AsyncSession, account: Account, *, now: dt.datetime) -> int:
    """Available points in lots past their date that no expiry has taken yet: what
    `expire_lapsed` would take from `available` before a redemption."""
    if not may_have_lapsed(account, now):
        return 0
    total = await session.scalar(
        select(func.coalesce(func.sum(col(PointLot.remaining)), 0)).where(
            col(PointLot.member_id) == account.member_id,
            col(PointLot.remaining) > 0,
            col(PointLot.released).is_(True),
            col(PointLot.expires_at) <= now,
        )
    )
    return int(total or 0)


async def qualifying_points(
    session: AsyncSession, member_id: uuid.UUID, *, since: dt.datetime
) -> int:
    rows = await (await core(session)).all(_QUALIFYING, {"member_id": member_id, "since": since})
    return int(rows[0][0] or 0)


_ENTRIES = LedgerEntry.__table__  # type: ignore[attr-defined]
_QUALIFYING = (  # built once: the tier check after a purchase asks it
    select(func.coalesce(func.sum(_ENTRIES.c.qualifying), 0)).where(
        _ENTRIES.c.member_id == bindparam("member_id"), _ENTRIES.c.created_at > bindparam("since")
    )
)


async def list_entries(
    session: AsyncSession, member_id: uuid.UUID, *, first: int, after: str | None
) -> Page[LedgerEntry]:
    """The member's entries, newest first: keyset-paginated on the member's sequence, which is
    the order the entries were written in under the account lock (timestamps are read before
    the lock is taken, so two tills can commit them out of order). The cursor names an entry."""
    pagination.check_first(first)
    query = select(LedgerEntry).where(col(LedgerEntry.member_id) == member_id)
    if after is not None:
        _, entry_id = pagination.decode_cursor(after)
        after_seq = (
            select(col(LedgerEntry.seq))
            .where(col(LedgerEntry.member_id) == member_id, col(LedgerEntry.id) == entry_id)
            .scalar_subquery()
        )
        query = query.where(col(LedgerEntry.seq) < after_seq)
    rows = (
        await session.scalars(query.order_by(col(LedgerEntry.seq).desc()).limit(first + 1))
    ).all()
    items = rows[:first]
    return Page(
        items=items,
        cursors=[pagination.encode_cursor(e.created_at, e.id) for e in items],
        has_next=len(rows) > first,
    )


async def count_accounts_in_tier(session: AsyncSession, tier_code: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(MemberAccount)
        .where(col(MemberAccount.tier_code) == tier_code)
    )
    return int(count or 0)


# -- moving points: building blocks on a locked account; they never commit ------------------------


async def lock_account(session: AsyncSession, member_id: uuid.UUID) -> MemberAccount:
    """Lock the member's account row for this transaction (SELECT ... FOR UPDATE; on SQLite the
    transaction's BEGIN IMMEDIATE already holds the database's write lock)."""
    account = await session.scalar(
        select(MemberAccount)
        .where(col(MemberAccount.member_id) == member_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if account is None:
        raise NotFound("No such member.", field="memberId")
    return account


_ACCOUNTS_TABLE = MemberAccount.__table__  # type: ignore[attr-defined]
_ACCOUNT_FIELDS = tuple(c.name for c in _ACCOUNTS_TABLE.columns if c.name != "member_id")
_SAVE_ACCOUNT = (  # built once: every column but the key (bind names may not be column names)
    update(_ACCOUNTS_TABLE)
    .where(_ACCOUNTS_TABLE.c.member_id == bindparam("of_member"))
    .values({name: bindparam(f"new_{name}") for name in _ACCOUNT_FIELDS})
)


async def save_account(session: AsyncSession, account: AccountRow) -> None:
    """Write an account row read with Core (`AccountRow`, locked in this transaction) back, in
    one UPDATE. An ORM `MemberAccount` needs no call: the session writes its changes."""
    values = {f"new_{name}": getattr(account, name) for name in _ACCOUNT_FIELDS}
    values["of_member"] = account.member_id
    await (await core(session)).execute(_SAVE_ACCOUNT, values)


def entry_fields(entry: LedgerEntry | NewEntry) -> dict[str, object]:
    """What the hash of an entry covers (a stored entry's or one just appended)."""
    return {
        "member_id": str(entry.member_id),
        "seq": entry.seq,
        "kind": entry.kind,
        "points": entry.points,
        "balance_after": entry.balance_after,
        "qualifying": entry.qualifying,
        "actor_kind": entry.actor_kind,
        "actor_id": str(entry.actor_id) if entry.actor_id else None,
        "store_id": str(entry.store_id) if entry.store_id else None,
        "purchase_id": str(entry.purchase_id) if entry.purchase_id else None,
        "rules_version": entry.rules_version,
        "idempotency_key": entry.idempotency_key,
        "description": entry.description,
        "created_at": entry.created_at.astimezone(dt.UTC).isoformat(),
    }


@dataclass(slots=True)
class NewEntry:
    """An entry just appended (its row is written; the ledger never changes it)."""

    id: uuid.UUID
    member_id: uuid.UUID
    seq: int
    kind: str
    points: int
    balance_after: int
    qualifying: int
    actor_kind: str
    actor_id: uuid.UUID | None
    store_id: uuid.UUID | None
    purchase_id: uuid.UUID | None
    rules_version: int
    idempotency_key: str | None
    description: str
    prev_hash: str
    hash: str
    created_at: dt.datetime


# Append-only rows are written with Core statements built once, on the session's connection:
# each is one INSERT at once, no objects and no unit of work (the till's hottest path), and
# without flushing the session first (the account's changes reach it in one UPDATE at the end).
_INSERT_ENTRY = insert(LedgerEntry.__table__)  # type: ignore[attr-defined]
_INSERT_LOT = insert(PointLot.__table__)  # type: ignore[attr-defined]
_INSERT_MOVEMENT = insert(LotMovement.__table__)  # type: ignore[attr-defined]


async def _append(
    session: AsyncSession,
    account: Account,
    posting: Posting,
    *,
    kind: str,
    points: int,
    description: str,
    purchase_id: uuid.UUID | None = None,
    qualifying: int = 0,
) -> NewEntry:
    """Append an entry after the account's balances were changed by `points`."""
    account.entry_count += 1
    account.version += 1
    account.qualifying_total += qualifying
    account.updated_at = posting.now
    row: dict[str, Any] = {
        "id": new_id(),
        "member_id": account.member_id,
        "seq": account.entry_count,
        "kind": kind,
        "points": points,
        "balance_after": account.available + account.pending,
        "qualifying": qualifying,
        "actor_kind": posting.actor_kind,
        "actor_id": posting.actor_id,
        "store_id": posting.store_id,
        "purchase_id": purchase_id,
        "rules_version": posting.rules_version,
        "idempotency_key": posting.idempotency_key,
        "description": description[:300],
        "prev_hash": account.last_entry_hash,
        "hash": "",
        "created_at": posting.now,
    }
    entry = NewEntry(**row)
    entry.hash = row["hash"] = chain_hash(entry.prev_hash, entry_fields(entry))
    account.last_entry_hash = entry.hash
    await (await core(session)).execute(_INSERT_ENTRY, row)
    return entry


async def _record_moves(
    session: AsyncSession,
    account: Account,
    entry: NewEntry,
    moves: list[tuple[PointLot, int]],
) -> None:
    """Apply signed moves to lots and record them, in one statement (the entry row exists)."""
    if not moves:
        return
    for lot, points in moves:
        lot.remaining += points
        session.add(lot)
    rows = [
        {
            "id": new_id(), "member_id": account.member_id, "entry_id": entry.id,
            "lot_id": lot.id, "points": points,
        }
        for lot, points in moves
    ]  # fmt: skip
    await (await core(session)).execute(_INSERT_MOVEMENT, rows)


async def earn(
    session: AsyncSession,
    account: Account,
    posting: Posting,
    *,
    points: int,
    kind: str,
    description: str,
    pending_days: int,
    expiry_days: int,
    purchase_id: uuid.UUID | None = None,
    qualifying: int = 0,
) -> NewEntry:
    """Give points as a new lot (pending for `pending_days`, expiring `expiry_days` after it
    becomes available). A debt is repaid from the new lot first."""
    if points < 0:
        raise ValueError("earn() gives points; use take_back() or spend() to take them")
    if account.available + account.pending + points > MAX_BALANCE:
        raise InvalidInput(
            f"A balance cannot pass {MAX_BALANCE} points (the API's integers are 32-bit).",
            field="points",
        )
    if account.lifetime_earned + points > MAX_BALANCE:  # shown to the member as an Int too
        raise InvalidInput(
            f"Points earned in a lifetime cannot pass {MAX_BALANCE} (the API's integers are "
            "32-bit).",
            field="points",
        )
    available_from = posting.now + dt.timedelta(days=pending_days)
    released = pending_days == 0
    repaid = min(account.debt, points)
    account.debt -= repaid
    account.available += repaid
    rest = points - repaid
    if released:
        account.available += rest
    else:
        account.pending += rest
    account.lifetime_earned += points
    entry = await _append(
        session,
        account,
        posting,
        kind=kind,
        points=points,
        description=description,
        purchase_id=purchase_id,
        qualifying=qualifying,
    )
    if points > 0:
        lot_id = new_id()
        expires_at = available_from + dt.timedelta(days=expiry_days)
        connection = await core(session)
        await connection.execute(
            _INSERT_LOT,
            {
                "id": lot_id, "member_id": account.member_id, "points": points,
                "remaining": rest, "available_from": available_from, "released": released,
                "expires_at": expires_at, "origin_entry_id": entry.id,
                "purchase_id": purchase_id, "created_at": posting.now,
            },
        )  # fmt: skip
        _expiry_bound(account, expires_at)
        if repaid:
            await connection.execute(
                _INSERT_MOVEMENT,
                {
                    "id": new_id(), "member_id": account.member_id, "entry_id": entry.id,
                    "lot_id": lot_id, "points": -repaid,
                },
            )  # fmt: skip
    return entry


LOT_PAGE = 64
MAX_BALANCE = 2**31 - 1


def _lots_query(member_id: uuid.UUID) -> Select[PointLot]:
    """The member's lots with points left, oldest expiry first."""
    return (
        select(PointLot)
        .where(col(PointLot.member_id) == member_id, col(PointLot.remaining) > 0)
        .order_by(col(PointLot.expires_at), col(PointLot.created_at), col(PointLot.id))
        .execution_options(populate_existing=True)
    )


async def _take(
    session: AsyncSession, queries: list[Select[PointLot]], points: int
) -> list[tuple[PointLot, int]]:
    """Up to `points` from the lots the queries return, in order, a page at a time: a member
    with years of purchases has hundreds of lots, and a redemption needs the first few."""
    taken: list[tuple[PointLot, int]] = []
    seen: set[uuid.UUID] = set()
    left = points
    for query in queries:
        offset = 0
        while left > 0:
            page = (await session.scalars(query.limit(LOT_PAGE).offset(offset))).all()
            for lot in page:
                if left == 0 or lot.id in seen:
                    continue
                seen.add(lot.id)
                part = min(lot.remaining, left)
                taken.append((lot, part))
                left -= part
            if len(page) < LOT_PAGE:
                break
            offset += LOT_PAGE
    return taken


async def spend(
    session: AsyncSession,
    account: Account,
    posting: Posting,
    *,
    points: int,
    kind: str,
    description: str,
    purchase_id: uuid.UUID | None = None,
) -> NewEntry:
    """Spend available points, oldest lots first. Never makes the balance negative."""
    if points <= 0:
        raise ValueError("spend() takes a positive number of points")
    if account.available < points:
        raise InsufficientPoints(available=max(account.available, 0), field="points")
    taken = await _take_released(session, account.member_id, points)
    if sum(part for _, _, part in taken) != points:  # the cached balance disagrees with the lots
        raise RuntimeError(f"ledger inconsistency for member {account.member_id}")
    account.available -= points
    entry = await _append(
        session,
        account,
        posting,
        kind=kind,
        points=-points,
        description=description,
        purchase_id=purchase_id,
    )
    await _move_lots(session, account, entry, [(lot, left, -part) for lot, left, part in taken])
    return entry


_LOTS = PointLot.__table__  # type: ignore[attr-defined]
_RELEASED_LOTS = (  # built once: a redemption's lots, oldest expiry first, a page at a time
    select(_LOTS.c.id, _LOTS.c.remaining)
    .where(
        _LOTS.c.member_id == bindparam("member_id"),
        _LOTS.c.remaining > 0,
        _LOTS.c.released.is_(True),
    )
    .order_by(_LOTS.c.expires_at, _LOTS.c.created_at, _LOTS.c.id)
    .limit(bindparam("page"))
    .offset(bindparam("skip"))
)
_MOVE_LOT = (
    update(_LOTS)
    .where(_LOTS.c.id == bindparam("lot_id"))
    .values(remaining=_LOTS.c.remaining + bindparam("delta"))
)


async def _take_released(
    session: AsyncSession, member_id: uuid.UUID, points: int
) -> list[tuple[uuid.UUID, int, int]]:
    """Up to `points` from the member's available lots, oldest expiry first, as (lot, points
    left in it, points taken), a page at a time; with Core (a redemption's hot path). Changes
    the session holds (lots an expiry just emptied) are written first, so that the read sees
    them."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    connection = await core(session)
    taken: list[tuple[uuid.UUID, int, int]] = []
    left, skip = points, 0
    while left > 0:
        page = await connection.all(
            _RELEASED_LOTS, {"member_id": member_id, "page": LOT_PAGE, "skip": skip}
        )
        for lot_id, remaining in page:
            part = min(remaining, left)
            if part:
                taken.append((lot_id, remaining, part))
                left -= part
        if len(page) < LOT_PAGE:
            break
        skip += LOT_PAGE
    return taken


async def _move_lots(
    session: AsyncSession,
    account: Account,
    entry: NewEntry,
    moves: list[tuple[uuid.UUID, int, int]],
) -> None:
    """`_record_moves` for lots read with Core, as (lot, points left in it, signed move): one
    UPDATE per lot in one call, and the movements in one statement. A lot the session holds as
    an object gets its new count too."""
    if not moves:
        return
    connection = await core(session)
    await connection.execute(_MOVE_LOT, [{"lot_id": lot, "delta": move} for lot, _, move in moves])
    held = session.sync_session.identity_map
    if held:
        for lot_id, left, move in moves:
            lot = held.get(identity_key(PointLot, lot_id))
            if lot is not None:
                set_committed_value(lot, "remaining", left + move)
    rows = [
        {
            "id": new_id(), "member_id": account.member_id, "entry_id": entry.id,
            "lot_id": lot_id, "points": move,
        }
        for lot_id, _, move in moves
    ]  # fmt: skip
    await connection.execute(_INSERT_MOVEMENT, rows)


async def take_back(
    session: AsyncSession,
    account: Account,
    posting: Posting,
    *,
    points: int,
    description: str,
    purchase_id: uuid.UUID,
    qualifying: int = 0,
) -> NewEntry:
    """A refund takes earned points back: from the purchase's own lot first, then the oldest
    lots (available, then pending), and what the member has already spent becomes debt."""
    lots = _lots_query(account.member_id)
    taken = await _take(
        session,
        [
            lots.where(col(PointLot.purchase_id) == purchase_id),
            lots.where(col(PointLot.released).is_(True)),
            lots.where(col(PointLot.released).is_(False)),
        ],
        points,
    )
    from_available = sum(part for lot, part in taken if lot.released)
    from_pending = sum(part for lot, part in taken if not lot.released)
    shortfall = points - from_available - from_pending
    account.available -= from_available + shortfall
    account.pending -= from_pending
    account.debt += shortfall
    entry = await _append(
        session,
        account,
        posting,
        kind=EntryKind.REVERSAL,
        points=-points,
        description=description,
        purchase_id=purchase_id,
        qualifying=qualifying,
    )
    await _record_moves(session, account, entry, [(lot, -part) for lot, part in taken])
    return entry


async def give_back(
    session: AsyncSession,
    account: Account,
    posting: Posting,
    *,
    points: int,
    description: str,
    purchase_id: uuid.UUID,
) -> NewEntry:
    """A refund gives redeemed points back, to the lots they were taken from (with their
    original expiry), in the order they were taken. A debt is repaid from them first, as from
    an earning: points never wait in a lot (to expire) while the balance is below zero."""
    taken_rows = await session.execute(
        select(col(LotMovement.lot_id), func.sum(col(LotMovement.points)))
        .join(LedgerEntry, col(LedgerEntry.id) == col(LotMovement.entry_id))
        .where(
            col(LotMovement.member_id) == account.member_id,
            col(LedgerEntry.member_id) == account.member_id,
            col(LedgerEntry.purchase_id) == purchase_id,
            col(LedgerEntry.kind).in_([EntryKind.REDEEM, EntryKind.RESTORE]),
        )
        .group_by(col(LotMovement.lot_id))
    )
    net_taken = {lot_id: -int(total) for lot_id, total in taken_rows.all() if total < 0}
    lots = (
        await session.scalars(
            select(PointLot)
            .where(col(PointLot.id).in_(list(net_taken)))
            .order_by(col(PointLot.expires_at), col(PointLot.created_at), col(PointLot.id))
            .execution_options(populate_existing=True)
        )
    ).all()
    moves: list[tuple[PointLot, int]] = []
    left = points
    for lot in lots:
        part = min(net_taken[lot.id], lot.points - lot.remaining, left)
        if part > 0:
            moves.append((lot, part))
            left -= part
    if left:
        raise RuntimeError(f"cannot return {points} points to the lots of purchase {purchase_id}")
    for lot, _ in moves:
        _expiry_bound(account, lot.expires_at)
    account.available += sum(part for lot, part in moves if lot.released)
    account.pending += sum(part for lot, part in moves if not lot.released)
    repay = min(account.debt, points)
    account.debt -= repay
    for lot, part in list(moves):  # the points repaying the debt leave their lots again
        used = min(part, repay)
        if used == 0:
            break
        moves.append((lot, -used))
        repay -= used
        if not lot.released:  # the balance stays; pending points become the debt's repayment
            account.pending -= used
            account.available += used
    entry = await _append(
        session,
        account,
        posting,
        kind=EntryKind.RESTORE,
        points=points,
        description=description,
        purchase_id=purchase_id,
    )
    await _record_moves(session, account, entry, moves)
    return entry


async def expire_due(session: AsyncSession, account: Account, posting: Posting) -> NewEntry | None:
    """Expire what is left of the member's lots past their date, in one entry."""
    lots = (
        await session.scalars(
            select(PointLot)
            .where(
                col(PointLot.member_id) == account.member_id,
                col(PointLot.remaining) > 0,
                col(PointLot.expires_at) <= posting.now,
            )
            .order_by(col(PointLot.expires_at), col(PointLot.id))
            .execution_options(populate_existing=True)
        )
    ).all()
    if not lots:
        return None
    from_available = sum(lot.remaining for lot in lots if lot.released)
    from_pending = sum(lot.remaining for lot in lots if not lot.released)
    total = from_available + from_pending
    account.available -= from_available
    account.pending -= from_pending
    entry = await _append(
        session,
        account,
        posting,
        kind=EntryKind.EXPIRE,
        points=-total,
        description=f"{total} points expired",
    )
    await _record_moves(session, account, entry, [(lot, -lot.remaining) for lot in lots])
    account.next_expiry_at = await session.scalar(
        select(func.min(col(PointLot.expires_at))).where(
            col(PointLot.member_id) == account.member_id, col(PointLot.remaining) > 0
        )
    )
    await outbox_service.record(
        session, type=EventType.POINTS_EXPIRED, member_id=account.member_id,
        data={"entryId": str(entry.id), "points": total, "available": account.available,
              "pending": account.pending},
        at=posting.now,
    )  # fmt: skip
    return entry


async def expire_lapsed(
    session: AsyncSession,
    account: Account,
    *,
    rules_version: int,
    now: dt.datetime,
    trust_bound: bool = True,
) -> NewEntry | None:
    """Expire the member's lots past their date now, as the expiry job would (one EXPIRE entry by
    the system). A use case that takes points (redeem, take back, a negative adjustment) calls it
    first, so that it never spends points that have lapsed, whether or not the job has reached
    this member yet: the outcome does not depend on which of the two runs first. The till
    trusts the account's expiry bound to skip the lookup; the expiry job does not."""
    if trust_bound and not may_have_lapsed(account, now):
        return None
    posting = Posting(
        actor_kind="system", actor_id=None, store_id=None, rules_version=rules_version, now=now
    )
    return await expire_due(session, account, posting)


async def release_due(session: AsyncSession, account: Account, now: dt.datetime) -> int:
    """Pending lots whose date has come become available. No entry: the total is unchanged."""
    lots = (
        await session.scalars(
            select(PointLot)
            .where(
                col(PointLot.member_id) == account.member_id,
                col(PointLot.released).is_(False),
                col(PointLot.available_from) <= now,
            )
            .execution_options(populate_existing=True)
        )
    ).all()
    moved = sum(lot.remaining for lot in lots)
    for lot in lots:
        lot.released = True
        session.add(lot)
    account.pending -= moved
    account.available += moved
    if lots:
        account.version += 1
        account.updated_at = now
    return moved


async def members_with_lots_due(
    session: AsyncSession, *, column: str, now: dt.datetime, after: uuid.UUID | None, limit: int
) -> list[uuid.UUID]:
    """A batch of member ids (in id order, after `after`) with lots to expire or to release."""
    if column == "expire":
        condition = and_(col(PointLot.remaining) > 0, col(PointLot.expires_at) <= now)
    else:
        condition = and_(col(PointLot.released).is_(False), col(PointLot.available_from) <= now)
    query = select(col(PointLot.member_id)).where(condition).distinct()
    if after is not None:
        query = query.where(col(PointLot.member_id) > after)
    query = query.order_by(col(PointLot.member_id)).limit(limit)
    return list((await session.scalars(query)).all())


# -- use cases -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdjustmentResult:
    entry_id: uuid.UUID
    kind: str
    points: int
    balance_after: int
    description: str
    created_at: dt.datetime

    def to_json(self) -> dict[str, object]:
        return {
            "entry_id": str(self.entry_id),
            "kind": self.kind,
            "points": self.points,
            "balance_after": self.balance_after,
            "description": self.description,
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AdjustmentResult:
        return cls(
            entry_id=uuid.UUID(data["entry_id"]),
            kind=data["kind"],
            points=int(data["points"]),
            balance_after=int(data["balance_after"]),
            description=data["description"],
            created_at=dt.datetime.fromisoformat(data["created_at"]),
        )


MAX_ADJUSTMENT = 10_000_000


async def adjust_points(
    db: Database,
    actor: Actor | None,
    clock: Clock,
    *,
    member_id: str,
    points: int,
    reason: str,
    idempotency_key: str,
) -> AdjustmentResult:
    """An operator's correction (admins and managers): a signed number of points with a reason,
    recorded as who made it. Taking points never makes the balance negative."""
    if not isinstance(actor, StaffActor) or actor.role not in ("ADMIN", "MANAGER"):
        raise Forbidden("Only administrators and managers adjust points.")
    key = idempotency.check_key(idempotency_key)
    target = parse_id(member_id)
    if target is None:
        raise InvalidInput("This is not a member id.", field="memberId")
    if points == 0 or abs(points) > MAX_ADJUSTMENT:
        raise InvalidInput(
            f"Adjust by a non-zero number of points, at most {MAX_ADJUSTMENT} either way.",
            field="points",
        )
    cleaned = " ".join(reason.split())
    if not cleaned or len(cleaned) > 200 or not cleaned.isprintable():
        raise InvalidInput("Give a reason of at most 200 characters.", field="reason")
    digest = idempotency.request_hash(
        "adjustPoints", {"member_id": str(target), "points": points, "reason": cleaned}
    )
    scope = f"staff:{actor.staff_id}"
    now = clock.now()
    async with db.transaction() as session:
        await idempotency.hold_key(session, scope=scope, key=key)  # before the account
        account = await lock_account(session, target)
        stored = await idempotency.replay(
            session, member_id=target, scope=scope, key=key, operation="adjustPoints", digest=digest
        )
        if stored is not None:
            return AdjustmentResult.from_json(stored)
        rules = await program_service.current_rules(session)
        posting = Posting(
            actor_kind="staff",
            actor_id=actor.staff_id,
            store_id=None,
            rules_version=rules.version,
            now=now,
            idempotency_key=key,
        )
        description = f"Adjustment: {cleaned}"
        lapsed = None
        if points > 0:
            entry = await earn(
                session, account, posting, points=points, kind=EntryKind.ADJUST,
                description=description, pending_days=0, expiry_days=rules.expiry_days,
            )  # fmt: skip
        else:
            lapsed = await expire_lapsed(session, account, rules_version=rules.version, now=now)
            entry = await spend(
                session, account, posting, points=-points, kind=EntryKind.ADJUST,
                description=description,
            )  # fmt: skip
        await stats_service.record_movement(
            session, at=now, store_id=None, account=account, issued=points,
            expired=-lapsed.points if lapsed else 0,
        )  # fmt: skip
        session.add(account)
        await live_service.announce_balance(session, account, live_service.Reason.ADJUSTMENT)
        await outbox_service.record(
            session, type=EventType.POINTS_ADJUSTED, member_id=target,
            data={"entryId": str(entry.id), "points": points, "reason": cleaned,
                  "by": str(actor.staff_id), "available": account.available,
                  "pending": account.pending},
            at=now,
        )  # fmt: skip
        result = AdjustmentResult(
            entry_id=entry.id,
            kind=entry.kind,
            points=entry.points,
            balance_after=entry.balance_after,
            description=entry.description,
            created_at=entry.created_at,
        )
        await idempotency.remember(
            session, member_id=target, scope=scope, key=key, operation="adjustPoints",
            digest=digest, result=result.to_json(), now=now,
        )  # fmt: skip
    return result


async def lots_expiring(
    session: AsyncSession,
    *,
    start: dt.datetime,
    end: dt.datetime,
    after: tuple[dt.datetime, uuid.UUID] | None,
    limit: int,
) -> list[PointLot]:
    """A batch of lots with points left that expire in (start, end], in (expires_at, id) order
    after `after` (for the expiry reminders)."""
    query = select(PointLot).where(
        col(PointLot.expires_at) > start,
        col(PointLot.expires_at) <= end,
        col(PointLot.remaining) > 0,
    )
    if after is not None:
        at, lot_id = after
        query = query.where(
            (col(PointLot.expires_at) > at)
            | (and_(col(PointLot.expires_at) == at, col(PointLot.id) > lot_id))
        )
    rows = await session.scalars(
        query.order_by(col(PointLot.expires_at), col(PointLot.id)).limit(limit)
    )
    return list(rows.all())
