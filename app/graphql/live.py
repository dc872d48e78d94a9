"""Live updates over graphql-transport-ws on /graphql: `balanceChanged`.

The socket is authenticated once, by the access token in `connection_init` (see
`app/graphql/asgi.py`): only members get that far, so the subscription always has one.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from enum import Enum
from typing import Any

import strawberry
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage

from app.auth import service as auth_service
from app.auth.actors import Actor, MemberActor
from app.auth.tokens import TokenInvalid
from app.graphql.context import Context, Services
from app.graphql.permissions import IsMember
from app.live import service as live_service


@strawberry.enum(
    description="Why a balance changed. New values may be added; treat unknown ones as a plain change."
)
class BalanceChangeReason(Enum):
    PURCHASE = strawberry.enum_value(
        live_service.Reason.PURCHASE.value,
        description="Points earned (and any paid with) at the till.",
    )
    REFUND = strawberry.enum_value(
        live_service.Reason.REFUND.value,
        description="A refund took earned points back or gave redeemed points back.",
    )
    REDEMPTION = strawberry.enum_value(
        live_service.Reason.REDEMPTION.value,
        description="Points spent outside a purchase: a reward, a donation.",
    )
    ADJUSTMENT = strawberry.enum_value(
        live_service.Reason.ADJUSTMENT.value, description="An operator's correction."
    )
    EXPIRY = strawberry.enum_value(
        live_service.Reason.EXPIRY.value, description="Points past their date expired."
    )
    RELEASE = strawberry.enum_value(
        live_service.Reason.RELEASE.value, description="Pending points became available."
    )
    TIER = strawberry.enum_value(
        live_service.Reason.TIER.value,
        description="The tier changed with no points moving (the tier year's review).",
    )
    BONUS = strawberry.enum_value(
        live_service.Reason.BONUS.value,
        description="Points given outside a purchase: a referral, an offer, a birthday.",
    )


@strawberry.type(description="The member's balance and tier right after a change.")
class BalanceChange:
    available: int = strawberry.field(description="Spendable now. Negative only after a refund.")
    pending: int = strawberry.field(description="Earned, available after the pending period.")
    tier_code: str
    reason: BalanceChangeReason

    @classmethod
    def from_update(cls, update: live_service.BalanceUpdate) -> BalanceChange:
        return cls(
            available=update.available,
            pending=update.pending,
            tier_code=update.tier_code,
            reason=BalanceChangeReason(update.reason.value),
        )


@strawberry.type
class LiveSubscription:
    @strawberry.subscription(
        permission_classes=[IsMember],
        description=(
            "The member's balance and tier each time they change, from any till or process. "
            "Over graphql-transport-ws on /graphql, with the access token in connection_init's "
            'payload: {"authorization": "Bearer <accessToken>"} (or {"accessToken": "..."}). '
            "A client that reads slowly gets the latest state, not every intermediate one."
        ),
    )
    async def balance_changed(
        self, info: strawberry.Info[Context, None]
    ) -> AsyncGenerator[BalanceChange, None]:
        actor = info.context.actor
        assert isinstance(actor, MemberActor)  # IsMember
        async with live_service.subscribe(actor.member_id) as updates:
            async for update in updates:
                yield BalanceChange.from_update(update)


# -- the socket: graphql-transport-ws, authenticated in connection_init ---------------------------

UNAUTHORIZED = 4401
FORBIDDEN = 4403


class SocketRefused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _token(payload: dict[str, Any]) -> str | None:
    """The access token of connection_init's payload: `{"authorization": "Bearer <token>"}`,
    or `{"accessToken": "<token>"}`."""
    header = payload.get("authorization", payload.get("Authorization"))
    if header is not None:
        if not isinstance(header, str):
            return None
        scheme, _, token = header.strip().partition(" ")
        return (token.strip() or None) if scheme.lower() == "bearer" else None
    raw = payload.get("accessToken")
    return (raw.strip() or None) if isinstance(raw, str) else None


async def socket_actor(services: Services, payload: dict[str, Any]) -> Actor:
    """The member a socket speaks for, or SocketRefused: 4401 without a valid access token,
    4403 for a staff member's (live updates are a member's)."""
    token = _token(payload)
    if token is None:
        raise SocketRefused(UNAUTHORIZED, "Unauthorized")
    try:
        actor = await auth_service.actor_for_token(
            services.db, services.settings, services.clock, token, cache=services.actor_cache
        )
    except TokenInvalid:
        raise SocketRefused(UNAUTHORIZED, "Unauthorized") from None
    if not isinstance(actor, MemberActor):
        raise SocketRefused(FORBIDDEN, "Forbidden")
    return actor


class MemberSocketHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws whose `connection_init` carries the member's access token (see
    `_token`). Without a valid one the socket closes with 4401 Unauthorized; with a staff
    token, 4403 Forbidden. The token is checked once: the socket outlives it."""

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload", {})
        # A malformed payload, a second init or one after the timeout: the protocol's answers.
        if isinstance(payload, dict) and not (
            self.connection_init_received or self.connection_timed_out
        ):
            try:
                self.context.actor = await socket_actor(self.context.services, payload)
            except SocketRefused as refused:
                await self.websocket.close(code=refused.code, reason=refused.reason)
                return
        await super().handle_connection_init(message)
