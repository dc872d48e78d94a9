"""Offers: the admin's `createOffer`, the member's `activateOffer`, offers applied at the till.

The `Offer` type itself lives in `members.py` (the member's `offers` and the till's checkout
show it)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Annotated

import strawberry

from app.auth.actors import MemberActor
from app.checkout import rules as till
from app.errors import CurrencyMismatch, InvalidInput
from app.graphql.context import Context
from app.graphql.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    NotFoundError,
    user_errors,
)
from app.graphql.members import Offer
from app.graphql.permissions import IsAdmin, IsMember
from app.graphql.program import Money, MoneyInput
from app.kit.ids import parse_id
from app.offers import models as offers_models
from app.offers import rules as offer_rules
from app.offers import service as offers_service


@strawberry.enum
class OfferKind(enum.Enum):
    BONUS_POINTS = offers_models.OfferKind.BONUS_POINTS
    POINTS_MULTIPLIER = offers_models.OfferKind.POINTS_MULTIPLIER
    PERCENT_DISCOUNT = offers_models.OfferKind.PERCENT_DISCOUNT


@strawberry.enum(description="Who an offer is for, beyond its tiers.")
class OfferAudience(enum.Enum):
    EVERYONE = offers_models.Audience.EVERYONE
    NEW_MEMBERS = offers_models.Audience.NEW_MEMBERS
    BIRTHDAY = offers_models.Audience.BIRTHDAY
    WIN_BACK = offers_models.Audience.WIN_BACK


@strawberry.type(description="An offer applied to a purchase, and what it gave.")
class AppliedOffer:
    id: strawberry.ID
    title: str
    kind: str
    points: int = strawberry.field(description="Points it added to what the purchase earns.")
    discount: Money = strawberry.field(description="What it took off the total.")

    @classmethod
    def of(cls, offer: till.AppliedOffer, currency: str) -> AppliedOffer:
        return cls(
            id=strawberry.ID(str(offer.id)),
            title=offer.title,
            kind=offer.kind,
            points=offer.points,
            discount=Money(amount=offer.discount, currency=currency),
        )


@strawberry.input
class CreateOfferInput:
    title: str
    description: str
    kind: OfferKind
    value: int = strawberry.field(
        description="BONUS_POINTS: points; POINTS_MULTIPLIER: percent (200 = x2); "
        "PERCENT_DISCOUNT: percent off."
    )
    categories: list[str] | None = None
    min_spend: MoneyInput | None = None
    tier_codes: list[str] | None = None
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    requires_activation: bool | None = False
    rollout_percent: int | None = strawberry.field(
        default=100, description="1 to 100: the pilot share of eligible members."
    )
    store_ids: list[strawberry.ID] | None = None
    weekdays: list[int] | None = strawberry.field(
        default=None, description="ISO weekdays, 1 (Monday) to 7, in the store's time zone."
    )
    hour_from: int | None = strawberry.field(
        default=None, description="Local hours [hourFrom, hourTo), in the store's time zone."
    )
    hour_to: int | None = None
    uses_per_member: int | None = strawberry.field(
        default=None, description="How often one member may use it; none: no limit."
    )
    audience: OfferAudience | None = OfferAudience.EVERYONE


CreateOfferResult = Annotated[
    Offer | InvalidInputError | ForbiddenError, strawberry.union("CreateOfferResult")
]
ActivateOfferResult = Annotated[
    Offer | NotFoundError | ConflictError | ForbiddenError,
    strawberry.union("ActivateOfferResult"),
]


def _new_offer(data: CreateOfferInput, currency: str) -> offer_rules.NewOffer:
    min_spend = None
    if data.min_spend is not None:
        if data.min_spend.currency != currency:
            raise CurrencyMismatch(f"The program's currency is {currency}.", field="minSpend")
        min_spend = data.min_spend.amount
    store_ids = []
    for raw in data.store_ids or []:
        store_id = parse_id(str(raw))
        if store_id is None:
            raise InvalidInput("This is not a store id this API returned.", field="storeIds")
        store_ids.append(store_id)
    return offer_rules.NewOffer(
        title=data.title,
        description=data.description,
        kind=data.kind.value,
        value=data.value,
        categories=data.categories or (),
        min_spend=min_spend,
        tier_codes=data.tier_codes or (),
        store_ids=store_ids,
        weekdays=data.weekdays or (),
        hour_from=data.hour_from,
        hour_to=data.hour_to,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        requires_activation=bool(data.requires_activation),
        rollout_percent=100 if data.rollout_percent is None else data.rollout_percent,
        uses_per_member=data.uses_per_member,
        audience=(data.audience or OfferAudience.EVERYONE).value,
    )


@strawberry.type
class OffersMutation:
    @strawberry.mutation(permission_classes=[IsAdmin], description="Create an offer.")
    @user_errors
    async def create_offer(
        self, info: strawberry.Info[Context, None], input: CreateOfferInput
    ) -> CreateOfferResult:
        ctx = info.context
        rules = await ctx.rules()
        offer = await offers_service.create_offer(
            ctx.db, ctx.actor, ctx.clock, _new_offer(input, rules.currency),
            cache=ctx.services.offers_cache,
        )  # fmt: skip
        return Offer.of(
            offers_service.MemberOffer(offer, not offer.requires_activation, "New offer")
        )

    @strawberry.mutation(
        permission_classes=[IsMember],
        description="Activate an offer that needs it; it then applies at the till.",
    )
    @user_errors
    async def activate_offer(
        self, info: strawberry.Info[Context, None], offer_id: strawberry.ID
    ) -> ActivateOfferResult:
        ctx = info.context
        assert isinstance(ctx.actor, MemberActor)
        item = await offers_service.activate_offer(ctx.db, ctx.actor, ctx.clock, str(offer_id))
        return Offer.of(item)
