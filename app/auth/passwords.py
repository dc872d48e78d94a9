"""Password hashing with argon2id through passlib's API (installed as `libpass`)."""

from __future__ import annotations

import asyncio

from passlib.context import CryptContext

from app.errors import WeakPassword
from app.settings import Settings

MIN_LENGTH = 10
MAX_LENGTH = 256


class PasswordHasher:
    def __init__(self, settings: Settings) -> None:
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__time_cost=settings.argon2_time_cost,
            argon2__memory_cost=settings.argon2_memory_kib,
            argon2__parallelism=1,
        )
        # Verified against when the account does not exist, so that a miss costs as much time
        # as a hit and does not tell which e-mails have accounts.
        self._dummy = self._context.hash("not-a-real-password-0123456789")

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self._context.hash, password)

    async def verify(self, password: str, hashed: str | None) -> bool:
        if len(password) > MAX_LENGTH:
            return False
        try:
            ok = await asyncio.to_thread(self._context.verify, password, hashed or self._dummy)
        except (ValueError, TypeError):  # a malformed stored hash: no password matches it
            return False
        return ok and hashed is not None


def check_strength(password: str) -> None:
    """At least 10 characters, and not of one character class only."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"Use at least {MIN_LENGTH} characters.", field="password")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"Use at most {MAX_LENGTH} characters.", field="password")
    if password.strip() == "":
        raise WeakPassword("A password cannot be only spaces.", field="password")
    classes = {
        "lower" if c.islower() else "upper" if c.isupper() else "digit" if c.isdigit() else "other"
        for c in password
    }
    if len(classes) < 2:
        raise WeakPassword(
            "Mix letters with digits, capitals or symbols: one kind of character alone is too "
            "easy to guess.",
            field="password",
        )
