"""The outbox channel that POSTs events to webhook endpoints, signed as Standard Webhooks."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.clock import Clock, SystemClock
from app.outbox.channels import Event, Outcome, Target
from app.settings import Settings
from app.webhooks import rules
from app.webhooks import service as webhooks_service
from app.webhooks.models import WebhookEndpoint


def body_of(event: Event) -> bytes:
    """The JSON body every endpoint receives."""
    return json.dumps(
        {
            "id": str(event.id),
            "type": event.type,
            "timestamp": event.occurred_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
            "memberId": str(event.member_id) if event.member_id else None,
            "data": event.data,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    ).encode()


def wants(event_types: Sequence[str], event_type: str) -> bool:
    return rules.EVERY_EVENT in event_types or event_type in event_types


class WebhookChannel:
    name = "webhook"

    def __init__(self, clock: Clock | None = None) -> None:
        # What `webhook-timestamp` says and whether a rotated-out secret still signs.
        self.clock = clock or SystemClock()

    async def targets(self, session: AsyncSession, event: Event) -> list[Target]:
        return (await self.targets_of(session, [event]))[event.id]

    async def targets_of(
        self, session: AsyncSession, events: Sequence[Event]
    ) -> dict[uuid.UUID, list[Target]]:
        """The active endpoints, read once for the batch, each subscribed event gets them."""
        rows = (
            await session.execute(
                select(col(WebhookEndpoint.id), col(WebhookEndpoint.event_types))
                .where(col(WebhookEndpoint.active).is_(True))
                .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
            )
        ).all()
        return {
            event.id: [Target(str(id_)) for id_, types in rows if wants(types, event.type)]
            for event in events
        }

    async def load(self, session: AsyncSession, target_ids: Sequence[str]) -> dict[str, Target]:
        ids = [uuid.UUID(target_id) for target_id in target_ids]
        rows = await session.scalars(
            select(WebhookEndpoint).where(
                col(WebhookEndpoint.id).in_(ids),
                col(WebhookEndpoint.active).is_(True),
            )
        )
        return {
            str(row.id): Target(
                str(row.id),
                {
                    "url": row.url,
                    "secret": row.secret,
                    "previous_secret": row.previous_secret,
                    "previous_secret_expires_at": row.previous_secret_expires_at,
                },
            )
            for row in rows
        }

    async def deliver(
        self, target: Target, event: Event, settings: Settings, http: httpx.AsyncClient
    ) -> Outcome:
        url: str = target.details["url"]
        problem = await webhooks_service.address_problem(url, settings)
        if problem is not None:
            return Outcome.retry(problem)
        now = self.clock.now()
        timestamp = int(now.timestamp())
        secrets = [target.details["secret"]]
        previous: str | None = target.details.get("previous_secret")
        previous_until: dt.datetime | None = target.details.get("previous_secret_expires_at")
        if previous and previous_until and previous_until > now:
            secrets.append(previous)
        body = body_of(event)
        headers = {
            "content-type": "application/json",
            "user-agent": "loyalty-webhooks/1",
            "webhook-id": str(event.id),
            "webhook-timestamp": str(timestamp),
            "webhook-signature": rules.signature_header(secrets, str(event.id), timestamp, body),
        }
        timeout = settings.webhook_timeout_seconds
        try:
            # The whole exchange is bounded, not only each read: a receiver that trickles bytes
            # cannot hold the worker.
            async with asyncio.timeout(timeout):
                response = await http.post(
                    url,
                    content=body,
                    headers=headers,
                    timeout=httpx.Timeout(timeout),
                    follow_redirects=False,
                )
        except TimeoutError:
            return Outcome.retry(f"no answer within {timeout:g} s")
        except httpx.HTTPError as exc:
            return Outcome.retry(f"{type(exc).__name__}: {exc}"[:300])
        if 200 <= response.status_code < 300:
            return Outcome.delivered()
        return Outcome.retry(
            f"HTTP {response.status_code}", retry_after=_retry_after(response.headers)
        )

    async def remove(self, session: AsyncSession, target_id: str) -> None:
        await session.execute(
            update(WebhookEndpoint)
            .where(col(WebhookEndpoint.id) == uuid.UUID(target_id))
            .values(active=False)
        )


def _retry_after(headers: Any) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
