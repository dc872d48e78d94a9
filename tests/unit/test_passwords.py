from __future__ import annotations

import pytest

from app.auth.passwords import PasswordHasher, check_strength
from app.errors import WeakPassword
from app.settings import Settings

SHORT = "Use at least 10 characters."
LONG = "Use at most 256 characters."
SPACES = "A password cannot be only spaces."
ONE_CLASS = (
    "Mix letters with digits, capitals or symbols: one kind of character alone is too easy to "
    "guess."
)


@pytest.fixture(scope="module")
def hasher() -> PasswordHasher:
    return PasswordHasher(Settings(argon2_time_cost=1, argon2_memory_kib=8, _env_file=None))  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("", SHORT),
        ("Ab1!", SHORT),
        ("Abcdef12!", SHORT),  # 9 characters
        ("é" * 9, SHORT),
        ("abcdefghijkl", ONE_CLASS),
        ("ABCDEFGHIJKL", ONE_CLASS),
        ("0123456789", ONE_CLASS),
        ("!@#$%^&*()_+", ONE_CLASS),
        ("éèàùâêîôûç", ONE_CLASS),
        ("٠١٢٣٤٥٦٧٨٩", ONE_CLASS),  # Arabic-Indic digits only
        (" " * 10, SPACES),
        (" " * 300, LONG),
        ("Aa1!" * 64 + "x", LONG),  # 257 characters
    ],
)
def test_refuses_a_weak_password_on_the_password_field(password: str, message: str) -> None:
    # when
    with pytest.raises(WeakPassword) as raised:
        check_strength(password)

    # then
    error = raised.value
    assert (error.code, error.field, error.message) == ("WEAK_PASSWORD", "password", message)


@pytest.mark.parametrize(
    "password",
    [
        "abcdefghi1",  # exactly 10
        "correct-horse",
        "Tr0ub4dor&3",
        "ALLCAPS123",
        "Aa1!" * 64,  # exactly 256
        "пароль-2026",
        "motdepasse É",
    ],
)
def test_accepts_a_password_mixing_character_classes(password: str) -> None:
    # when
    result = check_strength(password)

    # then
    assert result is None


async def test_hashes_with_argon2id_and_the_configured_cost(hasher: PasswordHasher) -> None:
    # when
    hashed = await hasher.hash("Tr0ub4dor&3")

    # then
    assert hashed.startswith("$argon2id$v=19$m=8,t=1,p=1$")


async def test_hashes_the_same_password_differently_each_time(hasher: PasswordHasher) -> None:
    # when
    first = await hasher.hash("Tr0ub4dor&3")
    second = await hasher.hash("Tr0ub4dor&3")

    # then
    assert first != second


async def test_verifies_the_right_password(hasher: PasswordHasher) -> None:
    # given
    hashed = await hasher.hash("Tr0ub4dor&3")

    # when
    verified = await hasher.verify("Tr0ub4dor&3", hashed)

    # then
    assert verified is True


@pytest.mark.parametrize("attempt", ["tr0ub4dor&3", "Tr0ub4dor&3 ", "", "Tr0ub4dor&"])
async def test_refuses_a_wrong_password(hasher: PasswordHasher, attempt: str) -> None:
    # given
    hashed = await hasher.hash("Tr0ub4dor&3")

    # when
    verified = await hasher.verify(attempt, hashed)

    # then
    assert verified is False


async def test_verify_against_no_hash_is_false(hasher: PasswordHasher) -> None:
    # when
    verified = await hasher.verify("not-a-real-password-0123456789", None)

    # then
    assert verified is False


async def test_verify_refuses_an_oversize_password_without_hashing_it(
    hasher: PasswordHasher,
) -> None:
    # given
    password = "Aa1!" * 64 + "x"
    hashed = await hasher.hash(password)

    # when
    verified = await hasher.verify(password, hashed)

    # then
    assert verified is False


async def test_verifies_a_unicode_password(hasher: PasswordHasher) -> None:
    # given
    hashed = await hasher.hash("пароль-2026 🙂")

    # when
    verified = await hasher.verify("пароль-2026 🙂", hashed)

    # then
    assert verified is True
