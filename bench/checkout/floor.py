"""The floor: the database work of scan + complete purchase, straight on asyncpg, in one process.

    python bench/checkout/floor.py --dsn postgresql://postgres@127.0.0.1:5432/DB --seed seed.json \
        --tills 8 --duration 20 --warmup 3 [--one-member]

No HTTP, no GraphQL, no ORM: N concurrent tasks (the tills, one pool connection each at most)
run the minimal statements that a purchase needs, with the same data as load.py (3 lines, every
fifth purchase of a till redeeming 100 points, a fresh receipt number and idempotency key):

  scan (autocommit)   1 member by card number  2 the account  3 INSERT the checkout
  complete (one transaction: BEGIN ... COMMIT)
                      1 the idempotency key's advisory lock, the checkout and its
                        account FOR UPDATE (one statement)
                      2 the idempotency record  3 INSERT the purchase  4 INSERT its 3 lines
                      redeeming: the oldest lots, UPDATE the lot, INSERT the lot movement
                      5 INSERT the entries (earn, and redeem; one statement, hash-chained)
                      6 INSERT the earned lot  7 UPDATE the account (balances, chain end,
                      qualifying total, expiry bound, last purchase times)  8 INSERT the
                      outbox events (points.earned, points.redeemed)  9 upsert the day's
                      totals (the store's and the program's row)  10 pg_notify the balance
                      11 INSERT the idempotency record
                      (the offers open: asked at most every 5 s per process, as the app does)

That is 3 + 13 statements with BEGIN and COMMIT (16 when redeeming). It writes what the app
writes, hash chain included, so `loyalty verify-ledger` on the floor's database is clean too
(run.sh checks it): the floor is a real ledger, not a shortcut. What it leaves out of the app's
work: resolving the staff member of a token (the app caches it a few seconds), the program rules
(cached too), the store's name (cached), the referral check. Prints one line for people and one
`RESULT {json}` line, as load.py does.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import hashlib
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from app.idempotency.service import key_lock
from app.kit.hashing import chain_hash
from app.kit.ids import new_id

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from load import (  # noqa: E402  (the same basket, percentiles and CPU readings as the tills)
    REDEEM_EVERY,
    REDEEM_POINTS,
    SKUS,
    basket,
    database_cpu,
    database_cpu_spent,
    machine_cpu,
    print_result,
    summary,
)


class OpenOffers:
    """The offers not yet ended, asked at most every 5 s per process: what the app's
    `OffersCache` does (the open offers, then the member's uses, only when some are open)."""

    TTL_SECONDS = 5.0

    def __init__(self) -> None:
        self.windows: list[tuple[dt.datetime | None, dt.datetime | None]] = []
        self.until = 0.0

    async def any_open(self, conn: asyncpg.Connection, now: dt.datetime) -> bool:
        if time.monotonic() >= self.until:
            rows = await conn.fetch(
                "SELECT starts_at, ends_at FROM offers WHERE ends_at IS NULL OR ends_at > $1", now
            )
            self.windows = [(row["starts_at"], row["ends_at"]) for row in rows]
            self.until = time.monotonic() + self.TTL_SECONDS
        return any(
            (ends is None or ends > now) and (starts is None or starts <= now)
            for starts, ends in self.windows
        )


OPEN_OFFERS = OpenOffers()


class FloorError(Exception):
    pass


def entry_row(
    prev_hash: str,
    *,
    member_id: uuid.UUID,
    seq: int,
    kind: str,
    points: int,
    balance_after: int,
    qualifying: int,
    staff_id: uuid.UUID,
    store_id: uuid.UUID,
    purchase_id: uuid.UUID,
    rules_version: int,
    key: str,
    description: str,
    now: dt.datetime,
) -> tuple[Any, ...]:
    """An entry's row, hashed over the fields app.ledger.service.entry_fields names."""
    fields = {
        "member_id": str(member_id),
        "seq": seq,
        "kind": kind,
        "points": points,
        "balance_after": balance_after,
        "qualifying": qualifying,
        "actor_kind": "staff",
        "actor_id": str(staff_id),
        "store_id": str(store_id),
        "purchase_id": str(purchase_id),
        "rules_version": rules_version,
        "idempotency_key": key,
        "description": description,
        "created_at": now.isoformat(),
    }
    digest = chain_hash(prev_hash, fields)
    return (
        new_id(), member_id, seq, kind, points, balance_after, qualifying, "staff", staff_id,
        store_id, purchase_id, rules_version, key, description, prev_hash, digest, now,
    )  # fmt: skip


INSERT_ENTRY_COLUMNS = (
    "id, member_id, seq, kind, points, balance_after, qualifying, actor_kind, actor_id, store_id, "
    "purchase_id, rules_version, idempotency_key, description, prev_hash, hash, created_at"
)


def values(rows: int, columns: int) -> str:
    return ", ".join(
        "(" + ", ".join(f"${r * columns + c + 1}" for c in range(columns)) + ")"
        for r in range(rows)
    )


async def scan(
    conn: asyncpg.Connection, card: str, staff_id: uuid.UUID, store_id: uuid.UUID
) -> uuid.UUID:
    member = await conn.fetchrow(
        "SELECT id, first_name FROM members WHERE card_number = $1 AND active", card
    )
    if member is None:
        raise FloorError(f"no member with card {card}")
    await conn.fetchrow(
        "SELECT available, tier_code FROM member_accounts WHERE member_id = $1", member["id"]
    )
    now = dt.datetime.now(dt.UTC)
    checkout_id = new_id()
    await conn.execute(
        "INSERT INTO checkouts (id, member_id, staff_id, store_id, code_kind, opened_at, "
        "expires_at) VALUES ($1, $2, $3, $4, 'typed', $5, $6)",
        checkout_id, member["id"], staff_id, store_id, now, now + dt.timedelta(minutes=15),
    )  # fmt: skip
    return checkout_id


async def complete(
    conn: asyncpg.Connection,
    rules: asyncpg.Record,
    *,
    checkout_id: uuid.UUID,
    staff_id: uuid.UUID,
    receipt_number: str,
    total: int,
    lines: list[dict[str, Any]],
    redeem: int,
    key: str,
) -> int:
    """Complete one purchase; returns the points redeemed."""
    scope = f"staff:{staff_id}"
    request_hash = hashlib.sha256(
        json.dumps([checkout_id.hex, receipt_number, total, lines, redeem], sort_keys=True).encode()
    ).hexdigest()
    now = dt.datetime.now(dt.UTC)
    async with conn.transaction():
        # The idempotency key's lock, then the checkout and its member's account, locked, in
        # one statement (as the app does).
        account = await conn.fetchrow(
            "SELECT c.member_id, c.staff_id, c.store_id, c.expires_at, a.available, a.pending, "
            "a.debt, a.lifetime_earned, a.entry_count, a.last_entry_hash, a.tier_code, "
            "a.version, a.last_purchase_at, a.prev_purchase_at, pg_advisory_xact_lock($2) "
            "FROM checkouts c JOIN member_accounts a ON a.member_id = c.member_id "
            "WHERE c.id = $1 FOR UPDATE OF a",
            checkout_id,
            key_lock(scope, key),
        )
        if account is None or account["staff_id"] != staff_id or account["expires_at"] <= now:
            raise FloorError("checkout not usable")
        member_id, store_id = account["member_id"], account["store_id"]
        stored = await conn.fetchrow(
            "SELECT request_hash, result FROM idempotency_records "
            "WHERE member_id = $1 AND scope = $2 AND key = $3",
            member_id, scope, key,
        )  # fmt: skip
        if stored is not None:
            raise FloorError("the floor uses fresh keys only")
        if await OPEN_OFFERS.any_open(conn, now):
            raise FloorError("the floor applies no offers (the bench's program has none)")
        if account["debt"]:
            raise FloorError("the floor does not repay debts")
        # 100 points pay 1.00: one point is one cent. Earn 1 point per 1.00 paid.
        discount = redeem * rules["point_value_amount"] // rules["point_value_points"]
        paid = total - discount
        earned = paid // rules["earn_per_amount"] * rules["earn_points"]
        purchase_id = new_id()
        await conn.execute(
            "INSERT INTO purchases (id, member_id, checkout_id, store_id, staff_id, "
            "receipt_number, currency, total, discount, amount_paid, points_earned, "
            "points_redeemed, base_points, refunded_amount, points_reversed, points_restored, "
            "qualifying_reversed, tier_before, tier_after, rules_version, created_at) VALUES "
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 0, 0, 0, 0, $14, $14, "
            "$15, $16)",
            purchase_id, member_id, checkout_id, store_id, staff_id, receipt_number,
            rules["currency"], total, discount, paid, earned, redeem, earned,
            account["tier_code"], rules["version"], now,
        )  # fmt: skip
        line_args: list[Any] = []
        for line in lines:
            line_args += [new_id(), member_id, purchase_id, line["sku"], line["category"]]
            line_args += [line["quantity"], line["amount"]["amount"]]
        await conn.execute(
            "INSERT INTO purchase_lines (id, member_id, purchase_id, sku, category, quantity, "
            f"amount) VALUES {values(len(lines), 7)}",
            *line_args,
        )
        available = account["available"]
        seq = account["entry_count"]
        prev = account["last_entry_hash"]
        entries = []
        moves: list[tuple[uuid.UUID, int]] = []
        where = f"Bench st., receipt {receipt_number}"
        common = dict(
            member_id=member_id, staff_id=staff_id, store_id=store_id, purchase_id=purchase_id,
            rules_version=rules["version"], key=key, now=now,
        )  # fmt: skip
        if redeem:
            lots = await conn.fetch(
                "SELECT id, remaining FROM point_lots WHERE member_id = $1 AND remaining > 0 "
                "AND released ORDER BY expires_at, created_at, id LIMIT 64",
                member_id,
            )
            left = redeem
            for lot in lots:
                part = min(lot["remaining"], left)
                if part:
                    moves.append((lot["id"], part))
                    left -= part
            if left or available < redeem:
                raise FloorError("not enough points")
            await conn.executemany(
                "UPDATE point_lots SET remaining = remaining - $2 WHERE id = $1", moves
            )
            available -= redeem
            seq += 1
            entries.append(
                entry_row(
                    prev,
                    seq=seq,
                    kind="REDEEM",
                    points=-redeem,
                    balance_after=available + account["pending"],
                    qualifying=0,
                    description=f"Paid with points at {where}",
                    **common,
                )
            )
            prev = entries[-1][15]
        available += earned
        seq += 1
        entries.append(
            entry_row(
                prev,
                seq=seq,
                kind="EARN",
                points=earned,
                balance_after=available + account["pending"],
                qualifying=earned,
                description=f"Purchase at {where}",
                **common,
            )
        )
        prev = entries[-1][15]
        await conn.execute(
            f"INSERT INTO ledger_entries ({INSERT_ENTRY_COLUMNS}) VALUES "
            f"{values(len(entries), 17)}",
            *[value for row in entries for value in row],
        )
        if moves:
            redeem_entry = entries[0][0]
            await conn.execute(
                "INSERT INTO lot_movements (id, member_id, entry_id, lot_id, points) VALUES "
                + values(len(moves), 5),
                *[v for lot_id, part in moves for v in (new_id(), member_id, redeem_entry, lot_id, -part)],
            )  # fmt: skip
        if earned:
            await conn.execute(
                "INSERT INTO point_lots (id, member_id, points, remaining, available_from, "
                "released, expires_at, origin_entry_id, purchase_id, created_at) VALUES "
                "($1, $2, $3, $3, $4, true, $5, $6, $7, $4)",
                new_id(), member_id, earned, now,
                now + dt.timedelta(days=rules["expiry_days"]), entries[-1][0], purchase_id,
            )  # fmt: skip
        expires_at = now + dt.timedelta(days=rules["expiry_days"])
        await conn.execute(
            "UPDATE member_accounts SET available = $2, lifetime_earned = lifetime_earned + $3, "
            "entry_count = $4, last_entry_hash = $5, version = version + $6, updated_at = $7, "
            "qualifying_total = qualifying_total + $3, "
            "next_expiry_at = CASE WHEN $3 > 0 THEN LEAST(next_expiry_at, $8) "
            "ELSE next_expiry_at END, "
            "prev_purchase_at = last_purchase_at, last_purchase_at = $7 WHERE member_id = $1",
            member_id, available, earned, seq, prev, len(entries), now, expires_at,
        )  # fmt: skip
        # The events (points.redeemed, points.earned), the live update, the idempotency record.
        announced = {
            "purchaseId": str(purchase_id), "storeId": str(store_id), "storeName": "Bench st.",
            "receiptNumber": receipt_number, "amountPaid": paid, "currency": rules["currency"],
            "available": available, "pending": account["pending"],
        }  # fmt: skip
        events = [("points.earned", {**announced, "points": earned})] if earned else []
        if redeem:
            events.insert(0, ("points.redeemed", {**announced, "points": redeem}))
        if events:
            await conn.execute(
                "INSERT INTO outbox_events (id, type, occurred_at, member_id, data, fanned_out) "
                f"VALUES {values(len(events), 6)}",
                *[v for kind, data in events for v in (new_id(), kind, now, member_id,
                                                        json.dumps(data), False)],
            )  # fmt: skip
        await conn.execute(
            "SELECT pg_notify('balance_changed', $1)",
            json.dumps({"member": str(member_id), "available": available,
                        "pending": account["pending"], "tier": account["tier_code"],
                        "reason": "PURCHASE"}),
        )  # fmt: skip
        result = {
            "purchase_id": str(purchase_id), "receipt_number": receipt_number,
            "points_earned": earned, "points_redeemed": redeem, "available": available,
        }  # fmt: skip
        await conn.execute(
            "INSERT INTO idempotency_records (id, member_id, scope, key, operation, "
            "request_hash, result, created_at) VALUES ($1, $2, $3, $4, 'completePurchase', "
            "$5, $6, $7)",
            new_id(), member_id, scope, key, request_hash, json.dumps(result), now,
        )  # fmt: skip
        # Last, as the app writes it (every till adds to these rows: their lock is held for
        # this statement and the commit only). One upsert: the store's row and the program's,
        # where the member also moves from the day of its old last (and previous) purchase to
        # today's (the activity counts), in key order, in the member's shard: what
        # `stats_service.record_movement` writes.
        shard = member_id.int % 8
        today = now.date()
        moves: dict[dt.date, list[int]] = {today: [1, 0]}
        old_last, old_prev = account["last_purchase_at"], account["prev_purchase_at"]
        if old_last is not None:
            moves.setdefault(old_last.date(), [0, 0])[0] -= 1
            moves.setdefault(old_last.date(), [0, 0])[1] += 1
        if old_prev is not None:
            moves.setdefault(old_prev.date(), [0, 0])[1] -= 1
        program = uuid.UUID(int=0)
        rows = [(store_id, today, 1, paid, earned, redeem, 0, 0)] + [
            (program, day, *((1, paid, earned, redeem) if day == today else (0, 0, 0, 0)), *move)
            for day, move in moves.items()
            if day == today or any(move)
        ]
        rows.sort(key=lambda row: (row[0], row[1]))
        await conn.execute(
            "INSERT INTO daily_totals (store_id, day, shard, joined, purchases, amount, issued, "
            "redeemed, expired, last_buyers, prev_buyers) VALUES "
            + ", ".join(
                f"(${8 * i + 1}, ${8 * i + 2}, {shard}, 0, ${8 * i + 3}, ${8 * i + 4}, "
                f"${8 * i + 5}, ${8 * i + 6}, 0, ${8 * i + 7}, ${8 * i + 8})"
                for i in range(len(rows))
            )
            + " ON CONFLICT (store_id, day, shard) DO UPDATE SET "
            "purchases = daily_totals.purchases + EXCLUDED.purchases, "
            "amount = daily_totals.amount + EXCLUDED.amount, "
            "issued = daily_totals.issued + EXCLUDED.issued, "
            "redeemed = daily_totals.redeemed + EXCLUDED.redeemed, "
            "last_buyers = daily_totals.last_buyers + EXCLUDED.last_buyers, "
            "prev_buyers = daily_totals.prev_buyers + EXCLUDED.prev_buyers",
            *[value for row in rows for value in row],
        )
    return redeem


async def run(args: argparse.Namespace) -> int:
    seed = json.loads(Path(args.seed).read_text())
    cards = [m["card_number"] for m in seed["members"]]
    if args.one_member:
        cards = cards[:1]
    store_id = uuid.UUID(seed["store_id"])
    cashiers = [uuid.UUID(c["id"]) for c in seed["cashiers"]]
    if args.tills > len(cashiers):
        sys.exit(f"floor.py: {args.tills} tills but only {len(cashiers)} cashiers seeded")
    run_id = uuid.uuid4().hex[:8]
    pool = await asyncpg.create_pool(args.dsn, min_size=args.tills, max_size=args.tills)
    try:
        rules = await pool.fetchrow(
            "SELECT version, currency, earn_points, earn_per_amount, point_value_points, "
            "point_value_amount, pending_days, expiry_days, tiers, category_rules "
            "FROM program_versions ORDER BY version DESC LIMIT 1"
        )
        categories = {category for _, category in SKUS}
        if rules["pending_days"] != 0 or categories & set(json.loads(rules["category_rules"])):
            sys.exit(
                "floor.py: needs the default rules (no pending days, no basket category rules)"
            )
        latencies: list[float] = []
        scans: list[float] = []
        completes: list[float] = []
        errors: list[str] = []
        redemptions = 0
        everything = 0
        started = time.perf_counter()
        measure_from = started + args.warmup
        stop_at = measure_from + args.duration
        end_of_last = measure_from

        async def till(index: int) -> None:
            nonlocal end_of_last, redemptions, everything
            rng = random.Random(f"{args.rng_seed}-{index}")
            n = 0
            while len(errors) < 3:
                begin = time.perf_counter()
                if begin >= stop_at or len(latencies) >= args.max_purchases:
                    return
                card = rng.choice(cards)
                total, lines = basket(rng)
                redeem = REDEEM_POINTS if n % REDEEM_EVERY == REDEEM_EVERY - 1 else 0
                try:
                    async with pool.acquire() as conn:
                        checkout_id = await scan(conn, card, cashiers[index], store_id)
                    scanned = time.perf_counter()
                    async with pool.acquire() as conn:
                        await complete(
                            conn, rules, checkout_id=checkout_id, staff_id=cashiers[index],
                            receipt_number=f"F{run_id}-{index}-{n}", total=total, lines=lines,
                            redeem=redeem, key=str(uuid.uuid4()),
                        )  # fmt: skip
                except (FloorError, asyncpg.PostgresError) as error:
                    errors.append(f"till {index}: {type(error).__name__}: {error}")
                    continue
                finally:
                    n += 1
                done = time.perf_counter()
                everything += 1
                if begin >= measure_from:
                    latencies.append(done - begin)
                    scans.append(scanned - begin)
                    completes.append(done - scanned)
                    redemptions += redeem > 0
                    end_of_last = max(end_of_last, done)

        db_before = await database_cpu(args.dsn)
        machine_before = machine_cpu()
        own_before = time.process_time()
        await asyncio.gather(*(till(i) for i in range(args.tills)))
        own_cpu = time.process_time() - own_before
        machine_after = machine_cpu()
        db_after = await database_cpu(args.dsn)
    finally:
        await pool.close()
    wall = time.perf_counter() - started
    elapsed = max(end_of_last - measure_from, 1e-9)
    result: dict[str, Any] = {
        "kind": "floor",
        "label": args.label,
        "tills": args.tills,
        "one_member": bool(args.one_member),
        "purchases": len(latencies),
        "redemptions": redemptions,
        "seconds": round(elapsed, 2),
        "purchases_per_s": round(len(latencies) / elapsed, 1),
        **summary(latencies),
        "scan_p50_ms": summary(scans)["p50_ms"],
        "complete_p50_ms": summary(completes)["p50_ms"],
        "complete_p99_ms": summary(completes)["p99_ms"],
        "errors": len(errors),
        "floor_cpu_pct": round(100 * own_cpu / wall, 0),
        "floor_cpu_ms_per_purchase": round(1000 * own_cpu / max(everything, 1), 2),
    }
    if db_after:
        spent = database_cpu_spent(db_before, db_after)
        result["db_cpu_pct"] = round(100 * spent / wall, 0)
        result["db_cpu_ms_per_purchase"] = round(1000 * spent / max(everything, 1), 2)
    if machine_before and machine_after:
        busy = machine_after[0] - machine_before[0]
        result["machine_busy_pct"] = round(
            100 * busy / max(machine_after[1] - machine_before[1], 1), 0
        )
    result["loadavg_1m"] = float(Path("/proc/loadavg").read_text().split()[0])
    print_result(result)
    for error in errors[:5]:
        print(f"ERROR {error}", file=sys.stderr)
    return 1 if errors or not latencies else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="postgresql://USER@127.0.0.1:PORT/DB")
    parser.add_argument("--seed", required=True, help="the JSON file seed.py wrote")
    parser.add_argument("--tills", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3, help="seconds before measuring")
    parser.add_argument("--max-purchases", type=int, default=500_000, help="a bound on the count")
    parser.add_argument("--one-member", action="store_true", help="every till on one member")
    parser.add_argument("--rng-seed", default="checkout")
    parser.add_argument(
        "--label", default="asyncpg", help="the server run it pairs with (load.py report)"
    )
    args = parser.parse_args()
    if not 1 <= args.tills <= 64:
        parser.error("--tills is 1 to 64 (one connection each)")
    if "@127.0.0.1" not in args.dsn and "@localhost" not in args.dsn:
        parser.error("the benchmark talks to 127.0.0.1 only")
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
