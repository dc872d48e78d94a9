"""Where a purchase's CPU goes, layer by layer: the use cases called directly, without HTTP.

    python bench/checkout/layers.py --seed seed.json --purchases 300

Reads DATABASE_URL like the server (a seeded, migrated database). One till, one purchase at a
time, in this process: `actor_for_token` (what every request does first: the JWT, then the staff
member and their stores), `scan_member_code` (typed card number) and `complete_purchase` (3 lines,
every fifth redeeming 100 points), called as the GraphQL resolvers call them. For each, the CPU
milliseconds of this process per call and the SQL statements it sends (all of them, through
SQLAlchemy or straight to asyncpg: `app.db.watching_statements`). The server's CPU per purchase
(load.py) less these is what HTTP and GraphQL cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import app.models  # noqa: F401  (every table mapped)
from app.auth import service as auth_service
from app.auth.passwords import PasswordHasher
from app.checkout import rules as till
from app.checkout import service as checkout_service
from app.clock import SystemClock
from app.db import Database, watching_statements
from app.kit.money import Money
from app.offers import service as offers_service
from app.program import service as program_service
from app.settings import Settings

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from load import REDEEM_EVERY, REDEEM_POINTS, basket  # noqa: E402


async def run(seed: dict, purchases: int, warmup: int) -> None:
    settings = Settings()
    db = Database.from_settings(settings)
    clock = SystemClock()
    statements: Counter[str] = Counter()
    current = ["-"]

    show = bool(os.environ.get("LAYERS_SQL"))

    def count(sql: str) -> None:  # every statement, through SQLAlchemy or straight to asyncpg
        statements[current[0]] += 1
        if show:
            print(f"[{current[0]}] {' '.join(sql.split())[:160]}")

    watching = watching_statements(db.engine, count)
    watching.__enter__()

    actors = auth_service.ActorCache()  # as the server keeps them
    rules_cache = program_service.RulesCache()
    offers_cache = offers_service.OffersCache()
    cashier = seed["cashiers"][0]
    login = await auth_service.login(
        db, settings, clock, PasswordHasher(settings), kind="staff", email=cashier["email"],
        password=seed["password"], client_address=None,
    )  # fmt: skip
    secret = settings.member_code_secret.get_secret_value().encode()
    rng = random.Random("layers")
    cpu: Counter[str] = Counter()
    wall: Counter[str] = Counter()

    async def step(name: str, coroutine):  # type: ignore[no-untyped-def]
        current[0] = name
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        result = await coroutine
        cpu[name] += time.process_time() - cpu_before
        wall[name] += time.perf_counter() - wall_before
        current[0] = "-"
        return result

    try:
        for n in range(warmup + purchases):
            if n == warmup:
                cpu.clear(), wall.clear(), statements.clear()
            actor = await step(
                "actor_for_token (x2: scan and complete)",
                auth_service.actor_for_token(db, settings, clock, login.access_token, cache=actors),
            )
            await auth_service.actor_for_token(
                db, settings, clock, login.access_token, cache=actors
            )
            opened = await step(
                "scan_member_code",
                checkout_service.scan_member_code(
                    db, actor, clock, secret, code=rng.choice(seed["members"])["card_number"],
                    store_id=seed["store_id"], rules_cache=rules_cache,
                ),
            )  # fmt: skip
            total, lines = basket(rng)
            redeem = REDEEM_POINTS if n % REDEEM_EVERY == REDEEM_EVERY - 1 else 0
            command = checkout_service.PurchaseCommand(
                checkout_id=str(opened.checkout.id),
                receipt_number=f"L{uuid.uuid4().hex[:12]}",
                total=Money(total, "USD"),
                lines=[
                    (
                        till.Line(
                            line["sku"],
                            line["category"],
                            line["quantity"],
                            line["amount"]["amount"],
                        ),
                        "USD",
                    )
                    for line in lines
                ],
                redeem_points=redeem,
                idempotency_key=str(uuid.uuid4()),
            )
            await step(
                "complete_purchase",
                checkout_service.complete_purchase(
                    db, actor, clock, command, rules_cache=rules_cache, offers_cache=offers_cache
                ),
            )
    finally:
        watching.__exit__(None, None, None)
        await db.dispose()
    print(f"{purchases} purchases, one at a time, in one process (CPU and wall per purchase)")
    print(f"{'step':<42} {'cpu ms':>7} {'wall ms':>8} {'SQL':>5}")
    for name in cpu:
        factor = 2 if name.startswith("actor_for_token") else 1
        print(
            f"{name:<42} {1000 * factor * cpu[name] / purchases:7.1f} "
            f"{1000 * factor * wall[name] / purchases:8.1f} "
            f"{factor * statements[name] / purchases:5.1f}"
        )
    total_cpu = sum(cpu.values()) + cpu["actor_for_token (x2: scan and complete)"]
    print(f"{'total':<42} {1000 * total_cpu / purchases:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", required=True, type=Path)
    parser.add_argument("--purchases", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    if not 1 <= args.purchases <= 100_000:
        parser.error("--purchases is 1 to 100000")
    asyncio.run(run(json.loads(args.seed.read_text()), args.purchases, args.warmup))


if __name__ == "__main__":
    main()
