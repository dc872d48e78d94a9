"""What one balance notification costs a process that LISTENs for it, and its PostgreSQL backend.

    python bench/checkout/notify_cost.py --dsn postgresql://postgres@127.0.0.1:5432/DB

One connection sends `--count` notifications on the live channel, one at a time, as the app's
transactions do (`SELECT pg_notify('balance_changed', <an update>)`), from this process; in
alternate rounds a second connection of this process LISTENs and hands each to the app's
receiver (`app.live.service`: parse, publish to no subscriber), or does not listen. Prints, per
notification, this process's CPU and each backend's (from /proc): what listening adds is what
every listening server process and its backend pay for every purchase, subscribers or not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import asyncpg
import uvloop

from app.live import service as live_service


def backend_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def round_of(dsn: str, count: int, *, listen: bool) -> tuple[float, float, float]:
    """(this process, the listener's backend, the sender's backend): CPU µs per notification."""
    listener = await asyncpg.connect(dsn)
    sender = await asyncpg.connect(dsn)
    try:
        listener_pid = await listener.fetchval("SELECT pg_backend_pid()")
        sender_pid = await sender.fetchval("SELECT pg_backend_pid()")
        received = 0
        all_in = asyncio.Event()

        def on_notification(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            nonlocal received
            live_service._receive(payload)
            received += 1
            if received == count:
                all_in.set()

        if listen:
            await listener.add_listener(live_service.CHANNEL, on_notification)
        update = live_service.BalanceUpdate(
            uuid.uuid4(), 1200, 50, "BRONZE", live_service.Reason.PURCHASE
        ).to_json()
        before = (time.process_time(), backend_cpu(listener_pid), backend_cpu(sender_pid))
        for _ in range(count):
            await sender.execute(f"SELECT pg_notify('{live_service.CHANNEL}', $1)", update)
        if listen:
            await asyncio.wait_for(all_in.wait(), 120)
        await asyncio.sleep(0.5)  # the backends' last ticks
        after = (time.process_time(), backend_cpu(listener_pid), backend_cpu(sender_pid))
        return tuple(1e6 * (b - a) / count for a, b in zip(before, after, strict=True))  # type: ignore[return-value]
    finally:
        await listener.close()
        await sender.close()


async def run(dsn: str, count: int, rounds: int) -> None:
    print(f"{count} notifications a round; CPU microseconds per notification")
    print(f"{'round':<14} {'this process':>12} {'listener backend':>16} {'sender backend':>14}")
    for n in range(rounds):
        for listen in (False, True):
            mine, listener, sender = await round_of(dsn, count, listen=listen)
            label = f"{n + 1} {'listening' if listen else 'not'}"
            print(f"{label:<14} {mine:12.1f} {listener:16.1f} {sender:14.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="postgresql://... (asyncpg's form)")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    uvloop.run(run(args.dsn, args.count, args.rounds))


if __name__ == "__main__":
    main()
