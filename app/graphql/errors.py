"""`UserError`: expected failures as data, with a stable `code` apps switch on."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import strawberry

from app import errors

P = ParamSpec("P")
R = TypeVar("R")


@strawberry.interface(description="An expected failure: `code` is stable, `message` for people.")
class UserError:
    code: str
    message: str
    field: str | None = strawberry.field(
        description="The input field at fault, as named in the operation, when there is one."
    )


@strawberry.type(description="The input is not acceptable (format, range, strength).")
class InvalidInputError(UserError):
    pass


@strawberry.type(description="It exists already, or changed meanwhile.")
class ConflictError(UserError):
    pass


@strawberry.type
class NotFoundError(UserError):
    pass


@strawberry.type(description="The signed-in account may not do this to this object.")
class ForbiddenError(UserError):
    pass


@strawberry.type(description="Sign-in or session refresh refused; sign in again.")
class AuthenticationError(UserError):
    pass


@strawberry.type(description="Too many failed attempts; wait for the window to pass.")
class RateLimitedError(UserError):
    pass


@strawberry.type(
    description="A scanned member code or typed card number was refused "
    "(CODE_MALFORMED, CODE_INVALID, CODE_EXPIRED, CODE_REVOKED, CARD_NOT_FOUND)."
)
class MemberCodeError(UserError):
    pass


@strawberry.type(description="Not enough points; `available` is what the member has.")
class InsufficientPointsError(UserError):
    available: int


@strawberry.type(description="The idempotency key was used with other input: use a new key.")
class IdempotencyKeyReusedError(UserError):
    pass


ERROR_TYPES: dict[type[errors.DomainError], type[UserError]] = {
    errors.InvalidInput: InvalidInputError,
    errors.AlreadyExists: ConflictError,
    errors.Conflict: ConflictError,
    errors.NotFound: NotFoundError,
    errors.Forbidden: ForbiddenError,
    errors.InvalidCredentials: AuthenticationError,
    errors.AccountDisabled: AuthenticationError,
    errors.RefreshTokenInvalid: AuthenticationError,
    errors.RefreshTokenExpired: AuthenticationError,
    errors.RefreshTokenReused: AuthenticationError,
    errors.SessionRevoked: AuthenticationError,
    errors.RateLimited: RateLimitedError,
    errors.CodeMalformed: MemberCodeError,
    errors.CodeInvalid: MemberCodeError,
    errors.CodeExpired: MemberCodeError,
    errors.CodeRevoked: MemberCodeError,
    errors.CardNotFound: MemberCodeError,
    errors.IdempotencyKeyReused: IdempotencyKeyReusedError,
    errors.InsufficientPoints: InsufficientPointsError,
    errors.RedemptionNotAllowed: InvalidInputError,
    errors.RefundTooLarge: InvalidInputError,
    errors.CheckoutExpired: ConflictError,
}


def to_user_error(error: errors.DomainError) -> UserError:
    for cls in type(error).__mro__:
        gql_type = ERROR_TYPES.get(cls)  # type: ignore[call-overload]
        if gql_type is InsufficientPointsError:
            assert isinstance(error, errors.InsufficientPoints)
            return InsufficientPointsError(
                code=error.code, message=error.message, field=error.field, available=error.available
            )
        if gql_type is not None:
            return gql_type(code=error.code, message=error.message, field=error.field)  # type: ignore[call-arg]
    raise error


def user_errors(resolver: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Turn a DomainError raised by the use case into its UserError member of the result union.

    A domain error whose type is not in the field's union surfaces as a top-level error, which
    the API tests refuse.
    """

    @functools.wraps(resolver)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
        try:
            return await resolver(*args, **kwargs)
        except errors.DomainError as error:
            return to_user_error(error)

    return wrapper
