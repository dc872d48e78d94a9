"""Webhook endpoints (admins): create with an event-type filter, rotate the secret, delete; and
the outbox's dead letters: list and retry."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import strawberry
from graphql import GraphQLError
from strawberry.scalars import JSON

from app.graphql.context import Context
from app.graphql.errors import ForbiddenError, InvalidInputError, NotFoundError, user_errors
from app.graphql.pagination import Connection, connection
from app.graphql.permissions import IsAdmin
from app.kit.pagination import InvalidCursor, InvalidPageSize
from app.outbox import service as outbox_service
from app.webhooks import models as webhooks_models
from app.webhooks import service as webhooks_service


@strawberry.type(
    description="Where events are POSTed, signed as Standard Webhooks (webhook-id, "
    "webhook-timestamp, webhook-signature)."
)
class WebhookEndpoint:
    id: strawberry.ID
    url: str
    event_types: list[str] = strawberry.field(description='["*"]: every event.')
    secret: str | None = strawberry.field(
        description="whsec_<base64>: only in the answer to createWebhookEndpoint and "
        "rotateWebhookSecret, never again."
    )
    created_at: dt.datetime

    @classmethod
    def of(
        cls, row: webhooks_models.WebhookEndpoint, *, with_secret: bool = False
    ) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(str(row.id)),
            url=row.url,
            event_types=list(row.event_types),
            secret=row.secret if with_secret else None,
            created_at=row.created_at,
        )


@strawberry.type(description="A delivery that gave up after its last attempt.")
class DeadLetter:
    id: strawberry.ID
    event_id: strawberry.ID
    event_type: str
    member_id: strawberry.ID | None
    occurred_at: dt.datetime
    channel: str = strawberry.field(description="webhook, push, wallet...")
    target_id: str = strawberry.field(description="The endpoint, device or pass it was for.")
    attempts: int
    last_error: str | None
    failed_at: dt.datetime
    data: JSON = strawberry.field(description="The event's data, as delivered.")

    @classmethod
    def of(cls, item: outbox_service.DeadLetter) -> DeadLetter:
        delivery, event = item.delivery, item.event
        return cls(
            id=strawberry.ID(str(delivery.id)),
            event_id=strawberry.ID(str(event.id)),
            event_type=event.type,
            member_id=strawberry.ID(str(event.member_id)) if event.member_id else None,
            occurred_at=event.occurred_at,
            channel=delivery.channel,
            target_id=delivery.target_id,
            attempts=delivery.attempts,
            last_error=delivery.last_error,
            failed_at=delivery.updated_at,
            data=json.loads(json.dumps(event.data)),
        )


@strawberry.type
class RetriedDeadLetters:
    count: int = strawberry.field(description="How many dead deliveries start over.")


@strawberry.input
class CreateWebhookEndpointInput:
    url: str
    event_types: list[str] = strawberry.field(description='Types of the catalogue; ["*"] = all.')


@strawberry.input
class RotateWebhookSecretInput:
    id: strawberry.ID
    overlap_hours: int | None = strawberry.field(
        default=None,
        description="How long deliveries are signed with the old secret too (default 24, 0-168).",
    )


@strawberry.input
class DeleteWebhookEndpointInput:
    id: strawberry.ID


@strawberry.input
class RetryDeadLettersInput:
    ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="These dead letters; all of them when omitted."
    )


def _page_args(error: Exception) -> GraphQLError:
    return GraphQLError(str(error), extensions={"code": "BAD_REQUEST"})


CreateWebhookEndpointResult = Annotated[
    WebhookEndpoint | InvalidInputError | ForbiddenError,
    strawberry.union("CreateWebhookEndpointResult"),
]
RotateWebhookSecretResult = Annotated[
    WebhookEndpoint | InvalidInputError | NotFoundError | ForbiddenError,
    strawberry.union("RotateWebhookSecretResult"),
]
DeleteWebhookEndpointResult = Annotated[
    WebhookEndpoint | NotFoundError | ForbiddenError,
    strawberry.union("DeleteWebhookEndpointResult"),
]
RetryDeadLettersResult = Annotated[
    RetriedDeadLetters | InvalidInputError | ForbiddenError,
    strawberry.union("RetryDeadLettersResult"),
]


@strawberry.type
class WebhooksQuery:
    @strawberry.field(permission_classes=[IsAdmin], description="Active endpoints, newest first.")
    async def webhook_endpoints(
        self, info: strawberry.Info[Context, None], first: int = 20, after: str | None = None
    ) -> Connection[WebhookEndpoint]:
        ctx = info.context
        try:
            async with ctx.reading() as session:
                page = await webhooks_service.list_endpoints(
                    session, ctx.actor, first=first, after=after
                )
        except (InvalidCursor, InvalidPageSize) as error:
            raise _page_args(error) from None
        return connection(page, WebhookEndpoint.of)

    @strawberry.field(
        permission_classes=[IsAdmin],
        description="Deliveries (webhooks, push, wallet) that gave up, most recent first.",
    )
    async def dead_letters(
        self, info: strawberry.Info[Context, None], first: int = 20, after: str | None = None
    ) -> Connection[DeadLetter]:
        ctx = info.context
        try:
            async with ctx.reading() as session:
                page = await outbox_service.list_dead_letters(
                    session, ctx.actor, first=first, after=after
                )
        except (InvalidCursor, InvalidPageSize) as error:
            raise _page_args(error) from None
        return connection(page, DeadLetter.of)


@strawberry.type
class WebhooksMutation:
    @strawberry.mutation(permission_classes=[IsAdmin])
    @user_errors
    async def create_webhook_endpoint(
        self, info: strawberry.Info[Context, None], input: CreateWebhookEndpointInput
    ) -> CreateWebhookEndpointResult:
        ctx = info.context
        row = await webhooks_service.create_endpoint(
            ctx.db,
            ctx.actor,
            ctx.clock,
            ctx.settings,
            webhooks_service.NewEndpoint(url=input.url, event_types=input.event_types),
        )
        return WebhookEndpoint.of(row, with_secret=True)

    @strawberry.mutation(
        permission_classes=[IsAdmin],
        description="A new secret (returned once); the old one keeps signing for the overlap.",
    )
    @user_errors
    async def rotate_webhook_secret(
        self, info: strawberry.Info[Context, None], input: RotateWebhookSecretInput
    ) -> RotateWebhookSecretResult:
        ctx = info.context
        row = await webhooks_service.rotate_secret(
            ctx.db, ctx.actor, ctx.clock, endpoint_id=input.id, overlap_hours=input.overlap_hours
        )
        return WebhookEndpoint.of(row, with_secret=True)

    @strawberry.mutation(permission_classes=[IsAdmin])
    @user_errors
    async def delete_webhook_endpoint(
        self, info: strawberry.Info[Context, None], input: DeleteWebhookEndpointInput
    ) -> DeleteWebhookEndpointResult:
        ctx = info.context
        row = await webhooks_service.delete_endpoint(
            ctx.db, ctx.actor, ctx.clock, endpoint_id=input.id
        )
        return WebhookEndpoint.of(row)

    @strawberry.mutation(permission_classes=[IsAdmin], description="Dead letters start over.")
    @user_errors
    async def retry_dead_letters(
        self, info: strawberry.Info[Context, None], input: RetryDeadLettersInput
    ) -> RetryDeadLettersResult:
        ctx = info.context
        count = await outbox_service.retry_dead_letters(
            ctx.db,
            ctx.actor,
            ctx.clock,
            ids=None if input.ids is None else [str(i) for i in input.ids],
        )
        return RetriedDeadLetters(count=count)
