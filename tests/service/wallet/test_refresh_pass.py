"""Keeping the pass current: the wallet channel's fan-out marks a pass modified when what it
shows changed, in whole seconds that always move forward, and targets every registered device
and the Google object; nothing visible changed, nothing to do."""

from __future__ import annotations

import datetime as dt
import uuid

from app.auth.actors import MemberActor, StaffActor
from app.ledger import service as ledger_service
from app.outbox.channels import Event
from app.wallet import service as wallet_service
from app.wallet.channel import WalletChannel
from app.wallet.models import WalletPass, WalletRegistration
from tests.support import create_member

ADMIN = StaffActor(uuid.uuid4(), "ADMIN")


def event(member_id: uuid.UUID, at: dt.datetime, kind: str = "points.adjusted") -> Event:
    return Event(id=uuid.uuid4(), type=kind, occurred_at=at, member_id=member_id, data={})


async def adjust(db, clock, member_id, points: int, key: str) -> None:
    await ledger_service.adjust_points(
        db,
        ADMIN,
        clock,
        member_id=str(member_id),
        points=points,
        reason="test",
        idempotency_key=key,
    )


async def fan_out(db, channel: WalletChannel, member_id, at) -> list[str]:
    async with db.transaction() as session:
        return [target.id for target in await channel.targets(session, event(member_id, at))]


async def member_with_pass(db, settings, clock):
    _, member = await create_member(db, settings, clock)
    wallet_pass = await wallet_service.issue_pass(db, MemberActor(member.id), clock, settings)
    return member, wallet_pass


async def test_changes_in_the_same_second_get_their_own_modification_times(db, settings, clock):
    # given
    member, wallet_pass = await member_with_pass(db, settings, clock)
    channel = WalletChannel()
    start = wallet_pass.updated_at

    # when: two adjustments within the same second, each fanned out
    await adjust(db, clock, member.id, 100, "k1")
    await fan_out(db, channel, member.id, clock.now())
    async with db.read() as session:
        first = (await session.get(WalletPass, wallet_pass.id)).updated_at
    await adjust(db, clock, member.id, 50, "k2")
    await fan_out(db, channel, member.id, clock.now() + dt.timedelta(milliseconds=300))
    async with db.read() as session:
        second = (await session.get(WalletPass, wallet_pass.id)).updated_at

    # then
    assert (first - start, second - first) == (dt.timedelta(seconds=1), dt.timedelta(seconds=1))
    assert second.microsecond == 0


async def test_targets_are_the_registered_devices_and_the_google_object(db, settings, clock):
    # given
    member, wallet_pass = await member_with_pass(db, settings, clock)
    async with db.transaction() as session:
        registrations = [
            WalletRegistration(
                member_id=member.id,
                pass_id=wallet_pass.id,
                device_library_id=f"device{n}abcdef0123456789",
                push_token=f"{n:02x}" * 32,
                created_at=clock.now(),
                updated_at=clock.now(),
            )
            for n in (1, 2)
        ]
        session.add_all(registrations)
        await session.flush()
        pass_row = await session.get(WalletPass, wallet_pass.id)
        pass_row.google_object_id = f"3388000000022222222.{wallet_pass.serial_number}"
    await adjust(db, clock, member.id, 100, "k1")

    # when
    targets = await fan_out(db, WalletChannel(), member.id, clock.now())

    # then
    assert sorted(targets) == sorted(
        [
            f"apns:{registrations[0].id}",
            f"apns:{registrations[1].id}",
            f"google:{wallet_pass.id}",
        ]
    )


async def test_nothing_visible_changed_nothing_to_do(db, settings, clock):
    # given
    member, wallet_pass = await member_with_pass(db, settings, clock)
    channel = WalletChannel()

    # when
    targets = await fan_out(db, channel, member.id, clock.now() + dt.timedelta(hours=1))

    # then
    assert targets == []
    async with db.read() as session:
        assert (await session.get(WalletPass, wallet_pass.id)).updated_at == wallet_pass.updated_at


async def test_a_member_without_a_pass_has_no_targets(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    await adjust(db, clock, member.id, 100, "k1")

    # when
    targets = await fan_out(db, WalletChannel(), member.id, clock.now())

    # then
    assert targets == []
