"""The till: scanMemberCode, purchaseQuote, completePurchase, refundPurchase; and adjustPoints."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from app.checkout import rules as till
from app.checkout import service as checkout_service
from app.graphql.context import Context
from app.graphql.errors import (
    ConflictError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    InsufficientPointsError,
    InvalidInputError,
    MemberCodeError,
    NotFoundError,
    user_errors,
)
from app.graphql.members import LedgerEntry, Offer
from app.graphql.offers import AppliedOffer
from app.graphql.permissions import IsStaff
from app.graphql.program import Money, MoneyInput
from app.kit.money import Money as DomainMoney
from app.ledger import service as ledger_service
from app.offers import service as offers_service


@strawberry.type(description="What the till may show of the scanned member.")
class CheckoutMember:
    first_name: str
    tier_name: str
    available_points: int


@strawberry.type(description="A scanned member at a till, open for 15 minutes.")
class Checkout:
    id: strawberry.ID
    expires_at: dt.datetime
    member: CheckoutMember
    max_redeemable_points: int = strawberry.field(
        description="The most points the member can pay with now (the 50 % cap needs the total: "
        "see purchaseQuote)."
    )
    point_value: Money = strawberry.field(
        description="What `pointValuePoints` points pay: a point's value where a point is worth "
        "whole minor units (1 cent when 100 points are worth 1.00)."
    )
    point_value_points: int = strawberry.field(
        description="The fewest points worth whole minor units: 1 in most programs."
    )
    offers: list[Offer]


@strawberry.type
class PurchaseQuote:
    points_to_earn: int
    points_to_redeem: int
    discount: Money
    amount_due: Money
    offer_discount: Money = strawberry.field(description="What offers took off the total.")
    applied_offers: list[AppliedOffer]


@strawberry.type
class PointsBalance:
    available: int
    pending: int


@strawberry.type
class Purchase:
    id: strawberry.ID
    receipt_number: str


@strawberry.type
class PurchaseReceipt:
    purchase: Purchase
    points_earned: int
    points_redeemed: int
    discount: Money
    amount_due: Money
    balance: PointsBalance
    tier_changed: bool
    offer_discount: Money = strawberry.field(description="What offers took off the total.")
    applied_offers: list[AppliedOffer]

    @classmethod
    def of(cls, receipt: checkout_service.PurchaseReceipt) -> PurchaseReceipt:
        return cls(
            purchase=Purchase(
                id=strawberry.ID(str(receipt.purchase_id)), receipt_number=receipt.receipt_number
            ),
            points_earned=receipt.points_earned,
            points_redeemed=receipt.points_redeemed,
            discount=Money(amount=receipt.discount, currency=receipt.currency),
            amount_due=Money(amount=receipt.amount_due, currency=receipt.currency),
            balance=PointsBalance(available=receipt.available, pending=receipt.pending),
            tier_changed=receipt.tier_changed,
            offer_discount=Money(amount=receipt.offer_discount, currency=receipt.currency),
            applied_offers=[AppliedOffer.of(o, receipt.currency) for o in receipt.applied_offers],
        )


@strawberry.type
class RefundReceipt:
    id: strawberry.ID
    points_reversed: int
    points_restored: int
    balance: PointsBalance


@strawberry.input
class PurchaseLineInput:
    sku: str
    category: str | None = None
    quantity: int
    amount: MoneyInput


@strawberry.input
class PurchaseInput:
    checkout_id: strawberry.ID
    receipt_number: str
    total: MoneyInput
    lines: list[PurchaseLineInput] | None = None
    redeem_points: int | None = 0
    idempotency_key: str


@strawberry.input
class RefundInput:
    purchase_id: strawberry.ID
    amount: MoneyInput
    idempotency_key: str


ScanMemberCodeResult = Annotated[
    Checkout | MemberCodeError | NotFoundError | ForbiddenError | InvalidInputError,
    strawberry.union("ScanMemberCodeResult"),
]
_PurchaseErrors = (
    InvalidInputError
    | NotFoundError
    | ForbiddenError
    | ConflictError
    | InsufficientPointsError
    | IdempotencyKeyReusedError
)
PurchaseQuoteResult = Annotated[
    PurchaseQuote | _PurchaseErrors, strawberry.union("PurchaseQuoteResult")
]
CompletePurchaseResult = Annotated[
    PurchaseReceipt | _PurchaseErrors, strawberry.union("CompletePurchaseResult")
]
RefundPurchaseResult = Annotated[
    RefundReceipt | InvalidInputError | NotFoundError | ForbiddenError | IdempotencyKeyReusedError,
    strawberry.union("RefundPurchaseResult"),
]
AdjustPointsResult = Annotated[
    LedgerEntry
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | InsufficientPointsError
    | IdempotencyKeyReusedError,
    strawberry.union("AdjustPointsResult"),
]


def _command(data: PurchaseInput) -> checkout_service.PurchaseCommand:
    return checkout_service.PurchaseCommand(
        checkout_id=str(data.checkout_id),
        receipt_number=data.receipt_number,
        total=DomainMoney(data.total.amount, data.total.currency),
        lines=[
            (
                till.Line(
                    sku=line.sku,
                    category=line.category,
                    quantity=line.quantity,
                    amount=line.amount.amount,
                ),
                line.amount.currency,
            )
            for line in data.lines
        ]
        if data.lines
        else None,
        redeem_points=data.redeem_points or 0,
        idempotency_key=data.idempotency_key,
    )


@strawberry.type
class CheckoutQuery:
    @strawberry.field(
        permission_classes=[IsStaff], description="Compute a purchase; writes nothing."
    )
    @user_errors
    async def purchase_quote(
        self, info: strawberry.Info[Context, None], input: PurchaseInput
    ) -> PurchaseQuoteResult:
        ctx = info.context
        result = await checkout_service.purchase_quote(
            ctx.db, ctx.actor, ctx.clock, _command(input), rules_cache=ctx.services.rules_cache,
            offers_cache=ctx.services.offers_cache,
        )  # fmt: skip
        quote, currency = result.quote, result.currency
        return PurchaseQuote(
            points_to_earn=quote.points_to_earn,
            points_to_redeem=quote.points_to_redeem,
            discount=Money(amount=quote.discount, currency=currency),
            amount_due=Money(amount=quote.amount_due, currency=currency),
            offer_discount=Money(amount=quote.offer_discount, currency=currency),
            applied_offers=[AppliedOffer.of(o, currency) for o in quote.applied_offers],
        )


@strawberry.type
class CheckoutMutation:
    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Open a checkout for the member of a scanned code or typed card number.",
    )
    @user_errors
    async def scan_member_code(
        self, info: strawberry.Info[Context, None], code: str, store_id: strawberry.ID
    ) -> ScanMemberCodeResult:
        ctx = info.context
        secret = ctx.settings.member_code_secret.get_secret_value().encode()
        opened = await checkout_service.scan_member_code(
            ctx.db, ctx.actor, ctx.clock, secret, code=code, store_id=str(store_id),
            rules_cache=ctx.services.rules_cache,
        )  # fmt: skip
        rules = await ctx.rules()
        tier = rules.tier(opened.tier_code)
        async with ctx.reading() as session:
            offers = await offers_service.list_member_offers(
                session, rules, member=opened.member, tier_code=opened.tier_code,
                now=ctx.clock.now(), first=20, after=None, cache=ctx.services.offers_cache,
            )  # fmt: skip
        return Checkout(
            id=strawberry.ID(str(opened.checkout.id)),
            expires_at=opened.checkout.expires_at,
            member=CheckoutMember(
                first_name=opened.member.first_name,
                tier_name=tier.name if tier else opened.tier_code,
                available_points=opened.available,
            ),
            max_redeemable_points=opened.max_redeemable,
            point_value=Money(amount=rules.point_value_unit[1], currency=rules.currency),
            point_value_points=rules.point_value_unit[0],
            offers=[Offer.of(item) for item in offers.items],
        )

    @strawberry.mutation(permission_classes=[IsStaff], description="Earn and redeem for a receipt.")
    @user_errors
    async def complete_purchase(
        self, info: strawberry.Info[Context, None], input: PurchaseInput
    ) -> CompletePurchaseResult:
        ctx = info.context
        receipt = await checkout_service.complete_purchase(
            ctx.db, ctx.actor, ctx.clock, _command(input), rules_cache=ctx.services.rules_cache,
            offers_cache=ctx.services.offers_cache,
        )  # fmt: skip
        return PurchaseReceipt.of(receipt)

    @strawberry.mutation(
        permission_classes=[IsStaff], description="Refund all or part of a purchase."
    )
    @user_errors
    async def refund_purchase(
        self, info: strawberry.Info[Context, None], input: RefundInput
    ) -> RefundPurchaseResult:
        ctx = info.context
        receipt = await checkout_service.refund_purchase(
            ctx.db,
            ctx.actor,
            ctx.clock,
            purchase_id=str(input.purchase_id),
            amount=DomainMoney(input.amount.amount, input.amount.currency),
            idempotency_key=input.idempotency_key,
        )
        return RefundReceipt(
            id=strawberry.ID(str(receipt.refund_id)),
            points_reversed=receipt.points_reversed,
            points_restored=receipt.points_restored,
            balance=PointsBalance(available=receipt.available, pending=receipt.pending),
        )

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Admins and managers correct a member's points, with a reason.",
    )
    @user_errors
    async def adjust_points(
        self,
        info: strawberry.Info[Context, None],
        member_id: strawberry.ID,
        points: int,
        reason: str,
        idempotency_key: str,
    ) -> AdjustPointsResult:
        ctx = info.context
        result = await ledger_service.adjust_points(
            ctx.db, ctx.actor, ctx.clock, member_id=str(member_id), points=points,
            reason=reason, idempotency_key=idempotency_key,
        )  # fmt: skip
        return LedgerEntry(
            id=strawberry.ID(str(result.entry_id)),
            kind=result.kind,
            points=result.points,
            balance_after=result.balance_after,
            description=result.description,
            created_at=result.created_at,
        )
