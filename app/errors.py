"""The catalogue of domain errors. Each `code` is part of the contract: never rename or reuse one.

Services raise these; the GraphQL layer turns them into `UserError` union members. Raising one
inside `Database.transaction()` rolls the whole use case back.
"""

from __future__ import annotations

from typing import ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "ERROR"
    default_message: ClassVar[str] = "The request could not be completed."

    def __init__(self, message: str | None = None, *, field: str | None = None) -> None:
        self.message = message or self.default_message
        self.field = field
        super().__init__(self.message)


class InvalidInput(DomainError):
    code = "INVALID_INPUT"
    default_message = "The input is not valid."


class WeakPassword(InvalidInput):
    code = "WEAK_PASSWORD"
    default_message = "Use at least 10 characters mixing letters with digits, capitals or symbols."


class AlreadyExists(DomainError):
    code = "ALREADY_EXISTS"
    default_message = "It already exists."


class Conflict(DomainError):
    code = "CONFLICT"
    default_message = "The request conflicts with the current state. Reload and try again."


class EmailTaken(AlreadyExists):
    code = "EMAIL_TAKEN"
    default_message = "An account with this e-mail already exists."


class NotFound(DomainError):
    code = "NOT_FOUND"
    default_message = "Not found."


class Forbidden(DomainError):
    code = "FORBIDDEN"
    default_message = "You are not allowed to do this."


class InvalidCredentials(DomainError):
    code = "INVALID_CREDENTIALS"
    default_message = "The e-mail or the password is wrong."


class RateLimited(DomainError):
    code = "RATE_LIMITED"
    default_message = "Too many failed attempts. Try again in a few minutes."


class AccountDisabled(DomainError):
    code = "ACCOUNT_DISABLED"
    default_message = "This account is disabled."


class RefreshTokenInvalid(DomainError):
    code = "REFRESH_TOKEN_INVALID"
    default_message = "The session is not valid. Sign in again."


class RefreshTokenExpired(DomainError):
    code = "REFRESH_TOKEN_EXPIRED"
    default_message = "The session has expired. Sign in again."


class RefreshTokenReused(DomainError):
    code = "REFRESH_TOKEN_REUSED"
    default_message = "This session was already refreshed; it has been closed. Sign in again."


class SessionRevoked(DomainError):
    code = "SESSION_REVOKED"
    default_message = "This session has been closed. Sign in again."


class CodeMalformed(DomainError):
    code = "CODE_MALFORMED"
    default_message = "This is not a member code or card number."


class CodeInvalid(DomainError):
    code = "CODE_INVALID"
    default_message = "This member code is not genuine."


class CodeExpired(DomainError):
    code = "CODE_EXPIRED"
    default_message = "This member code has expired. Ask the member to refresh the app."


class CodeRevoked(DomainError):
    code = "CODE_REVOKED"
    default_message = "This card has been replaced. Ask the member for the new one."


class CardNotFound(DomainError):
    code = "CARD_NOT_FOUND"
    default_message = "No member has this card number."


class IdempotencyKeyReused(DomainError):
    code = "IDEMPOTENCY_KEY_REUSED"
    default_message = "This idempotency key was used with other input. Use a new key."


class InsufficientPoints(DomainError):
    code = "INSUFFICIENT_POINTS"
    default_message = "Not enough points."

    def __init__(self, message: str | None = None, *, available: int, field: str | None = None):
        super().__init__(message or f"Only {available} points are available.", field=field)
        self.available = available


class RedemptionNotAllowed(DomainError):
    code = "REDEMPTION_NOT_ALLOWED"
    default_message = "These points cannot be redeemed on this purchase."


class CheckoutNotFound(NotFound):
    code = "CHECKOUT_NOT_FOUND"
    default_message = "No such checkout. Scan the member's code again."


class CheckoutExpired(DomainError):
    code = "CHECKOUT_EXPIRED"
    default_message = "This checkout has expired. Scan the member's code again."


class CheckoutNotYours(Forbidden):
    code = "CHECKOUT_NOT_YOURS"
    default_message = "Another till opened this checkout. Scan the member's code here."


class DuplicateReceipt(Conflict):
    code = "DUPLICATE_RECEIPT"
    default_message = "This receipt already earned points for this member."


class PurchaseNotFound(NotFound):
    code = "PURCHASE_NOT_FOUND"
    default_message = "No such purchase."


class RefundTooLarge(DomainError):
    code = "REFUND_TOO_LARGE"
    default_message = "The refund is more than what is left of the purchase."


class CurrencyMismatch(InvalidInput):
    code = "CURRENCY_MISMATCH"
    default_message = "The amount is not in the program's currency."


class LinesMismatch(InvalidInput):
    code = "LINES_MISMATCH"
    default_message = "The lines do not add up to the total."


class InvalidPushToken(InvalidInput):
    code = "INVALID_PUSH_TOKEN"
    default_message = "This is not a push token of this platform."


class PushDeviceNotFound(NotFound):
    code = "PUSH_DEVICE_NOT_FOUND"
    default_message = "No device of yours has this push token."


class UnknownEventType(InvalidInput):
    code = "UNKNOWN_EVENT_TYPE"
    default_message = 'This is not an event type of the catalogue (or "*" for every event).'


class UrlNotAllowed(InvalidInput):
    code = "URL_NOT_ALLOWED"
    default_message = "Webhooks are delivered only to public http(s) addresses."


class WebhookEndpointNotFound(NotFound):
    code = "WEBHOOK_ENDPOINT_NOT_FOUND"
    default_message = "No such webhook endpoint."


class RewardNotFound(NotFound):
    code = "REWARD_NOT_FOUND"
    default_message = "No such reward."


class RewardUnavailable(Conflict):
    code = "REWARD_UNAVAILABLE"
    default_message = "This reward cannot be redeemed now."


class OutOfStock(Conflict):
    code = "OUT_OF_STOCK"
    default_message = "This reward is out of stock."


class TierNotEligible(Forbidden):
    code = "TIER_NOT_ELIGIBLE"
    default_message = "This reward is not for your tier."


class VoucherNotFound(NotFound):
    code = "VOUCHER_NOT_FOUND"
    default_message = "No voucher has this code."


class VoucherAlreadyUsed(Conflict):
    code = "VOUCHER_ALREADY_USED"
    default_message = "This voucher has been used already."


class VoucherExpired(Conflict):
    code = "VOUCHER_EXPIRED"
    default_message = "This voucher has expired."


class VoucherNotValidHere(Forbidden):
    code = "VOUCHER_NOT_VALID_HERE"
    default_message = "This voucher is not valid in this store."


class CauseNotFound(NotFound):
    code = "CAUSE_NOT_FOUND"
    default_message = "No such cause."


class OfferNotFound(NotFound):
    code = "OFFER_NOT_FOUND"
    default_message = "No such offer."


class OfferExpired(Conflict):
    code = "OFFER_EXPIRED"
    default_message = "This offer has ended."


class OfferNotEligible(Forbidden):
    code = "OFFER_NOT_ELIGIBLE"
    default_message = "This offer is not available to you."


ALL_ERRORS: tuple[type[DomainError], ...] = (
    DomainError,
    InvalidInput,
    WeakPassword,
    AlreadyExists,
    EmailTaken,
    Conflict,
    NotFound,
    Forbidden,
    InvalidCredentials,
    RateLimited,
    AccountDisabled,
    RefreshTokenInvalid,
    RefreshTokenExpired,
    RefreshTokenReused,
    SessionRevoked,
    CodeMalformed,
    CodeInvalid,
    CodeExpired,
    CodeRevoked,
    CardNotFound,
    IdempotencyKeyReused,
    InsufficientPoints,
    RedemptionNotAllowed,
    CheckoutNotFound,
    CheckoutExpired,
    CheckoutNotYours,
    DuplicateReceipt,
    PurchaseNotFound,
    RefundTooLarge,
    CurrencyMismatch,
    LinesMismatch,
    OfferNotFound,
    OfferExpired,
    OfferNotEligible,
    RewardNotFound,
    RewardUnavailable,
    OutOfStock,
    TierNotEligible,
    VoucherNotFound,
    VoucherAlreadyUsed,
    VoucherExpired,
    VoucherNotValidHere,
    CauseNotFound,
    InvalidPushToken,
    PushDeviceNotFound,
    UnknownEventType,
    UrlNotAllowed,
    WebhookEndpointNotFound,
)
