"""The `loyalty` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import logging.config
import os
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from app.settings import DEFAULT_DATABASE_URL, ConfigurationError, Settings, get_settings


def _settings() -> Settings:
    try:
        settings = get_settings()
        settings.check_for_production()
    except ConfigurationError as error:
        sys.exit(f"loyalty: {error}")
    except ValueError as error:  # pydantic's ValidationError: a malformed setting
        first = str(error).splitlines()
        sys.exit(f"loyalty: invalid configuration: {' '.join(first[:3])}")
    return settings


def _setup_logging(settings: Settings) -> None:
    from app.logs import logging_config

    logging.config.dictConfig(logging_config(settings.log_level))


def cmd_serve(args: argparse.Namespace) -> None:
    import uvicorn

    from app.logs import logging_config

    settings = _serve_settings(args.host, args.port)
    if settings.is_sqlite and args.workers > 1:
        sys.exit(
            "loyalty: on SQLite the server is one process (--workers 1): it hands balance updates "
            "to live subscribers inside it; serve more workers on PostgreSQL"
        )
    if settings.database_url == DEFAULT_DATABASE_URL or args.demo:
        # The embedded default needs no separate step: bring it to head before serving.
        asyncio.run(_migrate(settings, quiet=True))
    elif problem := _schema_problem(settings):
        sys.exit(f"loyalty: {problem}")
    if args.demo:
        asyncio.run(_demo(settings))
    print(f"loyalty: serving on http://{args.host}:{args.port}/graphql", file=sys.stderr)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=logging_config(settings.log_level),
        proxy_headers=True,
        access_log=False,
        server_header=False,  # no "server: uvicorn" on every answer
    )


def _migrated_settings() -> Settings:
    """The settings of a command that works on the data: refused, in one line, when there is no
    database or its schema is behind this version's (the operator runs `loyalty migrate`)."""
    settings = _settings()
    problem = _schema_problem(settings)
    if problem:
        sys.exit(f"loyalty: {problem}")
    return settings


def _schema_problem(settings: Settings) -> str | None:
    from sqlalchemy.engine import make_url

    from app.migrate import head_revision, is_behind

    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database).resolve()
        if not path.exists():  # connecting would create an empty one here
            return f"no database at {path}: run `loyalty migrate` first (or set DATABASE_URL)"
    revision = asyncio.run(_schema_revision(settings))
    if is_behind(revision):
        return (
            f"the database {_safe_url(settings.database_url)} is not migrated "
            f"(at {revision or 'no revision'}, this version needs {head_revision()}): "
            "run `loyalty migrate` first"
        )
    return None


async def _schema_revision(settings: Settings) -> str | None:
    from app.db import Database
    from app.migrate import schema_revision

    db = Database.from_settings(settings)
    try:
        return await schema_revision(db)
    finally:
        await db.dispose()


def _connection_problem(error: BaseException) -> str | None:
    """One line for an operator when the database cannot be reached or opened at all; None for
    any other error (a bug keeps its traceback)."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(error, DBAPIError):
        cause = error.orig.__cause__ if error.orig is not None else None
        if cause is not None and type(cause).__name__ in _UNREACHABLE_ASYNCPG:
            return str(cause)
        if "unable to open database file" in str(error.orig):  # SQLite: no such directory
            return str(error.orig)
        return None
    if isinstance(error, (ConnectionError, TimeoutError, socket.gaierror)):
        return str(error) or type(error).__name__
    return None


_UNREACHABLE_ASYNCPG = frozenset(
    {
        "InvalidCatalogNameError",  # no such database
        "InvalidPasswordError",
        "InvalidAuthorizationSpecificationError",  # no such role, or pg_hba refuses
        "CannotConnectNowError",  # starting up or shutting down
        "TooManyConnectionsError",
    }
)


def _serve_settings(host: str, port: int) -> Settings:
    """The settings `loyalty serve` runs with. In development, the links the API hands out
    (wallet passes, the demo's GraphiQL) name this server unless PUBLIC_BASE_URL is set: in the
    environment, for worker processes, and in the settings this process has cached."""
    settings = _settings()
    if not settings.is_production and "public_base_url" not in settings.model_fields_set:
        os.environ["PUBLIC_BASE_URL"] = f"http://{host}:{port}"
        get_settings.cache_clear()
        settings = _settings()
    return settings


async def _migrate(settings: Settings, *, quiet: bool = False) -> None:
    from app.clock import SystemClock
    from app.db import Database
    from app.migrate import migrate

    db = Database.from_settings(settings)
    try:
        rules = await migrate(settings, db, SystemClock())
    finally:
        await db.dispose()
    if not quiet:
        print(f"loyalty: database at head; program {rules.name!r} at rules version {rules.version}")


def cmd_migrate(args: argparse.Namespace) -> None:
    settings = _settings()
    _setup_logging(settings)
    asyncio.run(_migrate(settings))


async def _demo(settings: Settings) -> None:
    from app.auth.passwords import PasswordHasher
    from app.clock import SystemClock
    from app.db import Database
    from app.demo import seed

    print("Seeding the demo program:")
    db = Database.from_settings(settings)
    try:
        logins = await seed(
            db,
            settings,
            SystemClock(),
            PasswordHasher(settings),
            progress=lambda line: print(f"  {line}"),
        )
    finally:
        await db.dispose()
    print("Demo program ready. Sign in with:")
    for login in logins:
        print(f"  {login.who:<18} {login.email:<24} {login.password}   ({login.note})")
    print(f"GraphiQL: {settings.public_base_url}/graphql")


def cmd_demo(args: argparse.Namespace) -> None:
    settings = _settings()
    if settings.is_production:
        sys.exit("loyalty: refusing to seed demo accounts with known passwords in production")
    asyncio.run(_migrate(settings))
    asyncio.run(_demo(settings))


def cmd_create_admin(args: argparse.Namespace) -> None:
    from app.auth import service as auth_service
    from app.auth.actors import SystemActor
    from app.auth.passwords import PasswordHasher
    from app.clock import SystemClock
    from app.db import Database
    from app.errors import DomainError
    from app.staff import service as staff_service

    settings = _migrated_settings()

    async def run() -> None:
        db = Database.from_settings(settings)
        try:
            staff = await auth_service.create_staff(
                db,
                SystemActor("cli"),
                SystemClock(),
                PasswordHasher(settings),
                staff_service.NewStaff(email=args.email, role="ADMIN", store_ids=[]),
                password=args.password,
            )
        finally:
            await db.dispose()
        print(f"loyalty: admin {staff.email} created (id {staff.id})")

    try:
        asyncio.run(run())
    except DomainError as error:
        where = f" ({error.field})" if error.field else ""
        sys.exit(f"loyalty: {error.code}{where}: {error.message}")


def cmd_verify_ledger(args: argparse.Namespace) -> None:
    import app.models  # noqa: F401  (every table mapped, whichever modules verify imports)
    from app.db import Database
    from app.ledger.verify import Report, verify_ledger

    settings = _migrated_settings()
    started = time.monotonic()

    def progress(report: Report) -> None:
        rate = report.members / max(time.monotonic() - started, 1e-6)
        print(
            f"\rverified {report.members} members, {report.entries} entries "
            f"({rate:,.0f} members/s), {len(report.violations)} violations",
            end="",
            file=sys.stderr,
            flush=True,
        )

    async def run() -> Report:
        db = Database.from_settings(settings)
        try:
            return await verify_ledger(db, batch_size=args.batch_size, progress=progress)
        finally:
            await db.dispose()

    report = asyncio.run(run())
    print(file=sys.stderr)
    for violation in report.violations[: args.show]:
        print(f"VIOLATION {violation}")
    if len(report.violations) > args.show:
        print(f"... and {len(report.violations) - args.show} more")
    print(
        f"loyalty verify-ledger: {report.members} members, {report.entries} entries, "
        f"{report.lots} lots, {report.purchases} purchases checked in "
        f"{time.monotonic() - started:.1f} s: "
        + ("ok" if report.ok else f"{len(report.violations)} violations")
    )
    sys.exit(0 if report.ok else 1)


async def _run_jobs_once(settings: Settings) -> None:
    from app.clock import SystemClock
    from app.db import Database
    from app.jobs import JobReport, run_all

    def progress(report: JobReport) -> None:
        print(
            f"  {report.name}: {report.summary()} so far",
            file=sys.stderr,
        )

    db = Database.from_settings(settings)
    try:
        for report in await run_all(db, SystemClock(), progress=progress):
            print(f"loyalty: {report.name}: {report.summary()}")
    finally:
        await db.dispose()


def cmd_run_jobs(args: argparse.Namespace) -> None:
    settings = _migrated_settings()
    _setup_logging(settings)
    if not args.once:
        sys.exit(
            "loyalty run-jobs: pass --once (for cron); `loyalty worker` runs them on a schedule"
        )
    asyncio.run(_run_jobs_once(settings))


def cmd_worker(args: argparse.Namespace) -> None:
    import signal

    from app import worker_metrics
    from app.clock import SystemClock
    from app.db import Database
    from app.jobs import run_all
    from app.outbox.worker import OutboxWorker

    settings = _migrated_settings()
    _setup_logging(settings)
    log = logging.getLogger("app.worker")

    counts = worker_metrics.JobCounts() if args.jobs else None

    async def jobs(db: Database, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                reports = await run_all(db, SystemClock())
            except Exception:  # one failed round must not stop the worker; it is logged
                log.exception("scheduled jobs failed; retrying next round")
                if counts is not None:
                    counts.failed_rounds += 1
            else:
                if counts is not None:
                    counts.round_done(reports)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=args.interval)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        db = Database.from_settings(settings)
        outbox = OutboxWorker(db, settings, SystemClock()) if args.deliver else None
        started = time.time()
        server = None
        if args.metrics_port is not None:
            try:
                server = await worker_metrics.serve(
                    args.metrics_host, args.metrics_port,
                    lambda: worker_metrics.render(
                        outbox.stats if outbox else None, counts, started=started
                    ),
                )  # fmt: skip
            except OSError as error:  # the port is taken, the host is not ours
                await db.dispose()
                raise SystemExit(
                    f"loyalty: cannot serve metrics on {args.metrics_host}:{args.metrics_port}: "
                    f"{error.strerror or error}"
                ) from None
        log.info(
            "worker started",
            extra={
                "interval_seconds": args.interval,
                "jobs": args.jobs,
                "deliveries": args.deliver,
                "metrics": f"http://{args.metrics_host}:{args.metrics_port}/metrics"
                if server
                else None,
            },
        )
        try:
            # SIGTERM: the jobs stop between members, the deliveries in flight finish.
            tasks = []
            if args.jobs:
                tasks.append(jobs(db, stop))
            if outbox is not None:
                tasks.append(outbox.run(stop))
            await asyncio.gather(*tasks)
        finally:
            if server is not None:
                server.close()
                await server.wait_closed()
            await db.dispose()
            log.info("worker stopped")

    asyncio.run(run())


def cmd_outbox(args: argparse.Namespace) -> None:
    from app.auth.actors import SystemActor
    from app.clock import SystemClock
    from app.db import Database
    from app.errors import DomainError
    from app.outbox import service as outbox_service
    from app.outbox.worker import OutboxWorker

    settings = _migrated_settings()
    _setup_logging(settings)

    async def run() -> None:
        db = Database.from_settings(settings)
        clock = SystemClock()
        try:
            if args.action == "status":
                async with db.read() as session:
                    status = await outbox_service.outbox_status(session, now=clock.now())
                print(f"events waiting for fan-out: {status.events_waiting}")
                for name in ("PENDING", "DELIVERED", "DEAD", "GONE"):
                    print(f"deliveries {name.lower()}: {status.deliveries.get(name, 0)}")
                oldest = status.oldest_due_at.isoformat() if status.oldest_due_at else "-"
                print(f"due now: {status.due_now} (oldest due since {oldest})")
            elif args.action == "retry-dead":
                count = await outbox_service.retry_dead_letters(
                    db, SystemActor(), clock, ids=args.id or None
                )
                print(f"loyalty: {count} dead deliveries will be tried again")
            else:  # deliver --once
                worker = OutboxWorker(db, settings, clock)
                try:
                    stats = await worker.run_once()
                finally:
                    await worker.aclose()
                print(
                    f"loyalty: {stats.delivered} delivered, {stats.retried} to retry, "
                    f"{stats.dead} dead, {stats.gone} gone"
                )
        except DomainError as error:
            sys.exit(f"loyalty: {error.message}")
        finally:
            await db.dispose()

    asyncio.run(run())


def cmd_stats(args: argparse.Namespace) -> None:
    """`loyalty stats rebuild` recomputes the operator's totals from the ledger; `loyalty stats
    check` compares them with it (exit 1 on any difference)."""
    import app.models  # noqa: F401  (every table mapped)
    from app.clock import SystemClock
    from app.db import Database
    from app.stats import service as stats_service

    settings = _migrated_settings()
    started = time.monotonic()

    def progress(report: stats_service.RebuildReport) -> None:
        rate = report.members / max(time.monotonic() - started, 1e-6)
        print(
            f"\r{args.stats_command}: {report.members} members, {report.entries} entries, "
            f"{report.purchases} purchases ({rate:,.0f} members/s)",
            end="",
            file=sys.stderr,
            flush=True,
        )

    async def run() -> stats_service.RebuildReport:
        db = Database.from_settings(settings)
        try:
            if args.stats_command == "check":
                return await stats_service.check(
                    db, SystemClock(), batch_size=args.batch_size, progress=progress
                )
            return await stats_service.rebuild(
                db, SystemClock(), include_today=args.include_today,
                batch_size=args.batch_size, progress=progress,
            )  # fmt: skip
        finally:
            await db.dispose()

    report = asyncio.run(run())
    print(file=sys.stderr)
    for difference in report.differences[:100]:
        print(f"DIFFERENCE {difference}")
    verb = "checked" if args.stats_command == "check" else "rebuilt"
    today = time.strftime("%Y-%m-%d", time.gmtime())
    days = (
        "every day"
        if args.stats_command == "rebuild" and args.include_today
        else f"the days before {today} UTC (today's are still being written)"
    )
    print(
        f"loyalty stats {args.stats_command}: {report.members} members, {report.entries} "
        f"entries, {report.purchases} purchases of {days}: {report.rows} (store, day) rows "
        f"{verb} in {time.monotonic() - started:.1f} s"
        + (f"; {len(report.differences)} differences" if args.stats_command == "check" else "")
    )
    sys.exit(1 if report.differences else 0)


def cmd_export_schema(args: argparse.Namespace) -> None:
    from app.graphql.schema import build_schema

    sys.stdout.write(build_schema(Settings()).as_str() + "\n")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="loyalty", description="The loyalty program's backend.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--demo", action="store_true", help="seed the demo program first")
    serve.set_defaults(handler=cmd_serve)

    commands.add_parser("migrate", help="alembic upgrade head, then seed the program").set_defaults(
        handler=cmd_migrate
    )
    commands.add_parser("demo", help="seed a demo program and print its logins").set_defaults(
        handler=cmd_demo
    )

    admin = commands.add_parser("create-admin", help="create an administrator account")
    admin.add_argument("--email", required=True)
    admin.add_argument("--password", required=True)
    admin.set_defaults(handler=cmd_create_admin)

    verify = commands.add_parser(
        "verify-ledger", help="check every ledger invariant; exit 1 on any violation"
    )
    verify.add_argument("--batch-size", type=int, default=500)
    verify.add_argument("--show", type=int, default=100, help="print at most this many violations")
    verify.set_defaults(handler=cmd_verify_ledger)

    jobs = commands.add_parser(
        "run-jobs",
        help="run the scheduled jobs (release, expiry, reminders, birthdays, tiers, offers)",
    )
    jobs.add_argument("--once", action="store_true", help="run each job once and exit (for cron)")
    jobs.set_defaults(handler=cmd_run_jobs)

    worker = commands.add_parser(
        "worker", help="deliver the outbox and run the scheduled jobs until stopped"
    )
    worker.add_argument("--interval", type=float, default=60.0, help="seconds between rounds")
    worker.add_argument(
        "--no-jobs", dest="jobs", action="store_false", help="deliver the outbox only"
    )
    worker.add_argument(
        "--no-deliveries", dest="deliver", action="store_false", help="run the jobs only"
    )
    worker.add_argument(
        "--metrics-port", type=int, help="serve Prometheus metrics on GET /metrics at this port"
    )
    worker.add_argument("--metrics-host", default="127.0.0.1", help="(default 127.0.0.1)")
    worker.set_defaults(handler=cmd_worker)

    outbox = commands.add_parser("outbox", help="the outbox: status, dead letters, delivery")
    outbox_actions = outbox.add_subparsers(dest="action", required=True)
    outbox_actions.add_parser("status", help="events waiting, deliveries by status, what is due")
    retry = outbox_actions.add_parser("retry-dead", help="try dead deliveries again")
    retry.add_argument("--id", action="append", help="only this delivery (repeatable)")
    deliver = outbox_actions.add_parser("deliver", help="deliver what is due now, then exit")
    deliver.add_argument("--once", action="store_true", required=True)
    outbox.set_defaults(handler=cmd_outbox)

    stats = commands.add_parser("stats", help="the operator's maintained totals")
    stats_commands = stats.add_subparsers(dest="stats_command", required=True)
    rebuild = stats_commands.add_parser(
        "rebuild", help="recompute the totals of every day before today from the ledger"
    )
    rebuild.add_argument(
        "--include-today", action="store_true", help="today's too (only while nothing writes)"
    )
    check = stats_commands.add_parser(
        "check", help="compare the totals before today with the ledger; exit 1 on a difference"
    )
    for each in (rebuild, check):
        each.add_argument("--batch-size", type=int, default=1000, help="members per batch")
        each.set_defaults(handler=cmd_stats)

    commands.add_parser("export-schema", help="print the GraphQL SDL").set_defaults(
        handler=cmd_export_schema
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except Exception as error:
        problem = _connection_problem(error)
        if problem is None:
            raise
        url = _settings().database_url
        sys.exit(f"loyalty: cannot use the database {_safe_url(url)}: {problem}")


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    main()
