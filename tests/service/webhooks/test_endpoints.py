"""Webhook endpoints: created by admins with a filter and a secret; rotated; deleted."""

from __future__ import annotations

import base64
import datetime as dt
import uuid

import pytest

from app.auth.actors import StaffActor
from app.db import Database, make_engine
from app.errors import DomainError
from app.webhooks import service as webhooks_service
from app.webhooks.models import WebhookEndpoint
from tests.conftest import make_settings
from tests.service.helpers import count_rows
from tests.support import SYSTEM

CASHIER = StaffActor(uuid.UUID("0190f0e2-7c1a-7b3e-8a4b-123456789abc"), "CASHIER", frozenset())


async def create(
    db, clock, settings, url="https://hooks.example.com/x", types=("*",), actor=SYSTEM
):
    return await webhooks_service.create_endpoint(
        db, actor, clock, settings, webhooks_service.NewEndpoint(url=url, event_types=list(types))
    )


async def refused(call) -> tuple[str, str | None]:
    with pytest.raises(DomainError) as raised:
        await call
    return raised.value.code, raised.value.field


async def test_create_keeps_the_filter_and_makes_a_secret(db, settings, clock):
    # when
    endpoint = await create(
        db, clock, settings, url=" https://hooks.example.com/loyalty ",
        types=["tier.changed", "points.earned", "points.earned"],
    )  # fmt: skip

    # then
    assert endpoint.url == "https://hooks.example.com/loyalty"
    assert endpoint.event_types == ["points.earned", "tier.changed"]
    assert endpoint.secret.startswith("whsec_")
    assert len(base64.b64decode(endpoint.secret.removeprefix("whsec_"))) == 32
    assert (endpoint.active, endpoint.created_at) == (True, clock.now())


async def test_every_event_is_one_star(db, settings, clock):
    endpoint = await create(db, clock, settings, types=["points.earned", "*"])
    assert endpoint.event_types == ["*"]


async def test_two_endpoints_get_different_secrets(db, settings, clock):
    first = await create(db, clock, settings)
    second = await create(db, clock, settings)
    assert first.secret != second.secret


@pytest.mark.parametrize(
    ("url", "types", "code", "field"),
    [
        ("ftp://example.com/hook", ["*"], "INVALID_INPUT", "url"),
        ("https://example.com/" + "a" * 2030, ["*"], "INVALID_INPUT", "url"),
        ("not a url", ["*"], "INVALID_INPUT", "url"),
        ("https://example.com/hook", ["points.stolen"], "UNKNOWN_EVENT_TYPE", "eventTypes"),
        ("https://example.com/hook", [], "INVALID_INPUT", "eventTypes"),
    ],
)
async def test_bad_input_writes_nothing(db, settings, clock, url, types, code, field):
    assert await refused(create(db, clock, settings, url=url, types=types)) == (code, field)
    assert await count_rows(db, WebhookEndpoint) == 0


async def test_only_admins_create(db, settings, clock):
    assert await refused(create(db, clock, settings, actor=CASHIER)) == ("FORBIDDEN", None)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9000/hook",
        "http://localhost/hook",
        "http://[::1]/hook",
        "http://10.0.0.5/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://192.168.0.10/hook",
    ],
)
async def test_production_refuses_private_addresses(database_url, clock, url):
    # given
    settings = make_settings(database_url, env="production")
    db = Database(make_engine(settings))
    try:
        # when
        code_field = await refused(create(db, clock, settings, url=url))

        # then
        assert code_field == ("URL_NOT_ALLOWED", "url")
        assert await count_rows(db, WebhookEndpoint) == 0
    finally:
        await db.dispose()


async def test_production_may_allow_private_addresses(database_url, clock):
    settings = make_settings(database_url, env="production", webhook_allow_private=True)
    db = Database(make_engine(settings))
    try:
        endpoint = await create(db, clock, settings, url="http://127.0.0.1:9000/hook")
        assert endpoint.url == "http://127.0.0.1:9000/hook"
    finally:
        await db.dispose()


async def test_development_allows_loopback(db, settings, clock):
    endpoint = await create(db, clock, settings, url="http://127.0.0.1:9000/hook")
    assert endpoint.url == "http://127.0.0.1:9000/hook"


async def test_rotation_keeps_the_old_secret_for_the_overlap(db, settings, clock):
    # given
    endpoint = await create(db, clock, settings)

    # when
    rotated = await webhooks_service.rotate_secret(
        db, SYSTEM, clock, endpoint_id=str(endpoint.id), overlap_hours=6
    )

    # then
    assert rotated.secret != endpoint.secret
    assert rotated.previous_secret == endpoint.secret
    assert rotated.previous_secret_expires_at == clock.now() + dt.timedelta(hours=6)


async def test_rotation_without_overlap_drops_the_old_secret(db, settings, clock):
    endpoint = await create(db, clock, settings)
    rotated = await webhooks_service.rotate_secret(
        db, SYSTEM, clock, endpoint_id=str(endpoint.id), overlap_hours=0
    )
    assert (rotated.previous_secret, rotated.previous_secret_expires_at) == (None, None)


async def test_rotation_refusals(db, settings, clock):
    endpoint = await create(db, clock, settings)
    assert await refused(
        webhooks_service.rotate_secret(db, SYSTEM, clock, endpoint_id=str(uuid.uuid4()))
    ) == ("WEBHOOK_ENDPOINT_NOT_FOUND", "id")
    assert await refused(webhooks_service.rotate_secret(db, SYSTEM, clock, endpoint_id="nope")) == (
        "WEBHOOK_ENDPOINT_NOT_FOUND",
        "id",
    )
    assert await refused(
        webhooks_service.rotate_secret(
            db, SYSTEM, clock, endpoint_id=str(endpoint.id), overlap_hours=169
        )
    ) == ("INVALID_INPUT", "overlapHours")
    assert await refused(
        webhooks_service.rotate_secret(db, CASHIER, clock, endpoint_id=str(endpoint.id))
    ) == ("FORBIDDEN", None)


async def test_deleted_endpoints_are_not_listed_nor_rotated(db, settings, clock):
    # given
    kept = await create(db, clock, settings)
    clock.advance(seconds=1)
    gone = await create(db, clock, settings)

    # when
    await webhooks_service.delete_endpoint(db, SYSTEM, clock, endpoint_id=str(gone.id))
    async with db.read() as session:
        page = await webhooks_service.list_endpoints(session, SYSTEM, first=10, after=None)

    # then
    assert [e.id for e in page.items] == [kept.id]
    assert await refused(
        webhooks_service.rotate_secret(db, SYSTEM, clock, endpoint_id=str(gone.id))
    ) == ("WEBHOOK_ENDPOINT_NOT_FOUND", "id")


async def test_list_pages_newest_first(db, settings, clock):
    # given
    made = []
    for _ in range(3):
        made.append(await create(db, clock, settings))
        clock.advance(seconds=1)

    # when
    async with db.read() as session:
        first = await webhooks_service.list_endpoints(session, SYSTEM, first=2, after=None)
        second = await webhooks_service.list_endpoints(
            session, SYSTEM, first=2, after=first.end_cursor
        )

    # then
    assert [e.id for e in first.items] == [made[2].id, made[1].id]
    assert [e.id for e in second.items] == [made[0].id]
    assert (first.has_next, second.has_next) == (True, False)
