"""members_service.resolve_code: rotating codes, wallet codes and typed card numbers."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from app.auth.actors import MemberActor
from app.errors import DomainError
from app.kit import luhn
from app.members import codes
from app.members import service as members_service
from app.members.models import Member
from tests.service.helpers import code_secret
from tests.support import create_member


async def resolve(db, settings, clock, raw: str) -> Member:
    async with db.read() as session:
        return await members_service.resolve_code(
            session, code_secret(settings), raw, now=clock.now()
        )


async def resolve_error(db, settings, clock, raw: str) -> tuple[str, str | None]:
    with pytest.raises(DomainError) as raised:
        await resolve(db, settings, clock, raw)
    return raised.value.code, raised.value.field


def unused_card_number(taken: str) -> str:
    body = "700000000000001" if not taken.startswith("700000000000001") else "700000000000002"
    return body + luhn.check_digit(body)


async def test_rotating_code_resolves_now(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    code = members_service.rotating_code_for(member, code_secret(settings), now=clock.now())

    # when
    resolved = await resolve(db, settings, clock, code.payload)

    # then
    assert resolved.id == member.id
    assert code.payload.startswith(f"L1.{member.card_number}.")


async def test_rotating_code_resolves_one_step_later(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    code = members_service.rotating_code_for(member, code_secret(settings), now=clock.now())
    clock.advance(seconds=119)

    # when
    resolved = await resolve(db, settings, clock, code.payload)

    # then
    assert resolved.id == member.id


async def test_rotating_code_expires_two_steps_later(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    code = members_service.rotating_code_for(member, code_secret(settings), now=clock.now())
    clock.advance(seconds=120)

    # when
    error = await resolve_error(db, settings, clock, code.payload)

    # then
    assert error == ("CODE_EXPIRED", "code")


async def test_rotating_code_from_the_future_is_invalid(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    code = members_service.rotating_code_for(member, code_secret(settings), now=clock.now())
    clock.advance(seconds=-120)

    # when
    error = await resolve_error(db, settings, clock, code.payload)

    # then
    assert error == ("CODE_INVALID", "code")


async def test_static_code_resolves(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    payload = members_service.static_code_for(member, code_secret(settings))

    # when
    resolved = await resolve(db, settings, clock, payload)

    # then
    assert resolved.id == member.id
    assert payload.startswith(f"W1.{member.card_number}.1.")


async def test_revoked_static_code_is_refused_and_the_new_one_resolves(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    old = members_service.static_code_for(member, code_secret(settings))

    # when
    revoked = await members_service.revoke_wallet_code(db, MemberActor(member.id), clock)

    # then
    new = members_service.static_code_for(revoked, code_secret(settings))
    assert revoked.static_code_version == 2
    assert new != old
    assert await resolve_error(db, settings, clock, old) == ("CODE_REVOKED", "code")
    assert (await resolve(db, settings, clock, new)).id == member.id


async def test_a_member_cannot_revoke_another_members_code(db, settings, clock):
    # given
    _, ann = await create_member(db, settings, clock, email="ann@example.com")
    _, bob = await create_member(db, settings, clock, email="bob@example.com")

    # when
    with pytest.raises(DomainError) as raised:
        await members_service.revoke_wallet_code(db, MemberActor(bob.id), clock, member_id=ann.id)

    # then
    assert raised.value.code == "FORBIDDEN"
    async with db.read() as session:
        stored = await session.get(Member, ann.id)
    assert stored is not None
    assert stored.static_code_version == 1


async def test_typed_card_number_with_spaces_resolves(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    card = member.card_number
    typed = f" {card[:4]} {card[4:8]} {card[8:12]} {card[12:]} "

    # when
    resolved = await resolve(db, settings, clock, typed)

    # then
    assert resolved.id == member.id


async def test_unknown_card_number_is_not_found(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    unknown = unused_card_number(member.card_number)

    # when
    error = await resolve_error(db, settings, clock, unknown)

    # then
    assert luhn.is_valid(unknown)
    assert error == ("CARD_NOT_FOUND", "code")


async def test_a_valid_code_of_an_unknown_card_is_not_found(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    unknown = unused_card_number(member.card_number)
    payload = codes.static_code(code_secret(settings), unknown, 1)

    # when
    error = await resolve_error(db, settings, clock, payload)

    # then
    assert error == ("CARD_NOT_FOUND", "code")


async def test_a_disabled_members_card_is_not_found(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    async with db.transaction() as session:
        await session.execute(update(Member).where(Member.id == member.id).values(active=False))

    # when
    error = await resolve_error(db, settings, clock, member.card_number)

    # then
    assert error == ("CARD_NOT_FOUND", "code")


async def test_forged_code_is_invalid(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    step = codes.step_at(clock.now().timestamp())
    forged = codes.rotating_code(b"not-the-server-secret", member.card_number, step)

    # when
    error = await resolve_error(db, settings, clock, forged)

    # then
    assert error == ("CODE_INVALID", "code")


async def test_code_with_a_changed_card_number_is_invalid(db, settings, clock):
    # given
    _, member = await create_member(db, settings, clock)
    payload = members_service.static_code_for(member, code_secret(settings))
    other = unused_card_number(member.card_number)

    # when
    error = await resolve_error(db, settings, clock, payload.replace(member.card_number, other))

    # then
    assert error == ("CODE_INVALID", "code")


@pytest.mark.parametrize(
    "raw",
    [
        "hello",
        "",
        "L1.1234.5.ABC",
        "7000 0000 0000 0000",  # Luhn check digit wrong
        "70000000000000",  # too short
        "L1.7000000000000000.29666000.AAAAAAAAAAAAAAAA",  # Luhn check digit wrong
        "ｌ１.７",
    ],
)
async def test_garbage_is_malformed(db, settings, clock, raw):
    # given
    await create_member(db, settings, clock)

    # when
    error = await resolve_error(db, settings, clock, raw)

    # then
    assert error == ("CODE_MALFORMED", "code")
