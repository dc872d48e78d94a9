"""App push: registerPushDevice and unregisterPushDevice for the signed-in member."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry

from app.graphql.context import Context
from app.graphql.errors import ForbiddenError, InvalidInputError, NotFoundError, user_errors
from app.graphql.permissions import IsMember
from app.notifications import models as notifications_models
from app.notifications import service as notifications_service


@strawberry.enum(description="The push service of the phone's platform.")
class PushPlatform(Enum):
    APNS = "APNS"
    FCM = "FCM"


@strawberry.input
class PushDeviceInput:
    platform: PushPlatform
    token: str = strawberry.field(
        description="APNs: the device token in hexadecimal. FCM: the registration token."
    )
    locale: str | None = strawberry.field(
        default=None,
        description="The phone's language (en, ru-RU, ...). Pushes are written in English or "
        "Russian; any other language gets English. Without it, the profile's language.",
    )


@strawberry.input
class UnregisterPushDeviceInput:
    platform: PushPlatform
    token: str


@strawberry.type(description="A phone that receives the member's pushes.")
class PushDevice:
    id: strawberry.ID
    platform: PushPlatform
    language: str = strawberry.field(
        description="The language of this phone's pushes: en or ru (the phone's language if "
        "it sent one, else the profile's; English for any other)."
    )

    @classmethod
    def of(cls, row: notifications_models.PushDevice, language: str) -> PushDevice:
        return cls(
            id=strawberry.ID(str(row.id)), platform=PushPlatform(row.platform), language=language
        )


RegisterPushDeviceResult = Annotated[
    PushDevice | InvalidInputError | ForbiddenError,
    strawberry.union("RegisterPushDeviceResult"),
]
UnregisterPushDeviceResult = Annotated[
    PushDevice | NotFoundError | ForbiddenError,
    strawberry.union("UnregisterPushDeviceResult"),
]


@strawberry.type
class NotificationsMutation:
    @strawberry.mutation(
        permission_classes=[IsMember],
        description="Send this phone the member's pushes. Registering the same token again "
        "changes nothing but its language; a token registered by another member moves here "
        "(the phone changed hands). Transactional pushes always; offers and birthday wishes "
        "only with `marketingConsent` (updateProfile).",
    )
    @user_errors
    async def register_push_device(
        self, info: strawberry.Info[Context, None], input: PushDeviceInput
    ) -> RegisterPushDeviceResult:
        ctx = info.context
        assert ctx.actor is not None
        registered = await notifications_service.register_push_device(
            ctx.db,
            ctx.actor,
            ctx.clock,
            notifications_service.NewPushDevice(
                platform=input.platform.value, token=input.token, locale=input.locale
            ),
        )
        return PushDevice.of(registered.device, registered.language)

    @strawberry.mutation(
        permission_classes=[IsMember],
        description="Stop pushes to this phone (on sign-out).",
    )
    @user_errors
    async def unregister_push_device(
        self, info: strawberry.Info[Context, None], input: UnregisterPushDeviceInput
    ) -> UnregisterPushDeviceResult:
        ctx = info.context
        assert ctx.actor is not None
        removed = await notifications_service.unregister_push_device(
            ctx.db, ctx.actor, platform=input.platform.value, token=input.token
        )
        return PushDevice.of(removed.device, removed.language)
