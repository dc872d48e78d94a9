"""The operator's view: the program's numbers, from totals maintained with every movement.

`record_movement` is the building block the use cases that move points call, once each, in
their own transaction: one `INSERT ... ON CONFLICT DO UPDATE`, the transaction's last statement,
of the day's rows (the store's and the program's) and, for a purchase, of the program's rows of
the days the member's last two purchases move from (the per-day counts of members by last and
previous purchase day). The reads sum those rows: the totals over every day, the active and
repeat buyers over the last 30 and 90 days (a day is a UTC day; "in 30 days" is today and the
29 days before). `rebuild` recomputes the totals from the ledger, the purchases and the refunds,
a batch of members at a time, and the per-day member counts from the accounts; `check`
compares.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from decimal import Decimal
from functools import partial
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    bindparam,
    case,
    delete,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, StaffActor, SystemActor
from app.checkout.models import Purchase, Refund
from app.clock import Clock
from app.db import Core, Database, UTCDateTime, core, write_last
from app.errors import Forbidden
from app.kit import pagination
from app.kit.pagination import InvalidCursor, Page
from app.ledger.models import Account, LedgerEntry, MemberAccount
from app.members.models import Member
from app.program.rules import ProgramRules
from app.stats import rules
from app.stats.models import ALL_STORES, SHARDS, DailyTotal
from app.stores import service as stores_service
from app.stores.models import Store

ACTIVE_DAYS = 30
REPEAT_DAYS = 90
_COUNTERS = ("joined", "purchases", "amount", "issued", "redeemed", "expired")
_ACTIVITY = ("last_buyers", "prev_buyers")
_UPSERTED = (*_COUNTERS, *_ACTIVITY)


# -- writing: one statement per movement -----------------------------------------------------------


def _utc_day(at: dt.datetime | None) -> dt.date | None:
    return at.astimezone(dt.UTC).date() if at is not None else None


def purchase_days(account: Account) -> tuple[dt.date | None, dt.date | None]:
    """The UTC days of the account's last purchase and of the one before: the days it counts on
    in `last_buyers` and `prev_buyers`."""
    return _utc_day(account.last_purchase_at), _utc_day(account.prev_purchase_at)


def note_purchase(account: Account, at: dt.datetime) -> dict[dt.date, tuple[int, int]]:
    """Keep the account's last two purchase times (no statement: the use case writes the locked
    account row anyway). Two tills can commit out of the order their clocks were read in: the
    account keeps the two latest times whatever the order. Returns how the per-day member counts
    move with exactly that change."""
    before = purchase_days(account)
    last = account.last_purchase_at
    if last is None or at >= last:
        account.prev_purchase_at = last
        account.last_purchase_at = at
    elif account.prev_purchase_at is None or at > account.prev_purchase_at:
        account.prev_purchase_at = at
    return rules.activity_moves(before, purchase_days(account))


async def record_movement(
    session: AsyncSession,
    *,
    at: dt.datetime,
    store_id: uuid.UUID | None,
    account: Account | None = None,
    issued: int = 0,
    redeemed: int = 0,
    expired: int = 0,
    purchases: int = 0,
    amount: int = 0,
    joined: int = 0,
) -> None:
    """Building block: add one use case's movement to the day's totals, in the caller's
    transaction: the store's row (issued, redeemed, purchases, amount) and the program's row
    (everything, expiry and sign-ups included). In a `Database.transaction()` they are written
    as its last statement, one upsert for all its movements: every till adds to the same rows,
    and each then holds their lock for that statement and the commit only (measured: the p99 of
    a purchase at 32 tills halved); elsewhere, at once. With `purchases` and the member's locked
    `account`, the account's last purchase times move too, and with them the program's per-day
    member counts: the same statement takes the member off the rows of its old last and
    previous purchase days (in its shard) and puts it on the new ones. Refunds leave the
    purchase times, and so the counts, as they are."""
    moves = note_purchase(account, at) if purchases and account is not None else {}
    counts = {
        "joined": joined, "purchases": purchases, "amount": amount,
        "issued": issued, "redeemed": redeemed, "expired": expired,
    }  # fmt: skip
    if not any(counts.values()) and not moves:
        return
    day = at.astimezone(dt.UTC).date()
    shard = account.member_id.int % SHARDS if account is not None else 0
    rows = []
    if store_id is not None and (issued or redeemed or purchases or amount):
        rows.append(
            {**dict.fromkeys(_UPSERTED, 0), "store_id": store_id, "day": day, "shard": shard,
             "issued": issued, "redeemed": redeemed, "purchases": purchases, "amount": amount}
        )  # fmt: skip
    program = {day: {**counts, "last_buyers": 0, "prev_buyers": 0}}
    for moved_day, (last, prev) in moves.items():
        row = program.setdefault(moved_day, dict.fromkeys(_UPSERTED, 0))
        row["last_buyers"] += last
        row["prev_buyers"] += prev
    rows.extend(
        {**values, "store_id": ALL_STORES, "day": row_day, "shard": shard}
        for row_day, values in program.items()
        if row_day != day or any(values.values())
    )
    dialect = session.get_bind().dialect.name
    pending: _Pending | None = session.info.get(_PENDING)
    if pending is not None:  # the transaction's earlier movement, still to be written
        _add(pending, rows)
        return
    pending = _add({}, rows)
    if write_last(session, partial(_write, pending=pending, dialect=dialect)):
        session.info[_PENDING] = pending  # the transaction's later movements join it
    else:
        await _write(await core(session), pending=pending, dialect=dialect)


_PENDING = "daily_totals"
_Pending = dict[tuple[uuid.UUID, dt.date, int], dict[str, Any]]


def _add(pending: _Pending, rows: Iterable[dict[str, Any]]) -> _Pending:
    """Add rows to the pending ones: a row per key, its counts summed."""
    for row in rows:
        key = (row["store_id"], row["day"], row["shard"])
        kept = pending.get(key)
        if kept is None:
            pending[key] = dict(row)
        else:
            for name in _UPSERTED:
                kept[name] += row[name]
    return pending


async def _write(connection: Core, *, pending: _Pending, dialect: str) -> None:
    """One upsert of a transaction's movements (a key twice in one statement is an error), in
    key order: concurrent upserts lock their rows in one order and cannot deadlock."""
    await connection.execute(_upsert(dialect), [pending[key] for key in sorted(pending)])


_UPSERTS: dict[str, Any] = {}


def _upsert(dialect: str) -> Any:
    """The upsert, built once per dialect (building it costs more than running it) and run with
    the rows as parameters: one round trip, the rows in the order given."""
    statement = _UPSERTS.get(dialect)
    if statement is None:
        table = DailyTotal.__table__  # type: ignore[attr-defined]
        insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
        statement = insert.on_conflict_do_update(
            index_elements=["store_id", "day", "shard"],
            set_={name: table.c[name] + insert.excluded[name] for name in _UPSERTED},
        )
        _UPSERTS[dialect] = statement
    return statement


# -- reading ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class Totals:
    joined: int = 0
    purchases: int = 0
    amount: int = 0
    issued: int = 0
    redeemed: int = 0
    expired: int = 0

    def add(self, other: Totals) -> None:
        for name in _COUNTERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _sums() -> list[Any]:
    return [func.coalesce(func.sum(getattr(DailyTotal, name)), 0) for name in _COUNTERS]


def totals_statement(store_id: uuid.UUID) -> Select[Any]:
    return select(*_sums()).where(col(DailyTotal.store_id) == store_id)


async def totals(session: AsyncSession, store_id: uuid.UUID = ALL_STORES) -> Totals:
    """All-time totals of a store, or of the program (`ALL_STORES`): a primary-key range."""
    row = (await session.execute(totals_statement(store_id))).one()
    return Totals(*(int(value) for value in row))


async def totals_by_store(
    session: AsyncSession, store_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Totals]:
    rows = await session.execute(
        select(col(DailyTotal.store_id), *_sums())
        .where(col(DailyTotal.store_id).in_(list(store_ids)))
        .group_by(col(DailyTotal.store_id))
    )
    found = {store_id: Totals(*(int(v) for v in values)) for store_id, *values in rows.all()}
    return {store_id: found.get(store_id, Totals()) for store_id in store_ids}


@dataclass(frozen=True, slots=True)
class ProgramStats:
    currency: str
    members: int
    active_members_30d: int
    buyers_90d: int
    repeat_buyers_90d: int
    points_issued: int
    points_redeemed: int
    points_expired: int
    outstanding_points: int
    outstanding_liability: int  # minor units
    purchases: int
    sales: int  # minor units, net of refunds

    @property
    def redemption_rate(self) -> Decimal:
        return rules.ratio(self.points_redeemed, self.points_issued)

    @property
    def breakage(self) -> Decimal:
        return rules.ratio(self.points_expired, self.points_issued)

    @property
    def repeat_purchase_rate_90d(self) -> Decimal:
        return rules.ratio(self.repeat_buyers_90d, self.buyers_90d)

    @property
    def average_purchase(self) -> int:
        return rules.average(self.sales, self.purchases)


@dataclass(frozen=True, slots=True)
class StoreStats:
    store_id: uuid.UUID
    currency: str
    active_members_30d: int
    points_issued: int
    points_redeemed: int
    purchases: int
    sales: int

    @property
    def redemption_rate(self) -> Decimal:
        return rules.ratio(self.points_redeemed, self.points_issued)

    @property
    def average_purchase(self) -> int:
        return rules.average(self.sales, self.purchases)


def require_admin(actor: Actor | None) -> None:
    if isinstance(actor, SystemActor) or (isinstance(actor, StaffActor) and actor.is_admin):
        return
    raise Forbidden("Only administrators see the program's numbers.")


def require_store_reader(actor: Actor | None, store_id: uuid.UUID) -> None:
    """Administrators see every store's numbers; managers those of their stores."""
    if isinstance(actor, SystemActor) or (isinstance(actor, StaffActor) and actor.is_admin):
        return
    if isinstance(actor, StaffActor) and actor.role == "MANAGER" and store_id in actor.store_ids:
        return
    raise Forbidden("Only administrators and the store's managers see its numbers.")


def window_start(now: dt.datetime, days: int) -> dt.date:
    """The first UTC day of the last `days` days (today counts as one)."""
    return now.astimezone(dt.UTC).date() - dt.timedelta(days=days - 1)


def activity_statement(*, now: dt.datetime) -> Select[Any]:
    day = col(DailyTotal.day)
    last = col(DailyTotal.last_buyers)
    return select(
        func.coalesce(func.sum(case((day >= window_start(now, ACTIVE_DAYS), last), else_=0)), 0),
        func.coalesce(func.sum(last), 0),
        func.coalesce(func.sum(col(DailyTotal.prev_buyers)), 0),
    ).where(col(DailyTotal.store_id) == ALL_STORES, day >= window_start(now, REPEAT_DAYS))


async def member_activity(session: AsyncSession, *, now: dt.datetime) -> tuple[int, int, int]:
    """(active in 30 days, bought in 90 days, bought twice or more in 90 days): members whose
    last purchase is in the 30 or 90 days, and whose purchase before it is in the 90 days, a
    sum over the program's rows of those days (a `pk_daily_totals` range of at most 90 days
    times the shards), whatever the number of members."""
    row = (await session.execute(activity_statement(now=now))).one()
    return int(row[0]), int(row[1]), int(row[2])


async def program_stats(
    session: AsyncSession, actor: Actor | None, program: ProgramRules, *, now: dt.datetime
) -> ProgramStats:
    require_admin(actor)
    total = await totals(session)
    active, buyers, repeat = await member_activity(session, now=now)
    outstanding = total.issued - total.redeemed - total.expired
    return ProgramStats(
        currency=program.currency,
        members=total.joined,
        active_members_30d=active,
        buyers_90d=buyers,
        repeat_buyers_90d=repeat,
        points_issued=total.issued,
        points_redeemed=total.redeemed,
        points_expired=total.expired,
        outstanding_points=outstanding,
        outstanding_liability=rules.liability(
            outstanding,
            point_value_points=program.point_value_points,
            point_value_amount=program.point_value_amount,
        ),
        purchases=total.purchases,
        sales=total.amount,
    )


async def active_members_by_store(
    session: AsyncSession, store_ids: Sequence[uuid.UUID], *, now: dt.datetime
) -> dict[uuid.UUID, int]:
    """Members with a purchase in the store in the last 30 (UTC) days, as the program counts
    them: a range of the index on purchases (store, time) per store."""
    since = dt.datetime.combine(window_start(now, ACTIVE_DAYS), dt.time(), tzinfo=dt.UTC)
    rows = await session.execute(
        select(col(Purchase.store_id), func.count(func.distinct(col(Purchase.member_id))))
        .where(col(Purchase.store_id).in_(list(store_ids)), col(Purchase.created_at) >= since)
        .group_by(col(Purchase.store_id))
    )
    found = {store_id: int(count) for store_id, count in rows.all()}
    return {store_id: found.get(store_id, 0) for store_id in store_ids}


async def stores_stats(
    session: AsyncSession,
    actor: Actor | None,
    program: ProgramRules,
    store_ids: Sequence[uuid.UUID],
    *,
    now: dt.datetime,
) -> list[StoreStats]:
    """The numbers of these stores, in their order, in two queries whatever their count."""
    for store_id in store_ids:
        require_store_reader(actor, store_id)
    if not store_ids:
        return []
    by_store = await totals_by_store(session, store_ids)
    active = await active_members_by_store(session, store_ids, now=now)
    return [
        StoreStats(
            store_id=store_id,
            currency=program.currency,
            active_members_30d=active[store_id],
            points_issued=by_store[store_id].issued,
            points_redeemed=by_store[store_id].redeemed,
            purchases=by_store[store_id].purchases,
            sales=by_store[store_id].amount,
        )
        for store_id in store_ids
    ]


async def store_stats(
    session: AsyncSession,
    actor: Actor | None,
    program: ProgramRules,
    store_id: uuid.UUID,
    *,
    now: dt.datetime,
) -> tuple[Store, StoreStats]:
    require_store_reader(actor, store_id)
    store = await stores_service.get_store(session, store_id)
    return store, (await stores_stats(session, actor, program, [store_id], now=now))[0]


async def list_store_stats(
    session: AsyncSession,
    actor: Actor | None,
    program: ProgramRules,
    *,
    first: int,
    after: str | None,
    now: dt.datetime,
) -> Page[tuple[Store, StoreStats]]:
    """Every store's numbers, by store code (a keyset on the unique code); administrators."""
    require_admin(actor)
    pagination.check_first(first)
    query = select(Store).order_by(col(Store.code)).limit(first + 1)
    if after is not None:
        query = query.where(col(Store.code) > _decode_code(after))
    rows = (await session.scalars(query)).all()
    stores = rows[:first]
    numbers = await stores_stats(session, actor, program, [s.id for s in stores], now=now)
    return Page(
        items=list(zip(stores, numbers, strict=True)),
        cursors=[_encode_code(store.code) for store in stores],
        has_next=len(rows) > first,
    )


def _encode_code(code: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(["store", code]).encode()).decode().rstrip("=")


def _decode_code(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        kind, code = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        if kind != "store" or not isinstance(code, str):
            raise TypeError("not a store cursor")
        return code
    except (ValueError, TypeError, binascii.Error, RecursionError) as exc:
        raise InvalidCursor("The cursor is not one this API returned.") from exc


# -- rebuilding from the ledger --------------------------------------------------------------------


@dataclass
class RebuildReport:
    members: int = 0
    entries: int = 0
    purchases: int = 0
    rows: int = 0
    buyers: int = 0  # members with a purchase: the accounts counted on the per-day rows
    differences: list[str] = field(default_factory=list)


Key = tuple[uuid.UUID, dt.date]


def _day(column: Any, dialect: str) -> Any:
    if dialect == "postgresql":
        # A literal, not a parameter: the SELECT and the GROUP BY must be the same expression.
        return func.date(func.timezone(literal_column("'UTC'"), column))
    return func.date(column)  # SQLite keeps UTC timestamps as ISO text


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


async def _member_batch(db: Database, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
    query = select(col(Member.id)).order_by(col(Member.id)).limit(limit)
    if after is not None:
        query = query.where(col(Member.id) > after)
    async with db.read() as session:
        return list((await session.scalars(query)).all())


async def _recompute_batch(
    session: AsyncSession,
    batch: list[uuid.UUID],
    before: dt.datetime | None,
    into: dict[Key, Totals],
    report: RebuildReport,
) -> dict[uuid.UUID, list[dt.datetime]]:
    """Add the batch's members to `into`; return their last two purchase times."""
    dialect = session.get_bind().dialect.name

    def until(column: Any) -> ColumnElement[bool]:
        return column < before if before is not None else true()

    def bump(store_id: uuid.UUID | None, day: Any, name: str, value: int) -> None:
        targets = [ALL_STORES] if store_id is None or name in ("expired", "joined") else [
            store_id, ALL_STORES
        ]  # fmt: skip
        for target in targets:
            totals_row = into.setdefault((target, _as_date(day)), Totals())
            setattr(totals_row, name, getattr(totals_row, name) + value)

    joined_day = _day(col(Member.created_at), dialect)
    for day, count in await session.execute(
        select(joined_day, func.count())
        .where(col(Member.id).in_(batch), until(col(Member.created_at)))
        .group_by(joined_day)
    ):
        bump(None, day, "joined", int(count))

    entry_day = _day(col(LedgerEntry.created_at), dialect)
    for day, store_id, kind, points, count in await session.execute(
        select(
            entry_day,
            col(LedgerEntry.store_id),
            col(LedgerEntry.kind),
            func.sum(col(LedgerEntry.points)),
            func.count(),
        )
        .where(col(LedgerEntry.member_id).in_(batch), until(col(LedgerEntry.created_at)))
        .group_by(entry_day, col(LedgerEntry.store_id), col(LedgerEntry.kind))
    ):
        report.entries += int(count)
        value = int(points)
        column = rules.column_of(kind)
        bump(store_id, day, column, -value if column != "issued" else value)

    purchase_day = _day(col(Purchase.created_at), dialect)
    for day, store_id, count, paid in await session.execute(
        select(
            purchase_day, col(Purchase.store_id), func.count(), func.sum(col(Purchase.amount_paid))
        )
        .where(col(Purchase.member_id).in_(batch), until(col(Purchase.created_at)))
        .group_by(purchase_day, col(Purchase.store_id))
    ):
        report.purchases += int(count)
        bump(store_id, day, "purchases", int(count))
        bump(store_id, day, "amount", int(paid))

    refund_day = _day(col(Refund.created_at), dialect)
    for day, store_id, refunded in await session.execute(
        select(refund_day, col(Refund.store_id), func.sum(col(Refund.amount)))
        .where(col(Refund.member_id).in_(batch), until(col(Refund.created_at)))
        .group_by(refund_day, col(Refund.store_id))
    ):
        bump(store_id, day, "amount", -int(refunded))

    recent = (
        select(
            col(Purchase.member_id).label("member_id"),
            col(Purchase.created_at).label("created_at"),
            func.row_number()
            .over(partition_by=col(Purchase.member_id), order_by=col(Purchase.created_at).desc())
            .label("rank"),
        )
        .where(col(Purchase.member_id).in_(batch))
        .subquery()
    )
    times: dict[uuid.UUID, list[dt.datetime]] = defaultdict(list)
    for member_id, at in await session.execute(
        select(recent.c.member_id, recent.c.created_at)
        .where(recent.c.rank <= 2)
        .order_by(recent.c.member_id, recent.c.created_at.desc())
    ):
        times[member_id].append(at)
    return times


def _top_two_statement(
    batch: list[uuid.UUID],
) -> Select[uuid.UUID, dt.datetime | None, dt.datetime | None, dt.datetime, dt.datetime]:
    """Each account of the batch with its last two purchase times, and the last two times of
    its purchases: one statement, so one snapshot (a purchase committing meanwhile is in both
    or in neither)."""
    ranked = (
        select(
            col(Purchase.member_id).label("member_id"),
            col(Purchase.created_at).label("created_at"),
            func.row_number()
            .over(partition_by=col(Purchase.member_id), order_by=col(Purchase.created_at).desc())
            .label("rank"),
        )
        .where(col(Purchase.member_id).in_(batch))
        .subquery()
    )
    top = (
        select(
            ranked.c.member_id,
            func.max(case((ranked.c.rank == 1, ranked.c.created_at))).label("last"),
            func.max(case((ranked.c.rank == 2, ranked.c.created_at))).label("prev"),
        )
        .where(ranked.c.rank <= 2)
        .group_by(ranked.c.member_id)
        .subquery()
    )
    return (
        select(
            col(MemberAccount.member_id),
            col(MemberAccount.last_purchase_at),
            col(MemberAccount.prev_purchase_at),
            type_coerce(top.c.last, UTCDateTime()),
            type_coerce(top.c.prev, UTCDateTime()),
        )
        .outerjoin(top, top.c.member_id == col(MemberAccount.member_id))
        .where(col(MemberAccount.member_id).in_(batch))
        .order_by(col(MemberAccount.member_id))
    )


async def _purchase_time_differences(session: AsyncSession, batch: list[uuid.UUID]) -> list[str]:
    found = []
    for member_id, last, prev, want_last, want_prev in await session.execute(
        _top_two_statement(batch)
    ):
        if (last, prev) != (want_last, want_prev):
            found.append(
                f"member {member_id} purchase times: account {_iso(last)}, {_iso(prev)}; "
                f"purchases {_iso(want_last)}, {_iso(want_prev)}"
            )
    return found


def _iso(at: dt.datetime | None) -> str:
    return at.isoformat() if at is not None else "none"


def histogram_statement(dialect: str) -> Select[Any]:
    """(day, members whose last purchase is that day, members whose purchase before it is)
    from the accounts: what `last_buyers` and `prev_buyers` hold, summed over the shards. A
    scan of the accounts, for `stats rebuild` only."""
    last, prev = col(MemberAccount.last_purchase_at), col(MemberAccount.prev_purchase_at)
    one, zero = literal(1, BigInteger), literal(0, BigInteger)
    both = union_all(
        select(_day(last, dialect).label("day"), one.label("last"), zero.label("prev")).where(
            last.is_not(None)
        ),
        select(_day(prev, dialect).label("day"), zero.label("last"), one.label("prev")).where(
            prev.is_not(None)
        ),
    ).subquery()
    return select(both.c.day, func.sum(both.c.last), func.sum(both.c.prev)).group_by(both.c.day)


def histogram_check_statement(dialect: str) -> Select[Any]:
    """The days whose maintained member counts differ from the accounts': one statement, so the
    accounts and the counts are read in one snapshot while purchases go on."""
    last, prev = col(MemberAccount.last_purchase_at), col(MemberAccount.prev_purchase_at)
    one, zero = literal(1, BigInteger), literal(0, BigInteger)
    labels = ("day", "want_last", "want_prev", "have_last", "have_prev")

    def labelled(*columns: Any) -> list[Any]:
        return [column.label(label) for column, label in zip(columns, labels, strict=True)]

    every = union_all(
        select(*labelled(_day(last, dialect), one, zero, zero, zero)).where(last.is_not(None)),
        select(*labelled(_day(prev, dialect), zero, one, zero, zero)).where(prev.is_not(None)),
        select(
            *labelled(
                col(DailyTotal.day),
                zero,
                zero,
                col(DailyTotal.last_buyers),
                col(DailyTotal.prev_buyers),
            )
        ).where(col(DailyTotal.store_id) == ALL_STORES),
    ).subquery()
    sums = [func.sum(every.c[label]) for label in labels[1:]]
    return (
        select(every.c.day, *sums)
        .group_by(every.c.day)
        .having(or_(sums[0] != sums[2], sums[1] != sums[3]))
        .order_by(every.c.day)
    )


async def _histogram_differences(db: Database) -> list[str]:
    found = []
    async with db.read() as session:
        dialect = session.get_bind().dialect.name
        rows = (await session.execute(histogram_check_statement(dialect))).all()
    for day, want_last, want_prev, have_last, have_prev in rows:
        for name, have, want in (
            ("last_buyers", have_last, want_last), ("prev_buyers", have_prev, want_prev)
        ):  # fmt: skip
            if int(have) != int(want):
                found.append(
                    f"{_as_date(day)} program {name}: maintained {int(have)}, accounts {int(want)}"
                )
    return found


async def _rebuild_histogram(session: AsyncSession) -> int:
    """Put the accounts' histogram on the program's rows (shard 0), every other shard's counts
    to 0. The caller holds the table lock: no purchase moves a count meanwhile; one that has
    moved its account but not yet its counts adds its move after, onto this snapshot."""
    dialect = session.get_bind().dialect.name
    await session.execute(
        update(DailyTotal)
        .where(or_(col(DailyTotal.last_buyers) != 0, col(DailyTotal.prev_buyers) != 0))
        .values(last_buyers=0, prev_buyers=0)
    )
    histogram = (await session.execute(histogram_statement(dialect))).all()
    rows = [
        {**dict.fromkeys(_UPSERTED, 0), "store_id": ALL_STORES, "day": _as_date(day), "shard": 0,
         "last_buyers": int(last), "prev_buyers": int(prev)}
        for day, last, prev in histogram
    ]  # fmt: skip
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    table = DailyTotal.__table__  # type: ignore[attr-defined]
    for chunk in _chunks(rows, 500):
        statement = insert(table).values(chunk)
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["store_id", "day", "shard"],
                set_={name: statement.excluded[name] for name in _ACTIVITY},
            )
        )
    return sum(int(last) for _, last, _ in histogram)


async def _set_purchase_times(
    session: AsyncSession, times: Mapping[uuid.UUID, list[dt.datetime]]
) -> None:
    """Set the accounts' last two purchase times; an account a newer purchase has moved since
    the batch was read keeps its own."""
    if not times:
        return
    table = MemberAccount.__table__  # type: ignore[attr-defined]
    statement = (
        update(table)
        .where(
            table.c.member_id == bindparam("b_member"),
            or_(
                table.c.last_purchase_at.is_(None),
                table.c.last_purchase_at <= bindparam("b_last", type_=UTCDateTime()),
            ),
        )
        .values(
            last_purchase_at=bindparam("b_last", type_=UTCDateTime()),
            prev_purchase_at=bindparam("b_prev", type_=UTCDateTime()),
        )
    )
    await session.execute(
        statement,
        [
            {"b_member": member_id, "b_last": at[0], "b_prev": at[1] if len(at) > 1 else None}
            for member_id, at in times.items()
        ],
    )


async def recompute(
    db: Database,
    *,
    before: dt.date | None = None,
    batch_size: int = 1000,
    set_purchase_times: bool = False,
    check_purchase_times: bool = False,
    progress: Callable[[RebuildReport], None] | None = None,
) -> tuple[dict[Key, Totals], RebuildReport]:
    """The totals as the ledger, the purchases and the refunds say, per (store, day), for the
    days before `before` (every day when None): a batch of members at a time. With
    `check_purchase_times`, the accounts' last two purchase times that are not their purchases'
    go to the report's differences."""
    report = RebuildReport()
    cutoff = dt.datetime.combine(before, dt.time(), tzinfo=dt.UTC) if before is not None else None
    computed: dict[Key, Totals] = {}
    after: uuid.UUID | None = None
    while batch := await _member_batch(db, after, batch_size):
        async with db.read() as session:
            times = await _recompute_batch(session, batch, cutoff, computed, report)
            if check_purchase_times:
                report.differences.extend(await _purchase_time_differences(session, batch))
        if set_purchase_times:
            async with db.transaction() as session:
                await _set_purchase_times(session, times)
        report.members += len(batch)
        after = batch[-1]
        if progress:
            progress(report)
    return computed, report


async def maintained(db: Database, *, before: dt.date | None = None) -> dict[Key, Totals]:
    """The maintained totals per (store, day), summed over the shards."""
    query = select(col(DailyTotal.store_id), col(DailyTotal.day), *_sums()).group_by(
        col(DailyTotal.store_id), col(DailyTotal.day)
    )
    if before is not None:
        query = query.where(col(DailyTotal.day) < before)
    async with db.read() as session:
        rows = (await session.execute(query)).all()
    return {
        (store_id, _as_date(day)): Totals(*(int(v) for v in values))
        for store_id, day, *values in rows
    }


def differences(expected: Mapping[Key, Totals], actual: Mapping[Key, Totals]) -> list[str]:
    """Every (store, day, total) whose maintained value is not the recomputed one."""
    found = []
    for key in sorted(set(expected) | set(actual), key=lambda k: (k[1], str(k[0]))):
        want, have = expected.get(key, Totals()), actual.get(key, Totals())
        for item in fields(Totals):
            if getattr(want, item.name) != getattr(have, item.name):
                store = "program" if key[0] == ALL_STORES else f"store {key[0]}"
                found.append(
                    f"{key[1]} {store} {item.name}: maintained {getattr(have, item.name)}, "
                    f"ledger {getattr(want, item.name)}"
                )
    return found


async def check(
    db: Database,
    clock: Clock,
    *,
    batch_size: int = 1000,
    progress: Callable[[RebuildReport], None] | None = None,
) -> RebuildReport:
    """Compare the maintained totals of the days before today with a recomputation, the
    accounts' last two purchase times with their purchases, and the per-day member counts (every
    day) with the accounts."""
    before = clock.now().astimezone(dt.UTC).date()
    computed, report = await recompute(
        db, before=before, batch_size=batch_size, check_purchase_times=True, progress=progress
    )
    report.differences.extend(differences(computed, await maintained(db, before=before)))
    report.differences.extend(await _histogram_differences(db))
    report.rows = len(computed)
    return report


async def rebuild(
    db: Database,
    clock: Clock,
    *,
    include_today: bool = False,
    batch_size: int = 1000,
    progress: Callable[[RebuildReport], None] | None = None,
) -> RebuildReport:
    """Recompute the totals of every day before today (and today's too with `include_today`,
    when nothing else is writing) and replace them; set every account's last two purchase
    times, then the per-day member counts from the accounts. Today's totals are left to the live
    upserts: a purchase committing meanwhile is never lost. The last transaction locks the
    table against the upserts (on PostgreSQL; SQLite has one writer anyway) while it counts the
    accounts: the tills wait for it, a scan of the accounts. Restartable: a second run gives
    the same rows."""
    today = clock.now().astimezone(dt.UTC).date()
    before = None if include_today else today
    computed, report = await recompute(
        db, before=before, batch_size=batch_size, set_purchase_times=True, progress=progress
    )
    rows = [
        {"store_id": store_id, "day": day, "shard": 0, "last_buyers": 0, "prev_buyers": 0,
         **{name: getattr(value, name) for name in _COUNTERS}}
        for (store_id, day), value in computed.items()
    ]  # fmt: skip
    async with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            await session.execute(text("LOCK TABLE daily_totals IN SHARE ROW EXCLUSIVE MODE"))
        query = delete(DailyTotal)
        if before is not None:
            query = query.where(col(DailyTotal.day) < before)
        await session.execute(query)
        for chunk in _chunks(rows, 500):
            await session.execute(DailyTotal.__table__.insert(), chunk)  # type: ignore[attr-defined]
        report.buyers = await _rebuild_histogram(session)
    report.rows = len(rows)
    return report


def _chunks(items: list[dict[str, Any]], size: int) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
