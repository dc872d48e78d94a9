"""Seed the checkout benchmark: one store, cashiers, and members with points to redeem.

    python bench/checkout/seed.py --members 2000 --cashiers 32 --out /tmp/seed.json

Reads DATABASE_URL (and every other LOYALTY_* setting) from the environment, like the server;
the database must be migrated already (`loyalty migrate`). Everything goes through the services
(stores, staff, members, adjust_points), not HTTP, so seeding does not count against the server.
Each member gets `--points` points by an admin's adjustment, so that every fifth purchase can
redeem. Writes a JSON file with the store, the cashiers' logins and the members' card numbers
(what a cashier types at the till). Set LOYALTY_ARGON2_TIME_COST=1 LOYALTY_ARGON2_MEMORY_KIB=8,
or registering thousands of members takes minutes of argon2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from app.auth import service as auth_service
from app.auth.actors import StaffActor, SystemActor
from app.auth.passwords import PasswordHasher
from app.clock import SystemClock
from app.db import Database
from app.ledger import service as ledger_service
from app.members import service as members_service
from app.settings import Settings
from app.staff import service as staff_service
from app.stores import service as stores_service

PASSWORD = "bench-Password-2026"


async def seed(members: int, cashiers: int, points: int, concurrency: int) -> dict[str, object]:
    settings = Settings()
    db = Database.from_settings(settings)
    clock = SystemClock()
    hasher = PasswordHasher(settings)
    system = SystemActor("bench")
    limit = asyncio.Semaphore(concurrency)
    try:
        started = time.perf_counter()
        store = await stores_service.create_store(
            db, system, clock, stores_service.NewStore(code="BENCH", name="Bench st.")
        )
        admin = await auth_service.create_staff(
            db,
            system,
            clock,
            hasher,
            staff_service.NewStaff(email="admin@bench.example", role="ADMIN", store_ids=[]),
            password=PASSWORD,
        )
        admin_actor = StaffActor(admin.id, "ADMIN", frozenset())

        async def cashier(index: int) -> dict[str, str]:
            email = f"cashier-{index:03d}@bench.example"
            async with limit:
                staff = await auth_service.create_staff(
                    db,
                    system,
                    clock,
                    hasher,
                    staff_service.NewStaff(email=email, role="CASHIER", store_ids=[str(store.id)]),
                    password=PASSWORD,
                )
            return {"id": str(staff.id), "email": email}

        async def member(index: int) -> dict[str, str]:
            new = members_service.NewMember(
                email=f"member-{index:05d}@bench.example",
                password=PASSWORD,
                first_name=f"Bench{index}",
                last_name="Member",
            )
            async with limit:
                _, created = await auth_service.register_member(db, settings, clock, hasher, new)
                if points:
                    await ledger_service.adjust_points(
                        db,
                        admin_actor,
                        clock,
                        member_id=str(created.id),
                        points=points,
                        reason="Benchmark opening balance",
                        idempotency_key=f"bench-opening-{index}",
                    )
            return {"id": str(created.id), "card_number": created.card_number}

        tills = await asyncio.gather(*(cashier(i) for i in range(cashiers)))
        people = await asyncio.gather(*(member(i) for i in range(members)))
        print(
            f"seed: 1 store, {cashiers} cashiers, {members} members with {points} points each "
            f"in {time.perf_counter() - started:.1f}s",
            file=sys.stderr,
        )
    finally:
        await db.dispose()
    return {
        "store_id": str(store.id),
        "password": PASSWORD,
        "cashiers": tills,
        "members": people,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--cashiers", type=int, default=32)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, required=True, help="the JSON file to write")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    if args.members < 1 or args.cashiers < 1 or args.points < 0:
        parser.error("need --members >= 1, --cashiers >= 1, --points >= 0")
    data = asyncio.run(seed(args.members, args.cashiers, args.points, args.concurrency))
    args.out.write_text(json.dumps(data, indent=1))


if __name__ == "__main__":
    main()
