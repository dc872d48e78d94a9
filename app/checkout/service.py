"""The till: scan a member's code, quote a basket, complete the purchase, refund it.

Every write here is one transaction that locks the member's account first and is idempotent
per (member, till staff member, key).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, StaffActor, require_store
from app.checkout import rules as till
from app.checkout.models import Checkout, Purchase, PurchaseLine, Refund
from app.clock import Clock
from app.db import Database, core
from app.errors import (
    CheckoutExpired,
    CheckoutNotFound,
    CheckoutNotYours,
    CurrencyMismatch,
    DuplicateReceipt,
    Forbidden,
    InvalidInput,
    PurchaseNotFound,
    RefundTooLarge,
)
from app.idempotency import service as idempotency
from app.kit.ids import new_id, parse_id
from app.kit.money import Money
from app.ledger import service as ledger_service
from app.ledger.models import AccountRow, EntryKind, MemberAccount
from app.live import service as live_service
from app.members import service as members_service
from app.members.models import Member, MemberRow
from app.offers import service as offers_service
from app.outbox import service as outbox_service
from app.outbox.events import EventType
from app.program import service as program_service
from app.program.rules import ProgramRules
from app.referrals import service as referrals_service
from app.stats import service as stats_service
from app.stores import service as stores_service
from app.tiers import service as tiers_service

CHECKOUT_MINUTES = 15


@dataclass(frozen=True, slots=True)
class PurchaseCommand:
    checkout_id: str
    receipt_number: str
    total: Money
    lines: list[tuple[till.Line, str]] | None  # each line with its currency
    redeem_points: int
    idempotency_key: str

    def fingerprint(self) -> dict[str, Any]:
        return {
            "checkout_id": self.checkout_id,
            "receipt_number": self.receipt_number.strip(),
            "total": [self.total.amount, self.total.currency],
            "lines": [
                [line.sku, line.category, line.quantity, line.amount, currency]
                for line, currency in self.lines or []
            ],
            "redeem_points": self.redeem_points,
        }


@dataclass(frozen=True, slots=True)
class CheckoutRow:
    """A checkout's row as a plain object: as the scan wrote it, and as a purchase reads it
    with the account's lock (one statement)."""

    id: uuid.UUID
    member_id: uuid.UUID
    staff_id: uuid.UUID
    store_id: uuid.UUID
    code_kind: str
    opened_at: dt.datetime
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class OpenedCheckout:
    checkout: CheckoutRow
    member: MemberRow
    available: int
    tier_code: str
    max_redeemable: int


@dataclass(frozen=True, slots=True)
class QuoteResult:
    quote: till.Quote
    currency: str


@dataclass(frozen=True, slots=True)
class PurchaseReceipt:
    purchase_id: uuid.UUID
    receipt_number: str
    currency: str
    points_earned: int
    points_redeemed: int
    discount: int
    amount_due: int
    available: int
    pending: int
    tier_changed: bool
    offer_discount: int = 0
    applied_offers: tuple[till.AppliedOffer, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = {name: getattr(self, name) for name in self.__slots__}  # every field, flat
        data["purchase_id"] = str(self.purchase_id)
        data["applied_offers"] = [
            {**dataclasses.asdict(offer), "id": str(offer.id)} for offer in self.applied_offers
        ]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PurchaseReceipt:
        offers = tuple(
            till.AppliedOffer(**{**offer, "id": uuid.UUID(offer["id"])})
            for offer in data.get("applied_offers", ())
        )
        return cls(
            **{**data, "purchase_id": uuid.UUID(data["purchase_id"]), "applied_offers": offers}
        )


@dataclass(frozen=True, slots=True)
class RefundReceipt:
    refund_id: uuid.UUID
    purchase_id: uuid.UUID
    points_reversed: int
    points_restored: int
    available: int
    pending: int

    def to_json(self) -> dict[str, Any]:
        return {
            **dataclasses.asdict(self),
            "refund_id": str(self.refund_id),
            "purchase_id": str(self.purchase_id),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RefundReceipt:
        return cls(
            **{
                **data,
                "refund_id": uuid.UUID(data["refund_id"]),
                "purchase_id": uuid.UUID(data["purchase_id"]),
            }
        )


def _staff(actor: Actor | None) -> StaffActor:
    if not isinstance(actor, StaffActor):
        raise Forbidden("Only staff work at the till.")
    return actor


def _id(raw: str, field: str) -> uuid.UUID:
    value = parse_id(raw)
    if value is None:
        raise InvalidInput("This is not an id this API returned.", field=field)
    return value


def _check_money(money: Money, rules: ProgramRules, field: str) -> int:
    if money.currency != rules.currency:
        raise CurrencyMismatch(f"The program's currency is {rules.currency}.", field=field)
    return money.amount


def _receipt_number(raw: str) -> str:
    # One spelling per receipt: "é" typed as one character or as "e" and an accent is one
    # receipt (the unique key compares the stored form).
    number = unicodedata.normalize("NFC", raw.strip())
    if not number or len(number) > 64 or not number.isprintable():
        raise InvalidInput(
            "A receipt number is 1 to 64 printable characters.", field="receiptNumber"
        )
    return number


def _lines(command: PurchaseCommand, rules: ProgramRules) -> tuple[int, list[till.Line]]:
    total = _check_money(command.total, rules, "total")
    lines = None
    if command.lines:
        lines = []
        for line, currency in command.lines:
            if currency != rules.currency:
                raise CurrencyMismatch(
                    f"The program's currency is {rules.currency}.", field="lines"
                )
            category = line.category.strip().lower() if line.category else None
            lines.append(dataclasses.replace(line, sku=line.sku.strip(), category=category or None))
    return total, till.check_lines(total, lines)


_AnyCheckout = TypeVar("_AnyCheckout", Checkout, "CheckoutRow")


async def _usable_checkout(
    session: AsyncSession, staff: StaffActor, raw_id: str, now: dt.datetime
) -> Checkout:
    checkout = await session.get(Checkout, _id(raw_id, "checkoutId"))
    if checkout is None:
        raise CheckoutNotFound(field="checkoutId")
    return _check_checkout(checkout, staff, now)


def _check_checkout(checkout: _AnyCheckout, staff: StaffActor, now: dt.datetime) -> _AnyCheckout:
    if checkout.staff_id != staff.staff_id:
        raise CheckoutNotYours(field="checkoutId")
    require_store(staff, checkout.store_id, field="checkoutId")
    if checkout.expires_at <= now:
        raise CheckoutExpired(field="checkoutId")
    return checkout


_CHECKOUTS = Checkout.__table__  # type: ignore[attr-defined]
_ACCOUNTS = MemberAccount.__table__  # type: ignore[attr-defined]
_MEMBERS = Member.__table__  # type: ignore[attr-defined]
_MEMBER_AND_ACCOUNT = (  # built once: the scan's one read, Core (no objects)
    select(*_MEMBERS.columns, *_ACCOUNTS.columns)
    .join(_ACCOUNTS, _ACCOUNTS.c.member_id == _MEMBERS.c.id)
    .where(_MEMBERS.c.card_number == bindparam("card_number"))
)
_MEMBER_FIELDS = len(_MEMBERS.columns)  # the row: the member's columns, then the account's
_CHECKOUT_AND_LOCKED_ACCOUNT = (  # built once: the till's hottest statement, Core (no objects)
    select(*_CHECKOUTS.columns, *_ACCOUNTS.columns)
    .join(_ACCOUNTS, _ACCOUNTS.c.member_id == _CHECKOUTS.c.member_id)
    .where(_CHECKOUTS.c.id == bindparam("id"))
    .with_for_update(of=_ACCOUNTS)
)
# On PostgreSQL the same statement first takes the idempotency key's lock (no round trip more).
_KEY_CHECKOUT_AND_LOCKED_ACCOUNT = _CHECKOUT_AND_LOCKED_ACCOUNT.add_columns(
    idempotency.lock_key_column()
)
_CHECKOUT_FIELDS = len(_CHECKOUTS.columns)  # the row: the checkout's columns, then the account's
_ACCOUNT_END = _CHECKOUT_FIELDS + len(_ACCOUNTS.columns)  # (then, on PostgreSQL, the key's lock)
if tuple(field.name for field in dataclasses.fields(CheckoutRow)) != tuple(
    _CHECKOUTS.columns.keys()
):
    raise RuntimeError("CheckoutRow must list checkouts' columns, in order")


async def _lock_account_of_checkout(
    session: AsyncSession, checkout_id: uuid.UUID, *, scope: str, key: str
) -> tuple[CheckoutRow, AccountRow]:
    """The checkout and its member's account, locked for this transaction as
    `ledger_service.lock_account` locks it, after the idempotency key (`idempotency.hold_key`),
    in one statement: the till's hottest path. The account is a plain row:
    `ledger_service.save_account` writes it back."""
    connection = await core(session)
    if connection.postgres:
        lock = idempotency.key_lock(scope, key)
        rows = await connection.all(
            _KEY_CHECKOUT_AND_LOCKED_ACCOUNT, {"id": checkout_id, "key_lock": lock}
        )
    else:  # one writer at a time
        rows = await connection.all(_CHECKOUT_AND_LOCKED_ACCOUNT, {"id": checkout_id})
    if not rows:
        raise CheckoutNotFound(field="checkoutId")
    row = rows[0]
    return CheckoutRow(*row[:_CHECKOUT_FIELDS]), AccountRow(*row[_CHECKOUT_FIELDS:_ACCOUNT_END])


# Built once (Core: no objects, one statement each).
_INSERT_CHECKOUT = insert(Checkout.__table__)  # type: ignore[attr-defined]
_INSERT_PURCHASE = insert(Purchase.__table__)  # type: ignore[attr-defined]
_INSERT_LINES = insert(PurchaseLine.__table__)  # type: ignore[attr-defined]
_SET_TIER_AFTER = (
    update(Purchase.__table__)  # type: ignore[attr-defined]
    .where(Purchase.__table__.c.id == bindparam("purchase_id"))  # type: ignore[attr-defined]
    .values(tier_after=bindparam("new_tier"))
)


def _is_duplicate_receipt(error: IntegrityError) -> bool:
    text = str(error.orig)
    # PostgreSQL names the constraint; SQLite names its columns.
    return "uq_purchases_member_receipt" in text or "purchases.receipt_number" in text


async def purchases_of_members(
    session: AsyncSession, member_ids: list[uuid.UUID]
) -> list[Purchase]:
    rows = await session.scalars(select(Purchase).where(col(Purchase.member_id).in_(member_ids)))
    return list(rows.all())


async def spend_history(
    session: AsyncSession, member_id: uuid.UUID, *, since: dt.datetime
) -> list[tuple[dt.datetime, str | None, int]]:
    """(when, category, amount) of the member's purchase lines since `since`; a purchase without
    lines is one line of no category (ix_purchases_member_created, then the lines by purchase)."""
    rows = await session.execute(
        select(
            col(Purchase.created_at),
            col(PurchaseLine.category),
            func.coalesce(col(PurchaseLine.amount), col(Purchase.total)),
        )
        .outerjoin(
            PurchaseLine,
            and_(
                col(PurchaseLine.member_id) == member_id,
                col(PurchaseLine.purchase_id) == col(Purchase.id),
            ),
        )
        .where(col(Purchase.member_id) == member_id, col(Purchase.created_at) > since)
    )
    return [(at, category, int(amount)) for at, category, amount in rows.all()]


# -- use cases -------------------------------------------------------------------------------------


async def scan_member_code(
    db: Database,
    actor: Actor | None,
    clock: Clock,
    secret: bytes,
    *,
    code: str,
    store_id: str,
    rules_cache: program_service.RulesCache | None = None,
) -> OpenedCheckout:
    """Open a checkout for this till: the member of the scanned or typed code, for 15 minutes."""
    staff = _staff(actor)
    store = _id(store_id, "storeId")
    require_store(staff, store)
    now = clock.now()
    async with db.autocommit() as session:  # reads, then one INSERT
        if staff.is_admin:  # a cashier's or manager's stores exist (their assignments name them)
            await stores_service.get_store(session, store)
        scanned = members_service.parse_code(secret, code, now=now)
        found = await (await core(session)).all(
            _MEMBER_AND_ACCOUNT, {"card_number": scanned.card_number}
        )
        member = members_service.check_scanned(
            scanned, MemberRow(*found[0][:_MEMBER_FIELDS]) if found else None
        )
        account = AccountRow(*found[0][_MEMBER_FIELDS:])
        rules = await program_service.rules_for(session, rules_cache)
        # Lapsed points are not there to pay with, whether or not the expiry job has run yet.
        available = account.available - await ledger_service.lapsed_points(
            session, account, now=now
        )
        row: dict[str, Any] = {
            "id": new_id(), "member_id": member.id, "staff_id": staff.staff_id,
            "store_id": store, "code_kind": scanned.kind, "opened_at": now,
            "expires_at": now + dt.timedelta(minutes=CHECKOUT_MINUTES),
        }  # fmt: skip
        await (await core(session)).execute(_INSERT_CHECKOUT, row)
    return OpenedCheckout(
        checkout=CheckoutRow(**row),
        member=member,
        available=available,
        tier_code=account.tier_code,
        max_redeemable=till.max_redeemable(rules, total=None, available=available),
    )


async def purchase_quote(
    db: Database,
    actor: Actor | None,
    clock: Clock,
    command: PurchaseCommand,
    *,
    rules_cache: program_service.RulesCache | None = None,
    offers_cache: offers_service.OffersCache | None = None,
) -> QuoteResult:
    """What completing this purchase would earn and cost. Writes nothing."""
    staff = _staff(actor)
    async with db.read() as session:
        checkout = await _usable_checkout(session, staff, command.checkout_id, clock.now())
        rules = await program_service.rules_for(session, rules_cache)
        total, lines = _lines(command, rules)
        _receipt_number(command.receipt_number)
        account = (await ledger_service.accounts_by_member(session, [checkout.member_id]))[
            checkout.member_id
        ]
        tier = rules.tier(account.tier_code) or rules.lowest_tier
        offers = await offers_service.purchase_offers(
            session, rules, member_id=account.member_id, tier_code=account.tier_code,
            store_id=checkout.store_id, now=clock.now(), cache=offers_cache,
        )  # fmt: skip
        quote = till.quote(
            rules,
            tier,
            total=total,
            lines=lines,
            redeem_points=command.redeem_points,
            available=account.available
            - await ledger_service.lapsed_points(session, account, now=clock.now()),
            offers=offers.terms,
        )
    return QuoteResult(quote=quote, currency=rules.currency)


async def complete_purchase(
    db: Database,
    actor: Actor | None,
    clock: Clock,
    command: PurchaseCommand,
    *,
    rules_cache: program_service.RulesCache | None = None,
    offers_cache: offers_service.OffersCache | None = None,
) -> PurchaseReceipt:
    """Earn and redeem for a receipt, once: replays of the key return the first receipt."""
    staff = _staff(actor)
    key = idempotency.check_key(command.idempotency_key)
    receipt_number = _receipt_number(command.receipt_number)
    digest = idempotency.request_hash("completePurchase", command.fingerprint())
    scope = f"staff:{staff.staff_id}"
    now = clock.now()
    async with db.transaction() as session:
        checkout_id = _id(command.checkout_id, "checkoutId")
        checkout, account = await _lock_account_of_checkout(
            session, checkout_id, scope=scope, key=key
        )
        stored = await idempotency.replay(
            session, member_id=account.member_id, scope=scope, key=key,
            operation="completePurchase", digest=digest,
        )  # fmt: skip
        if stored is not None:
            return PurchaseReceipt.from_json(stored)
        _check_checkout(checkout, staff, now)
        rules = await program_service.rules_for(session, rules_cache)
        total, lines = _lines(command, rules)
        lapsed = None
        if command.redeem_points > 0:  # lapsed points are not there to pay with
            lapsed = await ledger_service.expire_lapsed(
                session, account, rules_version=rules.version, now=now
            )
        tier = rules.tier(account.tier_code) or rules.lowest_tier
        offers = await offers_service.purchase_offers(
            session, rules, member_id=account.member_id, tier_code=account.tier_code,
            store_id=checkout.store_id, now=now, cache=offers_cache,
        )  # fmt: skip
        quote = till.quote(
            rules, tier, total=total, lines=lines,
            redeem_points=command.redeem_points, available=account.available,
            offers=offers.terms,
        )  # fmt: skip
        store_name = await stores_service.store_name(session, checkout.store_id)
        purchase_id = new_id()
        purchase = {
            "id": purchase_id, "member_id": checkout.member_id, "checkout_id": checkout.id,
            "store_id": checkout.store_id, "staff_id": staff.staff_id,
            "receipt_number": receipt_number, "currency": rules.currency, "total": total,
            "discount": quote.discount, "amount_paid": quote.amount_due,
            "points_earned": quote.points_to_earn, "points_redeemed": quote.points_to_redeem,
            "base_points": quote.base_points, "refunded_amount": 0, "points_reversed": 0,
            "points_restored": 0, "qualifying_reversed": 0, "tier_before": account.tier_code,
            "tier_after": account.tier_code, "tier_year_ends_before": account.tier_year_ends_at,
            "rules_version": rules.version, "created_at": now,
        }  # fmt: skip
        connection = await core(session)
        try:  # the receipt's unique key: cheaper than looking first (and it rolls back all)
            await connection.execute(_INSERT_PURCHASE, purchase)
        except IntegrityError as error:
            if _is_duplicate_receipt(error):
                raise DuplicateReceipt(field="receiptNumber") from None
            raise
        rows = [
            {
                "id": new_id(), "member_id": checkout.member_id, "purchase_id": purchase_id,
                "sku": line.sku, "category": line.category, "quantity": line.quantity,
                "amount": line.amount,
            }
            for line in lines
            if line.sku
        ]  # fmt: skip
        if rows:  # one statement, no objects: nothing reads the lines back in this transaction
            await connection.execute(_INSERT_LINES, rows)
        posting = ledger_service.Posting(
            actor_kind="staff",
            actor_id=staff.staff_id,
            store_id=checkout.store_id,
            rules_version=rules.version,
            now=now,
            idempotency_key=key,
        )
        where = f"{store_name}, receipt {receipt_number}"
        if quote.points_to_redeem:
            await ledger_service.spend(
                session, account, posting, points=quote.points_to_redeem, kind=EntryKind.REDEEM,
                description=f"Paid with points at {where}", purchase_id=purchase_id,
            )  # fmt: skip
        await ledger_service.earn(
            session, account, posting, points=quote.points_to_earn - quote.offer_points,
            kind=EntryKind.EARN, description=f"Purchase at {where}",
            pending_days=rules.pending_days, expiry_days=rules.expiry_days,
            purchase_id=purchase_id, qualifying=quote.base_points,
        )  # fmt: skip
        if quote.applied_offers:
            await offers_service.earn_offers(
                session, account, posting, rules, offers, quote.applied_offers,
                purchase_id=purchase_id, where=where,
            )  # fmt: skip
        upgraded = await tiers_service.upgrade_after_purchase(session, rules, account, now=now)
        if upgraded:
            await connection.execute(
                _SET_TIER_AFTER, {"purchase_id": purchase_id, "new_tier": account.tier_code}
            )
        await referrals_service.settle_referral(
            session, rules, account, purchase_id=purchase_id, amount_paid=quote.amount_due, now=now
        )  # the buyer's pending referral, if this purchase qualifies
        # Before the account is saved: its purchase times ride on its one UPDATE (the day's
        # totals are written last, just before the COMMIT, after every account lock).
        await stats_service.record_movement(
            session, at=now, store_id=checkout.store_id, account=account,
            issued=quote.points_to_earn, redeemed=quote.points_to_redeem,
            expired=-lapsed.points if lapsed else 0, purchases=1, amount=quote.amount_due,
        )  # fmt: skip
        announced = {
            "purchaseId": str(purchase_id), "storeId": str(checkout.store_id),
            "storeName": store_name, "receiptNumber": receipt_number, "amountPaid": quote.amount_due,
            "currency": rules.currency, "available": account.available, "pending": account.pending,
        }  # fmt: skip
        Event = outbox_service.NewEvent
        events: list[outbox_service.NewEvent] = []
        if quote.points_to_redeem:
            data = {**announced, "points": quote.points_to_redeem, "discount": quote.discount}
            events.append(Event(EventType.POINTS_REDEEMED, account.member_id, data))
        if quote.points_to_earn:
            data = {**announced, "points": quote.points_to_earn}
            events.append(Event(EventType.POINTS_EARNED, account.member_id, data))
        await outbox_service.record_all(session, events, at=now)  # one statement
        await ledger_service.save_account(session, account)
        await live_service.announce_balance(session, account, live_service.Reason.PURCHASE)
        receipt = PurchaseReceipt(
            purchase_id=purchase_id,
            receipt_number=receipt_number,
            currency=rules.currency,
            points_earned=quote.points_to_earn,
            points_redeemed=quote.points_to_redeem,
            discount=quote.discount,
            amount_due=quote.amount_due,
            available=account.available,
            pending=account.pending,
            tier_changed=upgraded,
            offer_discount=quote.offer_discount,
            applied_offers=quote.applied_offers,
        )
        await idempotency.remember(
            session, member_id=account.member_id, scope=scope, key=key,
            operation="completePurchase", digest=digest, result=receipt.to_json(), now=now,
        )  # fmt: skip
    return receipt


async def refund_purchase(
    db: Database,
    actor: Actor | None,
    clock: Clock,
    *,
    purchase_id: str,
    amount: Money,
    idempotency_key: str,
) -> RefundReceipt:
    """Give money back on a purchase: earned points are taken back and redeemed points given back
    in proportion (taken back rounded up, given back rounded down, cumulatively)."""
    staff = _staff(actor)
    key = idempotency.check_key(idempotency_key)
    digest = idempotency.request_hash(
        "refundPurchase", {"purchase_id": purchase_id, "amount": [amount.amount, amount.currency]}
    )
    scope = f"staff:{staff.staff_id}"
    now = clock.now()
    async with db.transaction() as session:
        peek = await session.get(Purchase, _id(purchase_id, "purchaseId"))
        if peek is None:
            raise PurchaseNotFound(field="purchaseId")
        if not staff.can_act_in(peek.store_id):  # RefundInput has no storeId: name the purchase
            raise Forbidden(
                "You are not assigned to the store of this purchase.", field="purchaseId"
            )
        await idempotency.hold_key(session, scope=scope, key=key)  # before the account
        account = await ledger_service.lock_account(session, peek.member_id)
        stored = await idempotency.replay(
            session, member_id=account.member_id, scope=scope, key=key,
            operation="refundPurchase", digest=digest,
        )  # fmt: skip
        if stored is not None:
            return RefundReceipt.from_json(stored)
        purchase = await session.get(Purchase, peek.id, populate_existing=True)
        assert purchase is not None
        if amount.currency != purchase.currency:
            raise CurrencyMismatch(f"The purchase was paid in {purchase.currency}.", field="amount")
        if amount.amount <= 0:
            raise InvalidInput("A refund is more than zero.", field="amount")
        left = purchase.amount_paid - purchase.refunded_amount
        if amount.amount > left:
            raise RefundTooLarge(
                f"At most {left} can still be refunded on this purchase.", field="amount"
            )
        split = till.refund_split(
            amount_paid=purchase.amount_paid,
            refunded_before=purchase.refunded_amount,
            amount=amount.amount,
            points_earned=purchase.points_earned,
            points_redeemed=purchase.points_redeemed,
            base_points=purchase.base_points,
            reversed_before=purchase.points_reversed,
            restored_before=purchase.points_restored,
            qualifying_reversed_before=purchase.qualifying_reversed,
        )
        store_name = await stores_service.store_name(session, purchase.store_id)
        posting = ledger_service.Posting(
            actor_kind="staff",
            actor_id=staff.staff_id,
            store_id=purchase.store_id,
            rules_version=purchase.rules_version,
            now=now,
            idempotency_key=key,
        )
        where = f"Refund at {store_name}, receipt {purchase.receipt_number}"
        rules = await program_service.current_rules(session)
        lapsed = None
        if split.points_reversed:  # lapsed points are gone before any is taken back
            lapsed = await ledger_service.expire_lapsed(
                session, account, rules_version=rules.version, now=now
            )
        if split.points_reversed or split.qualifying_reversed:
            await ledger_service.take_back(
                session, account, posting, points=split.points_reversed,
                description=f"{where}: points taken back", purchase_id=purchase.id,
                qualifying=-split.qualifying_reversed,
            )  # fmt: skip
        if split.points_restored:
            await ledger_service.give_back(
                session, account, posting, points=split.points_restored,
                description=f"{where}: points given back", purchase_id=purchase.id,
            )  # fmt: skip
        purchase.refunded_amount += amount.amount
        purchase.points_reversed += split.points_reversed
        purchase.points_restored += split.points_restored
        purchase.qualifying_reversed += split.qualifying_reversed
        session.add(purchase)
        refund = Refund(
            member_id=purchase.member_id,
            purchase_id=purchase.id,
            store_id=purchase.store_id,
            staff_id=staff.staff_id,
            amount=amount.amount,
            points_reversed=split.points_reversed,
            points_restored=split.points_restored,
            created_at=now,
        )
        session.add(refund)
        await tiers_service.revert_upgrade_after_refund(
            session, rules, account, tier_before=purchase.tier_before,
            tier_after=purchase.tier_after, tier_year_ends_before=purchase.tier_year_ends_before,
            now=now,
        )  # fmt: skip
        await stats_service.record_movement(
            session, at=now, store_id=purchase.store_id, account=account,
            issued=-split.points_reversed, redeemed=-split.points_restored,
            expired=-lapsed.points if lapsed else 0, amount=-amount.amount,
        )  # fmt: skip
        session.add(account)
        if split.points_reversed or split.points_restored:
            await outbox_service.record(
                session, type=EventType.POINTS_REVERSED, member_id=account.member_id,
                data={
                    "purchaseId": str(purchase.id), "refundId": str(refund.id),
                    "storeId": str(purchase.store_id), "storeName": store_name,
                    "amount": amount.amount,
                    "currency": purchase.currency, "pointsReversed": split.points_reversed,
                    "pointsRestored": split.points_restored, "available": account.available,
                    "pending": account.pending,
                },
                at=now,
            )  # fmt: skip
        await live_service.announce_balance(session, account, live_service.Reason.REFUND)
        receipt = RefundReceipt(
            refund_id=refund.id,
            purchase_id=purchase.id,
            points_reversed=split.points_reversed,
            points_restored=split.points_restored,
            available=account.available,
            pending=account.pending,
        )
        await idempotency.remember(
            session, member_id=account.member_id, scope=scope, key=key,
            operation="refundPurchase", digest=digest, result=receipt.to_json(), now=now,
        )  # fmt: skip
    return receipt
