"""auth_service.register_member: the member, its empty account and its first session."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from app.auth import service as auth_service
from app.auth.models import AuthSession, RefreshToken
from app.errors import DomainError
from app.kit import luhn
from app.ledger.models import MemberAccount
from app.members import service as members_service
from app.members.models import Member
from tests.conftest import START
from tests.service.helpers import counts
from tests.support import PASSWORD, create_member

TABLES = (Member, MemberAccount, AuthSession, RefreshToken)


async def test_normalizes_the_email(db, settings, clock):
    # when
    tokens, member = await create_member(db, settings, clock, email="  Ann.Lee@Example.COM ")

    # then
    assert member.email == "ann.lee@example.com"
    async with db.read() as session:
        stored = await session.get(Member, member.id)
    assert stored is not None
    assert stored.email == "ann.lee@example.com"
    assert tokens.subject_kind == "member"
    assert tokens.subject_id == member.id


async def test_refuses_an_email_taken_in_another_case(db, settings, clock):
    # given
    await create_member(db, settings, clock, email="ann@example.com")

    # when
    with pytest.raises(DomainError) as raised:
        await create_member(db, settings, clock, email=" ANN@Example.com")

    # then
    assert (raised.value.code, raised.value.field) == ("EMAIL_TAKEN", "email")
    assert await counts(db, *TABLES) == {
        "members": 1,
        "member_accounts": 1,
        "auth_sessions": 1,
        "refresh_tokens": 1,
    }


async def test_gives_a_luhn_card_number_starting_with_7(db, settings, clock):
    # when
    _, member = await create_member(db, settings, clock)

    # then
    assert len(member.card_number) == 16
    assert member.card_number.isdigit()
    assert member.card_number[0] == "7"
    assert luhn.is_valid(member.card_number)


async def test_gives_a_referral_code_of_the_alphabet(db, settings, clock):
    # when
    _, member = await create_member(db, settings, clock)

    # then
    assert len(member.referral_code) == 8
    assert set(member.referral_code) <= set(members_service.REFERRAL_ALPHABET)


async def test_opens_an_empty_account_in_the_lowest_tier(db, settings, clock):
    # when
    _, member = await create_member(db, settings, clock)

    # then
    async with db.read() as session:
        account = await session.get(MemberAccount, member.id)
    assert account is not None
    assert (account.available, account.pending, account.lifetime_earned) == (0, 0, 0)
    assert account.tier_code == "BRONZE"
    assert account.tier_year_ends_at == START + dt.timedelta(days=365)
    assert account.tier_year_ends_at == dt.datetime(2027, 6, 1, 12, 0, tzinfo=dt.UTC)
    assert (account.entry_count, account.last_entry_hash) == (0, "0" * 64)


async def test_stores_the_profile(db, settings, clock):
    # when
    _, member = await create_member(
        db,
        settings,
        clock,
        first_name="  Ann ",
        last_name="Lee",
        phone="+1 (415) 555-0123",
        birth_date=dt.date(1991, 4, 12),
        locale="en-GB",
        marketing_consent=True,
    )

    # then
    async with db.read() as session:
        stored = await session.get(Member, member.id)
    assert stored is not None
    assert (stored.first_name, stored.last_name) == ("Ann", "Lee")
    assert stored.phone == "+14155550123"
    assert stored.birth_date == dt.date(1991, 4, 12)
    assert (stored.locale, stored.marketing_consent) == ("en-GB", True)
    assert (stored.static_code_version, stored.active, stored.referred_by_id) == (1, True, None)
    assert stored.created_at == START


async def test_stores_the_referrer(db, settings, clock):
    # given
    _, referrer = await create_member(db, settings, clock, email="ann@example.com")

    # when
    _, member = await create_member(
        db,
        settings,
        clock,
        email="bob@example.com",
        referral_code=f" {referrer.referral_code.lower()} ",
    )

    # then
    async with db.read() as session:
        stored = await session.get(Member, member.id)
    assert stored is not None
    assert stored.referred_by_id == referrer.id


async def test_refuses_an_unknown_referral_code_and_writes_nothing(db, settings, clock):
    # given
    await create_member(db, settings, clock, email="ann@example.com")

    # when
    with pytest.raises(DomainError) as raised:
        await create_member(db, settings, clock, email="bob@example.com", referral_code="ZZZZ2222")

    # then
    assert (raised.value.code, raised.value.field) == ("INVALID_INPUT", "referralCode")
    assert await counts(db, *TABLES) == {
        "members": 1,
        "member_accounts": 1,
        "auth_sessions": 1,
        "refresh_tokens": 1,
    }
    async with db.read() as session:
        assert await members_service.find_member_by_email(session, "bob@example.com") is None


@pytest.mark.parametrize("code", ["AB\x00CDEFG", "Z" * 500, "ABCD-EFG", "ＡＢＣＤＥＦＧＨ"])
async def test_refuses_a_referral_code_of_the_wrong_shape(db, settings, clock, code):
    # given
    await create_member(db, settings, clock, email="ann@example.com")

    # when
    with pytest.raises(DomainError) as raised:
        await create_member(db, settings, clock, email="bob@example.com", referral_code=code)

    # then
    assert (raised.value.code, raised.value.field) == ("INVALID_INPUT", "referralCode")
    assert await counts(db, Member) == {"members": 1}


async def test_refuses_a_self_referral_by_the_same_phone(db, settings, clock):
    # given
    _, referrer = await create_member(
        db, settings, clock, email="ann@example.com", phone="+14155550123"
    )

    # when
    with pytest.raises(DomainError) as raised:
        await create_member(
            db,
            settings,
            clock,
            email="ann.other@example.com",
            phone="+1 415 555 0123",
            referral_code=referrer.referral_code,
        )

    # then
    assert (raised.value.code, raised.value.field) == ("INVALID_INPUT", "referralCode")
    assert await counts(db, Member, MemberAccount) == {"members": 1, "member_accounts": 1}


async def test_refuses_a_weak_password_and_writes_nothing(db, settings, clock, hasher):
    # when
    with pytest.raises(DomainError) as raised:
        await auth_service.register_member(
            db,
            settings,
            clock,
            hasher,
            members_service.NewMember(
                email="ann@example.com", password="abcdefghijkl", first_name="Ann"
            ),
        )

    # then
    assert (raised.value.code, raised.value.field) == ("WEAK_PASSWORD", "password")
    assert await counts(db, Member) == {"members": 0}


async def test_refuses_a_malformed_email(db, settings, clock, hasher):
    # when
    with pytest.raises(DomainError) as raised:
        await auth_service.register_member(
            db,
            settings,
            clock,
            hasher,
            members_service.NewMember(email="ann@", password=PASSWORD, first_name="Ann"),
        )

    # then
    assert (raised.value.code, raised.value.field) == ("INVALID_INPUT", "email")
    assert await counts(db, Member) == {"members": 0}


async def test_refuses_an_empty_first_name(db, settings, clock):
    # when
    with pytest.raises(DomainError) as raised:
        await create_member(db, settings, clock, first_name="   ")

    # then
    assert (raised.value.code, raised.value.field) == ("INVALID_INPUT", "firstName")
    assert await counts(db, Member) == {"members": 0}


async def test_starts_a_session_that_refreshes(db, settings, clock):
    # given
    tokens, member = await create_member(db, settings, clock)

    # when
    refreshed = await auth_service.refresh_session(
        db, settings, clock, refresh_token=tokens.refresh_token
    )

    # then
    assert refreshed.subject_id == member.id
    async with db.read() as session:
        sessions = (await session.scalars(select(AuthSession))).all()
    assert [(s.subject_kind, s.subject_id, s.revoked_at) for s in sessions] == [
        ("member", member.id, None)
    ]


async def test_keeps_the_joiners_real_names_need(db, settings, clock):
    # given: a Persian name with a zero-width non-joiner, an emoji sequence with joiners
    persian = "فاطمه\u200cزهرا"
    emoji = "Ann \U0001f469\u200d\U0001f4bb"

    # when
    _, first = await create_member(db, settings, clock, email="f@example.com", first_name=persian)
    _, second = await create_member(db, settings, clock, email="a@example.com", first_name=emoji)

    # then
    assert (first.first_name, second.first_name) == (persian, emoji)


async def test_refuses_other_invisible_characters_in_names(db, settings, clock):
    # when: a zero-width space (a format character that is not a joiner)
    with pytest.raises(DomainError) as refused:
        await create_member(db, settings, clock, first_name="Ann\u200b")

    # then
    assert (refused.value.code, refused.value.field) == ("INVALID_INPUT", "firstName")
