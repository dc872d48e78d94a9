"""The operator's numbers: `stats` (the program, and each store) and `storeStats`."""

from __future__ import annotations

from decimal import Decimal
from typing import NewType

import strawberry
from graphql import GraphQLError
from strawberry.types.scalar import ScalarDefinition

from app.errors import DomainError, NotFound
from app.graphql.context import Context
from app.graphql.pagination import Connection, connection
from app.graphql.permissions import IsAdmin, IsStaff
from app.graphql.program import Money
from app.graphql.staff import Store
from app.kit.ids import parse_id
from app.kit.pagination import InvalidCursor, InvalidPageSize
from app.program.rules import ProgramRules
from app.stats import service as stats_service
from app.stores import models as stores_models

BigInt = NewType("BigInt", int)
# For the schema's StrawberryConfig(scalar_map=...).
SCALARS: dict[object, ScalarDefinition] = {
    BigInt: strawberry.scalar(
        name="BigInt",
        serialize=int,
        parse_value=int,
        description="A whole number that may outgrow Int's 32 bits (program-wide totals); a "
        "JSON number, exact up to 2^53.",
    )
}


@strawberry.type(description="A sum of money too large for `Money` (program-wide totals).")
class MoneyTotal:
    amount: BigInt
    currency: str


def query_error(error: DomainError) -> GraphQLError:
    """A domain error of a query (which has no result union): a top-level error with the
    UserError's code, and the field at fault."""
    extensions: dict[str, object] = {"code": error.code}
    if error.field:
        extensions["field"] = error.field
    return GraphQLError(error.message, extensions=extensions)


def page_error(error: Exception) -> GraphQLError:
    return GraphQLError(str(error), extensions={"code": "BAD_REQUEST"})


@strawberry.type(description="One store's numbers: all-time totals, members active in 30 days.")
class StoreStats:
    numbers: strawberry.Private[stats_service.StoreStats]
    store: Store
    active_members_30d: int
    points_issued: BigInt
    points_redeemed: BigInt
    purchases: BigInt
    sales: MoneyTotal = strawberry.field(description="Money paid, less refunds.")

    @strawberry.field(description="Points redeemed per point issued, 0 to 1, 4 places.")
    def redemption_rate(self) -> Decimal:
        return self.numbers.redemption_rate

    @strawberry.field(description="Sales per purchase, rounded half up.")
    def average_purchase(self) -> Money:
        return Money(amount=self.numbers.average_purchase, currency=self.numbers.currency)

    @classmethod
    def of(cls, store: stores_models.Store, numbers: stats_service.StoreStats) -> StoreStats:
        return cls(
            numbers=numbers,
            store=Store.of(store),
            active_members_30d=numbers.active_members_30d,
            points_issued=BigInt(numbers.points_issued),
            points_redeemed=BigInt(numbers.points_redeemed),
            purchases=BigInt(numbers.purchases),
            sales=MoneyTotal(amount=BigInt(numbers.sales), currency=numbers.currency),
        )


@strawberry.type(
    description="The program's numbers. Points are all-time and net: issued less taken back "
    "by refunds (adjustments either way), redeemed less given back; outstanding = issued - "
    "redeemed - expired, the points members hold."
)
class ProgramStats:
    numbers: strawberry.Private[stats_service.ProgramStats]
    program: strawberry.Private[ProgramRules]
    members: int
    active_members_30d: int = strawberry.field(
        description="Members with a purchase in the last 30 days (UTC days, today included)."
    )
    points_issued: BigInt
    points_redeemed: BigInt
    points_expired: BigInt
    outstanding_points: BigInt
    outstanding_liability: MoneyTotal = strawberry.field(
        description="What the outstanding points pay at the till (the point value), rounded up."
    )
    purchases: BigInt
    sales: MoneyTotal = strawberry.field(description="Money paid by members, less refunds.")

    @strawberry.field(description="Points redeemed per point issued, 0 to 1, 4 places.")
    def redemption_rate(self) -> Decimal:
        return self.numbers.redemption_rate

    @strawberry.field(description="Breakage: the share of issued points that expired, 4 places.")
    def breakage(self) -> Decimal:
        return self.numbers.breakage

    @strawberry.field(
        description="Of the members who bought in the last 90 days (UTC days, today included), "
        "the share who bought twice or more, 4 places."
    )
    def repeat_purchase_rate_90d(self) -> Decimal:
        return self.numbers.repeat_purchase_rate_90d

    @strawberry.field(description="Sales per purchase, rounded half up.")
    def average_purchase(self) -> Money:
        return Money(amount=self.numbers.average_purchase, currency=self.numbers.currency)

    @strawberry.field(description="Each store's numbers, by store code.")
    async def stores(
        self, info: strawberry.Info[Context, None], first: int = 20, after: str | None = None
    ) -> Connection[StoreStats]:
        ctx = info.context
        try:
            async with ctx.reading() as session:
                page = await stats_service.list_store_stats(
                    session, ctx.actor, self.program, first=first, after=after,
                    now=ctx.clock.now(),
                )  # fmt: skip
        except (InvalidCursor, InvalidPageSize) as error:
            raise page_error(error) from None
        except DomainError as error:
            raise query_error(error) from None
        return connection(page, lambda item: StoreStats.of(*item))

    @classmethod
    def of(cls, numbers: stats_service.ProgramStats, program: ProgramRules) -> ProgramStats:
        def total(amount: int) -> MoneyTotal:
            return MoneyTotal(amount=BigInt(amount), currency=numbers.currency)

        return cls(
            numbers=numbers,
            program=program,
            members=numbers.members,
            active_members_30d=numbers.active_members_30d,
            points_issued=BigInt(numbers.points_issued),
            points_redeemed=BigInt(numbers.points_redeemed),
            points_expired=BigInt(numbers.points_expired),
            outstanding_points=BigInt(numbers.outstanding_points),
            outstanding_liability=total(numbers.outstanding_liability),
            purchases=BigInt(numbers.purchases),
            sales=total(numbers.sales),
        )


@strawberry.type
class StatsQuery:
    @strawberry.field(
        permission_classes=[IsAdmin],
        description="The program's numbers, from totals maintained with every movement.",
    )
    async def stats(self, info: strawberry.Info[Context, None]) -> ProgramStats:
        ctx = info.context
        program = await ctx.rules()
        try:
            async with ctx.reading() as session:
                numbers = await stats_service.program_stats(
                    session, ctx.actor, program, now=ctx.clock.now()
                )
        except DomainError as error:
            raise query_error(error) from None
        return ProgramStats.of(numbers, program)

    @strawberry.field(
        permission_classes=[IsStaff],
        description="One store's numbers: administrators, and the store's managers.",
    )
    async def store_stats(
        self, info: strawberry.Info[Context, None], store_id: strawberry.ID
    ) -> StoreStats:
        ctx = info.context
        program = await ctx.rules()
        target = parse_id(str(store_id))
        try:
            if target is None:
                raise NotFound("No such store.", field="storeId")
            async with ctx.reading() as session:
                store, numbers = await stats_service.store_stats(
                    session, ctx.actor, program, target, now=ctx.clock.now()
                )
        except DomainError as error:
            raise query_error(error) from None
        return StoreStats.of(store, numbers)
