"""The member: profile, balance, tier, member code, offers and history (`me`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry
from graphql import GraphQLError

from app.auth.actors import MemberActor
from app.errors import InvalidInput
from app.graphql.context import Context
from app.graphql.errors import ForbiddenError, InvalidInputError, NotFoundError, user_errors
from app.graphql.pagination import Connection, connection
from app.graphql.permissions import IsMember
from app.graphql.program import Tier
from app.graphql.wallet import WalletPass, wallet_pass_of
from app.kit import qr
from app.kit.pagination import InvalidCursor, InvalidPageSize
from app.ledger import models as ledger_models
from app.ledger import service as ledger_service
from app.members import models as members_models
from app.members import service as members_service
from app.offers import service as offers_service
from app.tiers import service as tiers_service


def _page_args(error: Exception) -> GraphQLError:
    return GraphQLError(str(error), extensions={"code": "BAD_REQUEST"})


@strawberry.type
class ExpiringPoints:
    points: int
    expires_at: dt.datetime


@strawberry.type
class Balance:
    available: int = strawberry.field(description="Spendable now. Negative only after a refund.")
    pending: int = strawberry.field(description="Earned, available after the pending period.")
    lifetime_earned: int
    expiring_soon: list[ExpiringPoints] = strawberry.field(
        description="Points that expire in the next 30 days, by date."
    )


@strawberry.type
class TierProgress:
    qualifying_points: int
    points_to_next: int
    percent: int = strawberry.field(description="0 to 100, towards the next tier.")
    period_ends_at: dt.datetime


@strawberry.type
class TierStatus:
    current: Tier
    next: Tier | None
    progress: TierProgress


@strawberry.type(description="The rotating code the app shows as a QR; valid until `expiresAt`.")
class MemberCode:
    payload: str
    expires_at: dt.datetime
    svg: str


@strawberry.type(description="The static code printed on wallet passes and cards; revocable.")
class WalletCode:
    payload: str
    svg: str


@strawberry.type
class Offer:
    id: strawberry.ID
    title: str
    description: str
    kind: str
    value: int
    reason: str = strawberry.field(description="Why this offer is shown to this member.")
    activated: bool
    requires_activation: bool
    valid_from: dt.datetime | None
    valid_until: dt.datetime | None

    @classmethod
    def of(cls, item: offers_service.MemberOffer) -> Offer:
        offer = item.offer
        return cls(
            id=strawberry.ID(str(offer.id)),
            title=offer.title,
            description=offer.description,
            kind=offer.kind,
            value=offer.value,
            reason=item.reason,
            activated=item.activated,
            requires_activation=offer.requires_activation,
            valid_from=offer.starts_at,
            valid_until=offer.ends_at,
        )


@strawberry.type
class LedgerEntry:
    id: strawberry.ID
    kind: str
    points: int
    balance_after: int
    description: str
    created_at: dt.datetime

    @classmethod
    def of(cls, entry: ledger_models.LedgerEntry) -> LedgerEntry:
        return cls(
            id=strawberry.ID(str(entry.id)),
            kind=entry.kind,
            points=entry.points,
            balance_after=entry.balance_after,
            description=entry.description,
            created_at=entry.created_at,
        )


@strawberry.type
class Member:
    row: strawberry.Private[members_models.Member]

    @strawberry.field
    def id(self) -> strawberry.ID:
        return strawberry.ID(str(self.row.id))

    @strawberry.field
    def email(self) -> str:
        return self.row.email

    @strawberry.field
    def first_name(self) -> str:
        return self.row.first_name

    @strawberry.field
    def last_name(self) -> str | None:
        return self.row.last_name

    @strawberry.field
    def phone(self) -> str | None:
        return self.row.phone

    @strawberry.field
    def birth_date(self) -> dt.date | None:
        return self.row.birth_date

    @strawberry.field
    def locale(self) -> str:
        return self.row.locale

    @strawberry.field
    def marketing_consent(self) -> bool:
        return self.row.marketing_consent

    @strawberry.field(description="16 digits with a Luhn check digit; can be typed at the till.")
    def card_number(self) -> str:
        return self.row.card_number

    @strawberry.field
    def referral_code(self) -> str:
        return self.row.referral_code

    @strawberry.field
    def created_at(self) -> dt.datetime:
        return self.row.created_at

    @strawberry.field
    async def balance(self, info: strawberry.Info[Context, None]) -> Balance:
        ctx = info.context
        account = await ctx.loaders["account"].load(self.row.id)
        async with ctx.reading() as session:
            expiring = await ledger_service.expiring_soon(session, self.row.id, now=ctx.clock.now())
        return Balance(
            available=account.available,
            pending=account.pending,
            lifetime_earned=account.lifetime_earned,
            expiring_soon=[
                ExpiringPoints(points=e.points, expires_at=e.expires_at) for e in expiring
            ],
        )

    @strawberry.field
    async def tier(self, info: strawberry.Info[Context, None]) -> TierStatus:
        ctx = info.context
        rules = await ctx.rules()
        account = await ctx.loaders["account"].load(self.row.id)
        async with ctx.reading() as session:
            status = await tiers_service.tier_status(session, rules, account, now=ctx.clock.now())
        return TierStatus(
            current=Tier.of(status.current),
            next=Tier.of(status.next) if status.next else None,
            progress=TierProgress(
                qualifying_points=status.qualifying_points,
                points_to_next=status.points_to_next,
                percent=status.percent,
                period_ends_at=status.period_ends_at,
            ),
        )

    @strawberry.field
    async def tier_name(self, info: strawberry.Info[Context, None]) -> str:
        rules = await info.context.rules()
        account = await info.context.loaders["account"].load(self.row.id)
        tier = rules.tier(account.tier_code)
        return tier.name if tier else account.tier_code

    @strawberry.field
    async def available_points(self, info: strawberry.Info[Context, None]) -> int:
        account = await info.context.loaders["account"].load(self.row.id)
        return int(account.available)

    @strawberry.field(description="The rotating code to show as a QR at the till.")
    def member_code(self, info: strawberry.Info[Context, None]) -> MemberCode:
        ctx = info.context
        code = members_service.rotating_code_for(
            self.row,
            ctx.settings.member_code_secret.get_secret_value().encode(),
            now=ctx.clock.now(),
        )
        return MemberCode(
            payload=code.payload, expires_at=code.expires_at, svg=qr.svg(code.payload)
        )

    @strawberry.field(
        description="The static code of wallet passes; `revokeWalletCode` replaces it."
    )
    def wallet_code(self, info: strawberry.Info[Context, None]) -> WalletCode:
        secret = info.context.settings.member_code_secret.get_secret_value().encode()
        payload = members_service.static_code_for(self.row, secret)
        return WalletCode(payload=payload, svg=qr.svg(payload))

    @strawberry.field(description="The member's card for Apple Wallet and Google Wallet.")
    async def wallet_pass(self, info: strawberry.Info[Context, None]) -> WalletPass:
        return await wallet_pass_of(info, self.row.id)

    @strawberry.field(
        description="Offers this member may use now, best fit first, each with its reason."
    )
    async def offers(
        self, info: strawberry.Info[Context, None], first: int = 10, after: str | None = None
    ) -> Connection[Offer]:
        ctx = info.context
        rules = await ctx.rules()
        account = await ctx.loaders["account"].load(self.row.id)
        try:
            async with ctx.reading() as session:
                page = await offers_service.list_member_offers(
                    session,
                    rules,
                    member=self.row,
                    tier_code=account.tier_code,
                    now=ctx.clock.now(),
                    first=first,
                    after=after,
                    cache=ctx.services.offers_cache,
                )
        except (InvalidCursor, InvalidPageSize) as error:
            raise _page_args(error) from None
        return connection(page, Offer.of)

    @strawberry.field(description="Points history, newest first.")
    async def transactions(
        self, info: strawberry.Info[Context, None], first: int = 20, after: str | None = None
    ) -> Connection[LedgerEntry]:
        try:
            async with info.context.reading() as session:
                page = await ledger_service.list_entries(
                    session, self.row.id, first=first, after=after
                )
        except (InvalidCursor, InvalidPageSize) as error:
            raise _page_args(error) from None
        return connection(page, LedgerEntry.of)


@strawberry.input
class UpdateProfileInput:
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    birth_date: dt.date | None = None
    locale: str | None = None
    marketing_consent: bool | None = None
    clear: list[str] | None = strawberry.field(
        default=None, description="Optional fields to empty: lastName, phone, birthDate."
    )


UpdateProfileResult = Annotated[
    Member | InvalidInputError | NotFoundError | ForbiddenError,
    strawberry.union("UpdateProfileResult"),
]
RevokeWalletCodeResult = Annotated[
    Member | NotFoundError | ForbiddenError, strawberry.union("RevokeWalletCodeResult")
]


@strawberry.type
class MembersQuery:
    @strawberry.field(permission_classes=[IsMember], description="The signed-in member.")
    async def me(self, info: strawberry.Info[Context, None]) -> Member:
        ctx = info.context
        assert isinstance(ctx.actor, MemberActor)
        async with ctx.reading() as session:
            row = await members_service.find_member(session, ctx.actor.member_id)
        if row is None or not row.active:
            raise GraphQLError(
                "This account no longer exists. Sign in again.",
                extensions={"code": "UNAUTHENTICATED"},
            )
        return Member(row=row)


@strawberry.type
class MembersMutation:
    @strawberry.mutation(permission_classes=[IsMember])
    @user_errors
    async def update_profile(
        self, info: strawberry.Info[Context, None], input: UpdateProfileInput
    ) -> UpdateProfileResult:
        ctx = info.context
        assert isinstance(ctx.actor, MemberActor)
        clear = frozenset(input.clear or ())
        unknown = clear - {"lastName", "phone", "birthDate"}
        if unknown:
            raise InvalidInput(f"Cannot clear {', '.join(sorted(unknown))}.", field="clear")
        row = await members_service.update_profile(
            ctx.db,
            ctx.actor,
            ctx.clock,
            members_service.ProfileChanges(
                first_name=input.first_name,
                last_name=input.last_name,
                phone=input.phone,
                birth_date=input.birth_date,
                locale=input.locale,
                marketing_consent=input.marketing_consent,
                clear=clear,
            ),
        )
        return Member(row=row)

    @strawberry.mutation(
        permission_classes=[IsMember],
        description="Replace the static wallet code; passes with the old one are refused at tills.",
    )
    @user_errors
    async def revoke_wallet_code(
        self, info: strawberry.Info[Context, None]
    ) -> RevokeWalletCodeResult:
        ctx = info.context
        assert isinstance(ctx.actor, MemberActor)
        row = await members_service.revoke_wallet_code(ctx.db, ctx.actor, ctx.clock)
        return Member(row=row)
