"""Webhooks through POST /graphql: CreateWebhookEndpoint as the back office sends it, rotation,
dead letters; and a purchase at the till that reaches a real receiver, signed, after a retry."""

from __future__ import annotations

import random
import uuid

from app.outbox.channels import Outcome
from app.outbox.worker import OutboxWorker
from app.webhooks.channel import WebhookChannel
from tests.api.test_till_operations import checkout_for, complete, open_till, purchase
from tests.fakes.webhook_receiver import WebhookReceiver, verify
from tests.service.outbox.fakes import ScriptedChannel, deliveries, record_events
from tests.support import create_staff, create_store, gql, login, run_operation

ENDPOINTS = """query($after: String) { webhookEndpoints(first: 1, after: $after) {
  edges { node { id url eventTypes secret } } pageInfo { hasNextPage endCursor } } }"""
ROTATE = """mutation($input: RotateWebhookSecretInput!) { rotateWebhookSecret(input: $input) {
  __typename ... on WebhookEndpoint { id secret } ... on UserError { code message field } } }"""
DEAD = """query($first: Int!, $after: String) { deadLetters(first: $first, after: $after) {
  edges { node { id eventId eventType channel targetId attempts lastError data } }
  pageInfo { hasNextPage endCursor } } }"""
RETRY = """mutation($input: RetryDeadLettersInput!) { retryDeadLetters(input: $input) {
  __typename ... on RetriedDeadLetters { count } ... on UserError { code message field } } }"""


async def admin_token(db, settings, clock) -> str:
    await create_staff(db, settings, clock, email="boss@example.com", role="ADMIN")
    return await login(db, settings, clock, kind="staff", email="boss@example.com")


async def create(client, token, url, types):
    answer = await run_operation(
        client, "CreateWebhookEndpoint", {"input": {"url": url, "eventTypes": types}}, token=token
    )
    return answer["data"]["createWebhookEndpoint"]


async def test_create_shows_the_secret_once(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)

    # when
    created = await create(client, token, "https://hooks.example.com/a", ["points.earned"])
    listed = await gql(client, ENDPOINTS, token=token)

    # then
    assert created["__typename"] == "WebhookEndpoint"
    assert created["url"] == "https://hooks.example.com/a"
    assert created["eventTypes"] == ["points.earned"]
    assert created["secret"].startswith("whsec_")
    page = listed["data"]["webhookEndpoints"]
    assert page["edges"] == [
        {"node": {"id": created["id"], "url": created["url"], "eventTypes": ["points.earned"],
                  "secret": None}}
    ]  # fmt: skip
    assert page["pageInfo"]["hasNextPage"] is False


async def test_bad_input_is_a_user_error_on_its_field(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)
    long_url = "https://example.com/" + "a" * 2030

    # when
    not_http = await create(client, token, "ftp://example.com/x", ["*"])
    too_long = await create(client, token, long_url, ["*"])
    unknown = await create(client, token, "https://example.com/x", ["points.earned", "nope"])
    listed = await gql(client, ENDPOINTS, token=token)

    # then
    assert not_http == {
        "__typename": "InvalidInputError",
        "code": "INVALID_INPUT",
        "message": "The URL must start with http:// or https://.",
        "field": "url",
    }
    assert (too_long["code"], too_long["field"]) == ("INVALID_INPUT", "url")
    assert unknown == {
        "__typename": "InvalidInputError",
        "code": "UNKNOWN_EVENT_TYPE",
        "message": "Unknown event type: nope.",
        "field": "eventTypes",
    }
    assert listed["data"]["webhookEndpoints"]["edges"] == []


async def test_only_admins_create_endpoints(client, db, settings, clock):
    # given
    store = await create_store(db, clock)
    await create_staff(
        db, settings, clock, email="till@example.com", role="MANAGER", store_ids=[str(store.id)]
    )
    token = await login(db, settings, clock, kind="staff", email="till@example.com")

    # when
    answer = await run_operation(
        client,
        "CreateWebhookEndpoint",
        {"input": {"url": "https://example.com/x", "eventTypes": ["*"]}},
        token=token,
        expect_errors=True,
    )

    # then
    assert answer["data"] is None
    assert [e["extensions"]["code"] for e in answer["errors"]] == ["FORBIDDEN"]


async def test_rotation_returns_the_new_secret(client, db, settings, clock):
    # given
    token = await admin_token(db, settings, clock)
    created = await create(client, token, "https://hooks.example.com/a", ["*"])

    # when
    rotated = await gql(client, ROTATE, {"input": {"id": created["id"]}}, token=token)
    missing = await gql(
        client, ROTATE, {"input": {"id": "0190f0e2-7c1a-7b3e-8a4b-123456789abc"}}, token=token
    )

    # then
    result = rotated["data"]["rotateWebhookSecret"]
    assert result["__typename"] == "WebhookEndpoint"
    assert result["secret"].startswith("whsec_") and result["secret"] != created["secret"]
    assert missing["data"]["rotateWebhookSecret"] == {
        "__typename": "NotFoundError",
        "code": "WEBHOOK_ENDPOINT_NOT_FOUND",
        "message": "No such webhook endpoint.",
        "field": "id",
    }


async def test_dead_letters_are_listed_and_retried(client, db, settings, clock):
    # given: two deliveries that gave up
    token = await admin_token(db, settings, clock)
    ids = await record_events(db, clock, 2)
    channel = ScriptedChannel(script=[Outcome.dead("HTTP 400"), Outcome.dead("HTTP 400")])
    await OutboxWorker(db, settings, clock, channels=[channel]).run_once()

    # when
    first = await gql(client, DEAD, {"first": 1}, token=token)
    cursor = first["data"]["deadLetters"]["pageInfo"]["endCursor"]
    second = await gql(client, DEAD, {"first": 1, "after": cursor}, token=token)
    one = first["data"]["deadLetters"]["edges"][0]["node"]["id"]
    retried = await gql(client, RETRY, {"input": {"ids": [one]}}, token=token)
    bad = await gql(client, RETRY, {"input": {"ids": ["x"]}}, token=token)
    rest = await gql(client, RETRY, {"input": {}}, token=token)

    # then
    node = first["data"]["deadLetters"]["edges"][0]["node"]
    assert node == {
        "id": node["id"], "eventId": node["eventId"], "eventType": "points.earned",
        "channel": "fake", "targetId": "t1", "attempts": 1, "lastError": "HTTP 400",
        "data": {"n": ids.index(uuid.UUID(node["eventId"]))},
    }  # fmt: skip
    assert first["data"]["deadLetters"]["pageInfo"]["hasNextPage"] is True
    assert len(second["data"]["deadLetters"]["edges"]) == 1
    assert second["data"]["deadLetters"]["pageInfo"]["hasNextPage"] is False
    assert retried["data"]["retryDeadLetters"] == {"__typename": "RetriedDeadLetters", "count": 1}
    assert bad["data"]["retryDeadLetters"]["field"] == "ids"
    assert rest["data"]["retryDeadLetters"] == {"__typename": "RetriedDeadLetters", "count": 1}
    assert {r.status for r in await deliveries(db)} == {"PENDING"}


async def test_a_purchase_reaches_the_receiver_signed_after_a_retry(client, db, settings, clock):
    async with WebhookReceiver(["fail"]) as receiver:
        # given: an endpoint for earned points, and a member at the till
        token = await admin_token(db, settings, clock)
        endpoint = await create(client, token, receiver.url, ["points.earned"])
        till = await open_till(client, db, settings, clock)
        checkout_id = await checkout_for(client, till)

        # when: the purchase completes; the receiver fails the first delivery
        receipt = await complete(client, till.cashier_token, purchase(checkout_id, "R-1", 12345))
        worker = OutboxWorker(
            db, settings, clock, channels=[WebhookChannel(clock)], rng=random.Random(1)
        )
        await worker.run_once()
        assert [r.answer for r in receiver.requests] == ["fail"]
        [pending] = await deliveries(db)
        clock.current = pending.next_attempt_at
        await worker.run_once()

        # then: the same event, signed with the endpoint's secret, accepted on the second try
        failed, accepted = receiver.requests
        assert accepted.answer == "ok"
        assert failed.webhook_id == accepted.webhook_id
        assert verify(accepted, endpoint["secret"])
        body = accepted.json()
        assert (body["type"], body["memberId"]) == ("points.earned", till.member_id)
        assert body["data"]["purchaseId"] == receipt["purchase"]["id"]
        assert body["data"]["points"] == receipt["pointsEarned"] == 123
        [done] = await deliveries(db)
        assert (done.status, done.attempts) == ("DELIVERED", 2)
