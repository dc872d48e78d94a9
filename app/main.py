"""create_app(): Starlette with /graphql, /healthz, /readyz and /metrics."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount, Route, WebSocketRoute

from app.auth.passwords import PasswordHasher
from app.clock import Clock, SystemClock
from app.db import Database
from app.graphql.asgi import LoyaltyGraphQL
from app.graphql.context import Services
from app.http import routes
from app.http import wallet as wallet_http
from app.http.guard import BodyGuard
from app.http.metrics import Metrics, MetricsMiddleware
from app.live import service as live_service
from app.settings import Settings, get_settings

_YOUNG_COLLECTION_EVERY = 10_000


def create_app(
    settings: Settings | None = None,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
) -> Starlette:
    settings = settings or get_settings()
    settings.check_for_production()
    owns_db = db is None
    services = Services(
        settings=settings,
        db=db or Database.from_settings(settings),
        clock=clock or SystemClock(),
        hasher=PasswordHasher(settings),
    )
    metrics = Metrics()
    graphql = BodyGuard(LoyaltyGraphQL(services), max_bytes=settings.max_body_bytes)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if owns_db:  # the process's app (`loyalty serve`), not one of the tests'
            # What the process built to serve (modules, mappers, the schema) lives as long as
            # it does: out of the collector's way, a full collection walks only what requests
            # left behind (measured: a third of the time in full collections under load).
            gc.collect()
            gc.freeze()
            # A young collection every 10 000 allocations rather than 700: a request's objects
            # die with it (by reference count), so a collection mostly walks the objects of
            # the requests in flight, and fewer of them cost less (bench/README.md, run 20).
            gc.set_threshold(_YOUNG_COLLECTION_EVERY, *gc.get_threshold()[1:])
        async with live_service.listening(services.db):  # PostgreSQL: LISTEN for balance updates
            yield
        if owns_db:
            await services.db.dispose()

    middleware = [Middleware(MetricsMiddleware, metrics=metrics)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["authorization", "content-type"],
                max_age=600,
            )
        )
    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql),  # subscriptions: graphql-transport-ws
            Route("/healthz", routes.healthz),
            Route("/readyz", routes.readyz),
            Route("/metrics", routes.metrics),
            Mount("/wallet", routes=wallet_http.routes()),  # passes, PassKit web service
        ],
        middleware=middleware,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = metrics
    return app
