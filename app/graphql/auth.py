"""Sign-up, sign-in, session refresh and sign-out, for members and staff."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import strawberry

from app.auth import service as auth_service
from app.graphql.context import Context
from app.graphql.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    RateLimitedError,
    user_errors,
)
from app.graphql.members import Member
from app.members import models as members_models
from app.members import service as members_service


@strawberry.type(description="Tokens of a session. Send `Authorization: Bearer <accessToken>`.")
class AuthSession:
    access_token: str
    refresh_token: str = strawberry.field(
        description="Spend it with refreshSession before the access token expires; it rotates."
    )
    access_token_expires_at: dt.datetime
    tokens: strawberry.Private[auth_service.AuthTokens]
    member_row: strawberry.Private[members_models.Member | None] = None

    @classmethod
    def of(
        cls, tokens: auth_service.AuthTokens, member: members_models.Member | None = None
    ) -> AuthSession:
        return cls(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            access_token_expires_at=tokens.access_token_expires_at,
            tokens=tokens,
            member_row=member,
        )

    @strawberry.field(description="The member signed in; null for staff sessions.")
    async def member(self, info: strawberry.Info[Context, None]) -> Member | None:
        if self.tokens.subject_kind != "member":
            return None
        if self.member_row is None:
            async with info.context.reading() as session:
                self.member_row = await members_service.find_member(session, self.tokens.subject_id)
        return Member(row=self.member_row) if self.member_row else None


@strawberry.type
class LogoutSuccess:
    ok: bool


@strawberry.input
class RegisterMemberInput:
    email: str
    password: str
    first_name: str
    last_name: str | None = None
    phone: str | None = None
    birth_date: dt.date | None = None
    referral_code: str | None = None
    locale: str | None = None
    marketing_consent: bool = False


RegisterMemberResult = Annotated[
    AuthSession | InvalidInputError | ConflictError, strawberry.union("RegisterMemberResult")
]
LoginResult = Annotated[
    AuthSession | AuthenticationError | RateLimitedError | InvalidInputError,
    strawberry.union("LoginResult"),
]
RefreshSessionResult = Annotated[
    AuthSession | AuthenticationError, strawberry.union("RefreshSessionResult")
]
LogoutResult = Annotated[LogoutSuccess | AuthenticationError, strawberry.union("LogoutResult")]


@strawberry.type
class AuthMutation:
    @strawberry.mutation(description="Sign a new member up and sign them in.")
    @user_errors
    async def register_member(
        self, info: strawberry.Info[Context, None], input: RegisterMemberInput
    ) -> RegisterMemberResult:
        ctx = info.context
        tokens, member = await auth_service.register_member(
            ctx.db,
            ctx.settings,
            ctx.clock,
            ctx.services.hasher,
            members_service.NewMember(
                email=input.email,
                password=input.password,
                first_name=input.first_name,
                last_name=input.last_name,
                phone=input.phone,
                birth_date=input.birth_date,
                referral_code=input.referral_code,
                locale=input.locale,
                marketing_consent=input.marketing_consent,
            ),
        )
        return AuthSession.of(tokens, member)

    @strawberry.mutation
    @user_errors
    async def login_member(
        self, info: strawberry.Info[Context, None], email: str, password: str
    ) -> LoginResult:
        return await _login(info.context, "member", email, password)

    @strawberry.mutation
    @user_errors
    async def login_staff(
        self, info: strawberry.Info[Context, None], email: str, password: str
    ) -> LoginResult:
        return await _login(info.context, "staff", email, password)

    @strawberry.mutation(description="Spend a refresh token for a new session pair.")
    @user_errors
    async def refresh_session(
        self, info: strawberry.Info[Context, None], refresh_token: str
    ) -> RefreshSessionResult:
        ctx = info.context
        tokens = await auth_service.refresh_session(
            ctx.db, ctx.settings, ctx.clock, refresh_token=refresh_token
        )
        return AuthSession.of(tokens)

    @strawberry.mutation(description="Close the session the refresh token belongs to.")
    @user_errors
    async def logout(
        self, info: strawberry.Info[Context, None], refresh_token: str
    ) -> LogoutResult:
        ctx = info.context
        await auth_service.logout(ctx.db, ctx.clock, refresh_token=refresh_token)
        return LogoutSuccess(ok=True)


async def _login(ctx: Context, kind: str, email: str, password: str) -> AuthSession:
    tokens = await auth_service.login(
        ctx.db,
        ctx.settings,
        ctx.clock,
        ctx.services.hasher,
        kind=kind,
        email=email,
        password=password,
        client_address=ctx.client_address,
    )
    return AuthSession.of(tokens)
