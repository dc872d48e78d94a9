"""Plain HTTP routes: liveness, readiness, metrics."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from app.live import service as live_service

log = logging.getLogger("app.http")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    try:
        await request.app.state.services.db.ping()
    except Exception as error:  # any failure means "not ready"; the reason goes to the log
        log.warning("readiness check failed: %s", error)
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
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
