"""How the outbox reaches the outside world: one `Channel` per kind of destination.

A channel answers two questions and does one thing:
- `targets_of(session, events)`: which destinations want each of these events (webhook endpoints
  subscribed to its type, the member's push devices, the member's wallet registrations...), as
  `{event id: targets}` with every event of the batch present (`[]` when none). Called once per
  batch of events by the worker's fan-out, inside its transaction: a channel answers with a
  fixed number of queries for the whole batch, not one per event.
- `load(session, target_ids)`: the targets of the deliveries about to be attempted, with what
  `deliver` needs (URL, secret, token...), in one query. A target missing from the answer is gone
  (deleted, disabled) and its delivery is dropped as DEAD with reason "target gone".
- `deliver(target, event, settings, http)`: one attempt, over the network, with no database session
  open. It returns an `Outcome` and never raises for an answer of the other side; an exception
  counts as a retry. `http` is the worker's shared `httpx.AsyncClient` (per-request timeouts are
  the channel's business).
- `remove(session, target_id)`: called when `deliver` answered GONE (APNs 410, FCM UNREGISTERED):
  forget the target, in the worker's transaction.

A channel holding connections of its own (the APNs HTTP/2 connection) may have `aclose()`: the
worker calls it when it stops.

Channels are registered in `registered()` below, one line each. Implementations live in their own
domain (`app/webhooks/channel.py`, ...) and import the types from here.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.ext.asyncio import AsyncSession

    from app.settings import Settings


@dataclass(frozen=True, slots=True)
class Event:
    """An outbox event as the channels see it."""

    id: uuid.UUID
    type: str
    occurred_at: dt.datetime
    member_id: uuid.UUID | None
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Target:
    """One destination of a channel. `id` is what the delivery row stores (at most 100
    characters); `details` carries what `deliver` needs, filled in by `load`."""

    id: str
    details: Mapping[str, Any] = field(default_factory=dict)


OutcomeKind = Literal["DELIVERED", "RETRY", "DEAD", "GONE"]


@dataclass(frozen=True, slots=True)
class Outcome:
    kind: OutcomeKind
    reason: str = ""
    retry_after: float | None = None  # seconds the other side asked us to wait (Retry-After)

    @classmethod
    def delivered(cls) -> Outcome:
        return cls("DELIVERED")

    @classmethod
    def retry(cls, reason: str, *, retry_after: float | None = None) -> Outcome:
        return cls("RETRY", reason, retry_after)

    @classmethod
    def dead(cls, reason: str) -> Outcome:
        """Will never succeed (e.g. the payload is refused as malformed): no more attempts."""
        return cls("DEAD", reason)

    @classmethod
    def gone(cls, reason: str) -> Outcome:
        """The target no longer exists: the worker calls `remove` and stops trying."""
        return cls("GONE", reason)


class Channel(Protocol):
    name: str

    async def targets_of(
        self, session: AsyncSession, events: Sequence[Event]
    ) -> dict[uuid.UUID, list[Target]]: ...

    async def load(self, session: AsyncSession, target_ids: Sequence[str]) -> dict[str, Target]: ...

    async def deliver(
        self, target: Target, event: Event, settings: Settings, http: httpx.AsyncClient
    ) -> Outcome: ...

    async def remove(self, session: AsyncSession, target_id: str) -> None: ...


def registered() -> list[Channel]:
    """Every channel the worker delivers to. Imported here, lazily, because the channels import
    the types above."""
    from app.notifications.channel import PushChannel
    from app.wallet.channel import WalletChannel
    from app.webhooks.channel import WebhookChannel

    return [
        WebhookChannel(),
        WalletChannel(),
        PushChannel(),
    ]
