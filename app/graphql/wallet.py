"""`me { walletPass { appleUrl googleSaveUrl } }`: where the app gets the member's wallet cards."""

from __future__ import annotations

import logging
import uuid

import strawberry
from graphql import GraphQLError

from app.auth.actors import MemberActor
from app.graphql.context import Context
from app.settings import ConfigurationError
from app.wallet import google
from app.wallet import service as wallet_service

log = logging.getLogger("app.wallet")


@strawberry.type(description="The member's card for Apple Wallet and Google Wallet.")
class WalletPass:
    apple_url: str = strawberry.field(
        description="GET it with the member's bearer token: the signed pass, "
        "`application/vnd.apple.pkpass`. It stays up to date by itself once added."
    )
    google_save_url: str | None = strawberry.field(
        description="`https://pay.google.com/gp/v/save/<JWT>`; null when Google Wallet is not "
        "configured or cannot be reached right now."
    )


async def wallet_pass_of(info: strawberry.Info[Context, None], member_id: uuid.UUID) -> WalletPass:
    """The resolver of `Member.walletPass`: only the member itself has its cards."""
    ctx = info.context
    if not isinstance(ctx.actor, MemberActor) or ctx.actor.member_id != member_id:
        raise GraphQLError(
            "Only the member can add its card to a wallet.", extensions={"code": "FORBIDDEN"}
        )
    try:
        google_url = await wallet_service.google_save_url(
            ctx.db, ctx.actor, ctx.clock, ctx.settings
        )
    except (google.GoogleWalletError, ConfigurationError) as error:
        # Apple's card still works; the app hides the Google button until Google answers.
        log.warning("no Google Wallet link: %s", error)
        google_url = None
    return WalletPass(
        apple_url=wallet_service.download_url(ctx.settings), google_save_url=google_url
    )
