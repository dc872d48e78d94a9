"""Rewards and vouchers, causes and donations: the member's `rewards`, `redeemReward`,
`donatePoints`, `vouchers` and `causes`; the till's `redeemVoucher`; the admin's `createReward`
and `createCause`."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated, Any

import strawberry
from graphql import GraphQLError
from strawberry.permission import BasePermission

from app.graphql.context import Context
from app.graphql.errors import (
    ConflictError,
    ForbiddenError,
    IdempotencyKeyReusedError,
    InsufficientPointsError,
    InvalidInputError,
    NotFoundError,
    user_errors,
)
from app.graphql.pagination import Connection, connection
from app.graphql.permissions import IsAdmin, IsMember, IsStaff
from app.graphql.program import Money, MoneyInput
from app.kit import qr
from app.kit.money import Money as DomainMoney
from app.kit.pagination import InvalidCursor, InvalidPageSize
from app.rewards import models as rewards_models
from app.rewards import rules as rewards_rules
from app.rewards import service as rewards_service


class IsSignedIn(BasePermission):
    """Any member or staff account (the catalog and the causes are for everyone signed in)."""

    message = "Sign in first: send `Authorization: Bearer <accessToken>`."
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return info.context.actor is not None


def _page_args(error: Exception) -> GraphQLError:
    return GraphQLError(str(error), extensions={"code": "BAD_REQUEST"})


@strawberry.enum
class RewardKind(enum.Enum):
    DISCOUNT_VOUCHER = "DISCOUNT_VOUCHER"
    FREE_PRODUCT = "FREE_PRODUCT"
    GIFT_CARD = "GIFT_CARD"
    FREE_DELIVERY = "FREE_DELIVERY"
    EXPERIENCE = "EXPERIENCE"


@strawberry.type(description="A reward of the catalog, bought with points as a voucher.")
class Reward:
    id: strawberry.ID
    title: str
    description: str | None
    kind: RewardKind
    points_cost: int
    value: Money | None = strawberry.field(description="What the reward is worth, if stated.")
    stock: int | None = strawberry.field(description="Units left; null is unlimited.")
    tier_codes: list[str] = strawberry.field(description="Tiers that may take it; empty: all.")
    store_ids: list[strawberry.ID] = strawberry.field(
        description="Stores its vouchers are valid in; empty: every store."
    )
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    voucher_valid_days: int
    available: bool = strawberry.field(
        description="Can be redeemed now by the signed-in member: active, in its window, in "
        "stock and for the member's tier (for staff the tier is not considered)."
    )

    @classmethod
    def of(cls, reward: rewards_models.Reward, *, currency: str, available: bool) -> Reward:
        return cls(
            id=strawberry.ID(str(reward.id)),
            title=reward.title,
            description=reward.description,
            kind=RewardKind(reward.kind),
            points_cost=reward.points_cost,
            value=Money(amount=reward.value, currency=currency)
            if reward.value is not None
            else None,
            stock=reward.stock,
            tier_codes=list(reward.tier_codes),
            store_ids=[strawberry.ID(s) for s in reward.store_ids],
            starts_at=reward.starts_at,
            ends_at=reward.ends_at,
            voucher_valid_days=reward.voucher_valid_days,
            available=available,
        )


@strawberry.type(description="What the till scans: the voucher's code as a QR image.")
class VoucherQr:
    payload: str
    svg: str


@strawberry.type(description="A redeemed reward: a one-time code for the till, until it expires.")
class Voucher:
    id: strawberry.ID
    code: str = strawberry.field(description="Typeable at the till, as XXXX-XXXX-XXXX.")
    points_spent: int
    issued_at: dt.datetime
    expires_at: dt.datetime
    redeemed_at: dt.datetime | None
    reward: Reward
    qr: VoucherQr

    @classmethod
    def of(
        cls, issued: rewards_service.IssuedVoucher, *, currency: str, now: dt.datetime
    ) -> Voucher:
        voucher, reward = issued.voucher, issued.reward
        code = rewards_rules.format_voucher_code(voucher.code)
        offering = rewards_service.offering(reward)
        return cls(
            id=strawberry.ID(str(voucher.id)),
            code=code,
            points_spent=voucher.points,
            issued_at=voucher.issued_at,
            expires_at=voucher.expires_at,
            redeemed_at=voucher.used_at,
            reward=Reward.of(
                reward,
                currency=currency,
                available=rewards_rules.unavailable(offering, tier_code=None, now=now) is None,
            ),
            qr=VoucherQr(payload=code, svg=qr.svg(code)),
        )


@strawberry.type(description="A cause members give points to, with what it has received.")
class Cause:
    id: strawberry.ID
    name: str
    description: str | None
    total_points: int
    donation_count: int

    @classmethod
    def of(cls, cause: rewards_models.Cause) -> Cause:
        return cls(
            id=strawberry.ID(str(cause.id)),
            name=cause.name,
            description=cause.description,
            total_points=cause.total_points,
            donation_count=cause.donations,
        )


@strawberry.type
class Donation:
    id: strawberry.ID
    points: int
    created_at: dt.datetime
    cause: Cause

    @classmethod
    def of(cls, receipt: rewards_service.DonationReceipt) -> Donation:
        return cls(
            id=strawberry.ID(str(receipt.donation.id)),
            points=receipt.donation.points,
            created_at=receipt.donation.created_at,
            cause=Cause.of(receipt.cause),
        )


@strawberry.input
class CreateRewardInput:
    title: str
    description: str | None = None
    kind: RewardKind
    points_cost: int
    value: MoneyInput | None = None
    stock: int | None = strawberry.field(default=None, description="Null: unlimited.")
    tier_codes: list[str] | None = strawberry.field(default=None, description="Null: every tier.")
    store_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="Stores the vouchers are valid in; null: every store."
    )
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    voucher_valid_days: int | None = strawberry.field(
        default=None, description=f"Default {rewards_rules.DEFAULT_VOUCHER_DAYS}."
    )


@strawberry.input
class CreateCauseInput:
    name: str
    description: str | None = None


CreateRewardResult = Annotated[
    Reward | InvalidInputError | ForbiddenError, strawberry.union("CreateRewardResult")
]
CreateCauseResult = Annotated[
    Cause | InvalidInputError | ConflictError | ForbiddenError,
    strawberry.union("CreateCauseResult"),
]
RedeemRewardResult = Annotated[
    Voucher
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | ConflictError
    | InsufficientPointsError
    | IdempotencyKeyReusedError,
    strawberry.union("RedeemRewardResult"),
]
RedeemVoucherResult = Annotated[
    Voucher
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | ConflictError
    | IdempotencyKeyReusedError,
    strawberry.union("RedeemVoucherResult"),
]
DonatePointsResult = Annotated[
    Donation
    | InvalidInputError
    | NotFoundError
    | ForbiddenError
    | InsufficientPointsError
    | IdempotencyKeyReusedError,
    strawberry.union("DonatePointsResult"),
]


@strawberry.type
class RewardsQuery:
    @strawberry.field(
        permission_classes=[IsSignedIn],
        description="The rewards catalog, newest first: active rewards whose window has not "
        "ended, with `available` for the signed-in member.",
    )
    async def rewards(
        self, info: strawberry.Info[Context, None], first: int = 10, after: str | None = None
    ) -> Connection[Reward]:
        ctx = info.context
        rules = await ctx.rules()
        try:
            async with ctx.reading() as session:
                page = await rewards_service.list_rewards(
                    session, ctx.actor, now=ctx.clock.now(), first=first, after=after
                )
        except (InvalidCursor, InvalidPageSize) as error:
            raise _page_args(error) from None
        return connection(
            page,
            lambda item: Reward.of(item.reward, currency=rules.currency, available=item.available),
        )

    @strawberry.field(
        permission_classes=[IsMember], description="The member's vouchers, newest first."
    )
    async def vouchers(
        self, info: strawberry.Info[Context, None], first: int = 10, after: str | None = None
    ) -> Connection[Voucher]:
        ctx = info.context
        rules = await ctx.rules()
        now = ctx.clock.now()
        try:
            async with ctx.reading() as session:
                page = await rewards_service.list_vouchers(
                    session, ctx.actor, first=first, after=after
                )
        except (InvalidCursor, InvalidPageSize) as error:
            raise _page_args(error) from None
        return connection(page, lambda item: Voucher.of(item, currency=rules.currency, now=now))

    @strawberry.field(
        permission_classes=[IsSignedIn],
        description="Causes to donate points to, newest first, with their totals.",
    )
    async def causes(
        self, info: strawberry.Info[Context, None], first: int = 10, after: str | None = None
    ) -> Connection[Cause]:
        try:
            async with info.context.reading() as session:
                page = await rewards_service.list_causes(session, first=first, after=after)
        except (InvalidCursor, InvalidPageSize) as error:
            raise _page_args(error) from None
        return connection(page, Cause.of)


@strawberry.type
class RewardsMutation:
    @strawberry.mutation(permission_classes=[IsAdmin], description="Add a reward to the catalog.")
    @user_errors
    async def create_reward(
        self, info: strawberry.Info[Context, None], input: CreateRewardInput
    ) -> CreateRewardResult:
        ctx = info.context
        item = await rewards_service.create_reward(
            ctx.db,
            ctx.actor,
            ctx.clock,
            rewards_service.NewReward(
                title=input.title,
                description=input.description,
                kind=input.kind.value,
                points_cost=input.points_cost,
                value=DomainMoney(input.value.amount, input.value.currency)
                if input.value is not None
                else None,
                stock=input.stock,
                tier_codes=input.tier_codes,
                store_ids=[str(s) for s in input.store_ids] if input.store_ids else None,
                starts_at=input.starts_at,
                ends_at=input.ends_at,
                voucher_valid_days=input.voucher_valid_days,
            ),
        )
        rules = await ctx.rules()
        return Reward.of(item.reward, currency=rules.currency, available=item.available)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Add a cause to donate to.")
    @user_errors
    async def create_cause(
        self, info: strawberry.Info[Context, None], input: CreateCauseInput
    ) -> CreateCauseResult:
        ctx = info.context
        cause = await rewards_service.create_cause(
            ctx.db,
            ctx.actor,
            ctx.clock,
            rewards_service.NewCause(name=input.name, description=input.description),
        )
        return Cause.of(cause)

    @strawberry.mutation(
        permission_classes=[IsMember],
        description="Spend points on a reward: a voucher with a one-time code. Idempotent.",
    )
    @user_errors
    async def redeem_reward(
        self, info: strawberry.Info[Context, None], reward_id: strawberry.ID, idempotency_key: str
    ) -> RedeemRewardResult:
        ctx = info.context
        issued = await rewards_service.redeem_reward(
            ctx.db, ctx.actor, ctx.clock, reward_id=str(reward_id), idempotency_key=idempotency_key
        )
        rules = await ctx.rules()
        return Voucher.of(issued, currency=rules.currency, now=ctx.clock.now())

    @strawberry.mutation(
        permission_classes=[IsMember],
        description="Give points to a cause (oldest points first). Idempotent.",
    )
    @user_errors
    async def donate_points(
        self,
        info: strawberry.Info[Context, None],
        cause_id: strawberry.ID,
        points: int,
        idempotency_key: str,
    ) -> DonatePointsResult:
        ctx = info.context
        receipt = await rewards_service.donate_points(
            ctx.db, ctx.actor, ctx.clock, cause_id=str(cause_id), points=points,
            idempotency_key=idempotency_key,
        )  # fmt: skip
        return Donation.of(receipt)

    @strawberry.mutation(
        permission_classes=[IsStaff],
        description="Take a voucher at the till: once, before it expires, where it is valid.",
    )
    @user_errors
    async def redeem_voucher(
        self,
        info: strawberry.Info[Context, None],
        code: str,
        store_id: strawberry.ID,
        idempotency_key: str,
    ) -> RedeemVoucherResult:
        ctx = info.context
        issued = await rewards_service.redeem_voucher(
            ctx.db, ctx.actor, ctx.clock, code=code, store_id=str(store_id),
            idempotency_key=idempotency_key,
        )  # fmt: skip
        rules = await ctx.rules()
        return Voucher.of(issued, currency=rules.currency, now=ctx.clock.now())
