"""auth_service.login: credentials, throttling per account and per client address."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from app.auth import service as auth_service
from app.auth.actors import MemberActor, StaffActor
from app.auth.models import AuthSession, LoginFailure
from app.errors import DomainError
from app.members.models import Member
from app.staff.models import Staff
from tests.service.helpers import actor_for, count_rows
from tests.support import PASSWORD, create_member, create_staff, create_store

WRONG = "wrong-Password-1"
HOME = "198.51.100.1"
OFFICE = "198.51.100.2"


async def login(
    db,
    settings,
    clock,
    hasher,
    *,
    email: str = "ann@example.com",
    password: str = PASSWORD,
    kind: str = "member",
    address: str | None = None,
) -> auth_service.AuthTokens:
    return await auth_service.login(
        db,
        settings,
        clock,
        hasher,
        kind=kind,
        email=email,
        password=password,
        client_address=address,
    )


async def login_error(db, settings, clock, hasher, **kwargs) -> tuple[str, str | None]:
    with pytest.raises(DomainError) as raised:
        await login(db, settings, clock, hasher, **kwargs)
    return raised.value.code, raised.value.field


async def test_member_signs_in(db, settings, clock, hasher):
    # given
    _, member = await create_member(db, settings, clock)

    # when
    tokens = await login(db, settings, clock, hasher, email=" ANN@example.com ")

    # then
    assert (tokens.subject_kind, tokens.subject_id) == ("member", member.id)
    assert await actor_for(db, settings, clock, tokens) == MemberActor(member.id)
    assert await count_rows(db, AuthSession) == 2


async def test_staff_signs_in(db, settings, clock, hasher):
    # given
    store = await create_store(db, clock)
    staff = await create_staff(
        db, settings, clock, email="cashier@example.com", store_ids=[str(store.id)]
    )

    # when
    tokens = await login(db, settings, clock, hasher, kind="staff", email="cashier@example.com")

    # then
    assert (tokens.subject_kind, tokens.subject_id) == ("staff", staff.id)
    assert await actor_for(db, settings, clock, tokens) == StaffActor(
        staff.id, "CASHIER", frozenset({store.id})
    )


async def test_wrong_password_is_invalid_credentials(db, settings, clock, hasher):
    # given
    await create_member(db, settings, clock)

    # when
    error = await login_error(db, settings, clock, hasher, password=WRONG)

    # then
    assert error == ("INVALID_CREDENTIALS", None)
    assert await count_rows(db, AuthSession) == 1


async def test_unknown_email_is_invalid_credentials(db, settings, clock, hasher):
    # given
    await create_member(db, settings, clock)

    # when
    error = await login_error(db, settings, clock, hasher, email="nobody@example.com")

    # then
    assert error == ("INVALID_CREDENTIALS", None)


async def test_staff_login_with_member_credentials_fails(db, settings, clock, hasher):
    # given
    await create_member(db, settings, clock)

    # when
    error = await login_error(db, settings, clock, hasher, kind="staff")

    # then
    assert error == ("INVALID_CREDENTIALS", None)
    assert await count_rows(db, AuthSession) == 1


async def test_member_login_with_staff_credentials_fails(db, settings, clock, hasher):
    # given
    await create_staff(db, settings, clock, email="admin@example.com", role="ADMIN")

    # when
    error = await login_error(db, settings, clock, hasher, email="admin@example.com")

    # then
    assert error == ("INVALID_CREDENTIALS", None)
    assert await count_rows(db, AuthSession) == 0


async def test_disabled_member_is_refused(db, settings, clock, hasher):
    # given
    _, member = await create_member(db, settings, clock)
    async with db.transaction() as session:
        await session.execute(update(Member).where(Member.id == member.id).values(active=False))

    # when
    error = await login_error(db, settings, clock, hasher)

    # then
    assert error == ("ACCOUNT_DISABLED", None)
    assert await count_rows(db, AuthSession) == 1


async def test_disabled_staff_is_refused(db, settings, clock, hasher):
    # given
    staff = await create_staff(db, settings, clock, email="admin@example.com", role="ADMIN")
    async with db.transaction() as session:
        await session.execute(update(Staff).where(Staff.id == staff.id).values(active=False))

    # when
    error = await login_error(db, settings, clock, hasher, kind="staff", email="admin@example.com")

    # then
    assert error == ("ACCOUNT_DISABLED", None)


async def test_disabled_account_with_a_wrong_password_is_invalid_credentials(
    db, settings, clock, hasher
):
    # given
    _, member = await create_member(db, settings, clock)
    async with db.transaction() as session:
        await session.execute(update(Member).where(Member.id == member.id).values(active=False))

    # when
    error = await login_error(db, settings, clock, hasher, password=WRONG)

    # then
    assert error == ("INVALID_CREDENTIALS", None)


async def test_ten_failures_lock_the_account_even_with_the_right_password(
    db, settings, clock, hasher
):
    # given
    await create_member(db, settings, clock)
    for attempt in range(10):
        email = "ANN@example.com" if attempt % 2 else "ann@example.com"
        assert await login_error(db, settings, clock, hasher, email=email, password=WRONG) == (
            "INVALID_CREDENTIALS",
            None,
        )
        clock.advance(seconds=30)

    # when
    error = await login_error(db, settings, clock, hasher)

    # then
    assert error == ("RATE_LIMITED", None)


async def test_nine_failures_do_not_lock_the_account(db, settings, clock, hasher):
    # given
    _, member = await create_member(db, settings, clock)
    for _ in range(9):
        await login_error(db, settings, clock, hasher, password=WRONG)

    # when
    tokens = await login(db, settings, clock, hasher)

    # then
    assert tokens.subject_id == member.id


async def test_the_account_opens_again_when_the_window_has_passed(db, settings, clock, hasher):
    # given
    _, member = await create_member(db, settings, clock)
    for _ in range(10):
        await login_error(db, settings, clock, hasher, password=WRONG)
    clock.advance(minutes=14, seconds=59)
    assert await login_error(db, settings, clock, hasher) == ("RATE_LIMITED", None)
    clock.advance(seconds=1)

    # when
    tokens = await login(db, settings, clock, hasher)

    # then
    assert tokens.subject_id == member.id


async def test_a_success_clears_the_accounts_failures(db, settings, clock, hasher):
    # given
    _, member = await create_member(db, settings, clock)
    for _ in range(9):
        await login_error(db, settings, clock, hasher, password=WRONG)
    await login(db, settings, clock, hasher)
    for _ in range(9):
        await login_error(db, settings, clock, hasher, password=WRONG)

    # when
    tokens = await login(db, settings, clock, hasher)

    # then
    assert tokens.subject_id == member.id


async def test_member_and_staff_accounts_are_throttled_apart(db, settings, clock, hasher):
    # given
    _, member = await create_member(db, settings, clock, email="ann@example.com")
    for _ in range(10):
        await login_error(db, settings, clock, hasher, kind="staff", password=WRONG)

    # when
    tokens = await login(db, settings, clock, hasher)

    # then
    assert tokens.subject_id == member.id


async def test_ten_failures_from_one_address_lock_that_address(db, settings, clock, hasher):
    # given
    _, member = await create_member(db, settings, clock, email="ann@example.com")
    for number in range(10):
        assert await login_error(
            db, settings, clock, hasher, email=f"guess{number}@example.com", address=HOME
        ) == ("INVALID_CREDENTIALS", None)

    # when
    from_home = await login_error(db, settings, clock, hasher, address=HOME)
    from_office = await login(db, settings, clock, hasher, address=OFFICE)

    # then
    assert from_home == ("RATE_LIMITED", None)
    assert from_office.subject_id == member.id


async def test_the_address_opens_again_when_the_window_has_passed(db, settings, clock, hasher):
    # given
    _, member = await create_member(db, settings, clock, email="ann@example.com")
    for number in range(10):
        await login_error(
            db, settings, clock, hasher, email=f"guess{number}@example.com", address=HOME
        )
    clock.advance(minutes=15)

    # when
    tokens = await login(db, settings, clock, hasher, address=HOME)

    # then
    assert tokens.subject_id == member.id


async def test_failures_are_recorded_per_account_and_per_address(db, settings, clock, hasher):
    # given
    await create_member(db, settings, clock)

    # when
    await login_error(
        db, settings, clock, hasher, email=" Ann@Example.com", password=WRONG, address=HOME
    )

    # then
    async with db.read() as session:
        failures = (await session.scalars(select(LoginFailure))).all()
    assert sorted((f.key, f.created_at) for f in failures) == [
        ("account:member:ann@example.com", clock.now()),
        (f"address:{HOME}", clock.now()),
    ]


async def test_a_rate_limited_attempt_records_no_failure(db, settings, clock, hasher):
    # given
    await create_member(db, settings, clock)
    for _ in range(10):
        await login_error(db, settings, clock, hasher, password=WRONG)

    # when
    error = await login_error(db, settings, clock, hasher, password=WRONG)

    # then
    assert error == ("RATE_LIMITED", None)
    assert await count_rows(db, LoginFailure) == 10


@pytest.mark.parametrize(
    "email",
    [
        "x" * 400 + "@example.com",
        "ann\x00@example.com",
        "",
        "   ",
        "ann@example",
        "ann\u202e@example.com",
    ],
)
async def test_an_email_no_account_can_have_is_invalid_credentials(
    db, settings, clock, hasher, email
):
    # given
    await create_member(db, settings, clock)

    # when
    error = await login_error(db, settings, clock, hasher, email=email, address=HOME)

    # then
    assert error == ("INVALID_CREDENTIALS", None)
    async with db.read() as session:
        keys = (await session.scalars(select(LoginFailure.key))).all()
    assert keys == [f"address:{HOME}"]


async def test_failures_with_odd_emails_still_lock_the_address(db, settings, clock, hasher):
    # given
    await create_member(db, settings, clock)
    for number in range(10):
        await login_error(db, settings, clock, hasher, email=f"{number}\x00", address=HOME)

    # when
    error = await login_error(db, settings, clock, hasher, address=HOME)

    # then
    assert error == ("RATE_LIMITED", None)
