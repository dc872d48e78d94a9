"""The outbox's wallet channel: a change a member can see on the card reaches the card.

- `targets` / `targets_of` (the worker's fan-out, in its transaction): `refresh_pass` compares what the
  member's pass shows now with what it showed; when that changed it marks the pass modified, and
  the targets are every device registered for the pass (`apns:<registration id>`) and the
  member's Google Wallet object (`google:<pass id>`). Events of members without a pass, and
  events that change nothing on the card (a birthday message, an offer, a pending-only
  change...), have no wallet target. So every use case that moves points or changes a tier is
  covered by the event it already records, with nothing wallet-specific in it.
- `load`: the registration's push token and pass type; for Google, the object as it must look
  now (read just before the attempt, so a retry never sends an older balance than a later one).
- `deliver`: APNs gets `{}` with topic = the pass type id (Wallet then asks the web service for
  the updated serials and downloads the pass); Google gets a PATCH of the loyalty object.
- `remove` (GONE): APNs 410 / BadDeviceToken removes the registration; Google 404 forgets the
  object (the next save link inserts it again).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from app.kit.ids import parse_id
from app.outbox.channels import Event, Outcome, Target
from app.settings import Settings
from app.wallet import google, push
from app.wallet import service as wallet_service

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger("app.wallet")

APNS = "apns"
GOOGLE = "google"


def _split(target_id: str) -> tuple[str, uuid.UUID | None]:
    kind, _, raw = target_id.partition(":")
    return kind, parse_id(raw)


class WalletChannel:
    name = "wallet"

    def __init__(self, *, now: Callable[[], float] = time.time) -> None:
        self._now = now
        self._settings: Settings | None = None
        self._pushers: dict[str, push.PassPusher] = {}  # pass type id → its connection
        self._dev_certificates: dict[str, push.ClientCertificate] = {}

    # -- the fan-out -----------------------------------------------------------------------------

    async def targets(self, session: AsyncSession, event: Event) -> list[Target]:
        if event.member_id is None:
            return []
        wallet_pass = await wallet_service.refresh_pass(
            session, event.member_id, now=event.occurred_at
        )
        if wallet_pass is None:
            return []
        registrations = await wallet_service.list_registrations(session, wallet_pass)
        targets = [Target(id=f"{APNS}:{registration.id}") for registration in registrations]
        if wallet_pass.google_object_id:
            targets.append(Target(id=f"{GOOGLE}:{wallet_pass.id}"))
        return targets

    async def targets_of(
        self, session: AsyncSession, events: Sequence[Event]
    ) -> dict[uuid.UUID, list[Target]]:
        """`targets` for a batch. One query finds which of the batch's members have a pass; only
        those are refreshed, each once, by the member's first event in the batch (a later one
        would find nothing changed since), in member id order, so that two workers lock passes
        in the same order."""
        found: dict[uuid.UUID, list[Target]] = {event.id: [] for event in events}
        first: dict[uuid.UUID, Event] = {}
        for event in events:
            if event.member_id is not None:
                first.setdefault(event.member_id, event)
        for member_id in sorted(await wallet_service.members_with_pass(session, list(first))):
            event = first[member_id]
            found[event.id] = await self.targets(session, event)
        return found

    async def load(self, session: AsyncSession, target_ids: Sequence[str]) -> dict[str, Target]:
        wanted = [_split(target_id) for target_id in target_ids]
        registrations = [ident for kind, ident in wanted if kind == APNS and ident]
        passes = [ident for kind, ident in wanted if kind == GOOGLE and ident]
        found: dict[str, Target] = {}
        for registration_id, target in (
            await wallet_service.find_push_targets(session, registrations)
        ).items():
            await self._load_dev_certificate(session, target.pass_type_id)
            found[f"{APNS}:{registration_id}"] = Target(
                id=f"{APNS}:{registration_id}",
                details={
                    "kind": APNS,
                    "push_token": target.push_token,
                    "pass_type_id": target.pass_type_id,
                },
            )
        for pass_id, google_target in (
            await wallet_service.find_google_targets(session, passes)
        ).items():
            found[f"{GOOGLE}:{pass_id}"] = Target(
                id=f"{GOOGLE}:{pass_id}",
                details={
                    "kind": GOOGLE,
                    "object_id": google_target.object_id,
                    "face": google_target.face.to_json(),
                },
            )
        return found

    async def _load_dev_certificate(self, session: AsyncSession, type_id: str) -> None:
        """Development passes are signed, and their pushes authenticated, by the identity kept in
        the database; `deliver` has no session, so it is read here, once."""
        if type_id in self._dev_certificates:
            return
        row = await wallet_service.find_dev_certificates(session, type_id)
        if row is not None:
            self._dev_certificates[type_id] = push.ClientCertificate(
                cert_pem=row.cert_pem, key_pem=row.key_pem
            )

    async def remove(self, session: AsyncSession, target_id: str) -> None:
        kind, ident = _split(target_id)
        if ident is None:
            return
        if kind == APNS:
            await wallet_service.remove_registration(session, ident)
        elif kind == GOOGLE:
            await wallet_service.forget_google_object(session, ident)

    # -- one attempt -----------------------------------------------------------------------------

    async def deliver(
        self, target: Target, event: Event, settings: Settings, http: httpx.AsyncClient
    ) -> Outcome:
        details = target.details
        if details.get("kind") == APNS:
            pusher = await self._pusher(settings, details["pass_type_id"])
            if pusher is None:
                return Outcome.dead(
                    "no pass certificate to push with: set APPLE_PASS_CERT and APPLE_PASS_KEY"
                )
            return await pusher.push(
                details["push_token"],
                topic=details["pass_type_id"],
                notification_id=uuid.uuid5(event.id, target.id),
            )
        if details.get("kind") == GOOGLE:
            return await self._patch(details, settings, http)
        return Outcome.dead(f"unknown wallet target {target.id!r}")

    async def _patch(
        self, details: Mapping[str, Any], settings: Settings, http: httpx.AsyncClient
    ) -> Outcome:
        if not wallet_service.google_configured(settings):
            return Outcome.dead("Google Wallet is not configured (GOOGLE_WALLET_*)")
        face = wallet_service.Face.from_json(details["face"])
        fields = wallet_service.google_object_fields(
            face, settings.member_code_secret.get_secret_value().encode()
        )
        try:
            await wallet_service.google_client(settings, http).patch_object(
                str(details["object_id"]), fields
            )
        except google.GoogleWalletError as error:
            if error.status == 404:
                return Outcome.gone(str(error))
            if error.status in (400, 403):
                return Outcome.dead(str(error))
            return Outcome.retry(str(error)[:300], retry_after=error.retry_after)
        return Outcome.delivered()

    async def _pusher(self, settings: Settings, type_id: str) -> push.PassPusher | None:
        """The APNs connection for this pass type: with the configured pass certificate, or in
        development with the development identity. Built once per settings."""
        if settings is not self._settings:
            await self.aclose()
            self._settings = settings
        pusher = self._pushers.get(type_id)
        if pusher is not None:
            return pusher
        if wallet_service.uses_pass_certificate(settings):
            password = settings.apple_pass_key_password
            certificate = push.ClientCertificate(
                cert_file=settings.apple_pass_cert,
                key_file=settings.apple_pass_key,
                password=password.get_secret_value() if password else None,
            )
        elif not settings.is_production and type_id in self._dev_certificates:
            certificate = self._dev_certificates[type_id]
        else:
            return None
        pusher = push.PassPusher(
            settings.apple_pass_push_url,
            certificate,
            ca_file=settings.apns_ca_file,
            now=self._now,
        )
        self._pushers[type_id] = pusher
        return pusher

    async def aclose(self) -> None:
        pushers, self._pushers = list(self._pushers.values()), {}
        for pusher in pushers:
            await pusher.aclose()
