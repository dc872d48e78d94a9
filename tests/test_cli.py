"""The `loyalty` command run for real, as a subprocess on the test's database:
verify-ledger (exit 0 when clean, 1 with the violations printed), run-jobs --once, worker."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys

from app.cli import _serve_settings
from app.ledger import service as ledger_service
from app.ledger.verify import verify_ledger
from app.settings import Settings, get_settings
from tests.service.ledger.scenario import (
    balance_of,
    busy,
    buy,
    entries_of,
    join,
    open_till,
    set_pending_days,
    tamper,
)
from tests.support import FakeClock


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _get(port: int, path: str) -> str:
    """The body of GET `path` (the whole answer when it is not a 200), "" when refused."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return ""
    writer.write(f"GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n".encode())
    answer = (await reader.read()).decode()
    writer.close()
    head, _, body = answer.partition("\r\n\r\n")
    return body if head.startswith("HTTP/1.1 200") else answer


SUMMARY = re.compile(
    r"loyalty verify-ledger: (\d+) members, (\d+) entries, (\d+) lots, (\d+) purchases "
    r"checked in \d+\.\d s: (.+)"
)


def _env(settings: Settings) -> dict[str, str]:
    """The command's environment: the test's database, cheap password hashing."""
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "LOYALTY_ENV": "development",
        "LOYALTY_ARGON2_TIME_COST": "1",
        "LOYALTY_ARGON2_MEMORY_KIB": "8",
    }


async def loyalty(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `loyalty <args>` on the test's database."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "app.cli", *args],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_verify_ledger_exits_0_on_a_clean_ledger(db, settings, clock):
    # given
    await busy(db, settings, clock)

    # when
    done = await loyalty(settings, "verify-ledger")

    # then
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    summary = SUMMARY.fullmatch(line)
    assert summary is not None, line
    assert summary.groups() == ("2", "14", "7", "6", "ok")


async def test_verify_ledger_exits_1_and_prints_the_violations(db, settings, clock):
    # given
    life = await busy(db, settings, clock)
    await tamper(
        db, "UPDATE purchases SET points_earned = 3000 WHERE id = :id", id=life.purchases["A-1"]
    )
    await tamper(
        db,
        "UPDATE member_accounts SET available = available + 1000 WHERE member_id = :member",
        member=life.bob.id,
    )

    # when
    done = await loyalty(settings, "verify-ledger", "--batch-size", "1")

    # then
    assert done.returncode == 1
    *violations, line = sorted(done.stdout.splitlines(), key=lambda text: not text.startswith("V"))
    assert sorted(violations) == sorted(
        [
            f"VIOLATION member {life.ann.id}: purchase disagrees with its entries: "
            f"purchase {life.purchases['A-1']} (A-1): EARN 300 != 3000",
            f"VIOLATION member {life.bob.id}: balance disagrees with the entries: "
            "available 696 + pending 0 != -304",
            f"VIOLATION member {life.bob.id}: available disagrees with the lots: "
            "696 != 0 - debt 304",
        ]
    )
    summary = SUMMARY.fullmatch(line)
    assert summary is not None, line
    assert summary.groups() == ("2", "14", "7", "6", "3 violations")


async def test_run_jobs_once_releases_and_expires_and_prints_its_summary(db, settings):
    # given: Ann's 100 points were bought 400 days ago; Bob's 300, 20 days ago with a 14-day
    # hold (the command runs on the system clock)
    clock = FakeClock(dt.datetime.now(dt.UTC) - dt.timedelta(days=400))
    till = await open_till(db, settings, clock)
    ann = await join(db, settings, clock, "ann@example.com")
    bob = await join(db, settings, clock, "bob@example.com")
    await buy(db, clock, till, ann, "A-1", 10000)
    clock.advance(days=380)
    await set_pending_days(db, clock, 14)
    await buy(db, clock, till, bob, "B-1", 30000)

    # when
    first = await loyalty(settings, "run-jobs", "--once")
    second = await loyalty(settings, "run-jobs", "--once")

    # then
    assert first.returncode == 0, first.stderr
    others = [
        *(
            f"loyalty: {name}: 0 members, 0 points"
            for name in ("birthday-bonuses", "review-tiers", "remind-expiring-points")
        ),
        "loyalty: announce-offers: 0 offer notices, 0 points",
        "loyalty: prune-outbox: 0 outbox events, 0 points",
    ]
    assert first.stdout.splitlines() == [
        "loyalty: release-pending: 1 members, 300 points",
        "loyalty: expire-points: 1 members, 100 points",
        *others,
    ]
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        "loyalty: release-pending: 0 members, 0 points",
        "loyalty: expire-points: 0 members, 0 points",
        *others,
    ]
    assert await balance_of(db, ann.id) == ledger_service.Balance(available=0, pending=0)
    assert await balance_of(db, bob.id) == ledger_service.Balance(available=300, pending=0)
    assert (await verify_ledger(db)).violations == []


async def test_run_jobs_wants_once(settings):
    # when
    done = await loyalty(settings, "run-jobs")

    # then
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "loyalty run-jobs: pass --once (for cron); `loyalty worker` runs them on a schedule"
    )


async def test_worker_runs_the_jobs_until_it_is_stopped(db, settings):
    # given: Ann's 100 points were bought 400 days ago
    clock = FakeClock(dt.datetime.now(dt.UTC) - dt.timedelta(days=400))
    till = await open_till(db, settings, clock)
    ann = await join(db, settings, clock, "ann@example.com")
    await buy(db, clock, till, ann, "A-1", 10000)
    port = _free_port()
    worker = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app.cli", "worker", "--interval", "3600",
        "--metrics-port", str(port),
        env=_env(settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip

    # when: its first round has expired the points, it is told to stop
    try:
        metrics = ""
        for _ in range(600):  # polls for at most a minute
            if len(await entries_of(db, ann.id)) == 2:
                metrics = await _get(port, "/metrics")
                if "loyalty_job_last_success_timestamp_seconds" in metrics:
                    break
            await asyncio.sleep(0.1)
        elsewhere = await _get(port, "/")
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = await worker.communicate()

    # then
    assert worker.returncode == 0, stderr.decode()
    assert 'loyalty_job_runs_total{job="expire-points"} 1' in metrics
    assert 'loyalty_job_points_total{job="expire-points"} 100' in metrics
    assert 'loyalty_outbox_deliveries_total{outcome="delivered"} 0' in metrics
    assert "loyalty_job_failed_rounds_total 0" in metrics
    assert elsewhere.startswith("HTTP/1.1 404")
    messages = [json.loads(line)["message"] for line in stderr.decode().splitlines()]
    assert messages[0] == "worker started"
    assert messages[-1] == "worker stopped"
    assert "scheduled jobs failed; retrying next round" not in messages
    assert [(e.kind, e.points) for e in await entries_of(db, ann.id)] == [
        ("EARN", 100),
        ("EXPIRE", -100),
    ]
    assert (await verify_ledger(db)).violations == []


def test_serve_names_its_own_address_in_the_links_it_hands_out(monkeypatch, settings):
    # given: development, PUBLIC_BASE_URL unset, the settings already read once (as at import)
    for name, value in _env(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    get_settings.cache_clear()
    assert get_settings().public_base_url == "http://127.0.0.1:8000"

    try:
        # when
        served = _serve_settings("127.0.0.1", 18555)

        # then: the app built in this process (one worker) reads the same
        assert served.public_base_url == "http://127.0.0.1:18555"
        assert get_settings().public_base_url == "http://127.0.0.1:18555"
    finally:
        get_settings.cache_clear()


def test_serve_keeps_a_public_base_url_that_was_set(monkeypatch, settings):
    # given
    for name, value in _env(settings).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("PUBLIC_BASE_URL", "http://loyalty.test:9000")
    get_settings.cache_clear()

    try:
        # when
        served = _serve_settings("127.0.0.1", 18555)

        # then
        assert served.public_base_url == "http://loyalty.test:9000"
    finally:
        get_settings.cache_clear()


async def test_a_command_on_a_database_that_is_not_there_says_so_in_one_line(settings, tmp_path):
    # given
    missing = {**settings.model_dump(), "database_url": f"sqlite+aiosqlite:///{tmp_path}/no.db"}
    unreachable = {**missing, "database_url": "postgresql+asyncpg://postgres@127.0.0.1:1/x"}

    # when
    no_file = await loyalty(Settings(**missing), "verify-ledger")
    no_server = await loyalty(Settings(**unreachable), "migrate")

    # then: nothing created, no traceback
    assert (no_file.returncode, no_file.stderr) == (
        1,
        f"loyalty: no database at {tmp_path}/no.db: run `loyalty migrate` first "
        "(or set DATABASE_URL)\n",
    )
    assert not (tmp_path / "no.db").exists()
    assert no_server.returncode == 1
    assert no_server.stderr.splitlines()[-1] == (
        "loyalty: cannot use the database postgresql+asyncpg://postgres@127.0.0.1:1/x: "
        "[Errno 111] Connect call failed ('127.0.0.1', 1)"
    )
    assert "Traceback" not in no_server.stderr


async def test_serve_on_sqlite_is_one_process(settings, tmp_path):
    # given
    sqlite = {**settings.model_dump(), "database_url": f"sqlite+aiosqlite:///{tmp_path}/x.db"}

    # when
    result = await loyalty(Settings(**sqlite), "serve", "--workers", "2")

    # then
    assert (result.returncode, result.stderr) == (
        1,
        "loyalty: on SQLite the server is one process (--workers 1): it hands balance updates "
        "to live subscribers inside it; serve more workers on PostgreSQL\n",
    )
