"""Webhook endpoints: created by admins, with an event-type filter and a secret shown once."""

from __future__ import annotations

import asyncio
import datetime as dt
import secrets
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.actors import Actor, StaffActor, require_admin
from app.clock import Clock
from app.db import Database
from app.errors import InvalidInput, UnknownEventType, UrlNotAllowed, WebhookEndpointNotFound
from app.kit import pagination
from app.kit.ids import parse_id
from app.kit.pagination import Page
from app.outbox.events import EVENT_TYPES
from app.settings import Settings
from app.webhooks import rules
from app.webhooks.models import WebhookEndpoint

DEFAULT_OVERLAP_HOURS = 24
MAX_OVERLAP_HOURS = 24 * 7
RESOLVE_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    url: str
    event_types: Sequence[str]


def new_secret() -> str:
    return rules.encode_secret(secrets.token_bytes(rules.SECRET_BYTES))


def check_event_types(event_types: Sequence[str]) -> list[str]:
    """The filter, deduplicated in catalogue order; ["*"] for every event."""
    cleaned = [value.strip() for value in event_types]
    if not cleaned:
        raise InvalidInput(
            'Name at least one event type, or "*" for every event.', field="eventTypes"
        )
    unknown = sorted({v for v in cleaned if v != rules.EVERY_EVENT and v not in EVENT_TYPES})
    if unknown:
        raise UnknownEventType(
            f"Unknown event type{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)[:200]}.",
            field="eventTypes",
        )
    if rules.EVERY_EVENT in cleaned:
        return [rules.EVERY_EVENT]
    return sorted(set(cleaned))


async def address_problem(url: str, settings: Settings) -> str | None:
    """Why this URL must not be called: its host is (or resolves to) a loopback, private or
    link-local address while those are refused (production without
    LOYALTY_WEBHOOK_ALLOW_PRIVATE). Checked on creation and again at every delivery, since
    DNS answers change."""
    if not settings.webhook_refuses_private:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = rules.host_literal(host)
    if literal is not None:
        addresses = [literal]
    elif host.rstrip(".").lower() == "localhost" or host.lower().endswith(".localhost"):
        return f"{host} is a loopback name"
    else:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
        except (OSError, TimeoutError) as exc:
            return f"{host} does not resolve ({exc or 'timeout'})"
        addresses = [str(info[4][0]) for info in infos]
    for address in addresses:
        if rules.is_private_address(address):
            return f"{host} is a private address ({address})"
    return None


async def check_url(url: str, settings: Settings) -> str:
    url = url.strip()
    problem = rules.url_problem(url)
    if problem is not None:
        raise InvalidInput(problem, field="url")
    refused = await address_problem(url, settings)
    if refused is not None:
        raise UrlNotAllowed(
            f"Webhooks are delivered only to public addresses: {refused}.", field="url"
        )
    return url


async def create_endpoint(
    db: Database, actor: Actor | None, clock: Clock, settings: Settings, new: NewEndpoint
) -> WebhookEndpoint:
    """A new endpoint. Its `secret` is returned here and never shown again."""
    require_admin(actor)
    event_types = check_event_types(new.event_types)
    url = await check_url(new.url, settings)  # before the transaction: it may resolve a name
    now = clock.now()
    async with db.transaction() as session:
        endpoint = WebhookEndpoint(
            url=url,
            event_types=event_types,
            secret=new_secret(),
            created_by=actor.staff_id if isinstance(actor, StaffActor) else None,
            created_at=now,
            updated_at=now,
        )
        session.add(endpoint)
    return endpoint


async def _locked_endpoint(session: AsyncSession, endpoint_id: str) -> WebhookEndpoint:
    parsed = parse_id(endpoint_id)
    endpoint = (
        await session.scalar(
            select(WebhookEndpoint)
            .where(col(WebhookEndpoint.id) == parsed, col(WebhookEndpoint.active).is_(True))
            .with_for_update()
        )
        if parsed
        else None
    )
    if endpoint is None:
        raise WebhookEndpointNotFound(field="id")
    return endpoint


async def rotate_secret(
    db: Database,
    actor: Actor | None,
    clock: Clock,
    *,
    endpoint_id: str,
    overlap_hours: int | None = None,
) -> WebhookEndpoint:
    """A new secret, returned once. For `overlap_hours` (default 24) deliveries are signed with
    both the new and the previous secret, so the receiver can switch without losing any."""
    require_admin(actor)
    hours = DEFAULT_OVERLAP_HOURS if overlap_hours is None else overlap_hours
    if not 0 <= hours <= MAX_OVERLAP_HOURS:
        raise InvalidInput(
            f"The overlap is between 0 and {MAX_OVERLAP_HOURS} hours.", field="overlapHours"
        )
    now = clock.now()
    async with db.transaction() as session:
        endpoint = await _locked_endpoint(session, endpoint_id)
        endpoint.previous_secret = endpoint.secret if hours else None
        endpoint.previous_secret_expires_at = now + dt.timedelta(hours=hours) if hours else None
        endpoint.secret = new_secret()
        endpoint.updated_at = now
        session.add(endpoint)
    return endpoint


async def delete_endpoint(
    db: Database, actor: Actor | None, clock: Clock, *, endpoint_id: str
) -> WebhookEndpoint:
    """Stop delivering to an endpoint. Its pending deliveries end as GONE."""
    require_admin(actor)
    async with db.transaction() as session:
        endpoint = await _locked_endpoint(session, endpoint_id)
        endpoint.active = False
        endpoint.updated_at = clock.now()
        session.add(endpoint)
    return endpoint


async def list_endpoints(
    session: AsyncSession, actor: Actor | None, *, first: int, after: str | None
) -> Page[WebhookEndpoint]:
    """Active endpoints, newest first (keyset on created_at, id)."""
    require_admin(actor)
    limit = pagination.check_first(first)
    key = pagination.decode_cursor(after) if after else None
    query = select(WebhookEndpoint).where(col(WebhookEndpoint.active).is_(True))
    if key is not None:
        at, id_ = key
        query = query.where(
            or_(
                col(WebhookEndpoint.created_at) < at,
                and_(col(WebhookEndpoint.created_at) == at, col(WebhookEndpoint.id) < id_),
            )
        )
    rows = list(
        (
            await session.scalars(
                query.order_by(
                    col(WebhookEndpoint.created_at).desc(), col(WebhookEndpoint.id).desc()
                ).limit(limit + 1)
            )
        ).all()
    )
    items = rows[:limit]
    return Page(
        items=items,
        cursors=[pagination.encode_cursor(row.created_at, row.id) for row in items],
        has_next=len(rows) > limit,
    )
