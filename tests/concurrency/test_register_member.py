"""Sign-ups at the same moment: one e-mail is taken once, distinct ones all succeed."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from app.auth import service as auth_service
from app.auth.models import AuthSession, RefreshToken
from app.errors import DomainError
from app.kit import luhn
from app.ledger.models import MemberAccount
from app.members import service as members_service
from app.members.models import Member
from tests.concurrency.conftest import assert_ran_concurrently
from tests.service.helpers import counts
from tests.support import PASSWORD


def case_variant(email: str, number: int) -> str:
    """The `number`-th spelling of `email` in upper and lower case letters."""
    letters = [i for i, char in enumerate(email) if char.isalpha()]
    chars = list(email)
    for bit, index in enumerate(letters):
        if number >> bit & 1:
            chars[index] = chars[index].upper()
    return "".join(chars)


async def register(db, settings, clock, hasher, email: str):
    try:
        return await auth_service.register_member(
            db,
            settings,
            clock,
            hasher,
            members_service.NewMember(email=email, password=PASSWORD, first_name="Ann"),
        )
    except DomainError as error:
        return error


async def test_one_email_in_twenty_cases_signs_up_once(db, settings, clock, hasher, connections):
    # given
    emails = [case_variant("ann.lee@example.com", number) for number in range(20)]
    assert len(set(emails)) == 20

    # when
    results = await asyncio.gather(
        *(register(db, settings, clock, hasher, email) for email in emails)
    )

    # then
    signed_up = [r for r in results if not isinstance(r, DomainError)]
    refused = [(r.code, r.field) for r in results if isinstance(r, DomainError)]
    assert len(signed_up) == 1
    assert refused == [("EMAIL_TAKEN", "email")] * 19
    tokens, member = signed_up[0]
    assert await counts(db, Member, MemberAccount, AuthSession, RefreshToken) == {
        "members": 1,
        "member_accounts": 1,
        "auth_sessions": 1,
        "refresh_tokens": 1,
    }
    async with db.read() as session:
        stored = (await session.scalars(select(Member))).one()
        auth = (await session.scalars(select(AuthSession))).one()
    assert (stored.id, stored.email) == (member.id, "ann.lee@example.com")
    assert (auth.subject_kind, auth.subject_id) == ("member", member.id)
    assert tokens.subject_id == member.id
    assert_ran_concurrently(db, connections)


async def test_twenty_distinct_emails_all_sign_up(db, settings, clock, hasher, connections):
    # given
    emails = [f"member{number}@example.com" for number in range(20)]

    # when
    results = await asyncio.gather(
        *(register(db, settings, clock, hasher, email) for email in emails)
    )

    # then
    assert [r for r in results if isinstance(r, DomainError)] == []
    members = [member for _, member in results]
    assert sorted(m.email for m in members) == sorted(emails)
    cards = {m.card_number for m in members}
    assert len(cards) == 20
    assert all(luhn.is_valid(card) and card[0] == "7" for card in cards)
    assert len({m.referral_code for m in members}) == 20
    assert await counts(db, Member, MemberAccount, AuthSession) == {
        "members": 20,
        "member_accounts": 20,
        "auth_sessions": 20,
    }
    async with db.read() as session:
        stored_cards = set((await session.scalars(select(Member.card_number))).all())
    assert stored_cards == cards
    assert_ran_concurrently(db, connections)
