"""Seed members for the MemberHome benchmark and write access tokens, one a line.

    python bench/memberhome/seed.py --members 1000 --logins 200 --tokens /tmp/tokens.txt

Reads DATABASE_URL (and every other LOYALTY_* setting) from the environment, like the server;
the database must be migrated already (`loyalty migrate`). Idempotent: the e-mails are
deterministic, members that exist already are kept, and every run signs `--logins` of them in
afresh (access tokens live 15 minutes). Uses the services, not HTTP, so that seeding does not
count against the server. Set LOYALTY_ARGON2_TIME_COST=1 LOYALTY_ARGON2_MEMORY_KIB=8, or seeding
1000 members takes minutes of argon2.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from app.auth import service as auth_service
from app.auth.passwords import PasswordHasher
from app.clock import SystemClock
from app.db import Database
from app.errors import EmailTaken
from app.members import service as members_service
from app.settings import Settings

PASSWORD = "bench-Password-2026"


def email(index: int) -> str:
    return f"member-{index:05d}@bench.example"


async def seed(members: int, logins: int, concurrency: int) -> list[str]:
    """Register `members` members (the missing ones) and sign `logins` of them in."""
    settings = Settings()
    db = Database.from_settings(settings)
    clock = SystemClock()
    hasher = PasswordHasher(settings)
    limit = asyncio.Semaphore(concurrency)
    created = 0

    async def register(index: int) -> None:
        nonlocal created
        new = members_service.NewMember(
            email=email(index), password=PASSWORD, first_name=f"Bench{index}", last_name="Member"
        )
        async with limit:
            try:
                await auth_service.register_member(db, settings, clock, hasher, new)
                created += 1
            except EmailTaken:
                pass

    async def sign_in(index: int) -> str:
        async with limit:
            result = await auth_service.login(
                db,
                settings,
                clock,
                hasher,
                kind="member",
                email=email(index),
                password=PASSWORD,
                client_address=None,
            )
        return result.access_token

    try:
        started = time.perf_counter()
        await asyncio.gather(*(register(i) for i in range(members)))
        registered = time.perf_counter()
        # Spread the signed-in members over the whole range.
        step = max(members // logins, 1)
        chosen = list(range(0, members, step))[:logins]
        tokens = await asyncio.gather(*(sign_in(i) for i in chosen))
        finished = time.perf_counter()
    finally:
        await db.dispose()
    print(
        f"seed: {members} members ({created} new) in {registered - started:.1f}s; "
        f"{len(tokens)} signed in in {finished - registered:.1f}s",
        file=sys.stderr,
    )
    return list(tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--logins", type=int, default=200)
    parser.add_argument("--tokens", type=Path, required=True, help="file to write tokens to")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if args.members < 1 or not 1 <= args.logins <= args.members:
        parser.error("need 1 <= --logins <= --members")
    tokens = asyncio.run(seed(args.members, args.logins, args.concurrency))
    args.tokens.write_text("".join(f"{token}\n" for token in tokens))


if __name__ == "__main__":
    main()
