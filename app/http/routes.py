"""Plain HTTP routes: liveness, readiness, metrics."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from app.live import service as live_service
from app.migrate import head_revision, is_behind, schema_revision

log = logging.getLogger("app.http")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready: the database answers and its schema is this version's (or newer: migrated for the
    next release while this one still serves)."""
    try:
        revision = await schema_revision(request.app.state.services.db)
    except Exception as error:  # any failure means "not ready"; the reason goes to the log
        log.warning("readiness check failed: %s", error)
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
    if is_behind(revision):
        log.warning(
            "not ready: the schema is at %s, this version needs %s", revision, head_revision()
        )
        return JSONResponse(
            {"status": "unavailable", "database": "up", "schema": "behind: run `loyalty migrate`"},
            status_code=503,
        )
    return JSONResponse({"status": "ok", "database": "up"})


def _live_metrics() -> str:
    live = live_service.stats()
    series = [
        ("loyalty_live_subscribers", "gauge", "Open balanceChanged subscriptions.", live.subscribers),
        ("loyalty_live_listeners_connected", "gauge", "PostgreSQL LISTEN connections up.", live.listeners_connected),
        ("loyalty_live_updates_dropped_total", "counter", "Updates slow subscribers lost.", live.dropped),
    ]  # fmt: skip
    return "".join(f"# HELP {n} {h}\n# TYPE {n} {t}\n{n} {v}\n" for n, t, h, v in series)


async def metrics(request: Request) -> Response:
    return PlainTextResponse(
        request.app.state.metrics.render() + _live_metrics(), media_type="text/plain; version=0.0.4"
    )
