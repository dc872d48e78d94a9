"""The channels' batch fan-out (`targets_of`): for a batch of events, the same targets as asking
event by event, with a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import uuid

from app.auth.actors import MemberActor, StaffActor
from app.db import watching_statements
from app.ledger import service as ledger_service
from app.notifications import service as notifications_service
from app.notifications.channel import PushChannel
from app.outbox.channels import Event
from app.wallet import service as wallet_service
from app.wallet.channel import WalletChannel
from app.wallet.models import WalletRegistration
from app.webhooks import service as webhooks_service
from app.webhooks.channel import WebhookChannel
from tests.support import SYSTEM, create_member

ADMIN = StaffActor(uuid.uuid4(), "ADMIN")
IPHONE = "1a2b3c4d" * 8
ANDROID = "fMEP0vJqS0:APA91bH" + "Ab_Cd-Ef" * 18


def event(type: str, member_id: uuid.UUID | None, at: dt.datetime) -> Event:
    return Event(id=uuid.uuid4(), type=type, occurred_at=at, member_id=member_id, data={})


def ids(targets) -> list[str]:
    return [target.id for target in targets]


class Statements:
    """Counts the SQL statements run on an engine while it is in use."""

    def __init__(self, db) -> None:
        self.watching = watching_statements(db.engine, self._count)
        self.count = 0

    def _count(self, _sql: str) -> None:
        self.count += 1

    def __enter__(self) -> Statements:
        self.watching.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.watching.__exit__(*exc)


async def test_webhooks_one_query_for_a_batch_filtered_per_event_type(db, settings, clock):
    # given: one endpoint wants everything, one only redemptions
    every = await webhooks_service.create_endpoint(
        db, SYSTEM, clock, settings,
        webhooks_service.NewEndpoint(url="https://a.example.com/hook", event_types=["*"]),
    )  # fmt: skip
    redeemed = await webhooks_service.create_endpoint(
        db, SYSTEM, clock, settings,
        webhooks_service.NewEndpoint(
            url="https://b.example.com/hook", event_types=["points.redeemed"]
        ),
    )  # fmt: skip
    batch = [
        event("points.earned", None, clock.now()),
        event("points.redeemed", None, clock.now()),
        event("member.birthday", uuid.uuid4(), clock.now()),
    ]
    channel = WebhookChannel(clock)

    # when
    async with db.transaction() as session:
        with Statements(db) as statements:
            found = await channel.targets_of(session, batch)
        one_by_one = {e.id: await channel.targets(session, e) for e in batch}

    # then
    assert statements.count == 1
    assert {e.id: ids(found[e.id]) for e in batch} == {
        batch[0].id: [str(every.id)],
        batch[1].id: [str(every.id), str(redeemed.id)],
        batch[2].id: [str(every.id)],
    }
    assert found == one_by_one


async def test_push_two_queries_for_a_batch_with_consent_per_event(db, settings, clock):
    # given: Ann has two phones and no marketing consent; Bob one phone and consent
    _, ann = await create_member(db, settings, clock)
    _, bob = await create_member(
        db, settings, clock, email="bob@example.com", marketing_consent=True
    )
    ann_phones = []
    for platform, token in (("APNS", IPHONE), ("FCM", ANDROID)):
        registered = await notifications_service.register_push_device(
            db, MemberActor(ann.id), clock,
            notifications_service.NewPushDevice(platform=platform, token=token, locale=None),
        )  # fmt: skip
        ann_phones.append(str(registered.device.id))
        clock.advance(seconds=1)
    bob_phone = await notifications_service.register_push_device(
        db, MemberActor(bob.id), clock,
        notifications_service.NewPushDevice(platform="APNS", token="9f" * 32, locale="ru"),
    )  # fmt: skip
    batch = [
        event("points.earned", ann.id, clock.now()),
        event("member.birthday", ann.id, clock.now()),  # marketing: Ann did not consent
        event("member.birthday", bob.id, clock.now()),
        event("points.earned", None, clock.now()),
        event("points.earned", uuid.uuid4(), clock.now()),  # no such member
    ]
    channel = PushChannel()

    # when
    async with db.transaction() as session:
        with Statements(db) as statements:
            found = await channel.targets_of(session, batch)
        one_by_one = {e.id: await channel.targets(session, e) for e in batch}

    # then
    assert statements.count == 2
    assert [sorted(ids(found[e.id])) for e in batch] == [
        sorted(ann_phones),
        [],
        [str(bob_phone.device.id)],
        [],
        [],
    ]
    assert ids(found[batch[0].id]) == list(reversed(ann_phones))  # the newest first, as before
    assert found == one_by_one


async def test_wallet_refreshes_each_member_with_a_pass_once_per_batch(db, settings, clock):
    # given: Ann has a pass on a phone and her balance changed twice; Bob has no pass
    _, ann = await create_member(db, settings, clock)
    _, bob = await create_member(db, settings, clock, email="bob@example.com")
    wallet_pass = await wallet_service.issue_pass(db, MemberActor(ann.id), clock, settings)
    async with db.transaction() as session:
        registration = WalletRegistration(
            member_id=ann.id,
            pass_id=wallet_pass.id,
            device_library_id="device1abcdef0123456789",
            push_token="01" * 32,
            created_at=clock.now(),
            updated_at=clock.now(),
        )
        session.add(registration)
    for points, key in ((100, "k1"), (50, "k2")):
        await ledger_service.adjust_points(
            db, ADMIN, clock, member_id=str(ann.id), points=points, reason="test",
            idempotency_key=key,
        )  # fmt: skip
    batch = [
        event("points.adjusted", bob.id, clock.now()),
        event("points.adjusted", ann.id, clock.now()),
        event("points.adjusted", ann.id, clock.now()),
        event("points.adjusted", None, clock.now()),
    ]

    # when
    async with db.transaction() as session:
        found = await WalletChannel().targets_of(session, batch)
    async with db.transaction() as session:
        again = await WalletChannel().targets_of(session, batch)

    # then: the card changed once, announced by Ann's first event; then nothing changed
    assert [ids(found[e.id]) for e in batch] == [[], [f"apns:{registration.id}"], [], []]
    assert [ids(again[e.id]) for e in batch] == [[], [], [], []]
