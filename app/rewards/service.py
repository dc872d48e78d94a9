"""Rewards and vouchers, causes and donations.

`redeem_reward` and `donate_points` move points: each is one transaction that locks the member's
account first, is idempotent per (member, key), and spends through the ledger (oldest lots
first). A reward's stock is taken by a conditional UPDATE (`stock > 0`) in the same transaction,
so that concurrent redemptions of the last units never oversell, and a refused redemption rolls
the stock, the points and the voucher back together. `redeem_voucher` at the till moves no
points: the voucher was paid when it was issued; it is used once, by a conditional UPDATE.

Locks are always taken in one order: the member's account, then the reward or cause row.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, MemberActor, StaffActor, require_admin, require_store
from app.clock import Clock
from app.db import Database
from app.errors import (
    AlreadyExists,
    CauseNotFound,
    CurrencyMismatch,
    Forbidden,
    InsufficientPoints,
    InvalidInput,
    OutOfStock,
    RewardNotFound,
    RewardUnavailable,
    TierNotEligible,
    VoucherAlreadyUsed,
    VoucherExpired,
    VoucherNotFound,
    VoucherNotValidHere,
)
from app.idempotency import service as idempotency
from app.kit import pagination
from app.kit.ids import parse_id
from app.kit.money import Money
from app.kit.pagination import Page
from app.ledger import service as ledger_service
from app.ledger.models import EntryKind, LedgerEntry
from app.live import service as live_service
from app.outbox import service as outbox_service
from app.outbox.events import EventType
from app.program import service as program_service
from app.rewards import rules
from app.rewards.models import Cause, Donation, Reward, Voucher
from app.stats import service as stats_service
from app.stores import service as stores_service


@dataclass(frozen=True, slots=True)
class NewReward:
    title: str
    kind: str
    points_cost: int
    description: str | None = None
    value: Money | None = None
    stock: int | None = None
    tier_codes: Sequence[str] | None = None
    store_ids: Sequence[str] | None = None
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    voucher_valid_days: int | None = None


@dataclass(frozen=True, slots=True)
class CatalogItem:
    reward: Reward
    available: bool  # for the member who asked: active, in its window, in stock, for its tier


@dataclass(frozen=True, slots=True)
class IssuedVoucher:
    voucher: Voucher
    reward: Reward


@dataclass(frozen=True, slots=True)
class NewCause:
    name: str
    description: str | None = None


@dataclass(frozen=True, slots=True)
class DonationReceipt:
    donation: Donation
    cause: Cause


def _id(raw: str, field: str) -> uuid.UUID:
    value = parse_id(raw)
    if value is None:
        raise InvalidInput("This is not an id this API returned.", field=field)
    return value


def _member(actor: Actor | None, doing: str) -> MemberActor:
    if not isinstance(actor, MemberActor):
        raise Forbidden(f"Only a member {doing}.")
    return actor


def offering(reward: Reward) -> rules.Offering:
    return rules.Offering(
        active=reward.active,
        stock=reward.stock,
        tier_codes=reward.tier_codes,
        starts_at=reward.starts_at,
        ends_at=reward.ends_at,
    )


def _newest_first(query: Select[Any], model: Any, after: str | None) -> Select[Any]:
    """Keyset on (created_at, id), newest first; the cursor is the last row's key."""
    created, ident = col(model.created_at), col(model.id)
    if after is not None:
        at, last_id = pagination.decode_cursor(after)
        query = query.where(or_(created < at, and_(created == at, ident < last_id)))
    return query.order_by(created.desc(), ident.desc())


# -- the catalog ---------------------------------------------------------------------------------


async def create_reward(
    db: Database, actor: Actor | None, clock: Clock, new: NewReward
) -> CatalogItem:
    """An administrator adds a reward to the catalog."""
    require_admin(actor)
    title = rules.check_text(new.title, field="title", limit=100, required=True)
    description = rules.check_description(new.description)
    kind = rules.check_kind(new.kind)
    points_cost = rules.check_points_cost(new.points_cost)
    stock = rules.check_stock(new.stock)
    starts_at, ends_at = rules.check_window(new.starts_at, new.ends_at)
    voucher_days = rules.check_voucher_days(new.voucher_valid_days)
    store_ids = sorted({_id(raw, "storeIds") for raw in new.store_ids or ()})
    now = clock.now()
    async with db.transaction() as session:
        program = await program_service.current_rules(session)
        value = None
        if new.value is not None:
            if new.value.currency != program.currency:
                raise CurrencyMismatch(
                    f"The program's currency is {program.currency}.", field="value"
                )
            value = rules.check_value(new.value.amount)
        tier_codes = rules.check_tier_codes(program, new.tier_codes)
        found = {store.id for store in await stores_service.stores_by_ids(session, store_ids)}
        if len(found) != len(store_ids):
            raise InvalidInput("No store has one of these ids.", field="storeIds")
        reward = Reward(
            title=title or "",
            description=description,
            kind=kind,
            points_cost=points_cost,
            value=value,
            stock=stock,
            tier_codes=tier_codes,
            store_ids=[str(store_id) for store_id in store_ids],
            starts_at=starts_at,
            ends_at=ends_at,
            voucher_valid_days=voucher_days,
            created_at=now,
        )
        session.add(reward)
    available = rules.unavailable(offering(reward), tier_code=None, now=now) is None
    return CatalogItem(reward, available)


async def list_rewards(
    session: AsyncSession,
    actor: Actor | None,
    *,
    now: dt.datetime,
    first: int,
    after: str | None,
) -> Page[CatalogItem]:
    """The catalog, newest first: every active reward whose window has not ended, including the
    ones out of stock, not yet started or for other tiers (something to save for), each with
    `available` for this actor (a member: its tier counts; staff: the tier is not checked)."""
    pagination.check_first(first)
    tier_code: str | None = None
    if isinstance(actor, MemberActor):
        accounts = await ledger_service.accounts_by_member(session, [actor.member_id])
        account = accounts.get(actor.member_id)
        if account is None:
            raise Forbidden("This account no longer exists.")
        tier_code = account.tier_code
    query = select(Reward).where(
        col(Reward.active).is_(True),
        or_(col(Reward.ends_at).is_(None), col(Reward.ends_at) > now),
    )
    rows = (await session.scalars(_newest_first(query, Reward, after).limit(first + 1))).all()
    items = [
        CatalogItem(r, rules.unavailable(offering(r), tier_code=tier_code, now=now) is None)
        for r in rows[:first]
    ]
    return Page(
        items=items,
        cursors=[pagination.encode_cursor(i.reward.created_at, i.reward.id) for i in items],
        has_next=len(rows) > first,
    )


async def rewards_by_ids(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Reward]:
    if not ids:
        return {}
    rows = await session.scalars(select(Reward).where(col(Reward.id).in_(list(set(ids)))))
    return {reward.id: reward for reward in rows.all()}


# -- vouchers ------------------------------------------------------------------------------------


async def _unused_code(session: AsyncSession) -> str:
    while True:
        code = rules.new_voucher_code()
        taken = await session.scalar(select(col(Voucher.id)).where(col(Voucher.code) == code))
        if taken is None:
            return code


async def _issued(session: AsyncSession, voucher_id: uuid.UUID) -> IssuedVoucher:
    voucher = await session.get(Voucher, voucher_id, populate_existing=True)
    assert voucher is not None, "a stored result names a voucher of this member"
    reward = await session.get(Reward, voucher.reward_id)
    assert reward is not None
    return IssuedVoucher(voucher, reward)


async def redeem_reward(
    db: Database, actor: Actor | None, clock: Clock, *, reward_id: str, idempotency_key: str
) -> IssuedVoucher:
    """The member spends points on a reward and gets a voucher with a one-time code, once per
    key. Refused (nothing written): an unknown reward, one not offered now, one the member's
    tier may not take, not enough points, no stock left."""
    member = _member(actor, "redeems rewards")
    key = idempotency.check_key(idempotency_key)
    wanted = _id(reward_id, "rewardId")
    digest = idempotency.request_hash("redeemReward", {"reward_id": str(wanted)})
    scope = f"member:{member.member_id}"
    now = clock.now()
    async with db.transaction() as session:
        account = await ledger_service.lock_account(session, member.member_id)
        stored = await idempotency.replay(
            session, member_id=account.member_id, scope=scope, key=key,
            operation="redeemReward", digest=digest,
        )  # fmt: skip
        if stored is not None:
            return await _issued(session, uuid.UUID(stored["voucher_id"]))
        reward = await session.get(Reward, wanted, populate_existing=True)
        if reward is None:
            raise RewardNotFound(field="rewardId")
        program = await program_service.current_rules(session)
        reason = rules.unavailable(offering(reward), tier_code=account.tier_code, now=now)
        if reason == rules.Unavailable.TIER:
            names = [t.name for t in program.tiers if t.code in reward.tier_codes]
            raise TierNotEligible(
                f"This reward is for {', '.join(names) or 'other'} members.", field="rewardId"
            )
        if reason == rules.Unavailable.OUT_OF_STOCK:
            raise OutOfStock(field="rewardId")
        if reason is not None:
            raise RewardUnavailable(field="rewardId")
        lapsed = await ledger_service.expire_lapsed(
            session, account, rules_version=program.version, now=now
        )
        if account.available < reward.points_cost:
            raise InsufficientPoints(
                f"This reward costs {reward.points_cost} points; "
                f"{max(account.available, 0)} are available.",
                available=max(account.available, 0),
            )
        if reward.stock is not None:
            taken = await session.execute(
                update(Reward)
                .where(col(Reward.id) == reward.id, col(Reward.stock) > 0)
                .values(stock=col(Reward.stock) - 1)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                raise OutOfStock(field="rewardId")
            await session.refresh(reward, ["stock"])
        posting = ledger_service.Posting(
            actor_kind="member",
            actor_id=member.member_id,
            store_id=None,
            rules_version=program.version,
            now=now,
            idempotency_key=key,
        )
        entry = await ledger_service.spend(
            session, account, posting, points=reward.points_cost, kind=EntryKind.REWARD,
            description=f"Reward: {reward.title}",
        )  # fmt: skip
        await stats_service.record_movement(
            session, at=now, store_id=None, account=account, redeemed=reward.points_cost,
            expired=-lapsed.points if lapsed else 0,
        )  # fmt: skip
        session.add(account)
        await live_service.announce_balance(session, account, live_service.Reason.REDEMPTION)
        voucher = Voucher(
            member_id=member.member_id,
            reward_id=reward.id,
            code=await _unused_code(session),
            points=reward.points_cost,
            entry_id=entry.id,
            issued_at=now,
            expires_at=now + dt.timedelta(days=reward.voucher_valid_days),
        )
        session.add(voucher)
        await session.flush()
        await idempotency.remember(
            session, member_id=account.member_id, scope=scope, key=key,
            operation="redeemReward", digest=digest, result={"voucher_id": str(voucher.id)},
            now=now,
        )  # fmt: skip
        await outbox_service.record(
            session,
            type=EventType.REWARD_REDEEMED,
            member_id=member.member_id,
            data={
                "voucherId": str(voucher.id),
                "rewardId": str(reward.id),
                "title": reward.title,
                "kind": reward.kind,
                "points": reward.points_cost,
                "balance": account.available,
                "expiresAt": voucher.expires_at.isoformat(),
            },
            at=now,
        )
    return IssuedVoucher(voucher, reward)


async def redeem_voucher(
    db: Database,
    actor: Actor | None,
    clock: Clock,
    *,
    code: str,
    store_id: str,
    idempotency_key: str,
) -> IssuedVoucher:
    """A cashier takes a voucher at the till of a store it works in: once, before it expires, in
    a store the reward is valid in. A replay of the key returns the same voucher."""
    if not isinstance(actor, StaffActor):
        raise Forbidden("Only staff take vouchers at the till.")
    key = idempotency.check_key(idempotency_key)
    store = _id(store_id, "storeId")
    staff = require_store(actor, store)
    canonical = rules.normalize_voucher_code(code)
    if canonical is None:
        raise VoucherNotFound(field="code")
    digest = idempotency.request_hash("redeemVoucher", {"code": canonical, "store_id": str(store)})
    scope = f"staff:{staff.staff_id}"
    now = clock.now()
    async with db.transaction() as session:
        await stores_service.get_store(session, store)
        peek = await session.scalar(select(Voucher).where(col(Voucher.code) == canonical))
        if peek is None:
            raise VoucherNotFound(field="code")
        # The member's lock serialises two tills taking one voucher, and the key's replays;
        # the key's lock, the key used for two members' vouchers.
        await idempotency.hold_key(session, scope=scope, key=key)
        account = await ledger_service.lock_account(session, peek.member_id)
        stored = await idempotency.replay(
            session, member_id=account.member_id, scope=scope, key=key,
            operation="redeemVoucher", digest=digest,
        )  # fmt: skip
        if stored is not None:
            return await _issued(session, uuid.UUID(stored["voucher_id"]))
        issued = await _issued(session, peek.id)
        voucher, reward = issued.voucher, issued.reward
        if voucher.used_at is not None:
            raise VoucherAlreadyUsed(
                f"This voucher was used on {voucher.used_at:%Y-%m-%d at %H:%M} UTC.", field="code"
            )
        if now >= voucher.expires_at:
            raise VoucherExpired(
                f"This voucher expired on {voucher.expires_at:%Y-%m-%d}.", field="code"
            )
        if reward.store_ids and str(store) not in reward.store_ids:
            raise VoucherNotValidHere(field="storeId")
        used = await session.execute(
            update(Voucher)
            .where(col(Voucher.id) == voucher.id, col(Voucher.used_at).is_(None))
            .values(used_at=now, used_store_id=store, used_staff_id=staff.staff_id)
            .execution_options(synchronize_session=False)
        )
        if used.rowcount != 1:  # type: ignore[attr-defined]
            raise VoucherAlreadyUsed(field="code")
        await session.refresh(voucher)
        await idempotency.remember(
            session, member_id=account.member_id, scope=scope, key=key,
            operation="redeemVoucher", digest=digest, result={"voucher_id": str(voucher.id)},
            now=now,
        )  # fmt: skip
        await outbox_service.record(
            session,
            type=EventType.VOUCHER_REDEEMED,
            member_id=voucher.member_id,
            data={
                "voucherId": str(voucher.id),
                "rewardId": str(reward.id),
                "title": reward.title,
                "kind": reward.kind,
                "storeId": str(store),
                "redeemedAt": now.isoformat(),
            },
            at=now,
        )
    return IssuedVoucher(voucher, reward)


async def list_vouchers(
    session: AsyncSession, actor: Actor | None, *, first: int, after: str | None
) -> Page[IssuedVoucher]:
    """The member's vouchers, newest first, each with its reward (one query)."""
    member = _member(actor, "has vouchers")
    pagination.check_first(first)
    query = (
        select(Voucher, Reward)
        .join(Reward, col(Reward.id) == col(Voucher.reward_id))
        .where(col(Voucher.member_id) == member.member_id)
    )
    if after is not None:
        at, last_id = pagination.decode_cursor(after)
        query = query.where(
            or_(
                col(Voucher.issued_at) < at,
                and_(col(Voucher.issued_at) == at, col(Voucher.id) < last_id),
            )
        )
    query = query.order_by(col(Voucher.issued_at).desc(), col(Voucher.id).desc())
    rows = (await session.execute(query.limit(first + 1))).all()
    items = [IssuedVoucher(voucher, reward) for voucher, reward in rows[:first]]
    return Page(
        items=items,
        cursors=[pagination.encode_cursor(i.voucher.issued_at, i.voucher.id) for i in items],
        has_next=len(rows) > first,
    )


# -- causes and donations ------------------------------------------------------------------------


async def create_cause(db: Database, actor: Actor | None, clock: Clock, new: NewCause) -> Cause:
    """An administrator adds a cause members can donate points to."""
    require_admin(actor)
    name = rules.check_text(new.name, field="name", limit=100, required=True) or ""
    description = rules.check_description(new.description)
    async with db.transaction() as session:
        exists = await session.scalar(select(col(Cause.id)).where(col(Cause.name) == name))
        if exists is not None:
            raise AlreadyExists("A cause with this name exists already.", field="name")
        cause = Cause(name=name, description=description, created_at=clock.now())
        session.add(cause)
    return cause


async def list_causes(session: AsyncSession, *, first: int, after: str | None) -> Page[Cause]:
    """Active causes, newest first, with their totals."""
    pagination.check_first(first)
    query = select(Cause).where(col(Cause.active).is_(True))
    rows = (await session.scalars(_newest_first(query, Cause, after).limit(first + 1))).all()
    items = rows[:first]
    return Page(
        items=items,
        cursors=[pagination.encode_cursor(c.created_at, c.id) for c in items],
        has_next=len(rows) > first,
    )


async def donate_points(
    db: Database,
    actor: Actor | None,
    clock: Clock,
    *,
    cause_id: str,
    points: int,
    idempotency_key: str,
) -> DonationReceipt:
    """The member gives points to a cause (oldest lots first), once per key; the cause's total
    grows in the same transaction. Zero, negative or more than the balance is refused."""
    member = _member(actor, "donates points")
    key = idempotency.check_key(idempotency_key)
    wanted = _id(cause_id, "causeId")
    amount = rules.check_donation(points)
    digest = idempotency.request_hash("donatePoints", {"cause_id": str(wanted), "points": amount})
    scope = f"member:{member.member_id}"
    now = clock.now()
    async with db.transaction() as session:
        account = await ledger_service.lock_account(session, member.member_id)
        stored = await idempotency.replay(
            session, member_id=account.member_id, scope=scope, key=key,
            operation="donatePoints", digest=digest,
        )  # fmt: skip
        if stored is not None:
            donation = await session.get(Donation, uuid.UUID(stored["donation_id"]))
            assert donation is not None
            cause = await session.get(Cause, donation.cause_id, populate_existing=True)
            assert cause is not None
            return DonationReceipt(donation, cause)
        cause = await session.get(Cause, wanted)
        if cause is None or not cause.active:
            raise CauseNotFound(field="causeId")
        program = await program_service.current_rules(session)
        lapsed = await ledger_service.expire_lapsed(
            session, account, rules_version=program.version, now=now
        )
        if account.available < amount:
            raise InsufficientPoints(available=max(account.available, 0), field="points")
        posting = ledger_service.Posting(
            actor_kind="member",
            actor_id=member.member_id,
            store_id=None,
            rules_version=program.version,
            now=now,
            idempotency_key=key,
        )
        entry = await ledger_service.spend(
            session, account, posting, points=amount, kind=EntryKind.DONATION,
            description=f"Donation to {cause.name}",
        )  # fmt: skip
        await stats_service.record_movement(
            session, at=now, store_id=None, account=account, redeemed=amount,
            expired=-lapsed.points if lapsed else 0,
        )  # fmt: skip
        session.add(account)
        await live_service.announce_balance(session, account, live_service.Reason.REDEMPTION)
        donation = Donation(
            member_id=member.member_id,
            cause_id=cause.id,
            points=amount,
            entry_id=entry.id,
            created_at=now,
        )
        session.add(donation)
        await session.flush()
        await session.execute(
            update(Cause)
            .where(col(Cause.id) == cause.id)
            .values(
                total_points=col(Cause.total_points) + amount,
                donations=col(Cause.donations) + 1,
            )
            .execution_options(synchronize_session=False)
        )
        await session.refresh(cause)
        await idempotency.remember(
            session, member_id=account.member_id, scope=scope, key=key,
            operation="donatePoints", digest=digest, result={"donation_id": str(donation.id)},
            now=now,
        )  # fmt: skip
    return DonationReceipt(donation, cause)


# -- verify-ledger -------------------------------------------------------------------------------


async def spending_violations(
    session: AsyncSession, member_ids: Sequence[uuid.UUID], entries: Sequence[LedgerEntry]
) -> list[tuple[uuid.UUID, str, str]]:
    """For `verify-ledger`: every voucher and donation of these members names an entry of its
    kind for exactly its points, and every REWARD and DONATION entry has exactly one of them."""
    problems: list[tuple[uuid.UUID, str, str]] = []
    by_id = {entry.id: entry for entry in entries}
    for model, kind in ((Voucher, EntryKind.REWARD), (Donation, EntryKind.DONATION)):
        rows = await session.execute(
            select(col(model.id), col(model.member_id), col(model.entry_id), col(model.points))
            .where(col(model.member_id).in_(list(member_ids)))
        )  # fmt: skip
        paid: set[uuid.UUID] = set()
        for row_id, member_id, entry_id, points in rows.all():
            entry = by_id.get(entry_id)
            if (
                entry is None
                or entry.member_id != member_id
                or entry.kind != kind
                or entry.points != -points
                or entry_id in paid
            ):
                problems.append(
                    (member_id, f"{model.__tablename__} disagree with the entries",
                     f"{model.__tablename__[:-1]} {row_id}: entry {entry_id} is not one {kind} "
                     f"of {-points}")
                )  # fmt: skip
            paid.add(entry_id)
        for entry in entries:
            if entry.kind == kind and entry.id not in paid:
                problems.append(
                    (entry.member_id, f"{model.__tablename__} disagree with the entries",
                     f"{kind} entry {entry.seq} ({entry.id}) pays for nothing")
                )  # fmt: skip
    return problems
