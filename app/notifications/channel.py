"""The outbox's push channel: an event about a member goes to each of the member's phones.

Targets are the member's push devices, at fan-out; marketing events only when the member
consented. Just before sending, each device is checked again: it must still belong to the event's
member (a phone that changed hands does not get the previous owner's news) and a marketing event
still needs consent. The message is written in the device's language. A token the provider calls
dead (APNs 410 / BadDeviceToken, FCM UNREGISTERED) is GONE: the worker removes the device.

A provider without settings is not used: its deliveries end DEAD with a reason saying so (and the
worker's log says it once), so an operator sees them and retries them after configuring it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from app.kit.ids import parse_id
from app.members import service as members_service
from app.notifications import apns, fcm, messages
from app.notifications import service as notifications_service
from app.notifications.models import PushPlatform
from app.outbox.channels import Event, Outcome, Target
from app.settings import ConfigurationError, Settings

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("app.notifications")

DEADLINE_SECONDS = 30.0


class PushChannel:
    name = "push"

    def __init__(self, *, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._settings: Settings | None = None
        self._apns: apns.ApnsClient | None = None
        self._fcm: fcm.FcmClient | None = None
        self._problems: dict[str, str] = {}  # platform → why it cannot be used
        self._logged: set[str] = set()

    # -- the fan-out -----------------------------------------------------------------------------

    async def targets(self, session: AsyncSession, event: Event) -> list[Target]:
        return (await self.targets_of(session, [event]))[event.id]

    async def targets_of(
        self, session: AsyncSession, events: Sequence[Event]
    ) -> dict[uuid.UUID, list[Target]]:
        """The batch's members in one query, their devices in another."""
        found: dict[uuid.UUID, list[Target]] = {event.id: [] for event in events}
        wanted = [
            event
            for event in events
            if event.member_id is not None and messages.has_message(event.type)
        ]
        members = await members_service.find_members(
            session, [event.member_id for event in wanted if event.member_id is not None]
        )
        devices = await notifications_service.list_devices_of_members(
            session, [member.id for member in members.values() if member.active]
        )
        for event in wanted:
            member = members.get(event.member_id) if event.member_id else None
            if member is None or not member.active:
                continue
            if messages.is_marketing(event.type) and not member.marketing_consent:
                continue
            found[event.id] = [Target(id=str(device.id)) for device in devices.get(member.id, [])]
        return found

    async def load(self, session: AsyncSession, target_ids: Sequence[str]) -> dict[str, Target]:
        ids = [device_id for device_id in map(parse_id, target_ids) if device_id is not None]
        devices = await notifications_service.find_devices(session, ids)
        members = await members_service.find_members(
            session, [device.member_id for device in devices.values()]
        )
        targets: dict[str, Target] = {}
        for device in devices.values():
            member = members.get(device.member_id)
            if member is None:
                continue
            targets[str(device.id)] = Target(
                id=str(device.id),
                details={
                    "platform": device.platform,
                    "token": device.token,
                    "member_id": device.member_id,
                    "language": notifications_service.language_of(device, member.locale),
                    "marketing_consent": member.marketing_consent,
                    "active": member.active,
                },
            )
        return targets

    async def remove(self, session: AsyncSession, target_id: str) -> None:
        device_id = parse_id(target_id)
        if device_id is not None:
            await notifications_service.remove_device(session, device_id)

    # -- one attempt -----------------------------------------------------------------------------

    async def deliver(
        self, target: Target, event: Event, settings: Settings, http: httpx.AsyncClient
    ) -> Outcome:
        details = target.details
        if details.get("member_id") != event.member_id or not details.get("active"):
            return Outcome.dead("the device now belongs to another member")
        marketing = messages.is_marketing(event.type)
        if marketing and not details.get("marketing_consent"):
            return Outcome.dead("the member withdrew marketing consent")
        message = messages.message_for(event.type, event.data, details["language"])
        if message is None:
            return Outcome.dead(f"no push message for {event.type}")
        await self._configure(settings)
        platform = details["platform"]
        # One attempt, renewed credentials included, ends well within the worker's lease.
        deadline = min(DEADLINE_SECONDS, settings.outbox_lease_seconds / 2)
        try:
            async with asyncio.timeout(deadline):
                if platform == PushPlatform.APNS and self._apns is not None:
                    alert = apns.Alert(
                        title=message.title,
                        body=message.body,
                        priority=5 if marketing else 10,
                        custom={"type": event.type, "eventId": str(event.id)},
                    )
                    return await self._apns.send(details["token"], alert, notification_id=event.id)
                if platform == PushPlatform.FCM and self._fcm is not None:
                    notification = fcm.Notification(
                        title=message.title,
                        body=message.body,
                        data={"type": event.type, "event_id": str(event.id)},
                        high_priority=not marketing,
                    )
                    return await self._fcm.send(http, details["token"], notification)
        except TimeoutError:
            return Outcome.retry(f"{platform} did not answer within {deadline:g} s")
        problem = self._problems.get(platform, f"unknown platform {platform!r}")
        return Outcome.dead(problem)

    async def _configure(self, settings: Settings) -> None:
        """Build the provider clients for these settings, once."""
        if settings is self._settings:
            return
        old_apns = self._apns
        self._settings, self._apns, self._fcm, self._problems = settings, None, None, {}
        if old_apns is not None:
            await old_apns.aclose()
        try:
            apns_config = apns.ApnsConfig.from_settings(settings)
        except ConfigurationError as error:
            apns_config = None
            self._problems[PushPlatform.APNS] = str(error)
        else:
            if apns_config is None:
                self._problems[PushPlatform.APNS] = (
                    "APNs is not configured (APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID, APNS_TOPIC)"
                )
        try:
            account = fcm.ServiceAccount.from_settings(settings)
        except ConfigurationError as error:
            account = None
            self._problems[PushPlatform.FCM] = str(error)
        else:
            if account is None:
                self._problems[PushPlatform.FCM] = (
                    "FCM is not configured (FCM_SERVICE_ACCOUNT_FILE)"
                )
        if apns_config is not None:
            self._apns = apns.ApnsClient(apns_config, now=self._now)
        if account is not None:
            self._fcm = fcm.FcmClient(account, settings.fcm_base_url, now=self._now)
        for platform, problem in self._problems.items():
            if problem not in self._logged:
                self._logged.add(problem)
                log.warning("push to %s disabled: %s", platform, problem)

    async def aclose(self) -> None:
        """Close the APNs connection (the FCM client uses the worker's). A later delivery
        configures the clients again."""
        if self._apns is not None:
            await self._apns.aclose()
        self._apns = None
        self._fcm = None
        self._settings = None
