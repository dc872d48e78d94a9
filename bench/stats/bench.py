"""The operator's view on a big program: ProgramOverview and FindMember on PostgreSQL.

    DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:5432/loyalty_bench_stats \
        MEMBERS=100000 /path/to/venv/bin/python bench/stats/bench.py

Seeds (SQL-level, in seconds, only when the database has fewer members than MEMBERS): 20 stores,
MEMBERS members (COPY) with names, phones and Luhn card numbers, their accounts, 5 purchases
each over the last year (generate_series), the accounts' last two purchase times and the daily
totals derived from those purchases, with the per-day counts of members by last and previous
purchase day (as the live upserts would have written them). Then it
times, through POST /graphql in-process (httpx + ASGI, no network), ROUNDS of ProgramOverview
and of FindMember by card, phone, e-mail prefix and name prefix, and prints EXPLAIN ANALYZE of
the statements behind them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.engine import make_url

import app.models  # noqa: F401
from app.auth import service as auth_service
from app.auth.actors import SystemActor
from app.auth.passwords import PasswordHasher
from app.clock import SystemClock
from app.db import Database, make_engine
from app.kit import luhn
from app.main import create_app
from app.members import service as members_service
from app.migrate import migrate
from app.settings import Settings
from app.staff import service as staff_service
from app.stats import queries as stats_queries
from app.stats import service as stats_service
from app.stores import service as stores_service

MEMBERS = int(os.environ.get("MEMBERS", "100000"))
ROUNDS = int(os.environ.get("ROUNDS", "50"))
STORES = 20
PURCHASES_EACH = 5
FIRST = ["Anna", "Ann", "Maria", "José", "Zoë", "Bob", "Olga", "Ivan", "Li", "Fatima", "Omar",
         "Chloé", "Lukas", "Sofía", "Noah", "Emma", "Yuki", "Priya", "Kwame", "Åsa"]  # fmt: skip
LAST = ["Smith", "Müller", "Kowalski", "García", "Ivanova", "Chen", "Okafor", "Dubois", "Rossi",
        "Nguyen", "Andersson", "Kim", "Silva", "Novak", "Haddad", "Brown", "Jensen", "Sato",
        "Kumar", "Øster"]  # fmt: skip
ADMIN_EMAIL = "bench-admin@example.com"
PASSWORD = "correct-Horse-9"

OPERATIONS = Path(__file__).resolve().parent.parent.parent / "schema" / "operations"
OVERVIEW = (OPERATIONS / "admin.graphql").read_text()


def card(index: int) -> str:
    body = "7" + f"{index:014d}"
    return body + luhn.check_digit(body)


def member_rows(start: int, count: int, now: dt.datetime) -> list[tuple[Any, ...]]:
    rows = []
    rng = random.Random(start)
    for index in range(start, start + count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        created = now - dt.timedelta(days=400 + index % 300)
        rows.append(
            (
                uuid.uuid4(), f"member{index}@example.com", "x", first, last,
                f"+1415{index:07d}", "en", False, card(index), f"R{index:011d}", 1, True,
                created, created, members_service.search_key(f"{first} {last}"),
                members_service.search_key(f"{last} {first}"),
            )
        )  # fmt: skip
    return rows


async def seed(settings: Settings, db: Database) -> None:
    clock = SystemClock()
    now = clock.now()
    url = make_url(settings.database_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        have = await conn.fetchval("SELECT count(*) FROM members")
        if have >= MEMBERS:
            print(f"seed: {have} members already", file=sys.stderr)
            return
        started = time.monotonic()
        store_ids = []
        for index in range(STORES):
            code = f"S{index:02d}"
            async with db.read() as session:
                found = await stores_service.find_store_by_code(session, code)
            if found is None:
                found = await stores_service.create_store(
                    db, SystemActor(), clock, stores_service.NewStore(code=code, name=code)
                )
            store_ids.append(found.id)
        async with db.read() as session:
            admin = await staff_service.find_staff_by_email(session, ADMIN_EMAIL)
        if admin is None:
            admin = await auth_service.create_staff(
                db, SystemActor(), clock, PasswordHasher(settings),
                staff_service.NewStaff(email=ADMIN_EMAIL, role="ADMIN", store_ids=[]),
                password=PASSWORD,
            )  # fmt: skip
        columns = [
            "id", "email", "password_hash", "first_name", "last_name", "phone", "locale",
            "marketing_consent", "card_number", "referral_code", "static_code_version", "active",
            "created_at", "updated_at", "name_key", "surname_key",
        ]  # fmt: skip
        for start in range(have, MEMBERS, 10000):
            rows = member_rows(start, min(10000, MEMBERS - start), now)
            await conn.copy_records_to_table("members", records=rows, columns=columns)
            print(f"\rseed: {start + len(rows)} members", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        await conn.execute(
            """
            INSERT INTO member_accounts (member_id, available, pending, lifetime_earned,
                tier_code, tier_year_ends_at, entry_count, last_entry_hash, version, created_at,
                updated_at)
            SELECT m.id, 0, 0, 0, 'BRONZE', $1, 0, '', 0, m.created_at, m.created_at
            FROM members m LEFT JOIN member_accounts a ON a.member_id = m.id
            WHERE a.member_id IS NULL
            """,
            now + dt.timedelta(days=365),
        )
        checkout = await conn.fetchval(
            "INSERT INTO checkouts (id, member_id, staff_id, store_id, code_kind, opened_at, "
            "expires_at) SELECT $1, (SELECT id FROM members LIMIT 1), $2, $3, 'typed', $4, $4 "
            "RETURNING id",
            uuid.uuid4(), admin.id, store_ids[0], now,
        )  # fmt: skip
        await conn.execute(
            """
            INSERT INTO purchases (id, member_id, checkout_id, store_id, staff_id, receipt_number,
                currency, total, discount, amount_paid, points_earned, points_redeemed,
                base_points, refunded_amount, points_reversed, points_restored,
                qualifying_reversed, tier_before, tier_after, rules_version, created_at)
            SELECT gen_random_uuid(), m.id, $1, ($2::uuid[])[1 + (m.n + k) % $3], $4,
                'R-' || k, 'USD', 500 + (m.n * 37 + k * 101) % 20000, 0,
                500 + (m.n * 37 + k * 101) % 20000, (500 + (m.n * 37 + k * 101) % 20000) / 100,
                0, (500 + (m.n * 37 + k * 101) % 20000) / 100, 0, 0, 0, 0, 'BRONZE', 'BRONZE',
                1, $5::timestamptz - ((m.n * 7 + k * 53) % 365) * interval '1 day'
                    - ((m.n + k) % 86400) * interval '1 second'
            FROM (SELECT id, row_number() OVER (ORDER BY id) AS n FROM members) m,
                generate_series(1, $6) AS k
            WHERE NOT EXISTS (SELECT 1 FROM purchases p WHERE p.member_id = m.id)
            """,
            checkout, store_ids, STORES, admin.id, now, PURCHASES_EACH,
        )  # fmt: skip
        await conn.execute(
            """
            UPDATE member_accounts a SET last_purchase_at = r.last, prev_purchase_at = r.prev
            FROM (SELECT member_id, max(created_at) FILTER (WHERE rank = 1) AS last,
                         max(created_at) FILTER (WHERE rank = 2) AS prev
                  FROM (SELECT member_id, created_at, row_number() OVER (
                          PARTITION BY member_id ORDER BY created_at DESC) AS rank
                        FROM purchases) ranked
                  WHERE rank <= 2 GROUP BY member_id) r
            WHERE a.member_id = r.member_id
            """
        )
        await conn.execute("DELETE FROM daily_totals")
        await conn.execute(
            """
            INSERT INTO daily_totals (store_id, day, shard, joined, purchases, amount, issued,
                redeemed, expired, last_buyers, prev_buyers)
            SELECT s, day, 0, 0, count(*), sum(amount_paid), sum(points_earned), 0, 0, 0, 0
            FROM (SELECT store_id AS s, date(timezone('UTC', created_at)) AS day, amount_paid,
                         points_earned FROM purchases
                  UNION ALL
                  SELECT '00000000-0000-0000-0000-000000000000'::uuid,
                         date(timezone('UTC', created_at)), amount_paid, points_earned
                  FROM purchases) p
            GROUP BY s, day
            """
        )
        await conn.execute(
            """
            INSERT INTO daily_totals AS t (store_id, day, shard, joined, purchases, amount,
                issued, redeemed, expired, last_buyers, prev_buyers)
            SELECT '00000000-0000-0000-0000-000000000000'::uuid,
                   date(timezone('UTC', created_at)), 0, count(*), 0, 0, 0, 0, 0, 0, 0
            FROM members GROUP BY 2
            ON CONFLICT (store_id, day, shard) DO UPDATE SET joined = t.joined + EXCLUDED.joined
            """
        )
        await conn.execute(
            """
            INSERT INTO daily_totals AS t (store_id, day, shard, joined, purchases, amount,
                issued, redeemed, expired, last_buyers, prev_buyers)
            SELECT '00000000-0000-0000-0000-000000000000'::uuid, day, 0, 0, 0, 0, 0, 0, 0,
                   sum(last), sum(prev)
            FROM (SELECT date(timezone('UTC', last_purchase_at)) AS day, 1 AS last, 0 AS prev
                  FROM member_accounts WHERE last_purchase_at IS NOT NULL
                  UNION ALL
                  SELECT date(timezone('UTC', prev_purchase_at)), 0, 1
                  FROM member_accounts WHERE prev_purchase_at IS NOT NULL) a
            GROUP BY day
            ON CONFLICT (store_id, day, shard) DO UPDATE
                SET last_buyers = EXCLUDED.last_buyers, prev_buyers = EXCLUDED.prev_buyers
            """
        )
        await conn.execute("ANALYZE")
        print(f"seed: done in {time.monotonic() - started:.0f} s", file=sys.stderr)
    finally:
        await conn.close()


def summary(label: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return (
        f"{label:<32} median {statistics.median(ordered) * 1000:7.2f} ms   "
        f"p95 {p95 * 1000:7.2f} ms   ({len(ordered)} runs)"
    )


async def timed(http: httpx.AsyncClient, query: str, name: str, variables: dict[str, Any],
                token: str, check: Any) -> list[float]:  # fmt: skip
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        response = await http.post(
            "/graphql",
            json={"query": query, "operationName": name, "variables": variables},
            headers={"authorization": f"Bearer {token}"},
        )
        samples.append(time.perf_counter() - started)
        body = response.json()
        assert response.status_code == 200 and "errors" not in body, body
        check(body["data"])
    return samples


async def explain(db: Database, label: str, statement: Any) -> None:
    compiled = statement.compile(dialect=db.engine.dialect, compile_kwargs={"literal_binds": True})
    async with db.engine.connect() as conn:
        rows = await conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {compiled}"))
        print(f"\n-- {label}")
        for (line,) in rows:
            print(f"   {line}")


async def main() -> None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgresql"):
        sys.exit("bench/stats: set DATABASE_URL=postgresql+asyncpg://... (an existing database)")
    settings = Settings(
        database_url=url, env="development", argon2_time_cost=1, argon2_memory_kib=8,
        log_level="WARNING",
    )  # fmt: skip
    db = Database(make_engine(settings))
    clock = SystemClock()
    await migrate(settings, db, clock)
    await seed(settings, db)
    token = (
        await auth_service.login(
            db,
            settings,
            clock,
            PasswordHasher(settings),
            kind="staff",
            email=ADMIN_EMAIL,
            password=PASSWORD,
            client_address=None,
        )
    ).access_token
    async with db.read() as session:
        members = (await session.execute(text("SELECT count(*) FROM members"))).scalar_one()
    sample = card(MEMBERS // 2)
    searches = {
        "FindMember card": f"{sample[:4]} {sample[4:8]} {sample[8:12]} {sample[12:]}",
        "FindMember phone": f"+1415{MEMBERS // 3:07d}",
        "FindMember e-mail prefix": f"member{MEMBERS // 7}@ex",
        "FindMember name prefix 'an'": "an",
        "FindMember name 'maria kow'": "maria kow",
        "FindMember surname 'kowalski m'": "kowalski m",
    }
    app_ = create_app(settings, db=db, clock=clock)
    print(f"\n{members} members, {ROUNDS} runs each, in-process POST /graphql\n")
    async with LifespanManager(app_):
        transport = httpx.ASGITransport(app=app_)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            for _ in range(5):  # warm up: caches, pools
                await timed(http, OVERVIEW, "ProgramOverview", {}, token, lambda data: None)
            overview = await timed(
                http, OVERVIEW, "ProgramOverview", {}, token,
                lambda data: data["stats"]["members"] == members or sys.exit("wrong count"),
            )  # fmt: skip
            floor = await timed(
                http, "query Floor { program { name } }", "Floor", {}, token, lambda data: None
            )
            print(summary("floor: { program { name } }", floor))
            print(summary("ProgramOverview", overview))
            for label, search in searches.items():
                await timed(http, OVERVIEW, "FindMember", {"search": search}, token, id)
                found = await timed(
                    http, OVERVIEW, "FindMember", {"search": search}, token,
                    lambda data, s=search: data["members"]["edges"] or sys.exit(f"none: {s!r}"),
                )  # fmt: skip
                print(summary(label, found))
    now = clock.now()
    async with db.read() as session:
        drift = (await session.execute(stats_service.histogram_check_statement("postgresql"))).all()
    print(f"\nper-day member counts against the accounts: {len(drift)} days differ")
    await explain(db, "stats: member activity", stats_service.activity_statement(now=now))
    await explain(
        db, "stats: program totals", stats_service.totals_statement(stats_service.ALL_STORES)
    )
    await explain(
        db,
        "stats rebuild: the accounts' histogram",
        stats_service.histogram_statement("postgresql"),
    )
    for label, search in searches.items():
        await explain(db, label, stats_queries.search_statement(search))
    await db.dispose()


if __name__ == "__main__":
    import argparse

    # No options: the settings are environment variables; --help says so and stops.
    argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Settings: DATABASE_URL (an existing PostgreSQL database), MEMBERS, ROUNDS.",
    ).parse_args()
    asyncio.run(main())
